/**
 * The central store (issue 11, "Performance"):
 *
 *   node bench/dist/storeBench.js
 *
 * About 3 minutes on 2 CPUs once the query dataset exists; the first run
 * generates it (10 million flows: 15 minutes on a busy 2-CPU machine) in a
 * database of its own, which later runs reuse.
 *
 * 1. Ingestion, in flow records per second, into fresh databases (dropped
 *    afterwards):
 *    - the store's writer alone (writeFlowRecords, batches of MAX_BATCH),
 *      on one connection and on two at once;
 *    - end to end: the records published by an edge's RecordPublisher to
 *      the records stream of a nats-server started here (JetStream, file
 *      storage), then consumed by services/control (startControl in a
 *      child process, storeControl.ts: its durable consumer and
 *      RecordIngest) into PostgreSQL. Timed from control's start until it
 *      has acknowledged the last record; the stream is filled first, so the
 *      rate is control's, not the edge's.
 *    The records are what edges send: per flow a verdict record (live) and
 *    an end record (ended, final counters), in messages of 1000. 80% of
 *    flows end within about 200 records of their verdict (short flows:
 *    mostly one message, merged into one row by the writer), 20% some
 *    50,000 records later (the end updates a row written by an earlier
 *    batch). Every message has one dedupe key (its first record's id),
 *    claimed in the transaction that writes its records.
 *    One run on the 2-CPU machine, 2026-12-05: end to end 104 k records/s
 *    (4.3 us control + 10.2 us PostgreSQL + 0.5 us nats-server CPU a
 *    record; other runs 106-118 k), the writer alone 85 k / 150 k on one /
 *    two connections. The target is end to end's. docs/store.md
 *    ("Benchmark") says where the time goes and how it got there.
 *    CPU: this process (the writer or control), the PostgreSQL backends of
 *    the bench database, nats-server; "others": what other processes on the
 *    machine took meanwhile (/proc/stat less ours): the machine is shared.
 * 2. Query latency over 10 million flow records spread evenly over the 30
 *    days before the dataset's end time T, with the matching accounting
 *    (1-minute buckets summed from the same flows: per edge, interface,
 *    protocol, direction) and all the rollups (accounting and hosts).
 *    "The last hour" is [T - 1 h, T), as `--since 1h` gives at T: not on
 *    whole hours, as from the CLI. Each query through the store's own
 *    function (what `l7mesh top|accounting` and the API call), a warm-up
 *    and then repeated runs: p50/p99. Baseline in the same run: top by
 *    host read from the flows, without the host rollup.
 *
 * The dataset: database BENCH_STORE_DB (default l7mesh_bench_store) on the
 * local server, schema by the store's migrations, filled by SQL
 * (generate_series, not through the writers); a table `bench_dataset`
 * there records what it holds, and a run regenerates it when that does not
 * match (or BENCH_STORE_REGENERATE=1). Drop it when done:
 * `psql -U postgres -c 'DROP DATABASE l7mesh_bench_store'` (about 8 GB).
 * Hosts: 20,000 sources (10.0.0.0/16 ..., heavily skewed: random()^3) and
 * 200,000 destinations (random()^4), 1 flow in 50 in zones 1-3, 16 l7
 * protocols (skewed), 4 edges, bytes heavy-tailed.
 *
 * Knobs (environment): BENCH_STORE_RECORDS (ingestion, default 1200000:
 * long enough for the steady rate; in a run of 400000 the first fetch, the
 * last chunk and the JIT's warm-up are a fifth of the time),
 * BENCH_STORE_QUERY_RUNS (30), BENCH_STORE_FLOWS (10000000),
 * BENCH_STORE_DAYS (30), BENCH_STORE_DB, BENCH_STORE_REGENERATE=1,
 * BENCH_STORE_ONLY=ingest|query, BENCH_STORE_INGEST_RUNS (which ingestion
 * runs: default writer1,writer2,e2e), BENCH_STORE_PROFILE=<dir> (the
 * control child with --cpu-prof, its profile kept there), L7MESH_BENCH_PG_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres, a role that may create
 * databases).
 * Results: tables on stdout and bench/results/store.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import pg from 'pg';
import { busNames, connectBus, ensureRecordsStream, RecordPublisher, startNatsServer, type FlowRecordInput } from '@l7mesh/bus';
import { flowRecordsOf } from '@l7mesh/control';
import { flowKeyOfEndpoints } from '@l7mesh/flow';
import { accountingSeries, indexClosedPartitions, listFlows, MAX_BATCH, migrate, rollupAccounting, rollupHosts, topTalkers, writeFlowRecords, type FlowRecord } from '@l7mesh/store';
import type { WireFlowRecord } from '@l7mesh/wire';
import { machineBusyCpu, ownCpu, processCpu } from './cpu.js';
import { envNumber, si } from './measure.js';
import { quantiles, type Quantiles } from './quantiles.js';

// Not benchPatterns.js's: that one loads the pattern engines, which the store does not need.
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_URL = process.env.L7MESH_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RECORDS = Math.round(envNumber('BENCH_STORE_RECORDS', 1_200_000) / 2) * 2;
const QUERY_RUNS = envNumber('BENCH_STORE_QUERY_RUNS', 30);
const DATASET_FLOWS = envNumber('BENCH_STORE_FLOWS', 10_000_000);
const DATASET_DAYS = envNumber('BENCH_STORE_DAYS', 30);
const DATASET_DB = process.env.BENCH_STORE_DB ?? 'l7mesh_bench_store';
const REGENERATE = process.env.BENCH_STORE_REGENERATE === '1';
const ONLY = process.env.BENCH_STORE_ONLY;
const INGEST_RUNS = (process.env.BENCH_STORE_INGEST_RUNS ?? 'writer1,writer2,e2e').split(',');
/** Bump when the generator changes: an older dataset is then made again. */
const DATASET_VERSION = 1;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Records per message, as an edge's RecordPublisher sends them by default. MAX_BATCH is a multiple: the writer runs' batches hold whole messages. */
const MESSAGE_RECORDS = 1000;
const TARGETS = { ingestRecordsPerSec: 100_000, topLastHourMs: 50, series24hMs: 200 };

