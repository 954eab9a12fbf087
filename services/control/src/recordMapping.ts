/**
 * The wire's record batches as the store's records: one to one, the flow
 * key turned into the originator's 5-tuple, times into Dates (ms; the
 * truncation is the same for every record of a flow, so its identity holds).
 *
 * A batch (one message) is one event for the store: every record of it
 * carries the batch's dedupe id, which is its first record's id (edge,
 * epoch, number). That is exact because a publisher numbers each record
 * once and sends it in exactly one batch, whose bytes it never changes when
 * it sends it again (RecordPublisher): the same id always means the same
 * records. One key per message instead of per record is what makes
 * ingestion fast (docs/architecture.md); it holds only while a message's
 * records are written in one transaction (RecordIngest keeps them so).
 */
import { keyAddress, keyPort } from '@l7mesh/flow';
import type { AccountingDelta, FlowRecord } from '@l7mesh/store';
import { recordEventId, type AccountingBatch, type FlowRecordBatch } from '@l7mesh/wire';

/**
 * Dates made lately, by the low bits of their time (a slot holds the last
 * one that fell there): a flow's records mostly share their first
 * packet's time (its verdict record, its end record soon after) and a
 * verdict on the first packet has its last packet's too. Records share
 * these Dates, so none may be changed.
 */
const DATE_SLOTS = 4096;
const dates = new Array<Date>(DATE_SLOTS).fill(new Date(0));
/** Each slot's time, beside it: a miss is found without reading the Date. */
const dateTimes = new Float64Array(DATE_SLOTS);

function dateOf(sec: number, nsec: number): Date {
  const ms = sec * 1000 + Math.floor(nsec / 1e6);
  const slot = ms & (DATE_SLOTS - 1);
  if (dateTimes[slot] === ms) return dates[slot]!;
  const date = new Date(ms);
  dates[slot] = date;
  dateTimes[slot] = ms;
  return date;
}

/** The dedupe id of a batch: its first item's. An empty batch maps to no records, so its id ('') is never used. */
function batchEventId(edge: string, epochMs: number, items: readonly { seq: number }[]): string {
  return items.length === 0 ? '' : recordEventId(edge, epochMs, items[0]!.seq);
}

/**
 * Control holds a fetch's records until they are written, so what a record
 * is made of is most of control's garbage collection: no object but the
 * record itself, and Dates and addresses shared with the records before it
 * where they have the same (dateOf; keyAddress). Treat them as read-only.
 */
export function flowRecordsOf(batch: FlowRecordBatch): FlowRecord[] {
  const eventId = batchEventId(batch.edge, batch.epochMs, batch.records);
  const edges = [batch.edge];
  return batch.records.map((r) => {
    const key = r.key;
    const low = r.origIsLow;
    return {
      eventId,
      zone: r.zone,
      protocol: key.charCodeAt(0),
      src: keyAddress(key, low),
      srcPort: keyPort(key, low),
      dst: keyAddress(key, !low),
      dstPort: keyPort(key, !low),
      firstSeen: dateOf(r.firstSec, r.firstNsec),
      lastSeen: dateOf(r.lastSec, r.lastNsec),
      state: r.state,
      origPackets: r.origPackets,
      origBytes: r.origBytes,
      replyPackets: r.replyPackets,
      replyBytes: r.replyBytes,
      l7: r.l7,
      decidedBy: r.decidedBy,
      mark: r.mark,
      ruleSetVersion: r.ruleSetVersion,
      edges,
    };
  });
}

export function accountingDeltasOf(batch: AccountingBatch): AccountingDelta[] {
  const eventId = batchEventId(batch.edge, batch.epochMs, batch.deltas);
  return batch.deltas.map((d) => ({
    eventId,
    minute: new Date(d.startSec * 1000),
    edge: batch.edge,
    iface: d.iface,
    l7: d.l7,
    direction: d.direction,
    flows: d.flows,
    packets: d.packets,
    bytes: d.bytes,
  }));
}
