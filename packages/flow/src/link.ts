import { L3_IPV4, L3_IPV6, Status, type LayerState } from './decoder-state.js';

/** LINKTYPE_* values (tcpdump.org link-layer header types) the decoder understands. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  PPP: 9,
  /** OpenBSD/most-platform DLT_RAW values that leak into capture files as link types. */
  RAW_12: 12,
  RAW_14: 14,
  PPP_HDLC: 50,
  RAW: 101,
  C_HDLC: 104,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;
const ETH_MPLS_UC = 0x8847;
const ETH_MPLS_MC = 0x8848;
const ETH_PPPOE_SESSION = 0x8864;
const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
/** Bounds on stacked headers so crafted frames cannot make us loop for long. */
const MAX_VLAN_TAGS = 8;
const MAX_MPLS_LABELS = 16;

/**
 * Finds the IP header inside the link-layer frame b[s, e): sets st.l3Offset
 * (absolute in b) and st.l3Kind (4 or 6) and returns OK, or NOT_IP /
 * MALFORMED / UNSUPPORTED_LINK. Frames are addressed by range so a record can
 * be decoded straight out of a capture chunk without creating a view.
 */
export function locateNetworkLayer(linkType: number, b: Uint8Array, s: number, e: number, st: LayerState): Status {
  switch (linkType) {
    case LinkType.ETHERNET:
      return ethernet(b, s, e, st);
    case LinkType.RAW:
    case LinkType.RAW_12:
    case LinkType.RAW_14:
      return byVersionNibble(b, s, e, s, st, 'raw');
    case LinkType.IPV4:
      return found(st, s, L3_IPV4);
    case LinkType.IPV6:
      return found(st, s, L3_IPV6);
    case LinkType.LINUX_SLL:
      if (e - s < 16) return st.fail(Status.MALFORMED, 'sll: header truncated (%a bytes captured)', e - s);
      return ethertype(b, s, e, s + 16, (b[s + 14]! << 8) | b[s + 15]!, st);
    case LinkType.LINUX_SLL2:
      if (e - s < 20) return st.fail(Status.MALFORMED, 'sll2: header truncated (%a bytes captured)', e - s);
      return ethertype(b, s, e, s + 20, (b[s]! << 8) | b[s + 1]!, st);
    case LinkType.NULL:
      return loopback(b, s, e, st, true);
    case LinkType.LOOP:
      return loopback(b, s, e, st, false);
    case LinkType.PPP:
      return ppp(b, s, e, s, st);
    case LinkType.PPP_HDLC:
      // DLT_PPP_SERIAL carries PPP in HDLC-like framing, or Cisco HDLC (address 0x0f/0x8f).
      return e > s && (b[s] === 0x0f || b[s] === 0x8f) ? ciscoHdlc(b, s, e, st) : ppp(b, s, e, s, st);
    case LinkType.C_HDLC:
      return ciscoHdlc(b, s, e, st);
    default:
      return st.fail(Status.UNSUPPORTED_LINK, 'link: unsupported link type %a', linkType);
  }
}

function found(st: LayerState, offset: number, kind: number): Status {
  st.l3Offset = offset;
  st.l3Kind = kind;
  return Status.OK;
}

function ethernet(b: Uint8Array, s: number, e: number, st: LayerState): Status {
  if (e - s < 14) return st.fail(Status.MALFORMED, 'ethernet: header truncated (%a bytes captured)', e - s);
  const type = (b[s + 12]! << 8) | b[s + 13]!;
  if (type >= 0x0600) return ethertype(b, s, e, s + 14, type, st);
  // 802.3 length field: only LLC/SNAP with a zero OUI carries an ethertype.
  if (e - s >= 22 && b[s + 14] === 0xaa && b[s + 15] === 0xaa && b[s + 16] === 0x03 && (b[s + 17]! | b[s + 18]! | b[s + 19]!) === 0) {
    return ethertype(b, s, e, s + 22, (b[s + 20]! << 8) | b[s + 21]!, st);
  }
  return st.fail(Status.NOT_IP, 'ethernet: 802.3 frame without SNAP ethertype');
}

/** Dispatches on an ethertype found just before b[off], stripping VLAN tags, MPLS labels and PPPoE. */
function ethertype(b: Uint8Array, s: number, e: number, off: number, type: number, st: LayerState): Status {
  let tags = 0;
  while (type === ETH_VLAN || type === ETH_QINQ || type === ETH_QINQ_OLD) {
    if (++tags > MAX_VLAN_TAGS) return st.fail(Status.MALFORMED, 'vlan: more than %a tags', MAX_VLAN_TAGS);
    if (off + 4 > e) return st.fail(Status.MALFORMED, 'vlan: tag truncated (%a bytes captured)', e - s);
    type = (b[off + 2]! << 8) | b[off + 3]!;
    off += 4;
  }
  switch (type) {
    case ETH_IPV4:
      return found(st, off, L3_IPV4);
    case ETH_IPV6:
      return found(st, off, L3_IPV6);
    case ETH_MPLS_UC:
    case ETH_MPLS_MC:
      return mpls(b, s, e, off, st);
    case ETH_PPPOE_SESSION:
      // ver/type, code, session id, length; then the PPP protocol field.
      if (off + 8 > e) return st.fail(Status.MALFORMED, 'pppoe: header truncated (%a bytes captured)', e - s);
      return pppProtocol((b[off + 6]! << 8) | b[off + 7]!, off + 8, st);
    default:
      return st.fail(Status.NOT_IP, 'link: ethertype 0x%x is not IP', type);
  }
}

