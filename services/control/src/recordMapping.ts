/**
 * The wire's record batches as the store's records: one to one, the flow
 * key turned into the originator's 5-tuple, times into Dates (ms; the
 * truncation is the same for every record of a flow, so its identity holds),
 * and each record's dedupe id from its edge, epoch and number.
 */
import { endpointsOfKey } from '@l7mesh/flow';
import type { AccountingDelta, FlowRecord } from '@l7mesh/store';
import { recordEventId, type AccountingBatch, type FlowRecordBatch } from '@l7mesh/wire';

function dateOf(sec: number, nsec: number): Date {
  return new Date(sec * 1000 + Math.floor(nsec / 1e6));
}

export function flowRecordsOf(batch: FlowRecordBatch): FlowRecord[] {
  return batch.records.map((r) => {
    const e = endpointsOfKey(r.key, r.origIsLow);
    return {
      eventId: recordEventId(batch.edge, batch.epochMs, r.seq),
      zone: r.zone,
      protocol: e.protocol,
      src: e.src,
      srcPort: e.sport,
      dst: e.dst,
      dstPort: e.dport,
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
      edges: [batch.edge],
    };
  });
}

export function accountingDeltasOf(batch: AccountingBatch): AccountingDelta[] {
  return batch.deltas.map((d) => ({
    eventId: recordEventId(batch.edge, batch.epochMs, d.seq),
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
