import { Status, type LayerState } from './decoder-state.js';

const HOP_BY_HOP = 0;
const TCP = 6;
const UDP = 17;
const ROUTING = 43;
const FRAGMENT = 44;
const AH = 51;
const DEST_OPTS = 60;
/** Real packets carry a handful of extension headers; a long chain is an attack or garbage. */
const MAX_EXTENSION_HEADERS = 16;

/** Validates an IPv6 header at b[off] (captured bytes end at b[end]), then walks its extension-header chain. */
export function decodeIpv6(b: Uint8Array, off: number, end: number, st: LayerState): Status {
  const captured = end - off;
  if (captured < 40) return st.fail(Status.MALFORMED, 'ipv6: header truncated (%a bytes captured)', captured);
  const v = b[off]! >> 4;
  if (v !== 6) return st.fail(Status.MALFORMED, 'ipv6: version %a', v);
  let plen = (b[off + 4]! << 8) | b[off + 5]!;
  const next = b[off + 6]!;
  // Payload length 0 with a hop-by-hop header is a jumbogram (or a GSO capture): trust the capture.
  if (plen === 0 && next === HOP_BY_HOP) plen = captured - 40;
  if (40 + plen > captured) return st.fail(Status.MALFORMED, 'ipv6: payload length %a > captured %b', plen, captured - 40);
  st.ipLength = 40 + plen;
  st.l4End = off + 40 + plen;
  return walkIpv6Headers(b, off + 40, st.l4End, next, st, off);
}

/**
 * Follows extension headers from b[p] (header type `next`) to TCP/UDP, setting
 * st.l4Offset and st.protocol. A fragment header yields FRAGMENT with the
 * fragment fields set and st.l4Offset at the fragment data. `l3Offset` is the
 * IPv6 header position, or -1 when walking a reassembled payload (where a
 * second fragment header is malformed).
 */
export function walkIpv6Headers(b: Uint8Array, p: number, end: number, next: number, st: LayerState, l3Offset: number): Status {
  for (let i = 0; i <= MAX_EXTENSION_HEADERS; i++) {
    switch (next) {
      case TCP:
      case UDP:
        st.protocol = next;
        st.l4Offset = p;
        return Status.OK;
      case HOP_BY_HOP:
      case ROUTING:
      case DEST_OPTS:
      case AH: {
        if (p + 2 > end) return st.fail(Status.MALFORMED, 'ipv6: extension header %a truncated', next);
        // AH counts 4-byte units minus 2; the others 8-byte units minus 1.
        const len = next === AH ? (b[p + 1]! + 2) << 2 : (b[p + 1]! + 1) << 3;
        if (p + len > end) return st.fail(Status.MALFORMED, 'ipv6: extension header %a length %b overruns the payload', next, len);
        next = b[p]!;
        p += len;
        break;
      }
      case FRAGMENT: {
        if (p + 8 > end) return st.fail(Status.MALFORMED, 'ipv6: fragment header truncated (%a bytes left)', end - p);
        // Fragments of fragments do not exist (RFC 8200); catching it here also keeps junk out of the queues.
        if (l3Offset < 0 || b[p] === FRAGMENT) return st.fail(Status.MALFORMED, 'ipv6: nested fragment header');
        const fo = (b[p + 2]! << 8) | b[p + 3]!;
        if ((fo & 0xfff9) === 0) {
          // Atomic fragment (RFC 6946): offset 0 and no more fragments, i.e. a whole datagram.
          next = b[p]!;
          p += 8;
          break;
        }
        st.fragOffset = fo & 0xfff8;
        st.fragMore = (fo & 1) !== 0;
        st.fragId = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
        st.fragNext = b[p]!;
        st.fragHeaderLength = p - l3Offset;
        st.l4Offset = p + 8;
        return Status.FRAGMENT;
      }
      default:
        // ESP (50) hides what follows; no-next-header (59), ICMPv6 and the rest are not TCP/UDP.
        st.protocol = next;
        return st.fail(Status.NOT_TCP_UDP, 'ipv6: next header %a is not TCP/UDP', next);
    }
  }
  return st.fail(Status.MALFORMED, 'ipv6: more than %a extension headers', MAX_EXTENSION_HEADERS);
}

/** Whether a fragment whose fragmentable part starts with `next` can reassemble into TCP/UDP. */
export function mayCarryTransport(next: number): boolean {
  return next === TCP || next === UDP || next === HOP_BY_HOP || next === ROUTING || next === DEST_OPTS || next === AH;
}
