import { formatIpAddress, parseIpAddress } from './ip-address.js';
import type { DecodedPacket } from './packet.js';

/**
 * A canonical, direction-independent flow key: both directions of a
 * connection map to the same key. The endpoint that sorts lower (address
 * bytes, then port) goes first. Keys are one-byte strings (one char per byte)
 * so they hash and compare fast in a Map and cost no allocation beyond the
 * string itself.
 */
export interface FlowKeyResult {
  key: string;
  /** True when the packet's source is the key's first (lower) endpoint. */
  srcIsLow: boolean;
}

const result: FlowKeyResult = { key: '', srcIsLow: true };

function compareEndpoints(a: Uint8Array, aPort: number, b: Uint8Array, bPort: number): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return aPort - bPort;
}

/**
 * Computes the packet's flow key. Returns a shared object: copy what you keep.
 * IPv4 keys are built by one String.fromCharCode call, so they are flat
 * strings: a Map hashes and compares them without flattening a rope first.
 */
export function flowKeyOf(p: DecodedPacket): FlowKeyResult {
  const srcIsLow = compareEndpoints(p.srcAddr, p.srcPort, p.dstAddr, p.dstPort) <= 0;
  const a = srcIsLow ? p.srcAddr : p.dstAddr;
  const b = srcIsLow ? p.dstAddr : p.srcAddr;
  const ap = srcIsLow ? p.srcPort : p.dstPort;
  const bp = srcIsLow ? p.dstPort : p.srcPort;
  result.key =
    a.length === 4
      ? String.fromCharCode(p.protocol, a[0]!, a[1]!, a[2]!, a[3]!, ap >>> 8, ap & 0xff, b[0]!, b[1]!, b[2]!, b[3]!, bp >>> 8, bp & 0xff)
      : String.fromCharCode(p.protocol, ...a, ap >>> 8, ap & 0xff, ...b, bp >>> 8, bp & 0xff);
  result.srcIsLow = srcIsLow;
  return result;
}

