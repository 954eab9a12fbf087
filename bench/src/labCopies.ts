import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { PcapStream } from './pcapStream.js';
import { join } from 'node:path';
import { listLabCaptures } from '@l7mesh/engine';
import { flowKeyOf, PacketDecoder, readCaptureFile, seededRandom } from '@l7mesh/flow';
import { REPO_ROOT } from './benchPatterns.js';

/**
 * A capture of many short, real flows for the cluster benchmark: the lab
 * captures (test/captures/<protocol>/*.pcap, recorded from real programs,
 * about 60 protocols, 136 flows of 14 packets on average) copied over and
 * over, each copy of a capture with its client's address rewritten (the
 * server keeps its own), so that every copy's flows are distinct 5-tuples
 * and spread over the partitions. Copies are interleaved the way a router
 * sees connections (a few dozen captures in progress at a time, never two
 * copies of one), and get timestamps of their own: one packet every 2 µs.
 *
 * The lab records each capture between two hosts, client x.x.x.2 and server
 * x.x.x.1; the client is the source of the capture's first packet. Its new
 * address is 10.0.0.0 + 1 + unit (a unit is one copy of one capture), and
 * IPv4 header and TCP/UDP checksums are adjusted. Payloads are left alone:
 * an active-mode FTP data connection, announced by PORT with the client's
 * old address, is then no longer recognised as the FTP control connection's
 * child, by the cluster and by `classify` alike.
 */

interface BaseCapture {
  name: string;
  frames: { data: Uint8Array; ipOffset: number; tsSec: number; tsNsec: number }[];
  /** The client's IPv4 address as a 32-bit number. */
  client: number;
  flows: number;
}

export interface LabCopiesInfo {
  file: string;
  flows: number;
  packets: number;
  bytes: number;
  units: number;
  baseCaptures: number;
  baseFlows: number;
}

/** Offset of the IPv4 header in an Ethernet frame (VLAN tags skipped), or -1. */
function ipv4Offset(frame: Uint8Array): number {
  let off = 12;
  while (off + 2 <= frame.length) {
    const type = (frame[off]! << 8) | frame[off + 1]!;
    if (type === 0x8100 || type === 0x88a8) {
      off += 4;
      continue;
    }
    return type === 0x0800 && off + 2 + 20 <= frame.length ? off + 2 : -1;
  }
  return -1;
}

const u32At = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

async function loadBases(): Promise<BaseCapture[]> {
  const bases: BaseCapture[] = [];
  for (const c of listLabCaptures(join(REPO_ROOT, 'test', 'captures'))) {
    const decoder = new PacketDecoder();
    const keys = new Set<string>();
    const frames: BaseCapture['frames'] = [];
    let client = -1;
    await readCaptureFile(c.file, (frame) => {
      if (frame.linkType !== 1) return; // the lab records Ethernet
      const data = frame.data.slice();
      const ipOffset = ipv4Offset(data);
      if (ipOffset < 0) return;
      if (client < 0) client = u32At(data, ipOffset + 12);
      frames.push({ data, ipOffset, tsSec: frame.tsSec, tsNsec: frame.tsNsec });
      const p = decoder.decodeFrame(frame);
      if (p) keys.add(flowKeyOf(p).key);
    });
    if (frames.length > 0 && keys.size > 0) bases.push({ name: c.name, frames, client, flows: keys.size });
  }
  if (bases.length === 0) throw new Error('no lab captures found under test/captures');
  return bases;
}

/** Ones' complement sum fold. */
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** RFC 1624 incremental update of a checksum for a 32-bit field changing from `from` to `to`. */
function adjustChecksum(hc: number, from: number, to: number): number {
  const s = (~hc & 0xffff) + (~(from >>> 16) & 0xffff) + (~from & 0xffff) + (to >>> 16) + (to & 0xffff);
  return ~fold(s) & 0xffff;
}

