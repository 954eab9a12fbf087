import { Status, type LayerState } from './decoder-state.js';
import type { SharedPacket } from './decoder-packet.js';
import { IPPROTO_TCP, IPPROTO_UDP } from './packet.js';

/**
 * Parses the TCP or UDP header in b[p, end) (end = IP payload end) and fills the
 * transport fields of `pkt`. Anything else is NOT_TCP_UDP.
 */
export function decodeTransport(
  b: Uint8Array,
  p: number,
  end: number,
  protocol: number,
  pkt: SharedPacket,
  st: LayerState,
): Status {
  const avail = end - p;
  if (protocol === IPPROTO_TCP) {
    if (avail < 20) return st.fail(Status.MALFORMED, 'tcp: header truncated (%a bytes in segment)', avail);
    const hlen = (b[p + 12]! >> 4) << 2;
    if (hlen < 20) return st.fail(Status.MALFORMED, 'tcp: data offset %a < 20', hlen);
    if (hlen > avail) return st.fail(Status.MALFORMED, 'tcp: header length %a > segment %b', hlen, avail);
    pkt.protocol = IPPROTO_TCP;
    pkt.srcPort = (b[p]! << 8) | b[p + 1]!;
    pkt.dstPort = (b[p + 2]! << 8) | b[p + 3]!;
    pkt.tcpSeq = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
    pkt.tcpAck = ((b[p + 8]! << 24) | (b[p + 9]! << 16) | (b[p + 10]! << 8) | b[p + 11]!) >>> 0;
    pkt.tcpFlags = b[p + 13]!;
    pkt.setPayload(b, p + hlen, end);
    return Status.OK;
  }
  if (protocol === IPPROTO_UDP) {
    if (avail < 8) return st.fail(Status.MALFORMED, 'udp: header truncated (%a bytes in datagram)', avail);
    const ulen = (b[p + 4]! << 8) | b[p + 5]!;
    if (ulen < 8) return st.fail(Status.MALFORMED, 'udp: length %a < 8', ulen);
    pkt.protocol = IPPROTO_UDP;
    pkt.srcPort = (b[p]! << 8) | b[p + 1]!;
    pkt.dstPort = (b[p + 2]! << 8) | b[p + 3]!;
    pkt.tcpSeq = 0;
    pkt.tcpAck = 0;
    pkt.tcpFlags = 0;
    // A UDP length beyond the IP payload is clipped, not rejected: the IP length is authoritative.
    pkt.setPayload(b, p + 8, ulen < avail ? p + ulen : end);
    return Status.OK;
  }
  return st.fail(Status.NOT_TCP_UDP, 'ip: protocol %a is not TCP/UDP', protocol);
}
