/**
 * Ingestion on a real nats-server and a real PostgreSQL (fresh databases;
 * one test runs a PostgreSQL of its own and stops it): records published
 * by edges end up in the store once, whatever is delivered twice, and
 * nothing is lost while PostgreSQL is down.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  busNames,
  connectBus,
  ensureRecordsStream,
  RecordPublisher,
  recordNames,
  recordsBacklog,
  startNatsServer,
  type Bus,
  type FlowRecordInput,
  type NatsServerProcess,
} from '@l7mesh/bus';
import { flowRecordsOf, RecordIngest, startControl, startPostgresServer, type RunningControl } from '@l7mesh/control';
import { migrate, writeFlowRecords } from '@l7mesh/store';
import { decodeFlowRecordBatch } from '@l7mesh/wire';
import { createTestDatabase, type TestDatabase } from '../../../packages/store/test/testDatabase.js';

const KEY = (port: number) => String.fromCharCode(6, 198, 18, 0, 10, port >>> 8, port & 0xff, 198, 19, 0, 80, 0, 80);
const T0 = Date.UTC(2024, 2, 10, 10) / 1000;

function flow(i: number): FlowRecordInput {
  return {
    zone: 0,
    key: KEY(10_000 + i),
    origIsLow: true,
    state: 'ended',
    firstSec: T0 + i,
    firstNsec: 0,
    lastSec: T0 + i + 1,
    lastNsec: 0,
    origPackets: 2,
    origBytes: 100 + i,
    replyPackets: 3,
    replyBytes: 1000,
    l7: i % 2 ? 'http' : 'ssh',
    decidedBy: i % 2 ? 'http.pat' : 'ssh.pat',
    mark: 0,
    ruleSetVersion: 0,
    iface: 'eth1',
  };
}

async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function totals(pool: pg.Pool): Promise<{ flows: Record<string, string>; acct: Record<string, string> }> {
  const f = await pool.query<{ l7: string; n: string }>(`SELECT l7_protocol AS l7, count(*) || '/' || sum(orig_bytes + reply_bytes) AS n FROM flows GROUP BY 1 ORDER BY 1`);
  const a = await pool.query<{ l7: string; n: string }>(`SELECT l7_protocol AS l7, sum(flows) || '/' || sum(packets) || '/' || sum(bytes) AS n FROM accounting_1m GROUP BY 1 ORDER BY 1`);
  return { flows: Object.fromEntries(f.rows.map((r) => [r.l7, r.n])), acct: Object.fromEntries(a.rows.map((r) => [r.l7, r.n])) };
}

/** What 40 records (20 http, 20 ssh) and two accounting deltas add up to. */
const EXPECTED = {
  flows: { http: `20/${20 * 1100 + [...Array(20)].reduce((n, _, k) => n + 2 * k + 1, 0)}`, ssh: `20/${20 * 1100 + [...Array(20)].reduce((n, _, k) => n + 2 * k, 0)}` },
  acct: { http: '20/100/10000', ssh: '20/100/10000' },
};

async function publishAll(bus: Bus, edge: string, epochMs: number): Promise<RecordPublisher> {
  const pub = new RecordPublisher({ bus, edge, maxBatch: 10, epochMs });
  for (let i = 0; i < 40; i++) pub.addFlowRecord(flow(i));
  for (const l7 of ['http', 'ssh']) pub.addAccountingDelta({ startSec: T0, iface: 'eth1', l7, direction: 'out', flows: 20, packets: 100, bytes: 10_000 });
  expect(await pub.drain()).toBe(true);
  pub.close();
  return pub;
}

let nats: NatsServerProcess;
let db: TestDatabase;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  nats = await startNatsServer();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await nats?.stop();
});

async function setup(prefix: string, databaseUrl?: string): Promise<{ bus: Bus; url: string; pool: pg.Pool }> {
  let url = databaseUrl;
  if (url === undefined) {
    db = await createTestDatabase();
    cleanups.push(() => db.drop());
    url = db.url;
  }
  const bus = await connectBus({ servers: nats.url }, busNames(prefix));
  cleanups.push(() => bus.close());
  await ensureRecordsStream(bus);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  cleanups.push(() => pool.end());
  return { bus, url, pool };
}