const log = (line: string) => process.stderr.write(`store bench: ${line}\n`);

// ------------------------------------------------------------------ CPU

interface PhaseCpuResult {
  wallSeconds: number;
  /** This process: the writer, or control. */
  nodeCpuSeconds: number;
  /** The PostgreSQL backends serving the bench database. */
  postgresCpuSeconds: number;
  natsCpuSeconds: number;
  /** Other processes on the machine meanwhile (CPU seconds per wall second). */
  othersCpuPerSecond: number;
}

/** The CPU of one phase. Backends are looked up at the end (a pool connects lazily), so their CPU counts from their start: they are new for each phase. */
class PhaseCpu {
  private readonly t0 = performance.now();
  private readonly machine0 = machineBusyCpu();
  private readonly own0 = ownCpu();
  private readonly nats0: number;

  constructor(
    private readonly admin: pg.Client,
    private readonly database: string,
    private readonly natsPid?: number,
  ) {
    this.nats0 = natsPid === undefined ? 0 : processCpu(natsPid);
  }

  /** `child`: the phase ran in a child process, which measured its own time and CPU and its backends'. */
  async end(child?: { seconds: number; cpuSeconds: number; postgresCpuSeconds: number }): Promise<PhaseCpuResult> {
    const wallSeconds = (performance.now() - this.t0) / 1000;
    const nats = this.natsPid === undefined ? 0 : processCpu(this.natsPid) - this.nats0;
    const machine = machineBusyCpu() - this.machine0;
    let own = ownCpu() - this.own0;
    let postgres: number;
    if (child) {
      own += child.cpuSeconds;
      postgres = child.postgresCpuSeconds;
    } else {
      const { rows } = await this.admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [this.database]);
      postgres = rows.reduce((s, r) => s + processCpu(r.pid), 0);
    }
    const others = Math.max(0, machine - own - postgres - nats) / wallSeconds;
    return { wallSeconds: child?.seconds ?? wallSeconds, nodeCpuSeconds: child?.cpuSeconds ?? own, postgresCpuSeconds: postgres, natsCpuSeconds: nats, othersCpuPerSecond: others };
  }
}

// ------------------------------------------------------------------ databases

