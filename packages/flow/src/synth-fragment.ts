import { concatBytes, internetChecksum, SynthError } from './synth-frame.js';

/**
 * IP fragmentation for tests: whole-datagram splitters plus single-fragment
 * builders, so tests can also craft overlaps, duplicates and odd orders.
 */

/** One IPv4 fragment holding payload bytes [offset, offset + length) of `datagram` (an IPv4 packet). */
export function ipv4Fragment(datagram: Uint8Array, offset: number, length: number, more: boolean): Uint8Array {
  const ihl = (datagram[0]! & 15) << 2;
  if (datagram[0]! >> 4 !== 4) throw new SynthError('ipv4Fragment needs an IPv4 datagram');
  if (offset & 7) throw new SynthError(`fragment offset ${offset} is not a multiple of 8`);
  const payload = datagram.subarray(ihl + offset, ihl + offset + length);
  const h = datagram.slice(0, ihl);
  h[2] = ((ihl + payload.length) >> 8) & 0xff;
  h[3] = (ihl + payload.length) & 0xff;
  const field = (offset >> 3) | (more ? 0x2000 : 0);
  h[6] = field >> 8;
  h[7] = field & 0xff;
  h[10] = 0;
  h[11] = 0;
  const ck = internetChecksum(h);
  h[10] = ck >> 8;
  h[11] = ck & 0xff;
  return concatBytes([h, payload]);
}

/** Splits an IPv4 datagram into fragments no larger than `mtu` bytes, in order. */
export function fragmentIpv4(datagram: Uint8Array, mtu: number): Uint8Array[] {
  const ihl = (datagram[0]! & 15) << 2;
  const step = ((mtu - ihl) >> 3) << 3;
  if (step <= 0) throw new SynthError(`mtu ${mtu} leaves no room for fragment data`);
  const payloadLength = datagram.length - ihl;
  const out: Uint8Array[] = [];
  for (let off = 0; off < payloadLength || off === 0; off += step) {
    const len = Math.min(step, payloadLength - off);
    out.push(ipv4Fragment(datagram, off, len, off + len < payloadLength));
  }
  return out;
}

/** Length of the unfragmentable part: IPv6 header + hop-by-hop / routing headers (and destination options before routing). */
function unfragmentableLength(d: Uint8Array): { length: number; nextAt: number } {
  let nextAt = 6;
  let next = d[6]!;
  let p = 40;
  let length = 40;
  let lengthNextAt = 6;
  while (next === 0 || next === 43 || next === 60) {
    const len = (d[p + 1]! + 1) << 3;
    const following = d[p]!;
    nextAt = p;
    p += len;
    if (next !== 60) {
      length = p;
      lengthNextAt = nextAt;
    }
    next = following;
  }
  return { length, nextAt: lengthNextAt };
}

/**
 * One IPv6 fragment holding bytes [offset, offset + length) of the fragmentable
 * part of `datagram` (an IPv6 packet), with a fragment header of identification `id`.
 */
export function ipv6Fragment(datagram: Uint8Array, offset: number, length: number, more: boolean, id: number): Uint8Array {
  if (datagram[0]! >> 4 !== 6) throw new SynthError('ipv6Fragment needs an IPv6 datagram');
  if (offset & 7) throw new SynthError(`fragment offset ${offset} is not a multiple of 8`);
  const { length: unfrag, nextAt } = unfragmentableLength(datagram);
  const head = datagram.slice(0, unfrag);
  const originalNext = head[nextAt]!;
  head[nextAt] = 44;
  const data = datagram.subarray(unfrag + offset, unfrag + offset + length);
  const fh = new Uint8Array(8);
  fh[0] = originalNext;
  const field = offset | (more ? 1 : 0);
  fh[2] = field >> 8;
  fh[3] = field & 0xff;
  new DataView(fh.buffer).setUint32(4, id >>> 0);
  const plen = unfrag - 40 + 8 + data.length;
  head[4] = plen >> 8;
  head[5] = plen & 0xff;
  return concatBytes([head, fh, data]);
}

/** Splits an IPv6 datagram's fragmentable part into pieces of `fragmentSize` bytes (a multiple of 8), in order. */
export function fragmentIpv6(datagram: Uint8Array, fragmentSize: number, id = 0x1234): Uint8Array[] {
  if (fragmentSize <= 0 || fragmentSize & 7) throw new SynthError(`fragment size ${fragmentSize} must be a positive multiple of 8`);
  const total = datagram.length - unfragmentableLength(datagram).length;
  const out: Uint8Array[] = [];
  for (let off = 0; off < total || off === 0; off += fragmentSize) {
    const len = Math.min(fragmentSize, total - off);
    out.push(ipv6Fragment(datagram, off, len, off + len < total, id));
  }
  return out;
}
