import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { BusError, busNames, connectBus, openMembersBucket, recordsBacklog, startNatsServer, type Bus } from '@l7mesh/bus';
import { ControlError, startPostgresServer, type PostgresServerProcess } from '@l7mesh/control';
import { rollupAccounting, topTalkers } from '@l7mesh/store';
import { loadEdgePatterns, MarkPolicy, parseEdgeConfig, replayCapture } from '@l7mesh/edge';
import { splitCaptureByDirection } from '@l7mesh/flow';
import { decodeEventBatch, decodeMemberHeartbeat, DEFAULT_PARTITIONS, MemberRole, type MemberHeartbeat } from '@l7mesh/wire';
import { collect, integerIn } from './optionParsers.js';
import { addNatsOptions, busOptionsOf, type NatsCliOptions } from './natsOptions.js';

const CLI_BIN = fileURLToPath(new URL('../bin/l7mesh.js', import.meta.url));
const BUNDLED_CAPTURE = fileURLToPath(new URL('../../../test/captures/mixed/lab-mixed.pcap', import.meta.url));

// ------------------------------------------------------------------ status

interface StatusOptions extends NatsCliOptions {
  json?: boolean;
}

interface MemberStatus extends MemberHeartbeat {
  age_ms: number;
}

/** Every member's last heartbeat from the membership bucket. */
async function readMembers(bus: Bus): Promise<MemberStatus[]> {
  const kv = await openMembersBucket(bus);
  const out: MemberStatus[] = [];
  const now = Date.now();
  // keys() may list a key twice when it is written during the listing.
  const keys = new Set<string>();
  for await (const key of await kv.keys()) keys.add(key);
  for (const key of keys) {
    const e = await kv.get(key);
    if (!e || e.operation !== 'PUT') continue;
    try {
      const beat = decodeMemberHeartbeat(e.value);
      out.push({ ...beat, age_ms: now - beat.timeMs });
    } catch (err) {
      process.stderr.write(`warning: members bucket: ${key}: ${(err as Error).message}\n`);
    }
  }
  return out.sort((a, b) => a.role - b.role || (a.id < b.id ? -1 : 1));
}