async function withAdmin<T>(work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh, migrated database for one ingestion phase; dropped by the caller. */
async function freshDatabase(admin: pg.Client, tag: string): Promise<string> {
  const name = `l7mesh_bench_ingest_${tag}_${Date.now()}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  const pool = new pg.Pool({ connectionString: databaseUrl(name), max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return name;
}

async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

// ------------------------------------------------------------------ ingestion records

const L7 = [
  ['tls', 6, 443],
  ['http', 6, 80],
  ['dns', 17, 53],
  ['quic', 17, 443],
  ['ssh', 6, 22],
  ['smtp', 6, 25],
  ['imap', 6, 143],
  ['bittorrent', 6, 6881],
] as const;

/** A deterministic generator (mulberry32): every run ingests the same records. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface IngestRecords {
  /** In publishing order. */
  wire: FlowRecordInput[];
  flows: number;
  /** Both directions' bytes of every flow's end record: what the flows table must add up to. */
  totalBytes: bigint;
}

/** `count` records of count/2 flows: a verdict and an end each, the end soon after (80%) or 50,000 records later (20%). */
function ingestRecords(count: number): IngestRecords {
  const rnd = seeded(11);
  const flows = count / 2;
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  const slots: { at: number; r: FlowRecordInput }[] = [];
  let totalBytes = 0n;
  for (let i = 0; i < flows; i++) {
    const [l7, protocol, dport] = L7[Math.floor(L7.length * rnd() ** 2)]!;
    const src = `10.${1 + ((i >>> 16) & 63)}.${(i >>> 8) & 255}.${i & 255}`;
    const dst = `198.18.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`;
    const sport = 1024 + Math.floor(rnd() * 60_000);
    const key = flowKeyOfEndpoints({ protocol, src, sport, dst, dport });
    const origIsLow = true; // the originator, 10.x, sorts below the responder, 198.18.x: the key's low endpoint
    const firstSec = t0 + Math.floor((i * 3600) / flows);
    const firstNsec = Math.floor(rnd() * 1e9);
    // An end record's counters are at least its verdict record's (2 / 120 B and 1 / 60 B): one edge's counters only grow.
    const origPackets = 2 + Math.floor(rnd() * 40);
    const replyPackets = 1 + Math.floor(rnd() * 200);
    const origBytes = origPackets * 60 + Math.floor(rnd() * 5000);
    const replyBytes = replyPackets * 60 + Math.floor(rnd() ** 4 * 5e7);
    totalBytes += BigInt(origBytes + replyBytes);
    const base = { zone: i % 50 === 0 ? 1 : 0, key, origIsLow, firstSec, firstNsec, l7, decidedBy: `${l7}.pat`, mark: 0x10, ruleSetVersion: 1, iface: 'eth1' };
    const verdict: FlowRecordInput = { ...base, state: 'live', lastSec: firstSec, lastNsec: firstNsec, origPackets: 2, origBytes: 120, replyPackets: 1, replyBytes: 60 };
    const end: FlowRecordInput = { ...base, state: 'ended', lastSec: firstSec + 1 + Math.floor(rnd() * 30), lastNsec: 0, origPackets, origBytes, replyPackets, replyBytes };
    const at = 2 * i;
    slots.push({ at, r: verdict });
    slots.push({ at: at + (rnd() < 0.8 ? 1 + Math.floor(rnd() * 200) : 50_000 + Math.floor(rnd() * 1000)), r: end });
  }
  slots.sort((a, b) => a.at - b.at);
  return { wire: slots.map((s) => s.r), flows, totalBytes };
}

/**
 * The same records as the store's writer gets them from control: numbered
 * and cut into messages of MESSAGE_RECORDS as a publisher does, each
 * message mapped by control's recordMapping (its records share its dedupe
 * key).
 */
function storeRecords(wire: FlowRecordInput[], edge: string, epochMs: number): FlowRecord[] {
  const records: FlowRecord[] = [];
  for (let start = 0; start < wire.length; start += MESSAGE_RECORDS) {
    const message: WireFlowRecord[] = wire.slice(start, start + MESSAGE_RECORDS).map((r, i) => ({ seq: start + i, ...r }));
    records.push(...flowRecordsOf({ edge, epochMs, records: message }));
  }
  return records;
}

async function checkIngested(url: string, expected: IngestRecords): Promise<{ flows: number; bytes: bigint; exact: boolean }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string; b: string | null; live: string }>(
      `SELECT count(*) AS n, sum(orig_bytes + reply_bytes) AS b, count(*) FILTER (WHERE state = 'live') AS live FROM flows`,
    );
    const flows = Number(rows[0]!.n);
    const bytes = BigInt(rows[0]!.b ?? 0);
    return { flows, bytes, exact: flows === expected.flows && bytes === expected.totalBytes && rows[0]!.live === '0' };
  } finally {
    await client.end();
  }
}

interface IngestResult extends PhaseCpuResult {
  name: string;
  records: number;
  recordsPerSec: number;
  /** CPU microseconds per record: this process, PostgreSQL, nats-server. */
  nodeUsPerRecord: number;
  postgresUsPerRecord: number;
  natsUsPerRecord: number;
  /** Records per second of our CPU (node + PostgreSQL + nats-server): the rate on a machine of our own with enough cores. */
  recordsPerCpuSecond: number;
  check: { flows: number; bytes: string; exact: boolean };
  publish?: { seconds: number; recordsPerSec: number; messages: number };
}

function ingestResult(name: string, records: number, cpu: PhaseCpuResult, check: { flows: number; bytes: bigint; exact: boolean }): IngestResult {
  const ours = cpu.nodeCpuSeconds + cpu.postgresCpuSeconds + cpu.natsCpuSeconds;
  return {
    name,
    records,
    ...cpu,
    recordsPerSec: records / cpu.wallSeconds,
    nodeUsPerRecord: (cpu.nodeCpuSeconds / records) * 1e6,
    postgresUsPerRecord: (cpu.postgresCpuSeconds / records) * 1e6,
    natsUsPerRecord: (cpu.natsCpuSeconds / records) * 1e6,
    recordsPerCpuSecond: records / ours,
    check: { ...check, bytes: check.bytes.toString() },
  };
}

/** The writer alone, `connections` writers at once, each writing every `connections`-th chunk of MAX_BATCH records. */
async function writerRun(admin: pg.Client, input: IngestRecords, connections: number): Promise<IngestResult> {
  const db = await freshDatabase(admin, `writer${connections}`);
  try {
    const records = storeRecords(input.wire, 'edge-bench', Date.now());
    const chunks: FlowRecord[][] = [];
    for (let i = 0; i < records.length; i += MAX_BATCH) chunks.push(records.slice(i, i + MAX_BATCH));
    const clients = await Promise.all(
      Array.from({ length: connections }, async () => {
        const c = new pg.Client({ connectionString: databaseUrl(db) });
        await c.connect();
        return c;
      }),
    );
    const cpu = new PhaseCpu(admin, db);
    await Promise.all(
      clients.map(async (client, k) => {
        for (let i = k; i < chunks.length; i += connections) await writeFlowRecords(client, chunks[i]!);
      }),
    );
    const used = await cpu.end();
    await Promise.all(clients.map((c) => c.end()));
    const check = await checkIngested(databaseUrl(db), input);
    return ingestResult(`writer alone, ${connections} connection${connections > 1 ? 's' : ''}, batches of ${MAX_BATCH / 1000}k`, records.length, used, check);
  } finally {
    await dropDatabase(admin, db);
  }
}

interface ControlReport {
  seconds: number;
  cpuSeconds: number;
  postgresCpuSeconds: number;
  counters: { flowRecords: number; duplicates: number; rejected: number };
}

/** Control in a child process (storeControl.ts), as deployed: its heap and CPU its own. */
function controlChild(dbUrl: string, natsUrl: string, prefix: string, records: number): Promise<ControlReport> {
  return new Promise((resolve, reject) => {
    const profile = process.env.BENCH_STORE_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_STORE_PROFILE}`] : [];
    const child = spawn(process.execPath, [...profile, join(REPO_ROOT, 'bench/dist/storeControl.js'), dbUrl, natsUrl, prefix, String(records)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as ControlReport);
      else reject(new Error(`control child exited with ${code}: ${err.trim()}`));
    });
  });
}

