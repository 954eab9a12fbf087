/** Netfilter verdicts accepted by verdict()/verdictBatch() (NF_DROP, NF_ACCEPT, NF_REPEAT). */
export const Verdict = { DROP: 0, ACCEPT: 1, REPEAT: 4 } as const;
export type VerdictValue = (typeof Verdict)[keyof typeof Verdict];

/** verdictBatch(): a mark of this value means "leave the packet mark alone". */
export const NO_MARK = 0xffffffff;

/** Bits of PacketBatch.skbInfo (NFQA_SKB_INFO). */
export const SkbInfo = {
  /** Checksum not computed yet (locally generated / offloaded); the packet is fine. */
  CSUM_NOT_READY: 1 << 0,
  /** A GSO super-packet, larger than the MTU (only with the gso option). */
  GSO: 1 << 1,
  /** The checksum was not verified by the NIC. */
  CSUM_NOT_VERIFIED: 1 << 2,
} as const;

/** PacketBatch.hooks values (netfilter hook the packet was queued from). */
export const Hook = { PREROUTING: 0, INPUT: 1, FORWARD: 2, OUTPUT: 3, POSTROUTING: 4 } as const;