async function control(prefix: string, url: string, extra: Partial<Parameters<typeof startControl>[0]> = {}): Promise<RunningControl> {
  const c = await startControl({ databaseUrl: url, bus: { servers: nats.url, reconnectTimeWaitMs: 100 }, names: busNames(prefix), api: false, log: () => undefined, ...extra });
  cleanups.push(() => c.stop());
  return c;
}

async function drained(bus: Bus, c: RunningControl): Promise<void> {
  await until(async () => {
    const b = await recordsBacklog(bus);
    return b.pending === 0 && b.unacknowledged === 0 && !c.ingest.writing;
  }, 30_000, 'control to acknowledge every record message');
}

describe('control ingestion', () => {
  it('writes every record once; the same records published again (another message, as after a lost acknowledgement past the dedupe window) change nothing', async () => {
    const { bus, url, pool } = await setup('ci1');
    const c = await control('ci1', url);
    await publishAll(bus, 'edge-a', 1000);
    await drained(bus, c);
    expect(await totals(pool)).toEqual(EXPECTED);
    expect(c.ingest.counters).toMatchObject({ flowRecords: 40, accountingDeltas: 2, duplicates: 0, rejected: 0 });
    // The same messages again under other Nats-Msg-Ids (a re-send after the duplicate window): the stream keeps them, the store's keys refuse their records.
    const jsm = await bus.jetstreamManager();
    const names = recordNames(bus.names);
    const info = await jsm.streams.info(names.stream);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(names.stream, { seq });
      await bus.jetstream().publish(names.subject('edge-a'), m!.data, { msgID: `copy-${seq}` });
    }
    expect((await jsm.streams.info(names.stream)).state.messages).toBe(2 * info.state.messages);
    await drained(bus, c);
    expect(await totals(pool)).toEqual(EXPECTED);
    expect(c.ingest.counters.duplicates).toBe(42);
    // Control also recorded the edge it heard from.
    expect((await pool.query(`SELECT id FROM edges`)).rows).toEqual([{ id: 'edge-a' }]);
  });

  it('builds the host indexes of the days that are over with its rollups', async () => {
    const { bus, url, pool } = await setup('ci7');
    const lines: string[] = [];
    const c = await control('ci7', url, { rollupMs: 200, log: (l) => lines.push(l) });
    await publishAll(bus, 'edge-g', 7000);
    await drained(bus, c);
    // The records are of 2024-03-10, a day long over.
    const indexes = async () => (await pool.query<{ n: string }>(`SELECT indexname AS n FROM pg_indexes WHERE tablename = 'flows_p20240310' AND indexname LIKE '%_addr' ORDER BY 1`)).rows.map((r) => r.n);
    await until(async () => (await indexes()).length === 2, 30_000, 'the host indexes');
    expect(await indexes()).toEqual(['flows_p20240310_dst_addr', 'flows_p20240310_src_addr']);
    expect(lines.some((l) => l.includes('built host indexes') && l.includes('flows_p20240310_src_addr'))).toBe(true);
  });

  it('a batch committed but never acknowledged (control died between the two) is delivered again and changes nothing', async () => {
    const { bus, url, pool } = await setup('ci2');
    await migrate(pool);
    await publishAll(bus, 'edge-b', 2000);
    // What a control that died after its commit had written: every flow message's records, straight from the stream.
    const jsm = await bus.jetstreamManager();
    const stream = recordNames(bus.names).stream;
    const info = await jsm.streams.info(stream);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m && m.data[3] === 6) await writeFlowRecords(pool, flowRecordsOf(decodeFlowRecordBatch(m.data)));
    }
    const c = await control('ci2', url);
    await drained(bus, c);
    expect(await totals(pool)).toEqual(EXPECTED);
    expect(c.ingest.counters).toMatchObject({ flowRecords: 40, duplicates: 40, accountingDeltas: 2 });
  });

  it('a control restarted before it acknowledged: the redelivered messages are written once', async () => {
    const { bus, url, pool } = await setup('ci3');
    // A consumer that takes the messages and never acknowledges them, as a control killed mid-batch.
    const first = await control('ci3', url, { durable: 'control' });
    await first.stop();
    await publishAll(bus, 'edge-c', 3000);
    const consumer = await (await import('@l7mesh/bus')).openRecordsConsumer(bus, { ackWaitSec: 1 });
    const taken = await consumer.fetch({ max_messages: 100, expires: 2000 });
    let n = 0;
    for await (const m of taken) {
      n++;
      // Half of them written, as a control that died inside its batch.
      if (m.data[3] === 6 && n % 2 === 0) await writeFlowRecords(pool, flowRecordsOf(decodeFlowRecordBatch(m.data)));
    }
    expect(n).toBeGreaterThan(2);
    const second = await control('ci3', url, { durable: 'control' });
    await drained(bus, second);
    expect(await totals(pool)).toEqual(EXPECTED);
    expect(second.ingest.counters.duplicates).toBeGreaterThan(0);
  });

  it('writes each message in one transaction, however small its chunks: a message split over two would lose the second part to its own key', async () => {
    const { bus, pool } = await setup('ci6');
    await migrate(pool);
    await publishAll(bus, 'edge-f', 6000);
    // Messages of ten records, chunks of at most seven (and, for a batch of four messages, of 15).
    for (const chunkRecords of [7, 15]) {
      await pool.query('TRUNCATE flows, accounting_1m, ingested_events');
      const ingest = new RecordIngest({ bus, pool, chunkRecords, batchMessages: 4, consumer: { durable: `chunks-${chunkRecords}` } });
      await ingest.start();
      cleanups.push(() => ingest.stop());
      await until(async () => (await recordsBacklog(bus, `chunks-${chunkRecords}`)).pending === 0 && ingest.counters.messages === 5, 30_000, 'the messages written');
      await ingest.stop();
      expect(await totals(pool)).toEqual(EXPECTED);
      expect(ingest.counters).toMatchObject({ flowRecords: 40, accountingDeltas: 2, duplicates: 0, rejected: 0 });
    }
  });

  it('takes a message it cannot decode out of the stream and goes on with the rest', async () => {
    const { bus, url, pool } = await setup('ci4');
    const c = await control('ci4', url);
    await bus.jetstream().publish(recordNames(bus.names).subject('edge-d'), new TextEncoder().encode('not a record batch'));
    await publishAll(bus, 'edge-d', 4000);
    await drained(bus, c);
    expect(c.ingest.counters.rejected).toBe(1);
    expect(await totals(pool)).toEqual(EXPECTED);
  });

  it('keeps records unacknowledged while its PostgreSQL is down and writes them once it is back: nothing lost, nothing doubled', async () => {
    const server = await startPostgresServer({ fsync: false });
    cleanups.push(() => server.stop());
    const { bus } = await setup('ci5', server.url);
    const lines: string[] = [];
    const c = await control('ci5', server.url, { log: (l) => lines.push(l) });
    // Half before the outage.
    const pub = new RecordPublisher({ bus, edge: 'edge-e', maxBatch: 10, epochMs: 5000 });
    for (let i = 0; i < 20; i++) pub.addFlowRecord(flow(i));
    expect(await pub.drain()).toBe(true);
    await drained(bus, c);

    await server.stop(true);
    for (let i = 20; i < 40; i++) pub.addFlowRecord(flow(i));
    for (const l7 of ['http', 'ssh']) pub.addAccountingDelta({ startSec: T0, iface: 'eth1', l7, direction: 'out', flows: 20, packets: 100, bytes: 10_000 });
    expect(await pub.drain()).toBe(true);
    pub.close();
    await until(() => c.ingest.counters.writeFailures > 0, 30_000, 'a failed write');
    const during = await recordsBacklog(bus);
    expect(during.pending + during.unacknowledged).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('PostgreSQL write failed'))).toBe(true);

    await server.restart();
    await drained(bus, c);
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    cleanups.push(() => pool.end());
    expect(await totals(pool)).toEqual(EXPECTED);
    expect(c.ingest.counters).toMatchObject({ flowRecords: 40, accountingDeltas: 2, rejected: 0 });
    expect(lines.some((l) => l.includes('work again'))).toBe(true);
  }, 120_000);
});
