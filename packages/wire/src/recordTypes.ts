/**
 * What edges report to control through the records stream: flow records
 * (the conntrack-style state of a flow: on its verdict, and at its end with
 * final counters) and per-interval accounting deltas. The shapes follow the
 * store's FlowRecord and AccountingDelta (packages/store), so control maps
 * them one to one.
 *
 * Every record has its own number at its edge and epoch (the publishing
 * process's start, ms), and a batch's dedupe id is that of its first record
 * (recordEventId). A publisher numbers each record once and sends it in
 * exactly one batch, whose bytes it never changes when it sends it again:
 * so one id always names the same records, and a batch published twice (re-sent
 * after a lost acknowledgement, stored twice after the stream's duplicate
 * window passed) is counted once by the store.
 */

/** The conntrack-style state a flow record reports. */
export type FlowRecordState = 'live' | 'ended';

/** The customer side's direction: 'in' towards the customers, 'out' from them. */
export type AccountingDirection = 'in' | 'out';

export interface WireFlowRecord {
  /** The record's running number at its edge (per epoch): with the batch's edge and epochMs, its id (the first record's is the batch's dedupe id). */
  seq: number;
  zone: number;
  /** Canonical flow key (the flow package's: direction-free); `origIsLow` gives the originator's side. */
  key: string;
  /** True when the originator (the sender of the flow's first packet) is the key's lower endpoint. */
  origIsLow: boolean;
  state: FlowRecordState;
  /** The flow's first and latest packet. */
  firstSec: number;
  firstNsec: number;
  lastSec: number;
  lastNsec: number;
  /** The whole flow's counters so far (IP datagram lengths): orig = the originator's direction. Safe integers. */
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
  /** A protocol name, 'unknown' or 'unset'. */
  l7: string;
  /** The deciding pattern file or 'packet-limit', 'byte-limit', 'inherited', ...; '' while unset. */
  decidedBy: string;
  /** The mark applied under the edge's mask (0: none). */
  mark: number;
  ruleSetVersion: number;
  /** The uplink interface the edge accounts the flow's traffic to. */
  iface: string;
}

export interface FlowRecordBatch {
  /** The reporting edge. */
  edge: string;
  /** The publishing process's start (ms since the epoch): record numbers start again in a new epoch. */
  epochMs: number;
  records: WireFlowRecord[];
}

export interface WireAccountingDelta {
  /** The delta's running number at its edge (per epoch): with the batch's edge and epochMs, its id (the first delta's is the batch's dedupe id). */
  seq: number;
  /** The interval's start (s since the epoch); the store adds the delta to that minute's bucket. */
  startSec: number;
  iface: string;
  l7: string;
  direction: AccountingDirection;
  /** Flows counted in this interval (each flow once, when it is decided or ends unset), packets and bytes. Safe integers. */
  flows: number;
  packets: number;
  bytes: number;
}

export interface AccountingBatch {
  edge: string;
  epochMs: number;
  deltas: WireAccountingDelta[];
}

/** The id of a record or delta, `edge.epoch.seq` (epoch and seq in base 36, so ids stay short); a batch's dedupe id is its first item's. */
export function recordEventId(edge: string, epochMs: number, seq: number): string {
  return `${edge}.${epochMs.toString(36)}.${seq.toString(36)}`;
}
