/** Flow record and accounting batches: round trips, the documented layout, and every kind of bad input refused by field. */
import { describe, expect, it } from 'vitest';
import {
  decodeAccountingBatch,
  decodeEventBatch,
  decodeFlowRecordBatch,
  encodeAccountingBatch,
  encodeFlowRecordBatch,
  MAX_RECORDS_PER_BATCH,
  MessageType,
  messageTypeOf,
  recordEventId,
  type AccountingBatch,
  type FlowRecordBatch,
  type WireAccountingDelta,
  type WireFlowRecord,
} from '@l7mesh/wire';
import { expectWireError } from './expectWireError.js';
import { assemble, f64, header, message, str, u16, u32, u8, type Fields, type Part } from './raw.js';
import { KEY4, KEY6, NAME64 } from './samples.js';

function flowRecord(over: Partial<WireFlowRecord> = {}): WireFlowRecord {
  return {
    seq: 1,
    zone: 7,
    key: KEY4,
    origIsLow: true,
    state: 'live',
    firstSec: 1_700_000_000,
    firstNsec: 500,
    lastSec: 1_700_000_003,
    lastNsec: 0,
    origPackets: 4,
    origBytes: 400,
    replyPackets: 3,
    replyBytes: 1500,
    l7: 'http',
    decidedBy: 'http.pat',
    mark: 0x100,
    ruleSetVersion: 3,
    iface: 'eth1.100',
    ...over,
  };
}

function delta(over: Partial<WireAccountingDelta> = {}): WireAccountingDelta {
  return { seq: 1, startSec: 1_700_000_040, iface: 'eth1', l7: 'http', direction: 'in', flows: 1, packets: 10, bytes: 1000, ...over };
}

const FLOWS: FlowRecordBatch = {
  edge: 'edge-1',
  epochMs: 1_712_345_678_901,
  records: [
    flowRecord(),
    // IPv6, ended, the extreme values of every field.
    flowRecord({
      seq: Number.MAX_SAFE_INTEGER,
      zone: 0xffffffff,
      key: KEY6,
      origIsLow: false,
      state: 'ended',
      firstSec: 0xffffffff,
      firstNsec: 999_999_998,
      lastSec: 0xffffffff,
      lastNsec: 999_999_999,
      origPackets: Number.MAX_SAFE_INTEGER,
      origBytes: 2 ** 40,
      replyPackets: 0,
      replyBytes: 0,
      l7: 'unknown',
      decidedBy: 'packet-limit',
      mark: 0xffffffff,
      ruleSetVersion: 0xffffffff,
      iface: NAME64,
    }),
    // Unset: no decidedBy on the wire.
    flowRecord({ seq: 0, state: 'ended', l7: 'unset', decidedBy: '', mark: 0, firstSec: 0, firstNsec: 0, lastSec: 0, lastNsec: 0 }),
  ],
};

const DELTAS: AccountingBatch = {
  edge: NAME64,
  epochMs: 0,
  deltas: [delta(), delta({ seq: Number.MAX_SAFE_INTEGER, startSec: 0xffffffff, direction: 'out', flows: 0, packets: 2 ** 50, bytes: Number.MAX_SAFE_INTEGER, l7: 'unset', iface: 'capture_file.pcap' })],
};

const recordFields = (r: WireFlowRecord): Fields => [
  ['seq', f64(r.seq)],
  ['zone', u32(r.zone)],
  ['key', str(r.key)],
  ['flags', u8((r.origIsLow ? 1 : 0) | (r.state === 'ended' ? 2 : 0) | (r.decidedBy ? 4 : 0))],
  ['firstSec', u32(r.firstSec)],
  ['firstNsec', u32(r.firstNsec)],
  ['lastSec', u32(r.lastSec)],
  ['lastNsec', u32(r.lastNsec)],
  ['origPackets', f64(r.origPackets)],
  ['origBytes', f64(r.origBytes)],
  ['replyPackets', f64(r.replyPackets)],
  ['replyBytes', f64(r.replyBytes)],
  ['l7', str(r.l7)],
  ...(r.decidedBy ? ([['decidedBy', str(r.decidedBy)]] as Fields) : []),
  ['mark', u32(r.mark)],
  ['ruleSetVersion', u32(r.ruleSetVersion)],
  ['iface', str(r.iface)],
];

const flowBatchBytes = (edge: string, epochMs: number, records: Part[]): Uint8Array =>
  message(header(MessageType.FlowRecordBatch), str(edge), f64(epochMs), u16(records.length), ...records);

const deltaFields = (d: WireAccountingDelta): Fields => [
  ['seq', f64(d.seq)],
  ['startSec', u32(d.startSec)],
  ['iface', str(d.iface)],
  ['l7', str(d.l7)],
  ['direction', u8(d.direction === 'in' ? 0 : 1)],
  ['flows', f64(d.flows)],
  ['packets', f64(d.packets)],
  ['bytes', f64(d.bytes)],
];

const accountingBatchBytes = (edge: string, epochMs: number, deltas: Part[]): Uint8Array =>
  message(header(MessageType.AccountingBatch), str(edge), f64(epochMs), u16(deltas.length), ...deltas);