/** Edge publisher -> JetStream -> control (a child process) -> PostgreSQL. */
async function endToEndRun(admin: pg.Client, input: IngestRecords): Promise<IngestResult> {
  const db = await freshDatabase(admin, 'e2e');
  const nats = await startNatsServer();
  const names = busNames('bench');
  const bus = await connectBus({ servers: nats.url, name: 'store-bench-edge' }, names);
  try {
    await ensureRecordsStream(bus);
    const pub = new RecordPublisher({ bus, edge: 'edge-bench', maxBatch: MESSAGE_RECORDS, maxBuffered: input.wire.length + 1000 });
    const p0 = performance.now();
    for (const r of input.wire) pub.addFlowRecord(r);
    if (!(await pub.drain(300_000))) throw new Error('the publisher did not get every record into the stream');
    const publishSeconds = (performance.now() - p0) / 1000;
    const messages = pub.counters.messages;
    pub.close();

    const cpu = new PhaseCpu(admin, db, nats.pid);
    const report = await controlChild(databaseUrl(db), nats.url, 'bench', input.wire.length);
    // Control's own measurements: from its start until the last record was acknowledged, its CPU and its backends' meanwhile.
    const phase = await cpu.end(report);
    const c = report.counters;
    if (c.duplicates + c.rejected > 0) log(`control counted ${c.duplicates} duplicates and rejected ${c.rejected} messages`);
    const check = await checkIngested(databaseUrl(db), input);
    return { ...ingestResult('end to end: JetStream -> control -> PostgreSQL', input.wire.length, phase, check), publish: { seconds: publishSeconds, recordsPerSec: input.wire.length / publishSeconds, messages } };
  } finally {
    await bus.close().catch(() => undefined);
    await nats.stop();
    await dropDatabase(admin, db);
  }
}

// ------------------------------------------------------------------ query dataset

