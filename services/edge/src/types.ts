/**
 * What the edge needs from a packet queue and from conntrack, independent of
 * the NFQUEUE addon: EdgeCore works on these plain shapes, so its logic is
 * testable with plain objects and the addon stays a thin adapter.
 */

/** One packet handed over by netfilter: a raw IP datagram (IPv4 or IPv6). */
export interface QueuedPacket {
  /** The queue's packet id, echoed in the verdict. */
  id: number;
  /** The packet's mark as netfilter had it (connmark restored under the mask, other bits the operator's). */
  mark: number;
  /** The IP datagram, from the IP header on. */
  payload: Uint8Array;
  /** Kernel timestamp if the packet had one; the edge's clock otherwise. */
  tsSec?: number;
  tsNsec?: number;
}

/** The verdict for one packet: always ACCEPT (fail-open), with a new mark when the flow is decided. */
export interface PacketVerdict {
  id: number;
  /** The whole 32-bit packet mark to set; absent: leave the mark as it is. */
  mark?: number;
}

/** A connection as conntrack knows it: its original direction. */
export interface ConntrackTuple {
  family: 'ipv4' | 'ipv6';
  protocol: 'tcp' | 'udp';
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** Sets a connection's mark through ctnetlink: ct mark = (ct mark & ~mask) | (mark & mask). */
export interface ConntrackMarker {
  setMark(tuple: ConntrackTuple, mark: number, mask: number): void | Promise<void>;
}
