/**
 * The cluster on loopback, driven by replay edges (issue 8, "Performance"):
 *
 *   node bench/dist/clusterBench.js        (about 70 s on 2 CPUs, once the captures exist)
 *
 * The capture: copies of the lab captures (test/captures, real programs,
 * about 60 protocols, 14 packets a flow) with the client's address rewritten
 * per copy (labCopies.ts): many short flows, every one distinct; 100k flows
 * for the peak and another 100k (other addresses) for the latency, kept in
 * the temp directory between runs.
 *
 * In-process reference: classifyCapture on the same capture, in a child,
 * with the pattern set the workers load (the project's patterns/).
 *
 * For each worker count (1, then 2): a fresh nats-server with JetStream
 * (startNatsServer), the workers as child processes (`l7mesh worker run`,
 * the deployment's shape: each has its own /proc CPU account), then
 *   1. peak: an edge child (clusterEdge.ts: EdgeCore + RemoteClassifier +
 *      ClusterLink, as a replay edge in remote mode) replays the capture as
 *      fast as a window of flows waiting for their verdict allows: new
 *      flows/s end to end, once every flow has its verdict; the CPU seconds
 *      of the workers, the edge and nats-server; each flow's verdict
 *      compared with classify's;
 *   2. latency: another edge child replays the second capture paced at half
 *      of that peak, and measures per flow the time from the edge handing
 *      the deciding segment (and the first one) to its link until the
 *      verdict is back at the edge.
 * Before the first, a bare NATS request/reply between two processes through
 * the same server: the floor under any verdict latency on this machine.
 * Bytes on the wire: the edge's link counters (head batches), and a
 * subscriber of the bench on the verdict, watermark, verdict-cache and
 * events subjects (message payloads; NATS framing not counted).
 * Memory per flow: clusterMemory.ts in children with --expose-gc.
 * Everything started here is stopped at the end, on failure and on SIGINT
 * or SIGTERM (the bus package's hook kills nats-server on exit).
 *
 * Knobs (environment): BENCH_CLUSTER_FLOWS (flows per capture, default
 * 100000), BENCH_CLUSTER_WORKERS (worker counts, default "1,2"),
 * BENCH_CLUSTER_WINDOW (flows in flight at the peak, 1024),
 * BENCH_CLUSTER_LATENCY_FRACTION (0.5 of the peak),
 * BENCH_CLUSTER_LATENCY_SECONDS (5, after BENCH_CLUSTER_LATENCY_WARMUP 1),
 * BENCH_CLUSTER_MEMORY_FLOWS (100000), BENCH_CLUSTER_FLUSH_MS (the edges'
 * cluster.flushMs; default the config's, 0), BENCH_CLUSTER_PROFILE=1
 * (workers and edges with --cpu-prof, kept in the temp directory; prints
 * where the CPU time went; numbers then not comparable).
 * Results: tables on stdout and bench/results/cluster.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { busNames, connectBus, startNatsServer, type Bus, type NatsServerProcess } from '@l7mesh/bus';
import { REPO_ROOT } from './benchPatterns.js';
import { machineBusyCpu, ownCpu, processCpu, processCpuSplit } from './cpu.js';
import { loadCpuProfile, selfTimeShares } from './cpuProfile.js';
import { labCapturesFingerprint, writeLabCopies, type LabCopiesInfo } from './labCopies.js';
import { envNumber, si } from './measure.js';
import { quantiles, type Quantiles } from './quantiles.js';

const FLOWS = envNumber('BENCH_CLUSTER_FLOWS', 100_000);
const MEMORY_FLOWS = envNumber('BENCH_CLUSTER_MEMORY_FLOWS', 100_000);
const LATENCY_FRACTION = envNumber('BENCH_CLUSTER_LATENCY_FRACTION', 0.5);
const LATENCY_SECONDS = envNumber('BENCH_CLUSTER_LATENCY_SECONDS', 5);
const LATENCY_WARMUP_SECONDS = envNumber('BENCH_CLUSTER_LATENCY_WARMUP', 1);
const WINDOW = envNumber('BENCH_CLUSTER_WINDOW', 1024);
const FLUSH_MS = process.env.BENCH_CLUSTER_FLUSH_MS ? Number(process.env.BENCH_CLUSTER_FLUSH_MS) : undefined;
if (FLUSH_MS !== undefined && !(FLUSH_MS >= 0 && FLUSH_MS <= 1000)) throw new Error(`BENCH_CLUSTER_FLUSH_MS=${FLUSH_MS}: 0..1000 ms, please`);
const WORKER_COUNTS = (process.env.BENCH_CLUSTER_WORKERS ?? '1,2').split(',').map(Number).filter((n) => n >= 1);
const PROFILE = process.env.BENCH_CLUSTER_PROFILE === '1';
/** Where the profiles stay (BENCH_CLUSTER_PROFILE=1). */
const PROFILE_DIR = join(tmpdir(), 'l7mesh-cluster-bench-profiles');
const CLI = join(REPO_ROOT, 'services/cli/bin/l7mesh.js');
/** Units of the latency capture start here: no flow in common with the throughput capture. */
const LATENCY_FIRST_UNIT = 1 << 22;
const PER = 100_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ cleanup

