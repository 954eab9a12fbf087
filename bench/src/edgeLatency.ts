/**
 * Verdict latency from two captures taken inside the router: its ingress
 * (the client side, `tcpdump -Q in`) and its egress (the server side,
 * `tcpdump -Q out`). flowgen numbers the packets of a flow in the IP ID
 * (1, 2, ...), which the router does not change, so a packet is found on
 * both sides by (source, source port, destination port, IP ID). A rule at
 * the end of mangle POSTROUTING sets a DSCP on every packet that leaves
 * with l7 bits in its mark, which makes "the mark was applied" visible on
 * the wire: the first DSCP-carrying packet of a flow is the one whose mark
 * L7MESH-POST saved into the connmark.
 *
 * Timestamps: both captures run in the router namespace, so both sides are
 * stamped by the same kernel clock (CLOCK_REALTIME, kept in nanoseconds
 * with --time-stamp-precision nano): ingress when the veth hands the packet
 * to the router's stack (netif_rx), egress when the router's veth transmits
 * it (the packet tap in dev_queue_xmit, after POSTROUTING). The resolution
 * is well under a microsecond; what a figure includes beyond the consumer
 * is the kernel's own path (ingress -> PREROUTING -> FORWARD -> queue, and
 * verdict -> POSTROUTING -> egress), which the bare C loop's transit shows
 * (about 15 µs at the median here, most of it queue wake-up).
 * conntrack -E was not used: its -o timestamp is taken when the event is
 * read in user space, and under load its socket drops events.
 */
import { readFileSync } from 'node:fs';

export interface CapturedPacket {
  /** Microseconds since `base` seconds (the capture's first second), with the capture's precision. */
  us: number;
  flow: string;
  ipId: number;
  dscp: number;
}

/** The UDP/IPv4 packets of a classic pcap file (Ethernet link), in file order. */
export function readUdpPcap(file: string, baseSec: number): CapturedPacket[] {
  const buf = readFileSync(file);
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`${file}: not a pcap file`);
  const u32 = (off: number) => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const nano = u32(0) === 0xa1b23c4d;
  const linkType = u32(20) & 0x0fffffff;
  if (linkType !== 1) throw new Error(`${file}: link type ${linkType}, expected Ethernet`);
  const out: CapturedPacket[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    const p = off + 16;
    off = p + incl;
    if (off > buf.length) break;
    if (incl < 14 + 28 || buf.readUInt16BE(p + 12) !== 0x0800) continue;
    const ip = p + 14;
    const ihl = (buf[ip]! & 0x0f) * 4;
    if (buf[ip + 9] !== 17 || incl < 14 + ihl + 8) continue;
    const udp = ip + ihl;
    const src = `${buf[ip + 12]}.${buf[ip + 13]}.${buf[ip + 14]}.${buf[ip + 15]}`;
    out.push({
      us: (sec - baseSec) * 1e6 + (nano ? frac / 1e3 : frac),
      flow: `${src}:${buf.readUInt16BE(udp)}>${buf.readUInt16BE(udp + 2)}`,
      ipId: buf.readUInt16BE(ip + 4),
      dscp: buf[ip + 1]! >> 2,
    });
  }
  return out;
}

/** The first packet's second in a pcap file (a common base for two captures), or 0. */
export function firstSecond(file: string): number {
  const buf = readFileSync(file);
  if (buf.length < 40) return 0;
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4 || buf.readUInt32LE(0) === 0xa1b23c4d;
  return le ? buf.readUInt32LE(24) : buf.readUInt32BE(24);
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const s = Float64Array.from(values).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { count: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1]! };
}

export interface LatencyResult {
  /** Packets in the ingress / egress captures. */
  ingressPackets: number;
  egressPackets: number;
  flows: number;
  /** Router transit of each flow's first packet (ingress to egress), marked or not: the queue round trip. */
  firstPacketTransitUs: Percentiles;
  /**
   * First payload packet in -> first packet out carrying the l7 mark, for
   * flows whose verdict came on that first packet (the mark rides on it):
   * the verdict latency proper.
   */
  markOnFirstPacketUs: Percentiles;
  /**
   * For flows decided on a later packet (here: unknown on packet N+1):
   * the deciding packet's transit (in -> out with the mark), and the time
   * from the flow's first packet, which is mostly the flow's own pacing.
   */
  decidingPacketTransitUs: Percentiles;
  markFromFirstPacketLaterUs: Percentiles;
  /** Flows seen entering whose packets never left marked within the capture. */
  flowsNeverMarked: number;
  /** Flows whose first packet left marked, and those whose mark came on packet k > 1, by k. */
  markedOnPacket: Record<string, number>;
}

/** Joins the two captures packet by packet and measures transit and mark latency per flow. */
export function analyseLatency(ingressFile: string, egressFile: string): LatencyResult {
  const base = Math.min(...[firstSecond(ingressFile), firstSecond(egressFile)].filter((s) => s > 0));
  const ingress = readUdpPcap(ingressFile, base);
  const egress = readUdpPcap(egressFile, base);
  const inTime = new Map<string, number>();
  for (const p of ingress) {
    const key = `${p.flow}#${p.ipId}`;
    if (!inTime.has(key)) inTime.set(key, p.us);
  }
  const firstOut = new Map<string, number>();
  const firstMarked = new Map<string, CapturedPacket>();
  for (const p of egress) {
    if (p.ipId === 1 && !firstOut.has(p.flow)) firstOut.set(p.flow, p.us);
    if (p.dscp !== 0 && !firstMarked.has(p.flow)) firstMarked.set(p.flow, p);
  }
  const flows = new Set(ingress.filter((p) => p.ipId === 1).map((p) => p.flow));
  const transit: number[] = [];
  const onFirst: number[] = [];
  const deciding: number[] = [];
  const later: number[] = [];
  const markedOnPacket: Record<string, number> = {};
  let never = 0;
  for (const flow of flows) {
    const t0 = inTime.get(`${flow}#1`)!;
    const out1 = firstOut.get(flow);
    if (out1 !== undefined) transit.push(out1 - t0);
    const m = firstMarked.get(flow);
    if (m === undefined) {
      never++;
      continue;
    }
    markedOnPacket[m.ipId] = (markedOnPacket[m.ipId] ?? 0) + 1;
    if (m.ipId === 1) {
      onFirst.push(m.us - t0);
    } else {
      later.push(m.us - t0);
      const tin = inTime.get(`${flow}#${m.ipId}`);
      if (tin !== undefined) deciding.push(m.us - tin);
    }
  }
  return {
    ingressPackets: ingress.length,
    egressPackets: egress.length,
    flows: flows.size,
    firstPacketTransitUs: percentiles(transit),
    markOnFirstPacketUs: percentiles(onFirst),
    decidingPacketTransitUs: percentiles(deciding),
    markFromFirstPacketLaterUs: percentiles(later),
    flowsNeverMarked: never,
    markedOnPacket,
  };
}
