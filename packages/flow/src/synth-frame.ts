import { parseIpAddress } from './ip-address.js';
import { LinkType } from './link.js';
import { IPPROTO_TCP, IPPROTO_UDP, TcpFlag } from './packet.js';

/**
 * Test-packet synthesis for unit tests and benchmarks. Not on any hot path:
 * clarity over speed. Builds valid IPv4 header, TCP and UDP checksums.
 */

export interface SynthPacket {
  tsSec: number;
  tsNsec?: number;
  /** '198.18.0.1' or IPv6 text; src and dst must be the same family. */
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp';
  sport: number;
  dport: number;
  /** TCP flags byte; default ACK|PSH with a payload, else ACK. */
  flags?: number;
  /** Default 1. */
  seq?: number;
  /** Default 1. */
  ack?: number;
  /** String = latin1 bytes. */
  payload?: Uint8Array | string;
}

/** One IPv6 extension header: hop-by-hop 0, routing 43, fragment 44, AH 51, destination options 60. */
export interface SynthExtHeader {
  type: number;
  /** Bytes after the next-header/length fields, zero-padded to the header's unit (Pad1 options for 0/60). */
  body?: Uint8Array;
}

export interface SynthIpOptions {
  ttl?: number;
  /** IPv4 identification (default 1). */
  ipId?: number;
  dontFragment?: boolean;
  /** Raw IPv4 option bytes, zero-padded (EOL) to a 4-byte multiple. */
  ipv4Options?: Uint8Array;
  ipv6ExtHeaders?: SynthExtHeader[];
  /** Overrides the IP protocol / final next-header number (e.g. 1, 50, 59) while keeping the transport bytes. */
  protocolNumber?: number;
}

export interface SynthLinkOptions {
  /** 802.1Q/802.1ad tags, outermost first (VLAN ids). */
  vlanIds?: number[];
  /** TPID per tag (default 0x8100 for each). */
  vlanTpids?: number[];
  /** MPLS label stack, top first (Ethernet only; the last gets the bottom-of-stack bit). */
  mplsLabels?: number[];
  /** Wrap in a PPPoE session with this id (Ethernet only). */
  pppoeSessionId?: number;
  /** Encapsulate with 802.2 LLC/SNAP instead of Ethernet II (Ethernet only). */
  llcSnap?: boolean;
  /** Pad Ethernet frames to the 60-byte minimum, as NICs do. */
  ethernetPadding?: boolean;
  /** Byte order of the 4-byte NULL (DLT 0) family field: default 'little' (x86 capture host). */
  nullByteOrder?: 'little' | 'big';
  /** AF_INET6 value for NULL/LOOP: 24 (default), 28 or 30. */
  ipv6Family?: number;
  /** PPP / PPP_HDLC: emit the ff 03 address/control bytes (default true). */
  pppAddressControl?: boolean;
}

export type SynthFrameOptions = SynthIpOptions & SynthLinkOptions;

/** Invalid synthesis request (unknown link type, mixed address families...). */
export class SynthError extends Error {
  override readonly name = 'SynthError';
  readonly code = 'SYNTH_INVALID';
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function payloadBytes(payload: Uint8Array | string | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  if (typeof payload !== 'string') return payload;
  const out = new Uint8Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = payload.charCodeAt(i) & 0xff;
  return out;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, (v >>> 16) & 0xffff);
  put16(b, o + 2, v & 0xffff);
}

