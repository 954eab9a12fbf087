import { endpointsOfKey, IPPROTO_TCP, type FlowEndReason, type FlowEntry } from '@l7mesh/flow';

/** Why a flow has its verdict. */
export interface Decision {
  /** Pattern file that matched, or 'inherited' / 'packet-limit' / 'byte-limit'. */
  by: string;
  /** Packet number (both directions, 1-based) at which it was decided. */
  packet: number;
  /** For an inherited verdict: the parent connection, "src:sport -> dst:dport". */
  parent?: string;
}

/** A connection's endpoints, verdict and counters as they stand (JSON field names). */
export interface FlowSummary {
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  l7: string;
  packets: number;
  bytes: number;
  packets_orig: number;
  packets_reply: number;
  bytes_orig: number;
  bytes_reply: number;
  first_ts: number;
  last_ts: number;
}

/** One classified connection, as `l7mesh classify --json` prints it. */
export interface FlowRecord extends FlowSummary {
  why?: Decision;
  /** Why the flow ended: idle timeout, eviction, a new connection on its tuple, or end of input. */
  end: FlowEndReason;
}

/** Seconds with microsecond precision: what a float64 holds exactly enough. */
function seconds(sec: number, nsec: number): number {
  return Math.round((sec + nsec / 1e9) * 1e6) / 1e6;
}

export function describeFlowKey(key: string, origIsLow: boolean): string {
  const e = endpointsOfKey(key, origIsLow);
  const host = (a: string) => (a.includes(':') ? `[${a}]` : a);
  return `${host(e.src)}:${e.sport} -> ${host(e.dst)}:${e.dport}`;
}

/** An IPv4 address held as an integer (FlowEntry's key words), as text. */
function ipv4Text(a: number): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/**
 * Scratch endpoints of the flow being reported: filled straight from an
 * IPv4 entry's key words (no key string, no address bytes), from the key
 * for IPv6. Read at once; the next call overwrites it.
 */
const ends = { src: '', sport: 0, dst: '', dport: 0 };

function endpointsOf(flow: FlowEntry): typeof ends {
  const k0 = flow.k0;
  if (typeof k0 === 'number') {
    const low = ipv4Text(k0);
    const high = ipv4Text(flow.k1);
    const lowPort = flow.k2 >>> 16;
    const highPort = flow.k2 & 0xffff;
    const origIsLow = flow.origIsLow;
    ends.src = origIsLow ? low : high;
    ends.sport = origIsLow ? lowPort : highPort;
    ends.dst = origIsLow ? high : low;
    ends.dport = origIsLow ? highPort : lowPort;
  } else {
    const e = endpointsOfKey(k0, flow.origIsLow);
    ends.src = e.src;
    ends.sport = e.sport;
    ends.dst = e.dst;
    ends.dport = e.dport;
  }
  return ends;
}

export function flowSummaryOf(flow: FlowEntry): FlowSummary {
  const e = endpointsOf(flow);
  return {
    proto: flow.protocol === IPPROTO_TCP ? 'tcp' : 'udp',
    src: e.src,
    sport: e.sport,
    dst: e.dst,
    dport: e.dport,
    l7: flow.l7,
    packets: flow.packets,
    bytes: flow.bytes,
    packets_orig: flow.packetsOrig,
    packets_reply: flow.packetsReply,
    bytes_orig: flow.bytesOrig,
    bytes_reply: flow.bytesReply,
    first_ts: seconds(flow.firstSec, flow.firstNsec),
    last_ts: seconds(flow.lastSec, flow.lastNsec),
  };
}

/**
 * The record as one object literal (no summary copied into it): fields in
 * the order they are printed. One literal with `why` and one without, so
 * that neither gets a property added after it is made (a new hidden class
 * and an out-of-object property store per decided flow).
 */
export function flowRecordOf(flow: FlowEntry, decision: Decision | undefined, end: FlowEndReason): FlowRecord {
  const e = endpointsOf(flow);
  const proto = flow.protocol === IPPROTO_TCP ? 'tcp' : 'udp';
  const firstTs = seconds(flow.firstSec, flow.firstNsec);
  const lastTs = seconds(flow.lastSec, flow.lastNsec);
  if (decision) {
    return {
      proto,
      src: e.src,
      sport: e.sport,
      dst: e.dst,
      dport: e.dport,
      l7: flow.l7,
      packets: flow.packets,
      bytes: flow.bytes,
      packets_orig: flow.packetsOrig,
      packets_reply: flow.packetsReply,
      bytes_orig: flow.bytesOrig,
      bytes_reply: flow.bytesReply,
      first_ts: firstTs,
      last_ts: lastTs,
      end,
      why: decision,
    };
  }
  return {
    proto,
    src: e.src,
    sport: e.sport,
    dst: e.dst,
    dport: e.dport,
    l7: flow.l7,
    packets: flow.packets,
    bytes: flow.bytes,
    packets_orig: flow.packetsOrig,
    packets_reply: flow.packetsReply,
    bytes_orig: flow.bytesOrig,
    bytes_reply: flow.bytesReply,
    first_ts: firstTs,
    last_ts: lastTs,
    end,
  };
}