/** Every child this process started; all killed on exit, failure or signal. */
const children = new Set<ChildProcess>();
const servers = new Set<NatsServerProcess>();
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-cluster-bench-'));

function killChildrenSync(): void {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
  children.clear();
}

function installCleanup(): void {
  process.on('exit', () => {
    killChildrenSync();
    rmSync(scratch, { recursive: true, force: true });
  });
  // With a listener of ours, the bus package leaves its servers to us: they
  // are killed by its exit hook once process.exit runs.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      process.stderr.write(`cluster bench: ${signal}: stopping\n`);
      killChildrenSync();
      for (const s of servers) void s.kill();
      process.exit(130);
    });
  }
}

// ------------------------------------------------------------------ processes


/** Busy CPU seconds of the whole machine so far (/proc/stat, all CPUs). */
/** The CPU of one phase: ours (workers, nats-server, edge, this process) and what other processes on the machine took meanwhile. */
class PhaseCpu {
  private readonly machine0 = machineBusyCpu();
  private readonly own0 = ownCpu();
  private readonly workers0: { total: number; sys: number }[];
  private readonly nats0: number;

  constructor(
    private readonly workers: WorkerChild[],
    private readonly natsPid: number,
  ) {
    this.workers0 = workers.map((w) => processCpuSplit(w.pid));
    this.nats0 = processCpu(natsPid);
  }

  /** Call once the edge child is gone; `edgeCpu`: its whole life. */
  end(edgeCpu: number): { workers: number[]; workersSys: number[]; nats: number; others: number } {
    const now = this.workers.map((w) => processCpuSplit(w.pid));
    const workers = now.map((c, i) => c.total - this.workers0[i]!.total);
    const workersSys = now.map((c, i) => c.sys - this.workers0[i]!.sys);
    const nats = processCpu(this.natsPid) - this.nats0;
    const ours = workers.reduce((a, b) => a + b, 0) + nats + edgeCpu + (ownCpu() - this.own0);
    return { workers, workersSys, nats, others: Math.max(0, machineBusyCpu() - this.machine0 - ours) };
  }
}

