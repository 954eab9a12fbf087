/**
 * The cluster into PostgreSQL, end to end, on the bundled captures: edges
 * replaying in remote mode publish flow records and accounting, a worker
 * classifies, control ingests into a fresh database (real nats-servers
 * started here, real PostgreSQL). The totals per protocol in PostgreSQL
 * equal `classify`'s on the same captures, exactly; publishing every
 * message again changes no total.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordNames, recordsBacklog, startNatsServer, type NatsServerProcess } from '@l7mesh/bus';
import type { RunningWorker } from '@l7mesh/classifier';
import { startControl, type RunningControl } from '@l7mesh/control';
import type { PatternSet } from '@l7mesh/engine';
import { readCaptureFile } from '@l7mesh/flow';
import { createTestDatabase, type TestDatabase } from '../packages/store/test/testDatabase.js';
import { captureCorpus, classifyFile, projectPatternSet } from './captureCorpus.js';
import { inProcessWorker, replayEdge, splitCapture } from './clusterLab.js';

type Totals = Record<string, string>;

let set: PatternSet;
let files: string[];
let expected: Totals;

async function firstTimestamp(file: string): Promise<number> {
  let first = Infinity;
  await readCaptureFile(file, (f) => {
    if (first === Infinity) first = f.tsSec + f.tsNsec / 1e9;
  });
  return first;
}

beforeAll(async () => {
  set = projectPatternSet();
  // In the order of their first packets, so an edge's watermark only grows.
  const corpus = captureCorpus();
  const starts = new Map(await Promise.all(corpus.map(async (c) => [c.file, await firstTimestamp(c.file)] as const)));
  files = corpus.map((c) => c.file).sort((a, b) => starts.get(a)! - starts.get(b)!);
  const sums = new Map<string, { flows: number; packets: number; bytes: number }>();
  for (const file of files) {
    for (const r of await classifyFile(file, set, 'hyperscan')) {
      const t = sums.get(r.l7) ?? { flows: 0, packets: 0, bytes: 0 };
      sums.set(r.l7, { flows: t.flows + 1, packets: t.packets + r.packets, bytes: t.bytes + r.bytes });
    }
  }
  expected = Object.fromEntries([...sums].sort().map(([l7, t]) => [l7, `${t.flows}/${t.packets}/${t.bytes}`]));
});

/** A nats-server, a fresh database, control ingesting into it, one worker. */
class Site {
  nats!: NatsServerProcess;
  db!: TestDatabase;
  control!: RunningControl;
  worker!: RunningWorker;

  async start(): Promise<void> {
    this.nats = await startNatsServer();
    this.db = await createTestDatabase();
    this.control = await startControl({ databaseUrl: this.db.url, bus: { servers: this.nats.url }, api: false, log: () => undefined });
    this.worker = await inProcessWorker('w1', [this.nats.url], set, { holdMs: 10_000 });
  }

  async stop(): Promise<void> {
    await this.worker?.stop();
    await this.control?.stop();
    await this.db?.drop();
    await this.nats?.stop();
  }