function mpls(b: Uint8Array, s: number, e: number, off: number, st: LayerState): Status {
  for (let i = 0; i < MAX_MPLS_LABELS; i++) {
    if (off + 4 > e) return st.fail(Status.MALFORMED, 'mpls: label truncated (%a bytes captured)', e - s);
    const bottom = (b[off + 2]! & 1) !== 0;
    off += 4;
    // MPLS does not say what follows the stack; the IP version nibble is the conventional guess.
    if (bottom) return byVersionNibble(b, s, e, off, st, 'mpls');
  }
  return st.fail(Status.MALFORMED, 'mpls: more than %a labels', MAX_MPLS_LABELS);
}

function byVersionNibble(b: Uint8Array, s: number, e: number, off: number, st: LayerState, what: 'raw' | 'mpls'): Status {
  if (off >= e) {
    const why = what === 'raw' ? 'raw: no IP header (%a bytes captured)' : 'mpls: no payload (%a bytes captured)';
    return st.fail(Status.MALFORMED, why, e - s);
  }
  const v = b[off]! >> 4;
  if (v === 4) return found(st, off, L3_IPV4);
  if (v === 6) return found(st, off, L3_IPV6);
  // Raw IP with another version is broken IP; after MPLS it is a pseudowire or similar.
  return what === 'raw'
    ? st.fail(Status.MALFORMED, 'raw: IP version %a', v)
    : st.fail(Status.NOT_IP, 'mpls: payload version nibble %a is not IP', v);
}

/** BSD loopback: a 4-byte address family, host order for NULL (either order accepted), network order for LOOP. */
function loopback(b: Uint8Array, s: number, e: number, st: LayerState, eitherOrder: boolean): Status {
  if (e - s < 4) return st.fail(Status.MALFORMED, 'loopback: header truncated (%a bytes captured)', e - s);
  const be = ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
  let kind = addressFamily(be);
  if (kind === 0 && eitherOrder) kind = addressFamily((b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16) | (b[s + 3]! << 24)) >>> 0);
  if (kind === 0) return st.fail(Status.NOT_IP, 'loopback: address family %a is not IP', be);
  return found(st, s + 4, kind);
}

/** AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS). */
function addressFamily(af: number): number {
  if (af === 2) return L3_IPV4;
  if (af === 24 || af === 28 || af === 30) return L3_IPV6;
  return 0;
}

/** PPP: optional ff 03 address/control, then a 2-byte (or PFC-compressed 1-byte) protocol. */
function ppp(b: Uint8Array, s: number, e: number, off: number, st: LayerState): Status {
  // 0xff is the HDLC all-stations address, never the start of a protocol field in practice.
  if (off < e && b[off] === 0xff) {
    if (off + 2 > e) return st.fail(Status.MALFORMED, 'ppp: header truncated (%a bytes captured)', e - s);
    off += 2;
  }
  if (off >= e) return st.fail(Status.MALFORMED, 'ppp: header truncated (%a bytes captured)', e - s);
  // Protocol numbers have an odd low byte and even high byte, so an odd first byte means compression.
  if (b[off]! & 1) return pppProtocol(b[off]!, off + 1, st);
  if (off + 2 > e) return st.fail(Status.MALFORMED, 'ppp: header truncated (%a bytes captured)', e - s);
  return pppProtocol((b[off]! << 8) | b[off + 1]!, off + 2, st);
}

function pppProtocol(proto: number, off: number, st: LayerState): Status {
  if (proto === PPP_IPV4) return found(st, off, L3_IPV4);
  if (proto === PPP_IPV6) return found(st, off, L3_IPV6);
  return st.fail(Status.NOT_IP, 'ppp: protocol 0x%x is not IP', proto);
}

/** Cisco HDLC: address, control, then an ethertype. */
function ciscoHdlc(b: Uint8Array, s: number, e: number, st: LayerState): Status {
  if (e - s < 4) return st.fail(Status.MALFORMED, 'chdlc: header truncated (%a bytes captured)', e - s);
  return ethertype(b, s, e, s + 4, (b[s + 2]! << 8) | b[s + 3]!, st);
}