/** The endpoints of a flow key, oriented originator -> responder. */
export interface FlowEndpoints {
  protocol: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

/** Decodes a key made by {@link flowKeyOf} back into oriented endpoints. */
export function endpointsOfKey(key: string, origIsLow: boolean): FlowEndpoints {
  return {
    protocol: key.charCodeAt(0),
    src: keyAddress(key, origIsLow),
    sport: keyPort(key, origIsLow),
    dst: keyAddress(key, !origIsLow),
    dport: keyPort(key, !origIsLow),
  };
}

/**
 * The address of one endpoint of a key (`low`: the key's first) as text,
 * as endpointsOfKey gives it, without its object: control maps every
 * stored flow record through here.
 */
export function keyAddress(key: string, low: boolean): string {
  const at = low ? 1 : (key.length + 1) / 2;
  return key.length === 13 ? ipv4At(key, at) : ipv6At(key, at);
}

/** The port of one endpoint of a key (`low`: the key's first). */
export function keyPort(key: string, low: boolean): number {
  // A port ends its endpoint: the low one ends where the high one starts, the high one at the key's end.
  const end = low ? (key.length + 1) / 2 : key.length;
  return (key.charCodeAt(end - 2) << 8) | key.charCodeAt(end - 1);
}

/** "0." to "255.": an IPv4 address in four pieces, three concatenations instead of seven. */
const DOTTED_BYTE = Array.from({ length: 256 }, (_, i) => `${i}.`);
/** The same as char codes, four a byte (unused ones 0). */
const DOTTED_CODES = Uint16Array.from({ length: 256 * 4 }, (_, i) => DOTTED_BYTE[i >> 2]!.charCodeAt(i & 3) || 0);
/** The chars of a long address being made. */
const chars = new Uint16Array(16);

/**
 * IPv4 addresses formatted lately, by a hash of their value (a slot holds
 * the last one that hashed there). The records of a flow, and the flows of
 * a host, repeat addresses: one string for each spares the formatting and,
 * as control holds a batch's records until they are written, the garbage.
 * Every slot starts as 0.0.0.0, which is right for the value 0 it holds.
 */
const IPV4_SLOTS = 4096;
const ipv4Values = new Int32Array(IPV4_SLOTS);
const ipv4Texts = new Array<string>(IPV4_SLOTS).fill('0.0.0.0');

function ipv4At(key: string, at: number): string {
  const a = key.charCodeAt(at);
  const b = key.charCodeAt(at + 1);
  const c = key.charCodeAt(at + 2);
  const d = key.charCodeAt(at + 3);
  const value = (a << 24) | (b << 16) | (c << 8) | d;
  const slot = Math.imul(value, 0x9e3779b1) >>> 20; // the top 12 bits of a multiplicative hash
  if (ipv4Values[slot] === value) return ipv4Texts[slot]!;
  const text = ipv4Text(a, b, c, d);
  ipv4Values[slot] = value;
  ipv4Texts[slot] = text;
  return text;
}

/**
 * An IPv4 address as one flat string. A sum of strings is flat below 13
 * chars (V8 copies it); from 13 on it is a cons string, which every later
 * read (a check, COPY, a comparison) has to flatten first: so those are
 * made by fromCharCode, of a fixed count (a spread or `apply` costs several
 * times as much).
 */
function ipv4Text(a: number, b: number, c: number, d: number): string {
  const length = DOTTED_BYTE[a]!.length + DOTTED_BYTE[b]!.length + DOTTED_BYTE[c]!.length + DOTTED_BYTE[d]!.length - 1;
  if (length < 13) return DOTTED_BYTE[a]! + DOTTED_BYTE[b]! + DOTTED_BYTE[c]! + String(d);
  const s = chars;
  putDotted(putDotted(putDotted(putDotted(0, a), b), c), d);
  // prettier-ignore
  if (length === 13) return String.fromCharCode(s[0]!, s[1]!, s[2]!, s[3]!, s[4]!, s[5]!, s[6]!, s[7]!, s[8]!, s[9]!, s[10]!, s[11]!, s[12]!);
  // prettier-ignore
  if (length === 14) return String.fromCharCode(s[0]!, s[1]!, s[2]!, s[3]!, s[4]!, s[5]!, s[6]!, s[7]!, s[8]!, s[9]!, s[10]!, s[11]!, s[12]!, s[13]!);
  // prettier-ignore
  return String.fromCharCode(s[0]!, s[1]!, s[2]!, s[3]!, s[4]!, s[5]!, s[6]!, s[7]!, s[8]!, s[9]!, s[10]!, s[11]!, s[12]!, s[13]!, s[14]!);
}

/** A byte's digits and dot into `chars` at `at`; returns where they end. */
function putDotted(at: number, byte: number): number {
  const from = byte * 4;
  chars[at] = DOTTED_CODES[from]!;
  chars[at + 1] = DOTTED_CODES[from + 1]!;
  chars[at + 2] = DOTTED_CODES[from + 2]!;
  chars[at + 3] = DOTTED_CODES[from + 3]!;
  return at + DOTTED_BYTE[byte]!.length;
}

function ipv6At(key: string, at: number): string {
  const addr = new Uint8Array(16);
  for (let i = 0; i < 16; i++) addr[i] = key.charCodeAt(at + i);
  return formatIpAddress(addr);
}

/**
 * The key {@link flowKeyOf} makes for a packet between these endpoints
 * (either way round): for tuples that come from elsewhere than a packet,
 * such as an nftables set listing.
 */
export function flowKeyOfEndpoints(e: FlowEndpoints): string {
  const src = parseIpAddress(e.src);
  const dst = parseIpAddress(e.dst);
  if (src.length !== dst.length) throw new RangeError(`flow endpoints ${e.src} and ${e.dst} are not of one address family`);
  const srcIsLow = compareEndpoints(src, e.sport, dst, e.dport) <= 0;
  const [a, ap, b, bp] = srcIsLow ? [src, e.sport, dst, e.dport] : [dst, e.dport, src, e.sport];
  return String.fromCharCode(e.protocol, ...a, ap >>> 8, ap & 0xff, ...b, bp >>> 8, bp & 0xff);
}

/** Whether either endpoint of a flow key has one of `ports` (e.g. an FTP control connection's 21). */
export function keyHasPort(key: string, ports: ReadonlySet<number>): boolean {
  const a = key.length === 13 ? 4 : 16;
  return ports.has((key.charCodeAt(a + 1) << 8) | key.charCodeAt(a + 2)) || ports.has((key.charCodeAt(2 * a + 3) << 8) | key.charCodeAt(2 * a + 4));
}
