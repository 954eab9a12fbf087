import { type Command, Option } from 'commander';
import { busNames } from '@l7mesh/bus';
import { ruleSetVersionOf, startWorker, type CachedVerdict } from '@l7mesh/classifier';
import { endpointsOfKey } from '@l7mesh/flow';
import { lookupVerdict } from '@l7mesh/store';
import pg from 'pg';
import { loadPatternSet } from '@l7mesh/engine';
import { addNatsOptions, busOptionsOf, type NatsCliOptions } from './natsOptions.js';
import { collect, commaList, integerIn } from './optionParsers.js';
import { PROJECT_PATTERNS_DIR } from './patternSource.js';


export interface WorkerRunOptions extends NatsCliOptions {
  id?: string;
  patterns?: string[];
  order?: string[];
  maxPackets: number;
  maxBytes: number;
  engine: 'hyperscan' | 'reference';
  partitions: number;
  replicas: number;
  holdMs: number;
  /** The central store (default DATABASE_URL): where verdicts the cache forgot are looked up. */
  databaseUrl?: string;
}

/** Runs a worker until SIGINT/SIGTERM; leaves the cluster cleanly (its partitions move at once). */
export async function runWorker(opts: WorkerRunOptions): Promise<number> {
  const { set, problems, notices } = loadPatternSet(opts.patterns && opts.patterns.length > 0 ? opts.patterns : [PROJECT_PATTERNS_DIR], opts.order ?? []);
  for (const n of notices) process.stderr.write(`notice: ${n}\n`);
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const ruleSetVersion = ruleSetVersionOf(set);
  const pool = opts.databaseUrl ? new pg.Pool({ connectionString: opts.databaseUrl, max: 2 }) : undefined;
  // A connection that breaks while idle must not end the worker: the next lookup reconnects.
  pool?.on('error', (err) => process.stderr.write(`worker: store: ${err.message}\n`));
  const worker = await startWorker({
    ...(pool ? { recallStored: (zone: number, key: string) => recallStoredVerdict(pool, zone, key) } : {}),
    bus: busOptionsOf(opts, `l7mesh-worker-${opts.id ?? process.pid}`),
    names: busNames(opts.prefix),
    id: opts.id,
    set,
    ruleSetVersion,
    engine: opts.engine,
    maxPackets: opts.maxPackets,
    maxDataLen: opts.maxBytes,
    partitions: opts.partitions,
    replicas: opts.replicas,
    holdMs: opts.holdMs,
  });
  process.stderr.write(`worker ${worker.id}: running with ${set.patterns.length} patterns (rule set ${ruleSetVersion.toString(16)}); SIGINT or SIGTERM stops it\n`);
  const signal = await signalled;
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(130));
  process.stderr.write(`worker ${worker.id}: ${signal}: leaving the cluster\n`);
  await worker.stop();
  await pool?.end();
  const m = worker.merging.counters;
  const c = worker.counters;
  process.stderr.write(
    `worker ${worker.id}: ${m.decided} flows decided, ${m.segments} segments, ${m.duplicates} duplicates, ${m.shed} shed, ${c.droppedMessages} messages dropped, ` +
      `${Object.values(c.badMessages).reduce((n, v) => n + v, 0)} rejected\n`,
  );
  return 0;
}

/** A flow's verdict from the store's flow table, as the verdict cache would hold it. */
async function recallStoredVerdict(pool: pg.Pool, zone: number, key: string): Promise<CachedVerdict | undefined> {
  const e = endpointsOfKey(key, true);
  const v = await lookupVerdict(pool, { zone, protocol: e.protocol, a: e.src, aPort: e.sport, b: e.dst, bPort: e.dport });
  return v && { l7: v.l7, decidedBy: v.decidedBy, decidedAtPacket: 0, mark: v.mark, ruleSetVersion: v.ruleSetVersion, epoch: 0 };
}

export function registerWorkerCommand(program: Command): void {
  const worker = program.command('worker').description('classifier workers of the cluster');
  addNatsOptions(worker.command('run').description('run a classifier worker: owns partitions, merges what every edge saw, publishes verdicts'))
    .option('--id <id>', 'member id (default: host-pid)')
    .option('--patterns <dir>', 'pattern directory (repeatable); default: the project patterns/', collect)
    .option('--order <names>', 'comma-separated protocols to try first', commaList)
    .option('--max-packets <n>', "l7-filter's packet budget over the merged flow", integerIn(1, 1_000_000), 10)
    .option('--max-bytes <m>', "l7-filter's maxdatalen", integerIn(2, 65536), 2048)
    .addOption(new Option('--engine <engine>', 'matching engine').choices(['hyperscan', 'reference']).default('hyperscan'))
    .option('--partitions <n>', 'partitions of the flow space (the same on every member)', integerIn(1, 65535), 1024)
    .option('--replicas <n>', 'replicas of the events stream and the buckets (3 on a three-server NATS cluster)', integerIn(1, 5), 1)
    .option('--hold-ms <ms>', 'longest a segment waits for its turn (other edges, lost batches)', integerIn(0, 600_000), 3000)
    .option('--database-url <url>', 'the central store, where verdicts the cache has forgotten are looked up for picked-up flows (default: DATABASE_URL)', process.env['DATABASE_URL'])
    .action(async (opts) => {
      process.exitCode = await runWorker(opts);
    });
}