/** Runs a bench script in a child node and returns the JSON of its last stdout line. */
function runNode<T>(script: string, args: string[], opts: { nodeArgs?: string[]; timeoutMs?: number } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), join(REPO_ROOT, 'bench/dist', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 1 << 16) err = err.slice(-(1 << 15));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const tail = err.trim().split('\n').slice(-8).join('\n');
      if (code !== 0) return reject(new Error(`${script} ${args[0] ?? ''} failed (${code ?? signal}):\n${tail}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch {
        reject(new Error(`${script}: no JSON on stdout:\n${out.slice(-2000)}\n${tail}`));
      }
    });
  });
}

interface WorkerSummary {
  id: string;
  decided: number;
  segments: number;
  duplicates: number;
  shed: number;
  messagesDropped: number;
  rejected: number;
}

class WorkerChild {
  readonly child: ChildProcess;
  private log = '';
  private waiters: { text: string; resolve: () => void }[] = [];

  constructor(
    readonly id: string,
    url: string,
    profileDir?: string,
  ) {
    const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    this.child = spawn(process.execPath, [...prof, CLI, 'worker', 'run', '--nats', url, '--id', id], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(this.child);
    this.child.stderr!.on('data', (d: Buffer) => {
      this.log += d.toString();
      if (this.log.length > 1 << 16) this.log = this.log.slice(-(1 << 15));
      this.waiters = this.waiters.filter((w) => {
        if (!this.log.includes(w.text)) return true;
        w.resolve();
        return false;
      });
    });
    this.child.on('close', () => children.delete(this.child));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves once the worker's log contains `text`. */
  waitFor(text: string, timeoutMs = 60_000): Promise<void> {
    if (this.log.includes(text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${this.id}: no "${text}" within ${timeoutMs} ms; log:\n${this.log.slice(-2000)}`)), timeoutMs);
      this.child.once('close', (code) => reject(new Error(`worker ${this.id} exited (${code}) before "${text}"; log:\n${this.log.slice(-2000)}`)));
      this.waiters.push({
        text,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** SIGTERM (the worker leaves the cluster and prints its counters), SIGKILL after 15 s. */
  async stop(): Promise<WorkerSummary | undefined> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const closed = new Promise<void>((r) => this.child.once('close', () => r()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await closed;
      clearTimeout(timer);
    }
    const m = /worker (\S+): (\d+) flows decided, (\d+) segments, (\d+) duplicates, (\d+) shed, (\d+) messages dropped, (\d+) rejected/.exec(this.log);
    if (!m) return undefined;
    const [, id, decided, segments, duplicates, shed, dropped, rejected] = m;
    return { id: id!, decided: +decided!, segments: +segments!, duplicates: +duplicates!, shed: +shed!, messagesDropped: +dropped!, rejected: +rejected! };
  }
}

// ------------------------------------------------------------------ the wire

interface WireCount {
  msgs: number;
  bytes: number;
}

/** A subscriber of the bench: payload bytes on the subjects other than the heads (the edge counts those). */
class WireCounter {
  counts: Record<'verdicts' | 'watermarks' | 'verdictCache' | 'events', WireCount> = this.zero();

  private constructor(private readonly bus: Bus) {
    const n = bus.names;
    const count = (subject: string, which: keyof WireCounter['counts']) =>
      bus.nc.subscribe(subject, {
        callback: (_err, msg) => {
          const c = this.counts[which];
          c.msgs++;
          c.bytes += msg.data.length;
        },
      });
    count(n.verdictWildcard, 'verdicts');
    count(n.edgeWatermarkWildcard, 'watermarks');
    count(`$KV.${n.verdictsBucket}.>`, 'verdictCache');
    count(n.eventsSubject, 'events');
  }

  static async start(url: string): Promise<WireCounter> {
    const bus = await connectBus({ servers: url, name: 'l7mesh-bench-wire' }, busNames());
    const counter = new WireCounter(bus);
    await bus.nc.flush();
    return counter;
  }

  private zero() {
    return { verdicts: { msgs: 0, bytes: 0 }, watermarks: { msgs: 0, bytes: 0 }, verdictCache: { msgs: 0, bytes: 0 }, events: { msgs: 0, bytes: 0 } };
  }

  /** The counts since the last take. */
  take(): WireCounter['counts'] {
    const c = this.counts;
    this.counts = this.zero();
    return c;
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}

// ------------------------------------------------------------------ runs

/** What clusterEdge.js reports. */
interface EdgeResult {
  rateTarget: number;
  window?: number;
  stopped: boolean;
  flows: number;
  fedSeconds: number;
  seconds: number;
  flowsPerSec: number;
  maxLagMs: number;
  windowWaits: number;
  cpuSeconds: number;
  /** The child's whole life, startup included. */
  processCpuSeconds: number;
  peakRssMiB: number;
  verdicts: Record<string, number>;
  latencyFromFirstMs: Quantiles;
  latencyFromDecidingMs: Quantiles;
  slowest: { flow: string; l7: string; decidedBy: string; packet: number; ms: number }[];
  link: { batches: number; bytes: number; watermarks: number; publishErrors: number; verdictMessages: number };
  remote: { segmentsSent: number; resends: number; timedOut: number; verdicts: number; repeatedVerdicts: number; conflictingVerdicts: number };
}

interface ClassifyResult {
  patterns: number;
  packets: number;
  flows: number;
  seconds: number;
  cpuSeconds: number;
  flowsPerSec: number;
  peakRssMiB: number;
  verdicts: Record<string, number>;
}

interface Agreement {
  compared: number;
  same: number;
  different: number;
  missing: number;
  examples: string[];
}

interface Phase {
  edge: EdgeResult;
  workerCpuSeconds: number[];
  /** Of which in the kernel (system calls: socket reads and writes, mostly). */
  workerSysCpuSeconds: number[];
  natsCpuSeconds: number;
  /** CPU seconds other processes on the machine took during the phase, and the phase's wall time. */
  othersCpuSeconds: number;
  wallSeconds: number;
  wire: WireCounter['counts'];
}

interface ClusterRun {
  workers: number;
  /** A bare NATS request/reply through the same server, between two idle processes: the floor under the latency. */
  natsFloorMs?: Quantiles;
  throughput: Phase & { agreement: Agreement };
  latency: Phase;
  workerSummaries: (WorkerSummary | undefined)[];
  profiles?: Record<string, ProfileSummary>;
}

function compareVerdicts(classifyFile: string, edgeFile: string): Agreement {
  const expected = new Map<string, string>();
  for (const line of readFileSync(classifyFile, 'utf8').split('\n')) {
    const at = line.lastIndexOf(' ');
    if (at > 0) expected.set(line.slice(0, at), line.slice(at + 1));
  }
  const a: Agreement = { compared: 0, same: 0, different: 0, missing: 0, examples: [] };
  for (const line of readFileSync(edgeFile, 'utf8').split('\n')) {
    const at = line.lastIndexOf(' ');
    if (at <= 0) continue;
    const flow = line.slice(0, at);
    const l7 = line.slice(at + 1);
    a.compared++;
    const want = expected.get(flow);
    if (want === undefined) a.missing++;
    else if (want === l7) a.same++;
    else {
      a.different++;
      if (a.examples.length < 5) a.examples.push(`${flow}: cluster ${l7}, classify ${want}`);
    }
  }
  return a;
}

/** Request/reply round trips (1000-byte request, 60-byte reply) to an echo child, one every millisecond. */
async function natsFloor(url: string, count = 1000): Promise<Quantiles> {
  const subject = 'bench.echo';
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bench/dist/natsEcho.js'), url, subject], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const bus = await connectBus({ servers: url, name: 'l7mesh-bench-floor' }, busNames());
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('close', (code) => reject(new Error(`natsEcho exited (${code})`)));
    });
    const payload = new Uint8Array(1000);
    const rtt: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await bus.nc.request(subject, payload, { timeout: 2000 });
      rtt.push(performance.now() - t);
      await sleep(1);
    }
    return quantiles(rtt.slice(Math.floor(count / 10)));
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
    await bus.close();
  }
}