describe('flow record batch', () => {
  it('round-trips IPv4 and IPv6 records, extreme values, and an unset record without decidedBy, in the documented layout', () => {
    const bytes = encodeFlowRecordBatch(FLOWS);
    expect(bytes).toEqual(flowBatchBytes(FLOWS.edge, FLOWS.epochMs, FLOWS.records.map((r) => assemble(recordFields(r)))));
    expect(messageTypeOf(bytes)).toBe(MessageType.FlowRecordBatch);
    expect(decodeFlowRecordBatch(bytes)).toEqual(FLOWS);
    const empty: FlowRecordBatch = { edge: 'e', epochMs: 1, records: [] };
    expect(decodeFlowRecordBatch(encodeFlowRecordBatch(empty))).toEqual(empty);
  });

  it('decodes repeated texts as equal strings and texts whose bytes hash alike as themselves', () => {
    // "Aa" and "BB" hash alike in the reader's table of texts already read (31-based, seeded with the length).
    const texts = ['Aa', 'BB', 'Aa', 'http', 'BB', 'http.pat'];
    const batch: FlowRecordBatch = { edge: 'edge-1', epochMs: 1, records: texts.map((l7, seq) => flowRecord({ seq, l7, decidedBy: texts[texts.length - 1 - seq]! })) };
    const decoded = decodeFlowRecordBatch(encodeFlowRecordBatch(batch));
    expect(decoded.records.map((r) => [r.l7, r.decidedBy])).toEqual(batch.records.map((r) => [r.l7, r.decidedBy]));
  });

  it('refuses every proper prefix (truncated), trailing bytes, and another message type', () => {
    const bytes = encodeFlowRecordBatch(FLOWS);
    for (let n = 0; n < bytes.length; n++) expectWireError(() => decodeFlowRecordBatch(bytes.subarray(0, n)), 'WIRE_TRUNCATED');
    expectWireError(() => decodeFlowRecordBatch(message([...bytes], [0])), 'WIRE_TRAILING_BYTES');
    expectWireError(() => decodeFlowRecordBatch(encodeAccountingBatch(DELTAS)), 'WIRE_BAD_TYPE', 'type');
    expectWireError(() => decodeEventBatch(bytes), 'WIRE_BAD_TYPE', 'type');
  });

  it('names the field of a bad value when decoding', () => {
    const r = flowRecord();
    const bad = (over: Record<string, Part>) => flowBatchBytes('e', 1, [assemble(recordFields(r), over)]);
    expectWireError(() => decodeFlowRecordBatch(bad({ flags: u8(8) })), 'WIRE_BAD_FIELD', 'records[0].flags');
    expectWireError(() => decodeFlowRecordBatch(bad({ firstNsec: u32(1e9) })), 'WIRE_BAD_FIELD', 'records[0].firstNsec');
    expectWireError(() => decodeFlowRecordBatch(bad({ lastSec: u32(r.firstSec - 1) })), 'WIRE_BAD_FIELD', 'records[0].lastSec');
    expectWireError(() => decodeFlowRecordBatch(bad({ lastSec: u32(r.firstSec), lastNsec: u32(r.firstNsec - 1) })), 'WIRE_BAD_FIELD', 'records[0].lastNsec');
    expectWireError(() => decodeFlowRecordBatch(bad({ origBytes: f64(1.5) })), 'WIRE_BAD_FIELD', 'records[0].origBytes');
    expectWireError(() => decodeFlowRecordBatch(bad({ replyBytes: f64(-1) })), 'WIRE_BAD_FIELD', 'records[0].replyBytes');
    expectWireError(() => decodeFlowRecordBatch(bad({ origPackets: f64(2 ** 53) })), 'WIRE_BAD_FIELD', 'records[0].origPackets');
    expectWireError(() => decodeFlowRecordBatch(bad({ seq: f64(Number.NaN) })), 'WIRE_BAD_FIELD', 'records[0].seq');
    expectWireError(() => decodeFlowRecordBatch(bad({ key: str(KEY4.slice(0, 12)) })), 'WIRE_BAD_FIELD', 'records[0].key');
    expectWireError(() => decodeFlowRecordBatch(bad({ l7: str('has space') })), 'WIRE_BAD_FIELD', 'records[0].l7');
    expectWireError(() => decodeFlowRecordBatch(bad({ iface: str('x'.repeat(65)) })), 'WIRE_BAD_FIELD', 'records[0].iface');
    expectWireError(() => decodeFlowRecordBatch(flowBatchBytes('bad edge', 1, [])), 'WIRE_BAD_FIELD', 'edge');
    expectWireError(() => decodeFlowRecordBatch(message(header(MessageType.FlowRecordBatch), str('e'), f64(1), u16(MAX_RECORDS_PER_BATCH + 1))), 'WIRE_BAD_FIELD', 'records');
  });

  it('refuses to encode what it could not decode, naming the field', () => {
    const enc = (over: Partial<WireFlowRecord>) => () => encodeFlowRecordBatch({ edge: 'e', epochMs: 1, records: [flowRecord(), flowRecord(over)] });
    expectWireError(enc({ state: 'closed' as never }), 'WIRE_BAD_FIELD', 'records[1].state');
    expectWireError(enc({ origIsLow: 1 as never }), 'WIRE_BAD_FIELD', 'records[1].origIsLow');
    expectWireError(enc({ decidedBy: undefined as never }), 'WIRE_BAD_FIELD', 'records[1].decidedBy');
    expectWireError(enc({ origBytes: 2 ** 53 }), 'WIRE_BAD_FIELD', 'records[1].origBytes');
    expectWireError(enc({ lastSec: 1 }), 'WIRE_BAD_FIELD', 'records[1].lastSec');
    expectWireError(enc({ iface: '' }), 'WIRE_BAD_FIELD', 'records[1].iface');
    expectWireError(enc({ iface: 'y'.repeat(65) }), 'WIRE_BAD_FIELD', 'records[1].iface');
    expectWireError(enc({ l7: '' }), 'WIRE_BAD_FIELD', 'records[1].l7');
    expectWireError(() => encodeFlowRecordBatch({ edge: 'e', epochMs: -1, records: [] }), 'WIRE_BAD_FIELD', 'epochMs');
    const many = Array.from({ length: MAX_RECORDS_PER_BATCH + 1 }, (_, i) => flowRecord({ seq: i }));
    expectWireError(() => encodeFlowRecordBatch({ edge: 'e', epochMs: 1, records: many }), 'WIRE_TOO_LARGE', 'records');
    // Long texts in every record: the message passes MAX_MESSAGE_BYTES before the count limit.
    const big = Array.from({ length: 4000 }, (_, i) => flowRecord({ seq: i, key: KEY6, l7: 'p'.repeat(255), decidedBy: 'd'.repeat(255), iface: 'i'.repeat(64) }));
    expectWireError(() => encodeFlowRecordBatch({ edge: 'e', epochMs: 1, records: big }), 'WIRE_TOO_LARGE');
  });
});

