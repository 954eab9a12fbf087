import { Status, type LayerState } from './decoder-state.js';

/**
 * Validates an IPv4 header at b[off] (captured bytes end at b[end]) and sets
 * st.l4Offset / l4End / protocol / ipLength. Returns FRAGMENT (with the fragment fields set) when MF is set or
 * the fragment offset is non-zero.
 */
export function decodeIpv4(b: Uint8Array, off: number, end: number, st: LayerState): Status {
  const captured = end - off;
  if (captured < 20) return st.fail(Status.MALFORMED, 'ipv4: header truncated (%a bytes captured)', captured);
  const vihl = b[off]!;
  if (vihl >> 4 !== 4) return st.fail(Status.MALFORMED, 'ipv4: version %a', vihl >> 4);
  const ihl = (vihl & 15) << 2;
  if (ihl < 20) return st.fail(Status.MALFORMED, 'ipv4: header length %a < 20', ihl);
  if (ihl > captured) return st.fail(Status.MALFORMED, 'ipv4: header length %a > captured %b', ihl, captured);
  let total = (b[off + 2]! << 8) | b[off + 3]!;
  // Captures taken before TCP segmentation offload show total length 0: trust the capture then.
  if (total === 0) total = captured;
  else if (total < ihl) return st.fail(Status.MALFORMED, 'ipv4: total length %a < header length %b', total, ihl);
  if (total > captured) return st.fail(Status.MALFORMED, 'ipv4: total length %a > captured %b', total, captured);
  // Options (ihl > 20) are skipped: nothing in them affects classification.
  st.protocol = b[off + 9]!;
  st.l4Offset = off + ihl;
  st.l4End = off + total; // drops Ethernet padding / trailers
  st.ipLength = total;
  const frag = (b[off + 6]! << 8) | b[off + 7]!;
  if ((frag & 0x3fff) === 0) return Status.OK;
  st.fragOffset = (frag & 0x1fff) << 3;
  st.fragMore = (frag & 0x2000) !== 0;
  st.fragId = (b[off + 4]! << 8) | b[off + 5]!;
  st.fragNext = st.protocol;
  st.fragHeaderLength = ihl;
  return Status.FRAGMENT;
}