interface Dataset {
  version: number;
  flows: number;
  days: number;
  startAt: Date;
  endAt: Date;
  generatedAt: Date;
  seconds: number;
}

async function readDataset(pool: pg.Pool): Promise<Dataset | undefined> {
  const { rows } = await pool.query<{ exists: boolean }>(`SELECT to_regclass('bench_dataset') IS NOT NULL AS exists`);
  if (!rows[0]!.exists) return undefined;
  const r = await pool.query<{ version: number; flows: string; days: number; start_at: Date; end_at: Date; generated_at: Date; seconds: number }>('SELECT * FROM bench_dataset');
  const d = r.rows[0];
  return d && { version: d.version, flows: Number(d.flows), days: d.days, startAt: d.start_at, endAt: d.end_at, generatedAt: d.generated_at, seconds: d.seconds };
}

const EPOCH = `timestamptz '1970-01-01 00:00:00+00'`;

/** Fills the dataset database by SQL: flows day by day, accounting summed from them, then every rollup. */
async function generateDataset(pool: pg.Pool): Promise<Dataset> {
  const t0 = performance.now();
  const endAt = new Date();
  const startAt = new Date(endAt.getTime() - DATASET_DAYS * DAY);
  const flows = DATASET_FLOWS;
  const stepMs = (endAt.getTime() - startAt.getTime()) / flows;
  log(`generating ${flows} flows over ${DATASET_DAYS} days ending ${endAt.toISOString()} in ${DATASET_DB} (once; later runs reuse it)`);
  await pool.query('DROP TABLE IF EXISTS bench_dataset');
  await pool.query('TRUNCATE flows, accounting_1m, accounting_1h, accounting_1d, accounting_dirty_hours, flow_dirty_hours, host_traffic_1h, host_traffic_1d, ingested_events');
  await pool.query(`SELECT ensure_partitions($1, $2)`, [startAt, endAt]);
  const client = await pool.connect();
  try {
    await client.query(`SET synchronous_commit = off`);
    await client.query(`SET work_mem = '256MB'`);
    const l7 = L7.map((x) => `'${x[0]}'`).join(',');
    const protos = L7.map((x) => x[1]).join(',');
    const ports = L7.map((x) => x[2]).join(',');
    const perChunk = Math.ceil(flows / (DATASET_DAYS * 2));
    for (let first = 0; first < flows; first += perChunk) {
      const last = Math.min(flows, first + perChunk) - 1;
      // first_seen of row i lies in [start + i*step, start + (i+0.9)*step): distinct, so the flow keys are too.
      await client.query(
        `INSERT INTO flows (zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen, last_seen, state,
                            orig_packets, orig_bytes, reply_packets, reply_bytes, l7_protocol, decided_by, mark, rule_set_version, edges, event_id)
         SELECT CASE WHEN i % 50 = 0 THEN 1 + i % 3 ELSE 0 END,
                (ARRAY[${protos}])[k], '10.0.0.0'::inet + floor(20000 * power(r1, 3))::int, 1024 + i % 64000,
                '198.18.0.0'::inet + floor(200000 * power(r2, 4))::int, (ARRAY[${ports}])[k],
                t, t + d, CASE WHEN t + d > $4::timestamptz - interval '5 minutes' THEN 'live' ELSE 'ended' END,
                op, op * 60 + floor(5000 * r3)::bigint, rp, rp * 60 + floor(5e7 * power(r4, 6))::bigint,
                (ARRAY[${l7}])[k], (ARRAY[${l7}])[k] || '.pat', 16, 1, ARRAY['edge-' || (i % 4)], 'bench.' || i
           FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                        1 + floor(${L7.length} * power(random(), 2))::int AS k,
                        1 + floor(40 * random())::int AS op, 1 + floor(200 * power(random(), 2))::int AS rp,
                        $3::timestamptz + (i + 0.9 * random()) * $5::float8 * interval '1 millisecond' AS t,
                        floor(120000 * power(random(), 2)) * interval '1 millisecond' AS d
                   FROM generate_series($1::bigint, $2::bigint) AS i) AS g`,
        [first, last, startAt, endAt, stepMs],
      );
      log(`flows: ${last + 1} of ${flows} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    // Accounting as edges would have sent it for these flows: the originator's side is the customer's ('out'), a flow counted once.
    for (let day = Math.floor(startAt.getTime() / DAY) * DAY; day < endAt.getTime(); day += DAY) {
      await client.query(
        `INSERT INTO accounting_1m (bucket, edge, iface, l7_protocol, direction, flows, packets, bytes)
         SELECT date_bin('1 minute', f.first_seen, ${EPOCH}), f.edges[1], 'eth' || right(f.edges[1], 1), f.l7_protocol, d.direction,
                sum(d.flows), sum(d.packets), sum(d.bytes)
           FROM flows f
           CROSS JOIN LATERAL (VALUES ('out', 1, f.orig_packets, f.orig_bytes), ('in', 0, f.reply_packets, f.reply_bytes)) AS d(direction, flows, packets, bytes)
          WHERE f.first_seen >= $1 AND f.first_seen < $2
          GROUP BY 1, 2, 3, 4, 5`,
        [new Date(day), new Date(day + DAY)],
      );
      await client.query('SELECT rollup_accounting($1, $2)', [new Date(day), new Date(day + DAY)]);
      await client.query('SELECT rollup_hosts($1, $2)', [new Date(day), new Date(day + DAY)]);
      log(`accounting and rollups: ${new Date(day).toISOString().slice(0, 10)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    await client.query('TRUNCATE accounting_dirty_hours, flow_dirty_hours');
    log('VACUUM ANALYZE');
    await client.query('VACUUM ANALYZE');
    const seconds = (performance.now() - t0) / 1000;
    await client.query(`CREATE TABLE bench_dataset (version integer, flows bigint, days integer, start_at timestamptz, end_at timestamptz, generated_at timestamptz, seconds float8)`);
    await client.query('INSERT INTO bench_dataset VALUES ($1, $2, $3, $4, $5, now(), $6)', [DATASET_VERSION, flows, DATASET_DAYS, startAt, endAt, seconds]);
    log(`dataset ready in ${seconds.toFixed(0)} s`);
  } finally {
    client.release();
  }
  return (await readDataset(pool))!;
}

async function openDataset(admin: pg.Client): Promise<{ pool: pg.Pool; dataset: Dataset }> {
  const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATASET_DB]);
  if (rows.length === 0) await admin.query(`CREATE DATABASE "${DATASET_DB}"`);
  const pool = new pg.Pool({ connectionString: databaseUrl(DATASET_DB), max: 2 });
  await migrate(pool, { log: (line) => log(line) });
  let dataset = await readDataset(pool);
  const fits = dataset && dataset.version === DATASET_VERSION && dataset.flows === DATASET_FLOWS && dataset.days === DATASET_DAYS;
  if (!fits || REGENERATE) dataset = await generateDataset(pool);
  else {
    // A newer schema may have marked hours (migrations): bring the rollups up to date before timing.
    const n = (await rollupAccounting(pool)) + (await rollupHosts(pool));
    if (n > 0) log(`rolled up ${n} marked hours`);
    log(`reusing ${DATASET_DB}: ${dataset!.flows} flows, ${dataset!.days} days ending ${dataset!.endAt.toISOString()}, generated ${dataset!.generatedAt.toISOString()}`);
  }
  // The host indexes of the days that are over, as control's maintenance builds them.
  const built = await indexClosedPartitions(pool);
  if (built.length > 0) log(`built ${built.length} host indexes of closed days`);
  return { pool, dataset: dataset! };
}

// ------------------------------------------------------------------ queries

interface QueryResult {
  name: string;
  source: string;
  rows: number;
  ms: Quantiles;
  targetMs?: number;
}

async function timeQuery(name: string, source: string, runs: number, query: () => Promise<number>, targetMs?: number): Promise<QueryResult> {
  let rows = 0;
  for (let i = 0; i < 2; i++) rows = await query();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    rows = await query();
    ms.push(performance.now() - t);
  }
  log(`${name}: p50 ${quantiles(ms).p50.toFixed(1)} ms`);
  return { name, source, rows, ms: quantiles(ms), ...(targetMs === undefined ? {} : { targetMs }) };
}

