/**
 * The records stream on a real nats-server started here: created
 * idempotently, the durable consumer, and the publisher's promises:
 * batches with a dedupe id, retried until acknowledged across a server
 * restart, bounded while the server is away (drops counted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busNames,
  connectBus,
  ensureRecordsStream,
  openRecordsConsumer,
  RecordPublisher,
  recordNames,
  recordsBacklog,
  startNatsServer,
  type Bus,
  type FlowRecordInput,
  type NatsServerProcess,
} from '@l7mesh/bus';
import { decodeAccountingBatch, decodeFlowRecordBatch, MessageType, messageTypeOf } from '@l7mesh/wire';
import { until } from './helpers.js';

const NS = 1_000_000_000;
const KEY = String.fromCharCode(6, 198, 18, 0, 1, 0x9c, 0x40, 198, 19, 0, 80, 0, 80);

function record(i: number): FlowRecordInput {
  return {
    zone: 0,
    key: KEY,
    origIsLow: true,
    state: 'ended',
    firstSec: 1_700_000_000 + i,
    firstNsec: 0,
    lastSec: 1_700_000_000 + i,
    lastNsec: 5,
    origPackets: i,
    origBytes: 60 * i,
    replyPackets: 0,
    replyBytes: 0,
    l7: 'http',
    decidedBy: 'http.pat',
    mark: 0,
    ruleSetVersion: 0,
    iface: 'eth0',
  };
}

/** Every message stored in the stream, decoded: the flow records' and deltas' (edge, epoch, seq). */
async function storedIds(bus: Bus): Promise<{ messages: number; ids: string[] }> {
  const jsm = await bus.jetstreamManager();
  const stream = recordNames(bus.names).stream;
  const info = await jsm.streams.info(stream);
  const ids: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (!m) continue;
    if (messageTypeOf(m.data) === MessageType.FlowRecordBatch) {
      const b = decodeFlowRecordBatch(m.data);
      ids.push(...b.records.map((r) => `${b.edge}.${b.epochMs}.${r.seq}`));
    } else {
      const b = decodeAccountingBatch(m.data);
      ids.push(...b.deltas.map((d) => `${b.edge}.${b.epochMs}.${d.seq}`));
    }
  }
  return { messages: info.state.messages, ids };
}

let srv: NatsServerProcess;
const buses: Bus[] = [];
beforeAll(async () => {
  srv = await startNatsServer();
});
afterAll(async () => {
  for (const b of buses) await b.close();
  await srv?.stop();
});

async function bus(prefix: string): Promise<Bus> {
  const b = await connectBus({ servers: srv.url, reconnectTimeWaitMs: 100 }, busNames(prefix));
  buses.push(b);
  return b;
}

describe('ensureRecordsStream and openRecordsConsumer', () => {
  it('create the stream and the durable consumer once, idempotently, and update their settings', async () => {
    const b = await bus('rs1');
    const jsm = await b.jetstreamManager();
    await ensureRecordsStream(b);
    await ensureRecordsStream(b);
    let cfg = (await jsm.streams.info('RS1_RECORDS')).config;
    expect(cfg).toMatchObject({ subjects: ['rs1.records.*'], storage: 'file', retention: 'limits', discard: 'old', max_bytes: -1 });
    expect(cfg.max_age).toBe(7 * 86_400 * NS);
    expect(cfg.duplicate_window).toBe(600 * NS);
    await ensureRecordsStream(b, { maxAgeSec: 3600, duplicateWindowSec: 30, maxBytes: 1 << 20 });
    cfg = (await jsm.streams.info('RS1_RECORDS')).config;
    expect(cfg).toMatchObject({ max_bytes: 1 << 20, discard: 'new' });
    expect(cfg.duplicate_window).toBe(30 * NS);

    await openRecordsConsumer(b);
    await openRecordsConsumer(b, { ackWaitSec: 5 });
    const c = await jsm.consumers.info('RS1_RECORDS', 'control');
    expect(c.config).toMatchObject({ durable_name: 'control', ack_policy: 'explicit', deliver_policy: 'all', max_deliver: -1, filter_subject: 'rs1.records.*' });
    expect(c.config.ack_wait).toBe(5 * NS);
    await expect(ensureRecordsStream(b, { duplicateWindowSec: 10, maxAgeSec: 5 })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'duplicateWindowSec' });
    expect(() => recordNames(b.names).subject('a.b')).toThrow(/one subject token/);
  });
});

