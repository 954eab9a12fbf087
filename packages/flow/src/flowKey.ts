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
  const addrLen = (key.length - 1) / 2 - 2;
  const highAt = 1 + addrLen + 2;
  const o = origIsLow ? 1 : highAt;
  const r = origIsLow ? highAt : 1;
  return {
    protocol: key.charCodeAt(0),
    src: addressAt(key, o, addrLen),
    sport: (key.charCodeAt(o + addrLen) << 8) | key.charCodeAt(o + addrLen + 1),
    dst: addressAt(key, r, addrLen),
    dport: (key.charCodeAt(r + addrLen) << 8) | key.charCodeAt(r + addrLen + 1),
  };
}

/** "0." to "255.": an IPv4 address in four pieces, three concatenations instead of seven. */
const DOTTED_BYTE = Array.from({ length: 256 }, (_, i) => `${i}.`);

/** The address of `len` bytes at `at` in a key, as text. IPv4 straight from the chars: control maps every stored flow record through here. */
function addressAt(key: string, at: number, len: number): string {
  if (len === 4) return DOTTED_BYTE[key.charCodeAt(at)]! + DOTTED_BYTE[key.charCodeAt(at + 1)]! + DOTTED_BYTE[key.charCodeAt(at + 2)]! + String(key.charCodeAt(at + 3));
  const addr = new Uint8Array(len);
  for (let i = 0; i < len; i++) addr[i] = key.charCodeAt(at + i);
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