/** The store's query for top hosts from the flows alone (topTalkers with a filter reads so, with these settings), without the filter: the baseline of the host rollup. */
async function hostsFromFlows(pool: pg.Pool, since: Date, until: Date): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL jit = off; SET LOCAL work_mem = '64MB'`);
    const { rows } = await client.query(
      `SELECT zone, host(src_addr) AS key, count(*) AS flows, sum(orig_packets + reply_packets)::bigint AS packets, sum(orig_bytes + reply_bytes)::bigint AS bytes
         FROM flows WHERE first_seen >= $1 AND first_seen < $2
        GROUP BY zone, src_addr ORDER BY bytes DESC, src_addr, zone LIMIT 10`,
      [since, until],
    );
    await client.query('COMMIT');
    return rows.length;
  } finally {
    client.release();
  }
}

async function queryRuns(pool: pg.Pool, dataset: Dataset): Promise<{ queries: QueryResult[]; rollups: QueryResult[] }> {
  const T = dataset.endAt.getTime();
  const at = (ms: number) => new Date(ms);
  const last = (ms: number) => ({ since: at(T - ms), until: at(T) });
  const runs = QUERY_RUNS;
  const queries: QueryResult[] = [];
  const top = async (by: 'protocol' | 'src' | 'dst', range: { since: Date; until: Date }) => (await topTalkers(pool, { by, ...range, limit: 10 })).length;
  queries.push(await timeQuery('top --by protocol, last hour', '1-minute accounting (60 min)', runs, () => top('protocol', last(HOUR)), TARGETS.topLastHourMs));
  queries.push(await timeQuery('top --by src, last 24 h', 'host rollup (hours) + flows of the partial hours', runs, () => top('src', last(DAY))));
  queries.push(await timeQuery('top --by dst, last 24 h', 'host rollup (hours) + flows of the partial hours', runs, () => top('dst', last(DAY))));
  queries.push(await timeQuery('top --by src, last 7 days', 'host rollup (days, hours) + flows of the partial hours', runs, () => top('src', last(7 * DAY))));
  // A busy source (sources are skewed toward the low addresses). Closed days answer by their host indexes, the current day
  // (no host indexes: 008_closed_day_host_indexes.sql) by the window on first_seen.
  const flowsOf = async (range: { since: Date; until: Date }) => (await listFlows(pool, { src: '10.0.0.5', ...range, limit: 100 })).length;
  queries.push(await timeQuery('flows --src <host>, last 24 h', 'flows: host indexes of closed days, first_seen in the current one', runs, () => flowsOf(last(DAY))));
  queries.push(await timeQuery('flows --src <host>, last 7 days', 'flows: host indexes of closed days, first_seen in the current one', runs, () => flowsOf(last(7 * DAY))));
  queries.push(
    await timeQuery('accounting --group-by proto --window 5m, last 24 h', '1-minute accounting (1440 min)', runs, async () =>
      (await accountingSeries(pool, { groupBy: ['proto'], windowSec: 300, ...last(DAY) })).points.length,
    TARGETS.series24hMs),
  );
  const lastWholeHour = Math.floor(T / HOUR) * HOUR;
  queries.push(
    await timeQuery('accounting --group-by proto --window 1h, 24 whole hours', 'hourly accounting rollup', runs, async () =>
      (await accountingSeries(pool, { groupBy: ['proto'], windowSec: 3600, since: at(lastWholeHour - DAY), until: at(lastWholeHour) })).points.length,
    ),
  );
  queries.push(await timeQuery('top --by src, last 24 h, from the flows (baseline)', 'flows (no rollup)', Math.min(runs, 5), () => hostsFromFlows(pool, at(T - DAY), at(T))));
  queries.push(await timeQuery('top --by src, last 7 days, from the flows (baseline)', 'flows (no rollup)', Math.min(runs, 3), () => hostsFromFlows(pool, at(T - 7 * DAY), at(T))));

  // What keeping the rollups costs: the last whole hour marked dirty and rolled up, as control does every minute for the
  // hours written to (here its flows did not change: the sum and the comparison, without the writes); and the range form,
  // which also sums the hour's day again from its 24 hours (a repair).
  const hour = { since: at(lastWholeHour - HOUR), until: at(lastWholeHour) };
  const flowsAnHour = `${Math.round(dataset.flows / (dataset.days * 24))} flows an hour`;
  const markDirty = (table: string) => pool.query(`INSERT INTO ${table} (bucket) VALUES ($1) ON CONFLICT DO NOTHING`, [hour.since]);
  const rollups: QueryResult[] = [];
  rollups.push(await timeQuery('host rollup of a dirty hour (control, every minute)', flowsAnHour, 5, async () => (await markDirty('flow_dirty_hours'), rollupHosts(pool))));
  rollups.push(await timeQuery('host rollup of an hour, its day summed again (range form)', flowsAnHour, 3, () => rollupHosts(pool, hour)));
  rollups.push(await timeQuery('accounting rollup of a dirty hour and its day', '1-minute accounting', 5, async () => (await markDirty('accounting_dirty_hours'), rollupAccounting(pool))));
  return { queries, rollups };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const style = { head: [], border: [] };
  const f1 = (n: number) => n.toFixed(1);
  const out = process.stdout;
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    targets: TARGETS,
  };

  await withAdmin(async (admin) => {
    const server = (await admin.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    const settings = (await admin.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'synchronous_commit', 'max_wal_size')`,
    )).rows;
    results.postgres = { version: server, settings: Object.fromEntries(settings.map((s) => [s.name, `${s.setting}${s.unit ?? ''}`])) };

    if (ONLY !== 'query') {
      log(`ingestion: ${RECORDS} records (${RECORDS / 2} flows)`);
      const input = ingestRecords(RECORDS);
      const ingest: IngestResult[] = [];
      if (INGEST_RUNS.includes('writer1')) ingest.push(await writerRun(admin, input, 1));
      if (INGEST_RUNS.includes('writer2')) ingest.push(await writerRun(admin, input, 2));
      if (INGEST_RUNS.includes('e2e')) ingest.push(await endToEndRun(admin, input));
      results.ingest = { records: RECORDS, flows: input.flows, mix: '80% of ends within ~200 records of their verdict, 20% ~50,000 records later', runs: ingest };

      const t = new Table({
        head: ['ingestion', 'records/s', 'target', 'wall s', 'CPU us/record: node', 'PostgreSQL', 'nats-server', 'records / CPU-s (ours)', 'other load (CPUs)', 'stored exactly'],
        style,
      });
      for (const r of ingest) {
        t.push([r.name, si(r.recordsPerSec), r.publish ? `>= ${si(TARGETS.ingestRecordsPerSec)}` : '', r.wallSeconds.toFixed(1), f1(r.nodeUsPerRecord), f1(r.postgresUsPerRecord), r.natsCpuSeconds > 0 ? f1(r.natsUsPerRecord) : '', si(r.recordsPerCpuSecond), r.othersCpuPerSecond.toFixed(2), r.check.exact ? `yes (${r.check.flows} flows)` : `NO: ${r.check.flows} flows, ${r.check.bytes} B`]);
      }
      out.write(`${t.toString()}\n`);
      const e2e = ingest[ingest.length - 1];
      if (e2e?.publish) out.write(`publishing (the edge's side, before control started): ${si(e2e.publish.recordsPerSec)} records/s, ${e2e.publish.messages} messages\n`);
    }

    if (ONLY !== 'ingest') {
      const { pool, dataset } = await openDataset(admin);
      try {
        const counts = (await pool.query<{ flows: string; minutes: string; hosts_h: string; hosts_d: string; size: string }>(
          `SELECT (SELECT count(*) FROM flows) AS flows, (SELECT count(*) FROM accounting_1m) AS minutes,
                  (SELECT count(*) FROM host_traffic_1h) AS hosts_h, (SELECT count(*) FROM host_traffic_1d) AS hosts_d,
                  pg_size_pretty(pg_database_size(current_database())) AS size`,
        )).rows[0]!;
        const { queries, rollups } = await queryRuns(pool, dataset);
        results.query = { database: DATASET_DB, dataset: { ...dataset, rows: counts }, runs: QUERY_RUNS, queries, rollups };
        const t = new Table({ head: ['query', 'read from', 'rows', 'runs', 'p50 ms', 'p99 ms', 'max ms', 'target ms'], style });
        for (const q of [...queries, ...rollups]) t.push([q.name, q.source, q.rows, q.ms.count, f1(q.ms.p50), f1(q.ms.p99), f1(q.ms.max), q.targetMs === undefined ? '' : `<= ${q.targetMs}`]);
        out.write(`dataset ${DATASET_DB}: ${counts.flows} flows over ${dataset.days} days ending ${dataset.endAt.toISOString()} (T); ${counts.minutes} accounting minutes, ${counts.hosts_h} host-hours, ${counts.hosts_d} host-days; ${counts.size}\n`);
        out.write(`${t.toString()}\n`);
      } finally {
        await pool.end();
      }
    }
  });

  const verdicts: string[] = [];
  const ingest = (results.ingest as { runs: IngestResult[] } | undefined)?.runs;
  if (ingest) {
    // The target is ingestion's, from the stream into PostgreSQL; the writer's rows say where its time goes.
    for (const r of ingest.filter((x) => x.publish)) verdicts.push(`${r.name}: ${si(r.recordsPerSec)} records/s ${r.recordsPerSec >= TARGETS.ingestRecordsPerSec ? 'meets' : 'misses'} >= ${si(TARGETS.ingestRecordsPerSec)}`);
  }
  const queries = (results.query as { queries: QueryResult[] } | undefined)?.queries;
  for (const q of queries ?? []) {
    if (q.targetMs !== undefined) verdicts.push(`${q.name}: p50 ${f1(q.ms.p50)} ms, p99 ${f1(q.ms.p99)} ms: ${q.ms.p99 <= q.targetMs ? 'meets' : q.ms.p50 <= q.targetMs ? 'p50 meets, p99 misses' : 'misses'} <= ${q.targetMs} ms`);
  }
  out.write(`targets:\n  ${verdicts.join('\n  ')}\n`);
  results.verdicts = verdicts;

  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'store.json');
  writeFileSync(file, `${JSON.stringify(results, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
  out.write(`written: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`store bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