describe('RecordPublisher', () => {
  it('publishes batches whose records keep their numbers, and a message published twice is stored once', async () => {
    const b = await bus('rs2');
    await ensureRecordsStream(b);
    const pub = new RecordPublisher({ bus: b, edge: 'edge-1', maxBatch: 100, epochMs: 42 });
    for (let i = 0; i < 250; i++) expect(pub.addFlowRecord(record(i))).toBe(true);
    pub.addAccountingDelta({ startSec: 1_700_000_040, iface: 'eth0', l7: 'http', direction: 'out', flows: 1, packets: 2, bytes: 3 });
    expect(await pub.drain()).toBe(true);
    pub.close();
    expect(pub.counters).toMatchObject({ accepted: 251, acknowledged: 251, dropped: 0, messages: 4 });
    const stored = await storedIds(b);
    expect(stored.messages).toBe(4);
    expect(stored.ids).toEqual(Array.from({ length: 251 }, (_, i) => `edge-1.42.${i}`));

    // The same message again (a re-send after a lost acknowledgement): the stream's dedupe keeps one copy.
    const again = new RecordPublisher({ bus: b, edge: 'edge-1', maxBatch: 100, epochMs: 42 });
    for (let i = 0; i < 100; i++) again.addFlowRecord(record(i));
    expect(await again.drain()).toBe(true);
    again.close();
    expect((await storedIds(b)).messages).toBe(4);
  });

  it('keeps what the stream did not acknowledge while the server is down, up to its bound, and delivers it after the restart', async () => {
    const b = await bus('rs3');
    await ensureRecordsStream(b);
    const lines: string[] = [];
    const pub = new RecordPublisher({ bus: b, edge: 'edge-2', maxBatch: 10, maxBuffered: 50, retryMs: 50, ackTimeoutMs: 500, epochMs: 7, log: (l) => lines.push(l) });
    for (let i = 0; i < 20; i++) pub.addFlowRecord(record(i));
    expect(await pub.drain()).toBe(true);

    await srv.stop();
    for (let i = 20; i < 100; i++) pub.addFlowRecord(record(i));
    pub.flush();
    // Only 50 may wait: the other 30 were dropped and counted.
    expect(pub.buffered).toBe(50);
    expect(pub.counters.dropped).toBe(30);
    await until(() => pub.counters.publishErrors > 0, 20_000, 'a failed publish');
    expect(lines.some((l) => l.includes('publishing failed'))).toBe(true);

    await srv.restart();
    expect(await pub.drain(30_000)).toBe(true);
    pub.close();
    expect(pub.counters).toMatchObject({ accepted: 70, acknowledged: 70, dropped: 30 });
    const stored = await storedIds(b);
    // Every kept record once (no message stored twice), the dropped ones (numbers 70..99 were never given) absent.
    expect([...new Set(stored.ids)].length).toBe(stored.ids.length);
    expect(stored.ids.sort()).toEqual(Array.from({ length: 70 }, (_, i) => `edge-2.7.${i}`).sort());
    expect(await recordsBacklog(b).catch((e: Error) => e.message)).toMatch(/consumer not found/);
  }, 60_000);

  it('refuses a batch bound it cannot keep', async () => {
    const b = await bus('rs4');
    expect(() => new RecordPublisher({ bus: b, edge: 'e', maxBatch: 10, maxBuffered: 5 })).toThrow(/maxBuffered/);
    expect(() => new RecordPublisher({ bus: b, edge: 'e', maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => new RecordPublisher({ bus: b, edge: 'a b' })).toThrow(/subject token/);
  });
});