  async drained(): Promise<void> {
    const end = Date.now() + 60_000;
    for (;;) {
      const b = await recordsBacklog(this.control.bus);
      if (b.pending === 0 && b.unacknowledged === 0 && !this.control.ingest.writing) return;
      if (Date.now() > end) throw new Error(`control did not catch up: ${JSON.stringify(b)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Per protocol: flows/packets/bytes from the 1-minute accounting, and from the flow table. */
  async totals(): Promise<{ accounting: Totals; flows: Totals }> {
    const a = await this.db.pool.query<{ l7: string; t: string }>(
      `SELECT l7_protocol AS l7, sum(flows) || '/' || sum(packets) || '/' || sum(bytes) AS t FROM accounting_1m GROUP BY 1 ORDER BY 1`,
    );
    const f = await this.db.pool.query<{ l7: string; t: string }>(
      `SELECT l7_protocol AS l7, count(*) || '/' || sum(orig_packets + reply_packets) || '/' || sum(orig_bytes + reply_bytes) AS t FROM flows GROUP BY 1 ORDER BY 1`,
    );
    return { accounting: Object.fromEntries(a.rows.map((r) => [r.l7, r.t])), flows: Object.fromEntries(f.rows.map((r) => [r.l7, r.t])) };
  }

  /** Every message of the records stream published again under another Nats-Msg-Id (as after a lost acknowledgement past the dedupe window). */
  async republishAll(): Promise<number> {
    const bus = this.control.bus;
    const jsm = await bus.jetstreamManager();
    const names = recordNames(bus.names);
    const info = await jsm.streams.info(names.stream);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(names.stream, { seq });
      if (m) await bus.jetstream().publish(m.subject, m.data, { msgID: `again-${seq}` });
    }
    return info.state.messages;
  }
}

describe('one edge per capture (it sees every packet)', () => {
  const site = new Site();
  beforeAll(() => site.start());
  afterAll(() => site.stop());

  it('PostgreSQL holds, per protocol, exactly the flows, packets and bytes of classify, in accounting and in the flow table; a second delivery of everything changes nothing', async () => {
    expect(Object.keys(expected).length).toBeGreaterThan(20);
    const run = await replayEdge('edge-1', [site.nats.url], files, set, { cluster: { verdictTimeoutMs: 30_000 } });
    const stats = run.results[0]!.stats.cluster!;
    expect(stats.timed_out).toBe(0);
    for (const r of run.results) expect(r.records?.refused).toBe(0);
    await site.drained();
    const first = await site.totals();
    expect(first.accounting).toEqual(expected);
    expect(first.flows).toEqual(expected);
    expect(site.control.ingest.counters.rejected).toBe(0);

    const messages = await site.republishAll();
    expect(messages).toBeGreaterThan(1);
    const before = site.control.ingest.counters.duplicates;
    await site.drained();
    expect(await site.totals()).toEqual(first);
    expect(site.control.ingest.counters.duplicates - before).toBe(site.control.ingest.counters.flowRecords / 2 + site.control.ingest.counters.accountingDeltas / 2);
  }, 180_000);
});

describe('two edges that each see one direction', () => {
  const site = new Site();
  beforeAll(() => site.start());
  afterAll(() => site.stop());

  it('PostgreSQL accounts, per protocol, exactly the flows, packets and bytes of classify (each edge its own direction, each connection counted once), and the flow table has one row per connection', async () => {
    const splits = await Promise.all(files.map((f) => splitCapture(f)));
    const [requests, replies] = await Promise.all([
      replayEdge('router-a', [site.nats.url], splits.map((s) => s.requests), set, { cluster: { verdictTimeoutMs: 30_000 } }),
      replayEdge('router-b', [site.nats.url], splits.map((s) => s.replies), set, { startDelayMs: 500, cluster: { verdictTimeoutMs: 30_000 } }),
    ]);
    for (const run of [requests, replies]) expect(run.results[0]!.stats.cluster!.timed_out).toBe(0);
    await site.drained();
    expect(site.control.ingest.counters.rejected).toBe(0);
    const { accounting, flows } = await site.totals();
    expect(accounting).toEqual(expected);
    // One row per connection: as many rows per protocol as classify has flows. A row's counters are
    // the newest record's (one edge's view: the store replaces counters), so only the count is compared.
    const flowCounts = (t: Totals) => Object.fromEntries(Object.entries(t).map(([l7, v]) => [l7, v.split('/')[0]]));
    expect(flowCounts(flows)).toEqual(flowCounts(expected));
    // Both edges' records of a connection met on its row (the reply side's turned to the originator's tuple and first packet).
    const both = await site.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM flows WHERE edges = ARRAY['router-a', 'router-b']`);
    expect(Number(both.rows[0]!.n)).toBeGreaterThan(Number(Object.values(flowCounts(expected)).reduce((n, c) => n + Number(c), 0)) / 2);
  }, 180_000);
});