/** RFC 1071 ones'-complement sum, folded (not inverted). */
function sum16(parts: Uint8Array[]): number {
  let s = 0;
  for (const p of parts) {
    for (let i = 0; i + 1 < p.length; i += 2) s += (p[i]! << 8) | p[i + 1]!;
    if (p.length & 1) s += p[p.length - 1]! << 8;
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

export function internetChecksum(...parts: Uint8Array[]): number {
  return ~sum16(parts) & 0xffff;
}

/** TCP or UDP header + payload, with the checksum over the IPv4/IPv6 pseudo-header. */
export function buildTransport(p: SynthPacket, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const payload = payloadBytes(p.payload);
  const tcp = p.protocol === 'tcp';
  const hlen = tcp ? 20 : 8;
  const seg = new Uint8Array(hlen + payload.length);
  put16(seg, 0, p.sport);
  put16(seg, 2, p.dport);
  if (tcp) {
    put32(seg, 4, p.seq ?? 1);
    put32(seg, 8, p.ack ?? 1);
    seg[12] = 5 << 4;
    seg[13] = p.flags ?? (payload.length > 0 ? TcpFlag.ACK | TcpFlag.PSH : TcpFlag.ACK);
    put16(seg, 14, 65535);
  } else {
    put16(seg, 4, seg.length);
  }
  seg.set(payload, hlen);
  const pseudo = new Uint8Array(src.length * 2 + (src.length === 4 ? 4 : 8));
  pseudo.set(src, 0);
  pseudo.set(dst, src.length);
  const proto = tcp ? IPPROTO_TCP : IPPROTO_UDP;
  if (src.length === 4) {
    pseudo[9] = proto;
    put16(pseudo, 10, seg.length);
  } else {
    put32(pseudo, 32, seg.length);
    pseudo[39] = proto;
  }
  const ck = internetChecksum(pseudo, seg) || (tcp ? 0 : 0xffff); // UDP sends 0 as all-ones
  put16(seg, tcp ? 16 : 6, ck);
  return seg;
}

function extHeaderBytes(h: SynthExtHeader, next: number): Uint8Array {
  const body = h.body ?? new Uint8Array(0);
  let total: number;
  if (h.type === 44) total = 8;
  else if (h.type === 51) total = Math.max(12, (2 + body.length + 3) & ~3);
  else total = Math.max(8, (2 + body.length + 7) & ~7);
  const out = new Uint8Array(total);
  out.set(body.subarray(0, total - 2), 2);
  out[0] = next;
  if (h.type === 51) out[1] = total / 4 - 2;
  else if (h.type !== 44) out[1] = total / 8 - 1;
  return out;
}

/** A complete IPv4 or IPv6 datagram carrying the packet's TCP/UDP segment. */
export function buildIpPacket(p: SynthPacket, options: SynthIpOptions = {}): Uint8Array {
  const src = parseIpAddress(p.src);
  const dst = parseIpAddress(p.dst);
  if (src.length !== dst.length) throw new SynthError(`src ${p.src} and dst ${p.dst} are different address families`);
  const seg = buildTransport(p, src, dst);
  const proto = options.protocolNumber ?? (p.protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP);
  if (src.length === 4) {
    const opts = options.ipv4Options ?? new Uint8Array(0);
    const ihl = 20 + ((opts.length + 3) & ~3);
    if (ihl > 60) throw new SynthError(`IPv4 options too long (${opts.length} bytes)`);
    const h = new Uint8Array(ihl);
    h[0] = 0x40 | (ihl >> 2);
    put16(h, 2, ihl + seg.length);
    put16(h, 4, options.ipId ?? 1);
    if (options.dontFragment) h[6] = 0x40;
    h[8] = options.ttl ?? 64;
    h[9] = proto;
    h.set(src, 12);
    h.set(dst, 16);
    h.set(opts, 20);
    put16(h, 10, internetChecksum(h));
    return concatBytes([h, seg]);
  }
  const exts = options.ipv6ExtHeaders ?? [];
  const extBytes = exts.map((e, i) => extHeaderBytes(e, exts[i + 1]?.type ?? proto));
  const h = new Uint8Array(40);
  h[0] = 0x60;
  const plen = extBytes.reduce((n, e) => n + e.length, 0) + seg.length;
  put16(h, 4, plen);
  h[6] = exts[0]?.type ?? proto;
  h[7] = options.ttl ?? 64;
  h.set(src, 8);
  h.set(dst, 24);
  return concatBytes([h, ...extBytes, seg]);
}

const MAC_DST = Uint8Array.of(0x02, 0, 0, 0, 0, 0x02);
const MAC_SRC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);

/** Ethernet header with optional VLAN tags, MPLS labels, PPPoE or LLC/SNAP around an IP datagram. */
function ethernetFrame(ip: Uint8Array, v4: boolean, o: SynthLinkOptions): Uint8Array {
  const parts: Uint8Array[] = [MAC_DST, MAC_SRC];
  const type16 = (v: number): Uint8Array => Uint8Array.of(v >> 8, v & 0xff);
  (o.vlanIds ?? []).forEach((id, i) => {
    parts.push(type16(o.vlanTpids?.[i] ?? 0x8100), type16(id & 0x0fff));
  });
  if (o.mplsLabels && o.mplsLabels.length > 0) {
    parts.push(type16(0x8847));
    o.mplsLabels.forEach((label, i, all) => {
      const e = new Uint8Array(4);
      put32(e, 0, ((label & 0xfffff) << 12) | (i === all.length - 1 ? 0x100 : 0) | 64);
      parts.push(e);
    });
  } else if (o.pppoeSessionId !== undefined) {
    const h = new Uint8Array(8);
    h[0] = 0x11;
    put16(h, 2, o.pppoeSessionId);
    put16(h, 4, ip.length + 2);
    put16(h, 6, v4 ? 0x0021 : 0x0057);
    parts.push(type16(0x8864), h);
  } else if (o.llcSnap) {
    // 802.3 length, then LLC aa aa 03 and SNAP OUI 000000 + ethertype.
    parts.push(type16(8 + ip.length), Uint8Array.of(0xaa, 0xaa, 0x03, 0, 0, 0), type16(v4 ? 0x0800 : 0x86dd));
  } else {
    parts.push(type16(v4 ? 0x0800 : 0x86dd));
  }
  parts.push(ip);
  const frame = concatBytes(parts);
  if (o.ethernetPadding && frame.length < 60) return concatBytes([frame, new Uint8Array(60 - frame.length)]);
  return frame;
}

/** Wraps an IP datagram in the given link layer. */
export function wrapLink(ip: Uint8Array, linkType: number = LinkType.ETHERNET, o: SynthLinkOptions = {}): Uint8Array {
  const v4 = ip.length > 0 && ip[0]! >> 4 === 4;
  const ethertype = v4 ? 0x0800 : 0x86dd;
  const family = v4 ? 2 : (o.ipv6Family ?? 24);
  const ppp = (): Uint8Array => {
    const proto = v4 ? [0x00, 0x21] : [0x00, 0x57];
    return Uint8Array.from(o.pppAddressControl === false ? proto : [0xff, 0x03, ...proto]);
  };
  switch (linkType) {
    case LinkType.ETHERNET:
      return ethernetFrame(ip, v4, o);
    case LinkType.RAW:
    case LinkType.RAW_12:
    case LinkType.RAW_14:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return ip.slice();
    case LinkType.NULL: {
      const h = new Uint8Array(4);
      new DataView(h.buffer).setUint32(0, family, o.nullByteOrder !== 'big');
      return concatBytes([h, ip]);
    }
    case LinkType.LOOP: {
      const h = new Uint8Array(4);
      put32(h, 0, family);
      return concatBytes([h, ip]);
    }
    case LinkType.PPP:
    case LinkType.PPP_HDLC:
      return concatBytes([ppp(), ip]);
    case LinkType.C_HDLC:
      return concatBytes([Uint8Array.of(0x0f, 0x00, ethertype >> 8, ethertype & 0xff), ip]);
    case LinkType.LINUX_SLL: {
      const h = new Uint8Array(16);
      put16(h, 0, 0); // packet sent to us
      put16(h, 2, 1); // ARPHRD_ETHER
      put16(h, 4, 6);
      h.set(MAC_SRC, 6);
      put16(h, 14, ethertype);
      return concatBytes([h, ip]);
    }
    case LinkType.LINUX_SLL2: {
      const h = new Uint8Array(20);
      put16(h, 0, ethertype);
      put32(h, 4, 2); // interface index
      put16(h, 8, 1); // ARPHRD_ETHER
      h[10] = 0;
      h[11] = 6;
      h.set(MAC_SRC, 12);
      return concatBytes([h, ip]);
    }
    default:
      throw new SynthError(`cannot synthesise link type ${linkType}`);
  }
}

/** A complete link-layer frame for the packet (default Ethernet II). */
export function buildFrame(p: SynthPacket, linkType: number = LinkType.ETHERNET, options: SynthFrameOptions = {}): Uint8Array {
  return wrapLink(buildIpPacket(p, options), linkType, options);
}