function renderMembers(members: MemberStatus[]): string {
  const table = new Table({
    head: ['member', 'role', 'heartbeat', 'partitions', 'in progress', 'decided', 'latency p50', 'p99', 'rule set'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    style: { head: [], border: [] },
  });
  const ms = (us: number) => (us === 0 ? '-' : `${(us / 1000).toFixed(2)} ms`);
  for (const m of members) {
    const worker = m.role === MemberRole.Worker;
    table.push([m.id, worker ? 'worker' : 'edge', `${(m.age_ms / 1000).toFixed(1)} s ago`, worker ? m.partitions : '-', m.flowsInProgress, m.decided, ms(m.latencyP50Us), ms(m.latencyP99Us), m.ruleSetVersion.toString(16)]);
  }
  return table.toString();
}

async function runStatus(opts: StatusOptions): Promise<number> {
  const bus = await connectBus({ ...busOptionsOf(opts, 'l7mesh-status'), maxReconnectAttempts: 0 }, busNames(opts.prefix));
  try {
    const members = await readMembers(bus);
    if (opts.json) process.stdout.write(`${JSON.stringify({ members }, null, 2)}\n`);
    else if (members.length === 0) process.stdout.write('no members (no worker or edge has written a heartbeat under this prefix)\n');
    else process.stdout.write(`${renderMembers(members)}\n`);
    return 0;
  } finally {
    await bus.close();
  }
}

// ------------------------------------------------------------------ up

interface UpOptions {
  workers: number;
  natsServer?: string;
  pcap?: string[];
  split: boolean;
  once?: boolean;
  store: boolean;
}

/** Per-protocol counts of decided flows, from the verdict events. */
class LiveCounts {
  readonly byProtocol = new Map<string, number>();
  total = 0;

  add(l7: string): void {
    this.byProtocol.set(l7, (this.byProtocol.get(l7) ?? 0) + 1);
    this.total++;
  }

  render(): string {
    const table = new Table({ head: ['l7', 'flows'], colAligns: ['left', 'right'], style: { head: [], border: [] } });
    for (const [l7, n] of [...this.byProtocol].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) table.push([l7, n]);
    table.push(['total', this.total]);
    return table.toString();
  }
}

function edgeConfigText(id: string, url: string): string {
  return ['marks:', '  unknown: 0x0f00', 'cluster:', `  servers: ["${url}"]`, `  id: ${id}`, '  verdictTimeoutMs: 15000', ''].join('\n');
}

/**
 * The cluster on one machine: nats-server with JetStream on a free
 * loopback port, N workers as child processes, and edges replaying the
 * bundled captures (by default each capture split over two edges, one per
 * direction, as on an asymmetric path). Prints live per-protocol counts
 * until Ctrl-C (or, with --once, until the edges are done).
 */
async function runUp(opts: UpOptions): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let server;
  try {
    server = await startNatsServer(opts.natsServer ? { binary: opts.natsServer } : {});
  } catch (err) {
    if (err instanceof BusError && err.code === 'BUS_NO_SERVER_BINARY') {
      log(`l7mesh up: ${err.message}`);
      return 1;
    }
    throw err;
  }
  const dir = mkdtempSync(join(tmpdir(), 'l7mesh-up-'));
  const children: ChildProcess[] = [];
  let bus: Bus | undefined;
  let pgServer: PostgresServerProcess | undefined;
  const stopAll = async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await bus?.close().catch(() => undefined);
    await server.stop();
    await pgServer?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  try {
    log(`up: nats-server with JetStream at ${server.url}`);
    bus = await connectBus({ servers: server.url, name: 'l7mesh-up' }, busNames());
    const counts = new LiveCounts();
    bus.nc.subscribe(bus.names.eventsSubject, {
      callback: (_err, msg) => {
        try {
          for (const e of decodeEventBatch(msg.data).events) counts.add(e.l7);
        } catch {
          // Not ours to judge here: the workers count their own.
        }
      },
    });
    // The store first: workers recall verdicts from it when the cache has forgotten a picked-up flow.
    const store = opts.store ? await startStore(server.url, bus, children, log) : undefined;
    if (store) pgServer = store.pgServer;
    for (let i = 1; i <= opts.workers; i++) {
      const child = spawn(process.execPath, [CLI_BIN, 'worker', 'run', '--nats', server.url, '--id', `worker-${i}`], {
        stdio: ['ignore', 'inherit', 'pipe'],
        env: { ...process.env, ...(store ? { DATABASE_URL: store.databaseUrl } : {}) },
      });
      child.stderr!.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) if (line.includes('workers [') || line.includes('error')) log(`up: ${line}`);
      });
      children.push(child);
    }
    await waitForWorkers(bus, opts.workers);
    log(`up: ${opts.workers} workers joined`);

    const captures = opts.pcap && opts.pcap.length > 0 ? opts.pcap : [BUNDLED_CAPTURE];
    const replays: { id: string; file: string }[] = [];
    for (const [n, file] of captures.entries()) {
      if (opts.split) {
        const split = await splitCaptureByDirection(file);
        const base = join(dir, `${n}-${basename(file)}`);
        writeFileSync(`${base}.requests.pcap`, split.orig);
        writeFileSync(`${base}.replies.pcap`, split.reply);
        replays.push({ id: `edge-${n + 1}a`, file: `${base}.requests.pcap` }, { id: `edge-${n + 1}b`, file: `${base}.replies.pcap` });
      } else replays.push({ id: `edge-${n + 1}`, file });
    }
    log(`up: ${replays.length} edges replaying ${captures.map((c) => basename(c)).join(', ')}${opts.split ? ' (each capture split over two edges, one per direction)' : ''}`);
    const edgesDone = Promise.all(
      replays.map(async ({ id, file }) => {
        const config = parseEdgeConfig(edgeConfigText(id, server.url), join(dir, `${id}.yaml`));
        const { set } = loadEdgePatterns(config, new MarkPolicy(config.marks).markedProtocols);
        const result = await replayCapture(file, config, set, { log: () => undefined });
        const c = result.stats.cluster;
        log(`up: ${id}: ${result.frames} frames replayed; ${c?.verdicts ?? 0} verdicts, ${c?.timed_out ?? 0} timed out`);
      }),
    );
    const printer = setInterval(() => process.stdout.write(`${process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${counts.render()}\n`), 1000);
    await (opts.once ? Promise.race([edgesDone, interrupted]) : interrupted);
    // Verdict events are flushed every 100 ms: let the last ones arrive.
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(printer);
    process.stdout.write(`${counts.render()}\n`);
    if (store && opts.once) await reportStore(bus, store.databaseUrl, log);
    log('up: stopping');
    return 0;
  } finally {
    await stopAll();
  }
}

/**
 * The store of `up`: DATABASE_URL when set, else a PostgreSQL of its own
 * (Debian's binaries, a temp data directory, a free loopback port; without
 * them, up goes on without the store and says so); then `l7mesh control run`
 * as a child process, ready once its records consumer exists.
 */
