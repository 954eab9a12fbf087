/** Transport protocol numbers l7mesh classifies (IANA protocol numbers). */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export type TransportProtocol = typeof IPPROTO_TCP | typeof IPPROTO_UDP;

/** TCP flag bits as they appear in the header's flags byte. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
} as const;

/**
 * One decoded TCP or UDP packet. The decoder fills and returns the same
 * instance for every packet (no allocation per packet on the hot path), so a
 * consumer must copy what it keeps. `payload`, `srcAddr` and `dstAddr` are views
 * that stay valid only until the next call to the decoder.
 */
export interface DecodedPacket {
  /** Capture time: whole seconds since the epoch, and nanoseconds within it. */
  tsSec: number;
  tsNsec: number;
  ipVersion: 4 | 6;
  protocol: TransportProtocol;
  /** 4 bytes for IPv4, 16 for IPv6. */
  srcAddr: Uint8Array;
  dstAddr: Uint8Array;
  srcPort: number;
  dstPort: number;
  /** TCP flags byte (0 for UDP). */
  tcpFlags: number;
  tcpSeq: number;
  tcpAck: number;
  /** Layer-3 length: the (reassembled) IP datagram's length, as conntrack counts bytes. */
  ipLength: number;
  /** Transport payload (may be empty). */
  payload: Uint8Array;
  /** payload.length, readable without materialising the payload view. */
  payloadLength: number;
}
