import { LinkType } from './link.js';
import { concatBytes, SynthError } from './synth-frame.js';

/**
 * pcap / pcapng writers for tests and benchmarks. The block builders are
 * exported so tests can assemble unusual files (several sections, SPB,
 * obsolete PB, unknown blocks) piece by piece.
 */

export interface PcapRecordInput {
  tsSec: number;
  tsNsec?: number;
  data: Uint8Array;
  /** Defaults to data.length. */
  originalLength?: number;
}

export interface EncodePcapOptions {
  linkType?: number;
  /** Nanosecond-resolution magic (a1b23c4d) instead of microseconds. */
  nanosecond?: boolean;
  bigEndian?: boolean;
  /** Default 262144. */
  snaplen?: number;
}

/** A classic pcap file. */
export function encodePcap(frames: PcapRecordInput[], options: EncodePcapOptions = {}): Uint8Array {
  const le = !options.bigEndian;
  const size = 24 + frames.reduce((n, f) => n + 16 + f.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, options.snaplen ?? 262144, le);
  v.setUint32(20, options.linkType ?? LinkType.ETHERNET, le);
  let o = 24;
  for (const f of frames) {
    const ns = f.tsNsec ?? 0;
    v.setUint32(o, f.tsSec, le);
    v.setUint32(o + 4, options.nanosecond ? ns : Math.floor(ns / 1000), le);
    v.setUint32(o + 8, f.data.length, le);
    v.setUint32(o + 12, f.originalLength ?? f.data.length, le);
    out.set(f.data, o + 16);
    o += 16 + f.data.length;
  }
  return out;
}

/** One pcapng block: type, total length, body padded to 4 bytes, total length. */
export function pcapngBlock(type: number, body: Uint8Array, bigEndian = false): Uint8Array {
  const total = 12 + ((body.length + 3) & ~3);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, !bigEndian);
  v.setUint32(4, total, !bigEndian);
  out.set(body, 8);
  v.setUint32(total - 4, total, !bigEndian);
  return out;
}

/** Section Header Block (version 1.0, section length -1 = unknown). */
export function pcapngSectionHeader(bigEndian = false): Uint8Array {
  const body = new Uint8Array(16);
  const v = new DataView(body.buffer);
  v.setUint32(0, 0x1a2b3c4d, !bigEndian);
  v.setUint16(4, 1, !bigEndian);
  v.setUint16(6, 0, !bigEndian);
  v.setInt32(8, -1, !bigEndian);
  v.setInt32(12, -1, !bigEndian);
  return pcapngBlock(0x0a0d0d0a, body, bigEndian);
}

export interface PcapngInterfaceInput {
  linkType: number;
  /** if_tsresol option byte: n = 10^-n s units (default 6, microseconds); 0x80 | n = 2^-n s units. */
  tsResolution?: number;
  /** if_tsoffset seconds: file timestamps are written relative to it. */
  tsOffset?: number;
  /** Default 0 (no limit). */
  snaplen?: number;
}

function option(code: number, value: Uint8Array, le: boolean): Uint8Array {
  const out = new Uint8Array(4 + ((value.length + 3) & ~3));
  const v = new DataView(out.buffer);
  v.setUint16(0, code, le);
  v.setUint16(2, value.length, le);
  out.set(value, 4);
  return out;
}

/** Interface Description Block with optional if_tsresol / if_tsoffset. */
export function pcapngInterface(itf: PcapngInterfaceInput, bigEndian = false): Uint8Array {
  const le = !bigEndian;
  const fixed = new Uint8Array(8);
  const v = new DataView(fixed.buffer);
  v.setUint16(0, itf.linkType, le);
  v.setUint32(4, itf.snaplen ?? 0, le);
  const opts: Uint8Array[] = [];
  if (itf.tsResolution !== undefined) opts.push(option(9, Uint8Array.of(itf.tsResolution), le));
  if (itf.tsOffset !== undefined) {
    const o = new Uint8Array(8);
    new DataView(o.buffer).setBigInt64(0, BigInt(itf.tsOffset), le);
    opts.push(option(14, o, le));
  }
  if (opts.length > 0) opts.push(new Uint8Array(4)); // opt_endofopt
  return pcapngBlock(1, concatBytes([fixed, ...opts]), bigEndian);
}

/** Converts sec + nsec to a 64-bit count of the interface's units, minus its offset. */
function timestampUnits(itf: PcapngInterfaceInput, tsSec: number, tsNsec: number): bigint {
  const r = itf.tsResolution ?? 6;
  const units = r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
  const sec = BigInt(tsSec - (itf.tsOffset ?? 0));
  return sec * units + (BigInt(tsNsec) * units) / 1_000_000_000n;
}

export interface PcapngPacketInput {
  interfaceId: number;
  tsSec: number;
  tsNsec?: number;
  data: Uint8Array;
  originalLength?: number;
}

/** Enhanced Packet Block (or obsolete Packet Block with `obsolete`), timestamped in the interface's units. */
export function pcapngEnhancedPacket(
  itf: PcapngInterfaceInput,
  p: PcapngPacketInput,
  bigEndian = false,
  obsolete = false,
): Uint8Array {
  const le = !bigEndian;
  const body = new Uint8Array(20 + p.data.length);
  const v = new DataView(body.buffer);
  if (obsolete) v.setUint16(0, p.interfaceId, le);
  else v.setUint32(0, p.interfaceId, le);
  const ts = timestampUnits(itf, p.tsSec, p.tsNsec ?? 0);
  v.setUint32(4, Number(ts >> 32n) >>> 0, le);
  v.setUint32(8, Number(ts & 0xffffffffn), le);
  v.setUint32(12, p.data.length, le);
  v.setUint32(16, p.originalLength ?? p.data.length, le);
  body.set(p.data, 20);
  return pcapngBlock(obsolete ? 2 : 6, body, bigEndian);
}

/** Simple Packet Block (interface 0, no timestamp). */
export function pcapngSimplePacket(data: Uint8Array, originalLength = data.length, bigEndian = false): Uint8Array {
  const body = new Uint8Array(4 + data.length);
  new DataView(body.buffer).setUint32(0, originalLength, !bigEndian);
  body.set(data, 4);
  return pcapngBlock(3, body, bigEndian);
}

/** A single-section pcapng file: SHB, one IDB per interface, one EPB per packet. */
export function encodePcapng(
  interfaces: PcapngInterfaceInput[],
  packets: PcapngPacketInput[],
  options: { bigEndian?: boolean } = {},
): Uint8Array {
  const be = options.bigEndian ?? false;
  const parts = [pcapngSectionHeader(be), ...interfaces.map((i) => pcapngInterface(i, be))];
  for (const p of packets) {
    const itf = interfaces[p.interfaceId];
    if (itf === undefined) throw new SynthError(`packet refers to undeclared interface ${p.interfaceId}`);
    parts.push(pcapngEnhancedPacket(itf, p, be));
  }
  return concatBytes(parts);
}