/** Copies a frame with `from` replaced by `to` as source or destination address, checksums adjusted. */
function rewrite(data: Uint8Array, ip: number, from: number, to: number): Uint8Array {
  const out = data.slice();
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let changed = 0;
  for (const at of [ip + 12, ip + 16]) {
    if (v.getUint32(at) === from) {
      v.setUint32(at, to);
      changed++;
    }
  }
  if (changed === 0) return out;
  const ihl = (out[ip]! & 0x0f) * 4;
  let ipSum = v.getUint16(ip + 10);
  for (let i = 0; i < changed; i++) ipSum = adjustChecksum(ipSum, from, to);
  v.setUint16(ip + 10, ipSum);
  const fragmentOffset = v.getUint16(ip + 6) & 0x1fff;
  if (fragmentOffset !== 0) return out;
  const proto = out[ip + 9]!;
  const at = proto === 6 ? ip + ihl + 16 : proto === 17 ? ip + ihl + 6 : -1;
  if (at < 0 || at + 2 > out.length) return out;
  let sum = v.getUint16(at);
  if (proto === 17 && sum === 0) return out; // no UDP checksum
  for (let i = 0; i < changed; i++) sum = adjustChecksum(sum, from, to);
  v.setUint16(at, proto === 17 && sum === 0 ? 0xffff : sum);
  return out;
}

/** Names and sizes of the lab captures, hashed: a cached copy is stale when they change. */
export function labCapturesFingerprint(): string {
  const h = createHash('sha1');
  for (const c of listLabCaptures(join(REPO_ROOT, 'test', 'captures'))) h.update(`${c.name}:${statSync(c.file).size}\n`);
  return h.digest('hex').slice(0, 10);
}

/**
 * Writes copies of the lab captures to `file` until at least `flows` flows
 * are in it. Units (copies of one capture) are numbered from `firstUnit`, so
 * two files with disjoint unit ranges have no flow in common. `concurrent`
 * units are in progress at a time.
 */
export async function writeLabCopies(file: string, flows: number, firstUnit = 0, concurrent = 48, seed = 7): Promise<LabCopiesInfo> {
  const bases = await loadBases();
  const rand = seededRandom(seed);
  const out = new PcapStream(file, { nanosecond: true, linkType: 1 }); // the lab records Ethernet
  let packets = 0;
  let planned = 0;
  let unit = firstUnit;
  const active: { base: number; next: number; client: number }[] = [];
  // No two copies of one capture at a time: they share the server's address
  // and ports (an FTP server's data ports too), which real clients would not.
  const activeBases = new Set<number>();
  let nextBase = 0;
  const pickBase = (): number => {
    for (let k = 0; k < bases.length; k++) {
      const b = (nextBase + k) % bases.length;
      if (!activeBases.has(b)) {
        nextBase = b + 1;
        return b;
      }
    }
    return nextBase++ % bases.length;
  };
  // 2 µs per packet: 1M packets span 2 s of capture time, well inside every idle timeout.
  let tNs = 0;
  const T0 = 1_800_000_000;
  for (;;) {
    while (active.length < concurrent && planned < flows) {
      const b = pickBase();
      const n = unit + 1;
      if (n > 0xffffff) throw new Error('too many copies for 10.0.0.0/8');
      activeBases.add(b);
      active.push({ base: b, next: 0, client: ((10 << 24) | n) >>> 0 });
      planned += bases[b]!.flows;
      unit++;
    }
    if (active.length === 0) break;
    const slot = Math.floor(rand() * active.length);
    const u = active[slot]!;
    const base = bases[u.base]!;
    const f = base.frames[u.next++]!;
    const frame = rewrite(f.data, f.ipOffset, base.client, u.client);
    tNs += 2000;
    await out.add(T0 + Math.floor(tNs / 1e9), tNs % 1e9, frame);
    packets++;
    if (u.next === base.frames.length) {
      activeBases.delete(u.base);
      active[slot] = active[active.length - 1]!;
      active.pop();
    }
  }
  await out.close();
  return {
    file,
    flows: planned,
    packets,
    bytes: out.bytes,
    units: unit - firstUnit,
    baseCaptures: bases.length,
    baseFlows: bases.reduce((n, b) => n + b.flows, 0),
  };
}