async function clusterRun(workers: number, capture: LabCopiesInfo, latencyCapture: LabCopiesInfo, classifyOut: string, withFloor: boolean): Promise<ClusterRun> {
  const server = await startNatsServer();
  servers.add(server);
  const dir = join(scratch, `w${workers}`);
  mkdirSync(dir, { recursive: true });
  const ws: WorkerChild[] = [];
  let counter: WireCounter | undefined;
  try {
    const natsFloorMs = withFloor ? await natsFloor(server.url) : undefined;
    const profDir = join(PROFILE_DIR, `w${workers}`);
    if (PROFILE) rmSync(profDir, { recursive: true, force: true });
    for (let i = 1; i <= workers; i++) ws.push(new WorkerChild(`worker-${i}`, server.url, PROFILE ? join(profDir, `prof-worker-${i}`) : undefined));
    // Each worker logs the membership it sees: all of them, then it owns its share.
    await Promise.all(ws.map((w) => w.waitFor(`${workers} workers [`)));
    await sleep(500); // their partition subscriptions reach the server
    counter = await WireCounter.start(server.url);
    const prof = (name: string) => (PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, `prof-${name}`)}`] : []);

    const phase = async (name: string, job: object): Promise<Phase> => {
      const cpu = new PhaseCpu(ws, server.pid);
      const t0 = performance.now();
      const edge = await runNode<EdgeResult>('clusterEdge.js', [JSON.stringify({ url: server.url, flushMs: FLUSH_MS, ...job })], { nodeArgs: prof(name) });
      const wallSeconds = (performance.now() - t0) / 1000;
      const c = cpu.end(edge.processCpuSeconds);
      await sleep(400); // the last event batches (flushed every 100 ms) and cache entries
      return { edge, workerCpuSeconds: c.workers, workerSysCpuSeconds: c.workersSys, natsCpuSeconds: c.nats, othersCpuSeconds: c.others, wallSeconds, wire: counter!.take() };
    };

    process.stderr.write(`cluster bench: ${workers} worker(s): peak, ${capture.flows} flows, at most ${WINDOW} in flight...\n`);
    const edgeOut = join(dir, 'edge-verdicts.txt');
    const peak = await phase('edge-peak', { id: 'edge-1', file: capture.file, flows: capture.flows, window: WINDOW, out: edgeOut });
    const agreement = compareVerdicts(classifyOut, edgeOut);

    const rate = Math.max(100, Math.round(peak.edge.flowsPerSec * LATENCY_FRACTION));
    process.stderr.write(`cluster bench: ${workers} worker(s): latency, paced at ${rate} flows/s for ${LATENCY_SECONDS} s (+${LATENCY_WARMUP_SECONDS} s warm-up)...\n`);
    const paced = await phase('edge-paced', {
      id: 'edge-2',
      file: latencyCapture.file,
      rate,
      flows: latencyCapture.flows,
      stopAfterMs: (LATENCY_SECONDS + LATENCY_WARMUP_SECONDS) * 1000,
      warmupMs: LATENCY_WARMUP_SECONDS * 1000,
    });

    const workerSummaries = await Promise.all(ws.map((w) => w.stop()));
    const run: ClusterRun = {
      workers,
      natsFloorMs,
      throughput: { ...peak, agreement },
      latency: paced,
      workerSummaries,
    };
    if (PROFILE) {
      run.profiles = {};
      for (const d of readdirSync(profDir).filter((f) => f.startsWith('prof-'))) run.profiles[d.slice(5)] = profileSummary(join(profDir, d));
      process.stderr.write(`cluster bench: profiles in ${profDir}\n`);
    }
    return run;
  } finally {
    await Promise.all(ws.map((w) => w.stop().catch(() => undefined)));
    await counter?.close().catch(() => undefined);
    await server.stop();
    servers.delete(server);
  }
}

interface ProfileSummary {
  /** Self time per function, busiest first, as shares of the non-idle time. */
  functions: { function: string; share: number }[];
  /**
   * Time per component: a sample counts for the package of the nearest
   * frame on its stack in a package (natives and Node's own frames, such as
   * socket writes, count for the package that called them), as shares of
   * the non-idle time.
   */
  components: { component: string; share: number }[];
}

const COMPONENTS: [RegExp, string][] = [
  [/packages\/hyperscan\//, 'hyperscan (addon)'],
  [/services\/classifier\//, 'classifier (merge)'],
  [/packages\/engine\//, 'engine (classifier)'],
  [/packages\/flow\//, 'flow (table, head)'],
  [/packages\/wire\//, 'wire (codecs)'],
  [/packages\/bus\//, 'bus'],
  [/services\/edge\//, 'edge'],
  [/@nats-io\//, 'nats.js client'],
  [/\/bench\//, 'bench driver'],
];

/** Where a CPU profile's time went (BENCH_CLUSTER_PROFILE=1). */
function profileSummary(dir: string, top = 12): ProfileSummary {
  const prof = loadCpuProfile(dir);
  if (!prof) return { functions: [], components: [] };
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const componentOf = (id: number): string => {
    const name = nodes.get(id)!.callFrame.functionName;
    if (name === '(garbage collector)') return 'garbage collector';
    if (name === '(program)') return '(program)';
    // Node's own frames (streams, sockets, timers) count for the package that called them.
    let fallback = 'other';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = nodes.get(at)!.callFrame.url;
      if (!url) continue;
      if (url.startsWith('node:')) {
        fallback = 'node internals';
        continue;
      }
      for (const [re, component] of COMPONENTS) if (re.test(url)) return component;
      return 'other';
    }
    return fallback;
  };
  const shares = selfTimeShares(prof, top, componentOf);
  return { functions: shares.functions, components: shares.groups.map(({ group, share }) => ({ component: group, share })) };
}

interface MemoryResult {
  scenario: string;
  flows: number;
  inProgress: number;
  heapBytesPerFlow: number;
  externalBytesPerFlow: number;
  arrayBuffersBytesPerFlow: number;
  rssBytesPerFlow: number;
  [note: string]: unknown;
}

async function ensureCapture(firstUnit: number): Promise<LabCopiesInfo> {
  const fingerprint = labCapturesFingerprint();
  // Copies of older lab captures are of no more use.
  for (const f of readdirSync(tmpdir())) {
    if (f.startsWith('l7mesh-bench-cluster-') && !f.startsWith(`l7mesh-bench-cluster-${fingerprint}-`) && /\.pcap(\.json)?$/.test(f)) rmSync(join(tmpdir(), f), { force: true });
  }
  const file = join(tmpdir(), `l7mesh-bench-cluster-${fingerprint}-${FLOWS}-${firstUnit}.pcap`);
  const infoFile = `${file}.json`;
  if (existsSync(file) && existsSync(infoFile)) return JSON.parse(readFileSync(infoFile, 'utf8')) as LabCopiesInfo;
  process.stderr.write(`cluster bench: writing ${file} (${FLOWS} flows)...\n`);
  const info = await writeLabCopies(file, FLOWS, firstUnit);
  writeFileSync(infoFile, JSON.stringify(info));
  return info;
}

// ------------------------------------------------------------------ report

const f2 = (n: number) => n.toFixed(2);
const ms = (n: number) => n.toFixed(2);
const perFlows = (seconds: number, flows: number) => (seconds / flows) * PER;
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

async function main(): Promise<void> {
  installCleanup();
  const capture = await ensureCapture(0);
  const latencyCapture = await ensureCapture(LATENCY_FIRST_UNIT);
  const classifyOut = join(scratch, 'classify-verdicts.txt');
  process.stderr.write(`cluster bench: in-process classify on the same capture...\n`);
  const inproc = await runNode<ClassifyResult>('clusterClassify.js', [capture.file, classifyOut]);

  const runs: ClusterRun[] = [];
  for (const [i, w] of WORKER_COUNTS.entries()) runs.push(await clusterRun(w, capture, latencyCapture, classifyOut, i === 0));

  process.stderr.write(`cluster bench: memory per flow (${MEMORY_FLOWS} flows per scenario)...\n`);
  const memory: MemoryResult[] = [];
  for (const scenario of ['worker-udp', 'worker-tcp', 'edge-undecided', 'edge-undecided-tcp', 'edge-decided']) {
    memory.push(await runNode<MemoryResult>('clusterMemory.js', [scenario, String(MEMORY_FLOWS)], { nodeArgs: ['--expose-gc'] }));
  }

  // ---- tables
  const style = { head: [], border: [] };
  const label = (r: ClusterRun) => `${r.workers} worker${r.workers > 1 ? 's' : ''}`;
  const inprocCpu100k = perFlows(inproc.cpuSeconds, inproc.flows);
  const base = runs[0];
  const throughput = new Table({
    head: ['peak, end to end', 'flows/s', 'x 1 worker', 'worker CPU s /100k flows', 'of it kernel', 'x in process', 'flows / worker CPU-s', 'edge CPU s /100k', 'nats-server CPU s /100k', 'CPUs busy', 'other load', 'verdicts = classify', 'dropped / re-sent / timed out'],
    style,
  });
  for (const r of runs) {
    const t = r.throughput;
    const wCpu = sum(t.workerCpuSeconds);
    const busy = (wCpu + t.edge.cpuSeconds + t.natsCpuSeconds) / t.edge.seconds;
    throughput.push([
      label(r),
      si(t.edge.flowsPerSec),
      base ? `${(t.edge.flowsPerSec / base.throughput.edge.flowsPerSec).toFixed(2)}x` : '',
      f2(perFlows(wCpu, t.edge.flows)),
      `${((sum(t.workerSysCpuSeconds) / wCpu) * 100).toFixed(0)}%`,
      `${(perFlows(wCpu, t.edge.flows) / inprocCpu100k).toFixed(2)}x`,
      si(t.edge.flows / wCpu),
      f2(perFlows(t.edge.cpuSeconds, t.edge.flows)),
      f2(perFlows(t.natsCpuSeconds, t.edge.flows)),
      f2(busy),
      f2(t.othersCpuSeconds / t.wallSeconds),
      `${t.agreement.same}/${t.agreement.compared}`,
      `${sum(r.workerSummaries.map((w) => (w ? w.messagesDropped + w.shed : 0)))} / ${t.edge.remote.resends} / ${t.edge.remote.timedOut}`,
    ]);
  }
  throughput.push(['in process (classify)', si(inproc.flowsPerSec), '', f2(inprocCpu100k), '', '1.00x', si(inproc.flows / inproc.cpuSeconds), '', '', f2(inproc.cpuSeconds / inproc.seconds), '', '', '']);

  const latency = new Table({
    head: ['verdict latency', 'flows/s', 'flows measured', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'p50 ms from 1st seg.', 'p99 ms from 1st seg.', 'timed out', 'other load'],
    style,
  });
  for (const r of runs) {
    const f = r.natsFloorMs;
    if (f) latency.push(['bare NATS request/reply (floor)', '1 k req/s', f.count, ms(f.p50), ms(f.p90), ms(f.p99), ms(f.p999), ms(f.max), '', '', '', '']);
  }
  for (const r of runs) {
    for (const [what, p] of [
      [`${label(r)}, at ${Math.round(LATENCY_FRACTION * 100)}% of peak`, r.latency],
      [`${label(r)}, at peak (window ${WINDOW})`, r.throughput],
    ] as const) {
      const e = p.edge;
      const d = e.latencyFromDecidingMs;
      const f = e.latencyFromFirstMs;
      latency.push([what, si(e.flowsPerSec), d.count, ms(d.p50), ms(d.p90), ms(d.p99), ms(d.p999), ms(d.max), ms(f.p50), ms(f.p99), e.remote.timedOut, f2(p.othersCpuSeconds / p.wallSeconds)]);
    }
  }

  const wireTable = new Table({ head: ['bytes on the wire per flow', 'segments', 'heads (edge -> worker)', 'head msgs', 'verdicts (worker -> edge)', 'verdict msgs', 'watermarks', 'verdict cache (KV)', 'events (JetStream)', 'total'], style });
  for (const r of runs) {
    const t = r.throughput;
    const n = t.edge.flows;
    const w = t.wire;
    const total = t.edge.link.bytes + w.verdicts.bytes + w.watermarks.bytes + w.verdictCache.bytes + w.events.bytes;
    wireTable.push([
      label(r),
      (t.edge.remote.segmentsSent / n).toFixed(2),
      (t.edge.link.bytes / n).toFixed(0),
      (t.edge.link.batches / n).toFixed(3),
      (w.verdicts.bytes / n).toFixed(0),
      (w.verdicts.msgs / n).toFixed(3),
      (w.watermarks.bytes / n).toFixed(1),
      (w.verdictCache.bytes / n).toFixed(0),
      (w.events.bytes / n).toFixed(0),
      (total / n).toFixed(0),
    ]);
  }

  const memoryTable = new Table({ head: ['memory per flow', 'flows added', 'waiting (all)', 'JS heap B', 'external B', 'heap+external B', 'RSS B', 'target'], style });
  const targets: Record<string, string> = { 'worker-udp': '<= 500', 'worker-tcp': '<= 500', 'edge-decided': '<= 200' };
  for (const m of memory) {
    memoryTable.push([m.scenario, m.flows, m.inProgress, m.heapBytesPerFlow.toFixed(0), m.externalBytesPerFlow.toFixed(0), (m.heapBytesPerFlow + m.externalBytesPerFlow).toFixed(0), m.rssBytesPerFlow.toFixed(0), targets[m.scenario] ?? '']);
  }

  const out = process.stdout;
  out.write(`capture: ${capture.file}: ${capture.flows} flows, ${capture.packets} packets, ${(capture.bytes / 1e6).toFixed(0)} MB (${capture.units} copies of ${capture.baseCaptures} lab captures, ${capture.baseFlows} flows)\n`);
  out.write(`patterns: the project's ${inproc.patterns} (workers and classify alike); machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}\n`);
  out.write(`${throughput.toString()}\n${latency.toString()}\n${wireTable.toString()}\n${memoryTable.toString()}\n`);
  const ratio = runs.length >= 2 ? runs[1]!.throughput.edge.flowsPerSec / runs[0]!.throughput.edge.flowsPerSec : undefined;
  out.write(
    [
      `notes: ${cpus().length} CPUs for everything: the edge, nats-server and the workers compete for them ("CPUs busy": their CPU seconds over the run's wall time),`,
      `  so the ${ratio !== undefined ? `${ratio.toFixed(2)}x ` : ''}scaling from 1 to 2 workers says how the cores are shared, not how the partitioning scales; a worker's own rate is "flows / worker CPU-s" (target >= 100 k).`,
      `  Other load: CPUs that processes outside the benchmark took meanwhile (/proc/stat less ours): the machine is shared, and what they take is not ours.`,
      `  Peak: one edge replays as fast as ${WINDOW} flows waiting for their verdict allow (core NATS has no back-pressure: an edge at full speed overruns the workers, which drop, and measures the re-sends).`,
      `  Worker CPU: /proc utime+stime of the worker processes over the edge's run (idle heartbeats included); in process: classifyCapture's CPU time (pcap reading included) on the same capture.`,
      `  Latency: per flow, from the edge handing the deciding segment (or the first) to its link to the verdict arriving back at the edge; cluster.flushMs ${FLUSH_MS ?? 'default (0)'};`,
      `  the first ${LATENCY_WARMUP_SECONDS} s are warm-up and not counted; flows the worker leaves undecided until the edge is done (unset) are not in it. Target p99 <= 2 ms.`,
      `  Dropped: messages the workers dropped past their queue bound, and segments they shed; re-sent: segments the edge sent again after resendMs, mostly of flows`,
      `  the worker keeps undecided until the edge is done (they end before the limits: unset).`,
      `  Wire: message payloads (NATS framing not counted); heads from the edge's link counters (re-sends included), the rest from a subscriber of the bench.`,
      `  Memory: RSS covers the Hyperscan streams (native memory, not in the heap); targets: worker <= 500 B per flow in progress, edge <= 200 B per decided flow.`,
    ].join('\n') + '\n',
  );
  for (const r of runs) {
    const a = r.throughput.agreement;
    if (a.different + a.missing > 0) out.write(`${label(r)}: ${a.different} verdicts differ from classify, ${a.missing} flows unknown to it; e.g.\n  ${a.examples.join('\n  ')}\n`);
    const slow = r.latency.edge.slowest.filter((x) => x.ms > 100);
    if (slow.length > 0) out.write(`${label(r)}, at ${Math.round(LATENCY_FRACTION * 100)}% of peak: slowest verdicts: ${slow.map((x) => `${x.flow} ${x.l7} (${x.decidedBy}, packet ${x.packet}) ${x.ms.toFixed(0)} ms`).join('; ')}\n`);
    const drops = r.workerSummaries.filter((w) => w && (w.shed > 0 || w.messagesDropped > 0 || w.rejected > 0));
    if (drops.length > 0) out.write(`${label(r)}: shed or dropped: ${JSON.stringify(drops)}\n`);
    if (r.profiles) {
      for (const [name, p] of Object.entries(r.profiles)) {
        out.write(`${label(r)}: CPU profile of ${name} (share of busy time, the process's whole life; --cpu-prof slows everything):\n`);
        out.write(`  by component: ${p.components.map((c) => `${c.component} ${(c.share * 100).toFixed(1)}%`).join(', ')}\n`);
        for (const f of p.functions) out.write(`  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.function}\n`);
      }
    }
  }

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    capture,
    latencyCapture,
    settings: { flows: FLOWS, workerCounts: WORKER_COUNTS, window: WINDOW, latencyFraction: LATENCY_FRACTION, latencySeconds: LATENCY_SECONDS, latencyWarmupSeconds: LATENCY_WARMUP_SECONDS, flushMs: FLUSH_MS ?? 'default', memoryFlows: MEMORY_FLOWS, profiled: PROFILE },
    inProcess: { ...inproc, cpuSecondsPer100kFlows: inprocCpu100k, flowsPerCpuSecond: inproc.flows / inproc.cpuSeconds },
    runs: runs.map((r) => ({
      ...r,
      summary: {
        flowsPerSec: r.throughput.edge.flowsPerSec,
        workerCpuSecondsPer100kFlows: perFlows(sum(r.throughput.workerCpuSeconds), r.throughput.edge.flows),
        flowsPerWorkerCpuSecond: r.throughput.edge.flows / sum(r.throughput.workerCpuSeconds),
        edgeCpuSecondsPer100kFlows: perFlows(r.throughput.edge.cpuSeconds, r.throughput.edge.flows),
        natsCpuSecondsPer100kFlows: perFlows(r.throughput.natsCpuSeconds, r.throughput.edge.flows),
        latencyRate: r.latency.edge.flowsPerSec,
        latencyP50Ms: r.latency.edge.latencyFromDecidingMs.p50,
        latencyP99Ms: r.latency.edge.latencyFromDecidingMs.p99,
        headBytesPerFlow: r.throughput.edge.link.bytes / r.throughput.edge.flows,
        verdictBytesPerFlow: r.throughput.wire.verdicts.bytes / r.throughput.edge.flows,
      },
    })),
    ratios: {
      scaling2over1: ratio,
      workerCpuOverInProcess: base ? perFlows(sum(base.throughput.workerCpuSeconds), base.throughput.edge.flows) / inprocCpu100k : undefined,
    },
    memory,
    targets: { flowsPerWorkerCpuSecond: 100_000, latencyP99Ms: 2, workerBytesPerFlowInProgress: 500, edgeBytesPerDecidedFlow: 200 },
  };
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'cluster.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  out.write(`written: ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