describe('accounting batch', () => {
  it('round-trips both directions and extreme values in the documented layout', () => {
    const bytes = encodeAccountingBatch(DELTAS);
    expect(bytes).toEqual(accountingBatchBytes(DELTAS.edge, DELTAS.epochMs, DELTAS.deltas.map((d) => assemble(deltaFields(d)))));
    expect(messageTypeOf(bytes)).toBe(MessageType.AccountingBatch);
    expect(decodeAccountingBatch(bytes)).toEqual(DELTAS);
  });

  it('refuses truncation, trailing bytes, bad fields (named) and bad input to the encoder', () => {
    const bytes = encodeAccountingBatch(DELTAS);
    for (let n = 0; n < bytes.length; n++) expectWireError(() => decodeAccountingBatch(bytes.subarray(0, n)), 'WIRE_TRUNCATED');
    expectWireError(() => decodeAccountingBatch(message([...bytes], [1, 2])), 'WIRE_TRAILING_BYTES');
    expectWireError(() => decodeAccountingBatch(encodeFlowRecordBatch(FLOWS)), 'WIRE_BAD_TYPE', 'type');
    const bad = (over: Record<string, Part>) => accountingBatchBytes('e', 1, [assemble(deltaFields(delta()), over)]);
    expectWireError(() => decodeAccountingBatch(bad({ direction: u8(2) })), 'WIRE_BAD_FIELD', 'deltas[0].direction');
    expectWireError(() => decodeAccountingBatch(bad({ bytes: f64(0.5) })), 'WIRE_BAD_FIELD', 'deltas[0].bytes');
    expectWireError(() => decodeAccountingBatch(bad({ iface: str('') })), 'WIRE_BAD_FIELD', 'deltas[0].iface');
    expectWireError(() => decodeAccountingBatch(bad({ iface: str('z'.repeat(65)) })), 'WIRE_BAD_FIELD', 'deltas[0].iface');
    const enc = (over: Partial<WireAccountingDelta>) => () => encodeAccountingBatch({ edge: 'e', epochMs: 1, deltas: [delta(over)] });
    expectWireError(enc({ direction: 'up' as never }), 'WIRE_BAD_FIELD', 'deltas[0].direction');
    expectWireError(enc({ flows: -1 }), 'WIRE_BAD_FIELD', 'deltas[0].flows');
    expectWireError(enc({ startSec: 2 ** 32 }), 'WIRE_BAD_FIELD', 'deltas[0].startSec');
    expectWireError(enc({ l7: 'a b' }), 'WIRE_BAD_FIELD', 'deltas[0].l7');
  });
});

describe('recordEventId', () => {
  it('is edge.epoch.seq in base 36, distinct for distinct epochs and numbers', () => {
    expect(recordEventId('edge-1', 1_712_345_678_901, 35)).toBe(`edge-1.${(1_712_345_678_901).toString(36)}.z`);
    expect(recordEventId('e', 1, 2)).not.toBe(recordEventId('e', 2, 1));
    expect(recordEventId(NAME64, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER).length).toBeLessThanOrEqual(200);
  });
});
