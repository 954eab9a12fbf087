/**
 * The queries of the central store on the command line: `l7mesh top`,
 * `l7mesh flows` (conntrack -L style across the cluster) and `l7mesh
 * accounting` (a time series as a table, JSON or CSV), read straight from
 * PostgreSQL (DATABASE_URL) through the store's bounded queries; and
 * `l7mesh control run`, the ingestion and the HTTP API.
 */
import Table from 'cli-table3';
import { type Command, InvalidArgumentError, Option } from 'commander';
import pg from 'pg';
import { busNames } from '@l7mesh/bus';
import { parseInstant, parseWindow, startControl } from '@l7mesh/control';
import { accountingSeries, listFlows, topTalkers, type FlowRow, type SeriesDimension, type SeriesPoint, type TopBy, type TopTalker } from '@l7mesh/store';
import { addNatsOptions, busOptionsOf, type NatsCliOptions } from './natsOptions.js';
import { integerIn } from './optionParsers.js';

// ------------------------------------------------------------------ shared

interface DbOptions {
  databaseUrl?: string;
}

function addDbOption(cmd: Command): Command {
  return cmd.option('--database-url <url>', 'PostgreSQL connection URL (default: $DATABASE_URL)');
}

function databaseUrlOf(opts: DbOptions): string {
  const url = opts.databaseUrl ?? process.env['DATABASE_URL'];
  if (!url) throw Object.assign(new Error('no database: set DATABASE_URL (postgres://user@host:port/db) or give --database-url'), { code: 'NO_DATABASE' });
  return url;
}

