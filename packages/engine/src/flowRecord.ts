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

export function flowSummaryOf(flow: FlowEntry): FlowSummary {
  const e = endpointsOfKey(flow.key, flow.origIsLow);
  return {
    proto: e.protocol === IPPROTO_TCP ? 'tcp' : 'udp',
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

export function flowRecordOf(flow: FlowEntry, decision: Decision | undefined, end: FlowEndReason): FlowRecord {
  const record: FlowRecord = { ...flowSummaryOf(flow), end };
  if (decision) record.why = decision;
  return record;
}