async function startStore(
  natsUrl: string,
  bus: Bus,
  children: ChildProcess[],
  log: (line: string) => void,
): Promise<{ databaseUrl: string; pgServer: PostgresServerProcess | undefined } | undefined> {
  let databaseUrl = process.env['DATABASE_URL'];
  let pgServer: PostgresServerProcess | undefined;
  if (databaseUrl) {
    log('up: PostgreSQL from DATABASE_URL');
  } else {
    try {
      pgServer = await startPostgresServer();
    } catch (err) {
      if (err instanceof ControlError && err.code === 'CONTROL_PG_NO_BINARY') {
        log(`up: no DATABASE_URL and ${err.message}; running without the store`);
        return undefined;
      }
      throw err;
    }
    databaseUrl = pgServer.url;
    log(`up: no DATABASE_URL: started PostgreSQL at ${databaseUrl} (data in ${pgServer.dataDir}, removed when up stops)`);
  }
  const token = randomBytes(18).toString('base64url');
  const child = spawn(process.execPath, [CLI_BIN, 'control', 'run', '--nats', natsUrl, '--api-port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DATABASE_URL: databaseUrl, L7MESH_API_TOKEN: token },
  });
  children.push(child);
  child.stderr!.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.startsWith('control: API at') || /error|failed|l7mesh:/i.test(line)) log(`up: ${line}`);
  });
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`l7mesh up: control exited at start (status ${child.exitCode})`);
    if (await recordsBacklog(bus).then(() => true, () => false)) break;
    if (tries > 600) throw new Error('l7mesh up: control did not start within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`up: control ingests the records stream into PostgreSQL (API token ${token})`);
  return { databaseUrl, pgServer };
}

/** Once control has written every record: the per-protocol totals from PostgreSQL. */
async function reportStore(bus: Bus, databaseUrl: string, log: (line: string) => void): Promise<void> {
  for (let tries = 0; tries < 600; tries++) {
    const b = await recordsBacklog(bus).catch(() => undefined);
    if (b && b.pending === 0 && b.unacknowledged === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  pool.on('error', () => undefined);
  try {
    await rollupAccounting(pool);
    // Whole UTC days around now, so the daily rollup answers, whenever the captures were made (up to 10 years back).
    const day = 86_400_000;
    const today = Math.floor(Date.now() / day) * day;
    const rows = await topTalkers(pool, { by: 'protocol', since: new Date(today - 3650 * day), until: new Date(today + day), limit: 1000 });
    const table = new Table({ head: ['l7', 'flows', 'packets', 'bytes'], colAligns: ['left', 'right', 'right', 'right'], style: { head: [], border: [] } });
    for (const r of rows) table.push([r.key, r.flows.toString(), r.packets.toString(), r.bytes.toString()]);
    log(`up: accounting in PostgreSQL (flows are counted by each edge that saw them):\n${table.toString()}`);
  } finally {
    await pool.end();
  }
}

/** Waits until n workers beat and share the partitions out between them (each sees the others). */
async function waitForWorkers(bus: Bus, n: number): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    const workers = (await readMembers(bus)).filter((m) => m.role === MemberRole.Worker && m.age_ms < 3_000);
    // Every worker owns some (its first beat, before it saw the others, says 0) and together all, once each.
    if (workers.length >= n && workers.every((w) => w.partitions > 0) && workers.reduce((sum, w) => sum + w.partitions, 0) === DEFAULT_PARTITIONS) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`l7mesh up: the ${n} workers did not share the partitions out within 30 s`);
}

export function registerClusterCommands(program: Command): void {
  program
    .command('up')
    .description('the cluster on one machine: nats-server, workers, PostgreSQL (DATABASE_URL, else its own) with control, and replay edges over the bundled captures; live per-protocol counts until Ctrl-C')
    .option('--workers <n>', 'classifier workers', integerIn(1, 64), 2)
    .option('--pcap <file>', 'captures to replay (repeatable); default: the bundled lab capture', collect)
    .option('--no-split', 'one edge per capture instead of one per direction')
    .option('--once', 'stop once the edges have replayed their captures')
    .option('--nats-server <binary>', 'the nats-server to run (default: from PATH)')
    .option('--no-store', 'no PostgreSQL and no control (the edges still publish records)')
    .action(async (opts) => {
      process.exitCode = await runUp(opts);
    });
  const cluster = program.command('cluster').description('the cluster: members and their state');
  addNatsOptions(cluster.command('status').description('members, partitions per worker, flows in progress and verdict latency')).option('--json', 'as JSON').action(async (opts) => {
    process.exitCode = await runStatus(opts);
  });
}
