/**
 * The control process: migrations at start, ingestion of the records
 * stream, the periodic accounting and host rollups with the host indexes
 * of closed days (and retention, when asked), and the HTTP API.
 * `l7mesh control run` and `l7mesh up` run it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { busNames, connectBus, ensureRecordsStream, RECORDS_MAX_AGE_SEC, type Bus, type BusNames, type BusOptions, type RecordsStreamOptions } from '@l7mesh/bus';
import { applyRetention, indexClosedPartitions, migrate, rollupAccounting, rollupHosts } from '@l7mesh/store';
import { startApi, type RunningApi } from './api.js';
import { badOption } from './errors.js';
import { RecordIngest, type IngestCounters } from './ingest.js';

export interface ControlOptions {
  /** PostgreSQL connection URL (DATABASE_URL). */
  databaseUrl: string;
  /** NATS connection of the cluster. */
  bus: BusOptions;
  names?: BusNames;
  /** The records stream's settings (control creates it too; replicas 3 on a three-server NATS cluster). */
  stream?: RecordsStreamOptions;
  /** The durable consumer's name (default `control`): control processes sharing it share the work. */
  durable?: string;
  /** The HTTP API: listen address and port (default 127.0.0.1, 0 = any free port), and its bearer token (default: a random one, see `token`). false: no API. */
  api?: { host?: string; port?: number; token?: string } | false;
  /** How often the dirty accounting and host hours are rolled up (ms, default 60 000). */
  rollupMs?: number;
  /** Keep flows and 1-minute accounting this many days (the rollups stay); default: keep everything. At least 8 (the records stream keeps 7). */
  retentionDays?: number;
  /** Pool size (default 8). */
  poolSize?: number;
  log?: (line: string) => void;
}

export interface RunningControl {
  readonly pool: pg.Pool;
  readonly bus: Bus;
  /** The API's URL (undefined without an API). */
  readonly apiUrl: string | undefined;
  /** The API token in force (generated when none was given). */
  readonly token: string | undefined;
  readonly ingest: { readonly counters: IngestCounters; readonly writing: boolean };
  /** Runs the dirty-hour rollups now, accounting's and the hosts' (also done every rollupMs); returns the hours recomputed. */
  rollup(): Promise<number>;
  /** Stops the API, the ingestion (what is unacknowledged stays in the stream), and closes NATS and the pool. */
  stop(): Promise<void>;
}

/** Starts control; fails (after undoing what it started) when PostgreSQL, the migrations or NATS fail at start. */
export async function startControl(options: ControlOptions): Promise<RunningControl> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (typeof options.databaseUrl !== 'string' || !/^postgres(ql)?:\/\//.test(options.databaseUrl)) {
    throw badOption('databaseUrl', 'a postgres:// URL is needed (set DATABASE_URL)');
  }
  if (options.retentionDays !== undefined && (!Number.isInteger(options.retentionDays) || options.retentionDays < Math.ceil(RECORDS_MAX_AGE_SEC / 86_400) + 1)) {
    throw badOption('retentionDays', `${options.retentionDays} must be a whole number of days >= ${Math.ceil(RECORDS_MAX_AGE_SEC / 86_400) + 1}: the records stream keeps records ${RECORDS_MAX_AGE_SEC / 86_400} days, and a record redelivered after its dedupe key was dropped would count twice`);
  }
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 8, connectionTimeoutMillis: 5_000 });
  // An idle client's error (the server went away) must not take the process down: the next query fails and is retried.
  pool.on('error', () => undefined);
  const cleanups: (() => Promise<unknown>)[] = [() => pool.end()];
  const undo = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const m = await migrate(pool, { log: (line) => log(`control: ${line}`) });
    log(`control: schema at version ${m.current}${m.applied.length > 0 ? ` (applied ${m.applied.join(', ')})` : ''}`);
    const bus = await connectBus({ name: 'l7mesh-control', ...options.bus }, options.names ?? busNames());
    cleanups.push(() => bus.close());
    await ensureRecordsStream(bus, options.stream);
    const ingest = new RecordIngest({ bus, pool, consumer: options.durable === undefined ? {} : { durable: options.durable }, log });
    await ingest.start();
    cleanups.push(() => ingest.stop());
    // Accounting hours and days, then the host rollup (top talkers by src/dst).
    const rollup = async () => (await rollupAccounting(pool)) + (await rollupHosts(pool));
    // With them, the host indexes of days that are over (built concurrently: ingestion goes on).
    const indexDays = () =>
      indexClosedPartitions(pool).then((built) => {
        if (built.length > 0) log(`control: built host indexes ${built.join(', ')}`);
      });
    const rollupTimer = setInterval(() => {
      rollup().catch((err: unknown) => log(`control: rollup failed (tried again later): ${(err as Error).message}`));
      indexDays().catch((err: unknown) => log(`control: building host indexes failed (tried again later): ${(err as Error).message}`));
    }, options.rollupMs ?? 60_000);
    rollupTimer.unref();
    cleanups.push(async () => clearInterval(rollupTimer));
    if (options.retentionDays !== undefined) {
      const days = options.retentionDays;
      const retain = () =>
        applyRetention(pool, days)
          .then((r) => {
            if (r.dropped.length > 0) log(`control: retention dropped ${r.dropped.join(', ')}`);
          })
          .catch((err: unknown) => log(`control: retention failed (tried again later): ${(err as Error).message}`));
      void retain();
      const retentionTimer = setInterval(retain, 3_600_000);
      retentionTimer.unref();
      cleanups.push(async () => clearInterval(retentionTimer));
    }
    let api: RunningApi | undefined;
    let token: string | undefined;
    if (options.api !== false) {
      token = options.api?.token ?? randomBytes(24).toString('base64url');
      api = await startApi({ pool, token, host: options.api?.host, port: options.api?.port });
      cleanups.push(() => api!.close());
      log(`control: API at ${api.url}${options.api?.token === undefined ? ` (token ${token})` : ''}`);
    }
    let stopping: Promise<void> | undefined;
    return {
      pool,
      bus,
      apiUrl: api?.url,
      token,
      ingest,
      rollup,
      stop: () => (stopping ??= undo()),
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
