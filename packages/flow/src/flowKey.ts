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

function endpointChars(addr: Uint8Array, port: number): string {
  if (addr.length === 4) {
    return String.fromCharCode(addr[0]!, addr[1]!, addr[2]!, addr[3]!, port >>> 8, port & 0xff);
  }
  return String.fromCharCode(...addr, port >>> 8, port & 0xff);
}

/** Computes the packet's flow key. Returns a shared object: copy what you keep. */
export function flowKeyOf(p: DecodedPacket): FlowKeyResult {
  const srcIsLow = compareEndpoints(p.srcAddr, p.srcPort, p.dstAddr, p.dstPort) <= 0;
  const low = srcIsLow ? endpointChars(p.srcAddr, p.srcPort) : endpointChars(p.dstAddr, p.dstPort);
  const high = srcIsLow ? endpointChars(p.dstAddr, p.dstPort) : endpointChars(p.srcAddr, p.srcPort);
  result.key = String.fromCharCode(p.protocol) + low + high;
  result.srcIsLow = srcIsLow;
  return result;
}

/** Text form of an address (dotted quad, or RFC 5952 compressed IPv6). */
export function formatAddress(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((addr[i]! << 8) | addr[i + 1]!);
  // Compress the longest run (length >= 2) of zero groups, leftmost on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
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
  const endpoint = (at: number) => {
    const addr = new Uint8Array(addrLen);
    for (let i = 0; i < addrLen; i++) addr[i] = key.charCodeAt(at + i);
    return { addr: formatAddress(addr), port: (key.charCodeAt(at + addrLen) << 8) | key.charCodeAt(at + addrLen + 1) };
  };
  const low = endpoint(1);
  const high = endpoint(1 + addrLen + 2);
  const [o, r] = origIsLow ? [low, high] : [high, low];
  return { protocol: key.charCodeAt(0), src: o.addr, sport: o.port, dst: r.addr, dport: r.port };
}