/** Runs `work` with a pool of one connection, closed after. */
async function withPool<T>(opts: DbOptions, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({ connectionString: databaseUrlOf(opts), max: 1, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** An instant option: 15m / 1h / 7d ago, or an ISO date-time. */
function instant(value: string): Date {
  const d = parseInstant(value);
  if (!d) throw new InvalidArgumentError('expected a time: 15m, 1h, 7d (ago) or an ISO 8601 date-time');
  return d;
}

function windowSec(value: string): number {
  const w = parseWindow(value);
  if (w === undefined) throw new InvalidArgumentError('expected a window of whole minutes: 5m, 1h, 1d');
  return w;
}

const DIMENSIONS: readonly SeriesDimension[] = ['proto', 'edge', 'interface', 'direction'];

function groupBy(value: string): SeriesDimension[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const d of list) if (!(DIMENSIONS as readonly string[]).includes(d)) throw new InvalidArgumentError(`expected a comma-separated list of ${DIMENSIONS.join(', ')}`);
  return list as SeriesDimension[];
}

const n = (v: bigint) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());

function plainTable(head: string[], rightFrom: number): Table.Table {
  return new Table({
    head,
    colAligns: head.map((_, i) => (i < rightFrom ? 'left' : 'right')) as Table.HorizontalAlignment[],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
}

// ------------------------------------------------------------------ top

interface TopOptions extends DbOptions {
  by: TopBy;
  since: Date;
  until?: Date;
  edge?: string;
  proto?: string;
  interface?: string;
  limit: number;
  json?: boolean;
}

export function renderTop(by: TopBy, rows: TopTalker[]): string {
  const host = by === 'src' || by === 'dst';
  const t = plainTable([by === 'protocol' ? 'l7' : by, ...(host ? ['zone'] : []), 'flows', 'packets', 'bytes', 'share'], host ? 2 : 1);
  const total = rows.reduce((s, r) => s + r.bytes, 0n);
  for (const r of rows) {
    const share = total === 0n ? '-' : `${((100 * Number(r.bytes)) / Number(total)).toFixed(1)}%`;
    t.push([r.key, ...(host ? [r.zone ?? 0] : []), r.flows.toString(), r.packets.toString(), r.bytes.toString(), share]);
  }
  return t.toString();
}

async function runTop(opts: TopOptions): Promise<number> {
  const rows = await withPool(opts, (pool) =>
    topTalkers(pool, {
      by: opts.by,
      since: opts.since,
      ...(opts.until ? { until: opts.until } : {}),
      ...(opts.edge !== undefined ? { edge: opts.edge } : {}),
      ...(opts.proto !== undefined ? { proto: opts.proto } : {}),
      ...(opts.interface !== undefined ? { interface: opts.interface } : {}),
      limit: opts.limit,
    }),
  );
  if (opts.json) process.stdout.write(`${JSON.stringify(rows.map((r) => ({ key: r.key, ...(r.zone !== undefined ? { zone: r.zone } : {}), flows: n(r.flows), packets: n(r.packets), bytes: n(r.bytes) })))}\n`);
  else if (rows.length === 0) process.stderr.write('no traffic in that range\n');
  else process.stdout.write(`${renderTop(opts.by, rows)}\n`);
  return 0;
}

// ------------------------------------------------------------------ flows

interface FlowsOptions extends DbOptions {
  live?: boolean;
  src?: string;
  dst?: string;
  proto?: string;
  edge?: string;
  zone?: number;
  since?: Date;
  until?: Date;
  limit: number;
  json?: boolean;
}

const TRANSPORT: Record<number, string> = { 6: 'tcp', 17: 'udp' };

/**
 * One line per flow as `conntrack -L` prints it (family, transport and its
 * number, state, the original tuple with its counters, the reply tuple with
 * its counters), then the l7 columns.
 */
export function formatStoredFlow(f: FlowRow): string {
  const proto = TRANSPORT[f.protocol] ?? 'unknown';
  return (
    `ipv${f.family}     ${f.family === 6 ? 10 : 2} ${proto.padEnd(8)} ${f.protocol} ${f.state === 'live' ? 'LIVE' : 'ENDED'} ` +
    `src=${f.src} dst=${f.dst} sport=${f.srcPort} dport=${f.dstPort} packets=${f.origPackets} bytes=${f.origBytes} ` +
    `src=${f.dst} dst=${f.src} sport=${f.dstPort} dport=${f.srcPort} packets=${f.replyPackets} bytes=${f.replyBytes} ` +
    `l7=${f.l7}${f.decidedBy ? ` by=${f.decidedBy}` : ''} mark=0x${f.mark.toString(16)} zone=${f.zone} edges=${f.edges.join(',')} ` +
    `first=${f.firstSeen.toISOString()} last=${f.lastSeen.toISOString()}`
  );
}

async function runFlows(opts: FlowsOptions): Promise<number> {
  const rows = await withPool(opts, (pool) =>
    listFlows(pool, {
      ...(opts.live ? { live: true } : {}),
      ...(opts.src !== undefined ? { src: opts.src } : {}),
      ...(opts.dst !== undefined ? { dst: opts.dst } : {}),
      ...(opts.proto !== undefined ? { proto: opts.proto } : {}),
      ...(opts.edge !== undefined ? { edge: opts.edge } : {}),
      ...(opts.zone !== undefined ? { zone: opts.zone } : {}),
      ...(opts.since ? { since: opts.since } : {}),
      ...(opts.until ? { until: opts.until } : {}),
      limit: opts.limit,
    }),
  );
  for (const f of rows) {
    const line = opts.json
      ? JSON.stringify({ ...f, origPackets: n(f.origPackets), origBytes: n(f.origBytes), replyPackets: n(f.replyPackets), replyBytes: n(f.replyBytes) })
      : formatStoredFlow(f);
    process.stdout.write(`${line}\n`);
  }
  // conntrack -L says how many it listed on stderr, so the listing stays a clean stream.
  if (!opts.json) process.stderr.write(`l7mesh: ${rows.length} flow entr${rows.length === 1 ? 'y has' : 'ies have'} been shown.\n`);
  return 0;
}

// ------------------------------------------------------------------ accounting

interface AccountingOptions extends DbOptions {
  groupBy: SeriesDimension[];
  window: number;
  since: Date;
  until?: Date;
  edge?: string;
  proto?: string;
  interface?: string;
  direction?: 'in' | 'out';
  maxRows?: number;
  json?: boolean;
  csv?: boolean;
}

/** CSV by RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderSeries(groupBy: SeriesDimension[], points: SeriesPoint[], format: 'table' | 'csv'): string {
  const head = ['start', ...groupBy, 'flows', 'packets', 'bytes'];
  const row = (p: SeriesPoint) => [p.start.toISOString(), ...groupBy.map((d) => p[d] ?? ''), p.flows.toString(), p.packets.toString(), p.bytes.toString()];
  if (format === 'csv') return [head, ...points.map(row)].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
  const t = plainTable(head, 1 + groupBy.length);
  for (const p of points) t.push(row(p));
  return `${t.toString()}\n`;
}

async function runAccounting(opts: AccountingOptions): Promise<number> {
  if (opts.json && opts.csv) throw new InvalidArgumentError('give --json or --csv, not both');
  const series = await withPool(opts, (pool) =>
    accountingSeries(pool, {
      groupBy: opts.groupBy,
      windowSec: opts.window,
      since: opts.since,
      ...(opts.until ? { until: opts.until } : {}),
      ...(opts.edge !== undefined ? { edge: opts.edge } : {}),
      ...(opts.proto !== undefined ? { proto: opts.proto } : {}),
      ...(opts.interface !== undefined ? { interface: opts.interface } : {}),
      ...(opts.direction !== undefined ? { direction: opts.direction } : {}),
      ...(opts.maxRows !== undefined ? { maxRows: opts.maxRows } : {}),
    }),
  );
  if (opts.json) {
    const points = series.points.map((p) => ({ ...p, start: p.start.toISOString(), flows: n(p.flows), packets: n(p.packets), bytes: n(p.bytes) }));
    process.stdout.write(`${JSON.stringify({ resolution: series.resolution, windowSec: opts.window, points })}\n`);
  } else {
    process.stdout.write(renderSeries(opts.groupBy, series.points, opts.csv ? 'csv' : 'table'));
    if (!opts.csv) process.stderr.write(`${series.points.length} rows, from the ${series.resolution === 'minute' ? '1-minute buckets' : `${series.resolution}ly rollup`}\n`);
  }
  return 0;
}

// ------------------------------------------------------------------ control run

interface ControlRunOptions extends NatsCliOptions, DbOptions {
  apiHost: string;
  apiPort: number;
  api: boolean;
  durable: string;
  replicas: number;
  retentionDays?: number;
}

export async function runControl(opts: ControlRunOptions): Promise<number> {
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const token = process.env['L7MESH_API_TOKEN'];
  const control = await startControl({
    databaseUrl: databaseUrlOf(opts),
    bus: busOptionsOf(opts, 'l7mesh-control'),
    names: busNames(opts.prefix),
    stream: { replicas: opts.replicas },
    durable: opts.durable,
    api: opts.api ? { host: opts.apiHost, port: opts.apiPort, ...(token ? { token } : {}) } : false,
    ...(opts.retentionDays !== undefined ? { retentionDays: opts.retentionDays } : {}),
  });
  process.stderr.write(`control: running${control.apiUrl ? `; API at ${control.apiUrl}` : ''}; SIGINT or SIGTERM stops it\n`);
  const signal = await signalled;
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(130));
  process.stderr.write(`control: ${signal}: stopping\n`);
  await control.stop();
  const c = control.ingest.counters;
  process.stderr.write(`control: ${c.messages} messages: ${c.flowRecords} flow records, ${c.accountingDeltas} accounting deltas, ${c.duplicates} duplicates skipped, ${c.rejected} rejected\n`);
  return 0;
}

// ------------------------------------------------------------------ registration

const optionalName = (what: string) => `only ${what}`;

export function registerStoreCommands(program: Command): void {
  addDbOption(
    program
      .command('top')
      .description('top talkers across the cluster from PostgreSQL: by protocol or edge (accounting), by source or destination host (flows)')
      .addOption(new Option('--by <what>', 'protocol, edge, src or dst').choices(['protocol', 'edge', 'src', 'dst']).default('protocol'))
      .option('--since <time>', 'start: 15m, 1h, 7d ago, or an ISO date-time', instant, instant('1h'))
      .option('--until <time>', 'end (default now)', instant)
      .option('--edge <id>', optionalName('this edge'))
      .option('--proto <name>', optionalName('this l7 protocol'))
      .option('--interface <name>', optionalName('this uplink interface (by protocol or edge)'))
      .option('--limit <n>', 'rows at most', integerIn(1, 1000), 10)
      .option('--json', 'as JSON'),
  ).action(async (opts: TopOptions) => {
    process.exitCode = await runTop(opts);
  });

  addDbOption(
    program
      .command('flows')
      .description('the cluster\'s flow table from PostgreSQL, like conntrack -L with the l7 verdict')
      .option('--live', 'only flows not ended yet')
      .option('--src <prefix>', 'originator address or prefix')
      .option('--dst <prefix>', 'responder address or prefix')
      .option('--proto <name>', optionalName('this l7 protocol'))
      .option('--edge <id>', 'only flows this edge saw')
      .option('--zone <n>', optionalName('this zone'), integerIn(0, 0xffffffff))
      .option('--since <time>', 'flows that started since (default: 24h, or any time with --live)', instant)
      .option('--until <time>', 'flows that started before', instant)
      .option('--limit <n>', 'rows at most', integerIn(1, 10_000), 100)
      .option('--json', 'one JSON object per flow'),
  ).action(async (opts: FlowsOptions) => {
    process.exitCode = await runFlows(opts);
  });

  addDbOption(
    program
      .command('accounting')
      .description('traffic over time from PostgreSQL: per window, grouped by protocol, edge, interface and/or direction')
      .option('--group-by <list>', 'comma-separated: proto, edge, interface, direction', groupBy, ['proto'] as SeriesDimension[])
      .option('--window <w>', 'window: 5m, 1h, 1d', windowSec, 300)
      .option('--since <time>', 'start: 15m, 24h, 7d ago, or an ISO date-time', instant, instant('24h'))
      .option('--until <time>', 'end (default now)', instant)
      .option('--edge <id>', optionalName('this edge'))
      .option('--proto <name>', optionalName('this l7 protocol'))
      .option('--interface <name>', optionalName('this uplink interface'))
      .addOption(new Option('--direction <dir>', "the customer side's direction").choices(['in', 'out']))
      .option('--max-rows <n>', 'refuse a series longer than this', integerIn(1, 100_000))
      .option('--json', 'as JSON')
      .option('--csv', 'as CSV'),
  ).action(async (opts: AccountingOptions) => {
    process.exitCode = await runAccounting(opts);
  });

  const control = program.command('control').description('the central plane: ingestion into PostgreSQL and the query API');
  addDbOption(
    addNatsOptions(control.command('run').description('run control: migrate the database, ingest the records stream, serve the HTTP API (token: $L7MESH_API_TOKEN, else a random one, printed)')),
  )
    .option('--api-host <address>', 'HTTP API listen address', '127.0.0.1')
    .option('--api-port <port>', 'HTTP API port (0: any free one)', integerIn(0, 65535), 9918)
    .option('--no-api', 'no HTTP API (ingestion only)')
    .option('--durable <name>', 'durable consumer name; control processes sharing it share the work', 'control')
    .option('--replicas <n>', 'replicas of the records stream (3 on a three-server NATS cluster)', integerIn(1, 5), 1)
    .option('--retention-days <n>', 'drop flows and 1-minute accounting older than this (rollups stay; at least 8)', integerIn(8, 36_500))
    .action(async (opts: ControlRunOptions) => {
      process.exitCode = await runControl(opts);
    });
}
