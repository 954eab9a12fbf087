/**
 * The router lab of the NFQUEUE benchmarks (edgeBench.ts, statelessBench.ts):
 * client ns — router ns — server ns on veth pairs, 198.18.0.0/15 only; the
 * server drops everything in raw PREROUTING (no replies, no ICMP). Traffic
 * comes from bench/c/flowgen.c in the client ns; consumers (the bare C
 * accept loop bench/c/nfq_accept.c, or `l7mesh edge run`) run in the router
 * ns. Also the /proc readings both benchmarks take: a process's CPU time,
 * a CPU's busy ticks, a queue's line of nfnetlink_queue.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, sleep } from '@l7mesh/netns';
import { REPO_ROOT } from './benchPatterns.js';

export { processCpu } from './cpu.js';

export const multiCpu = cpus().length >= 2;
export const GEN_CPU = 0;
export const CONSUMER_CPU = multiCpu ? 1 : 0;

/**
 * A command pinned to one CPU (no taskset on a single CPU) and, unless
 * `nice` is 0, run at that priority: in a session of its own whose
 * autogroup gets the nice value. With autogroup scheduling
 * (kernel.sched_autogroup_enabled) a plain `nice` only counts inside the
 * caller's session, so other sessions' busy processes would still take
 * half of the consumer's CPU.
 */
export function pinned(cpu: number, argv: readonly string[], nice: number): string[] {
  const pin = multiCpu ? ['taskset', '-c', String(cpu)] : [];
  if (nice === 0) return [...pin, ...argv];
  return ['setsid', 'sh', '-c', `echo ${nice} > /proc/self/autogroup 2>/dev/null; exec "$0" "$@"`, 'nice', '-n', String(nice), ...pin, ...argv];
}

/** Busy and total jiffies of one CPU (/proc/stat). */
export function cpuTicks(cpu: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `))!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export interface QueueLine {
  /** Packets waiting in the queue now. */
  queueTotal: number;
  /** The queue's id sequence: packets delivered to the consumer so far. */
  delivered: number;
  queueDropped: number;
  userDropped: number;
}

/** Queue `queue`'s line of nfnetlink_queue, read through the consumer's /proc entry (its network namespace). */
export function queueLine(pid: number, queue: number): QueueLine {
  const text = readFileSync(`/proc/${pid}/net/netfilter/nfnetlink_queue`, 'utf8');
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f[0] === queue) return { queueTotal: f[2]!, queueDropped: f[5]!, userDropped: f[6]!, delivered: f[7]! };
  }
  return { queueTotal: 0, delivered: 0, queueDropped: 0, userDropped: 0 };
}

/** Builds nfq_accept and flowgen into `dir`. */
export function compileHelpers(dir: string): void {
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libnetfilter_queue', 'libmnl'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
  execFileSync('cc', ['-O2', '-Wall', '-o', join(dir, 'nfq_accept'), join(REPO_ROOT, 'bench/c/nfq_accept.c'), ...flags], { stdio: 'pipe' });
  execFileSync('cc', ['-O2', '-Wall', '-o', join(dir, 'flowgen'), join(REPO_ROOT, 'bench/c/flowgen.c')], { stdio: 'pipe' });
}

/** What flowgen prints. */
export interface GenResult {
  packets: number;
  flows: number;
  seconds: number;
  pps: number;
  errors: number;
  first_flow: number;
  next_flow: number;
}

export interface GenerateOptions {
  seconds: number;
  /** Packets a second (absent: as fast as the socket takes them). */
  pps?: number;
  /** Stop after this many flows. */
  flows?: number;
  /** Flow starts between two packets of a flow. */
  spacing?: number;
  /** Packets per DNS and HTTP flow (flowgen's default 2), and per unmatched flow (12). */
  packets?: number;
  noisePackets?: number;
}

/** The addresses of the lab; flowgen's sources are SOURCE_COUNT addresses from `sources`, routed to the client. */
export const LAB_ADDRESSES = {
  client: '198.18.96.2',
  routerIn: '198.18.96.1',
  routerOut: '198.18.97.1',
  server: '198.18.97.2',
  sources: '198.18.100.0',
  sourceNet: '198.18.100.0/22',
  sourceCount: 1024,
} as const;

/** The first of flowgen's source addresses, as a number. */
const FIRST_SOURCE = LAB_ADDRESSES.sources.split('.').reduce((n, b) => n * 256 + Number(b), 0);

/** flowgen's kind of flow `i` (see flowgen.c): of every 10 flows, 5 DNS, 3 HTTP, 2 unmatched. */
export function flowgenKind(i: number): 'dns' | 'http' | 'noise' {
  const r = i % 10;
  return r < 5 ? 'dns' : r < 8 ? 'http' : 'noise';
}

/** flowgen's source address (a number) and port of flow `i`. */
export function flowgenSourceWord(i: number): number {
  return FIRST_SOURCE + (i % LAB_ADDRESSES.sourceCount);
}

export function flowgenSourcePort(i: number): number {
  return 10000 + (Math.floor(i / LAB_ADDRESSES.sourceCount) % 50000);
}

/** flowgen's tuple of flow `i`: source address and port, destination port by kind. */
export function flowgenTuple(i: number): { src: string; sport: number; dport: number; kind: 'dns' | 'http' | 'noise' } {
  const n = flowgenSourceWord(i);
  const src = [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
  const kind = flowgenKind(i);
  return { src, sport: flowgenSourcePort(i), dport: kind === 'dns' ? 53 : kind === 'http' ? 80 : 7777, kind };
}

/** The lab's namespaces and the flowgen runs in it (each on fresh 5-tuples). */
/** What the benchmarks read of an edge's /stats. */
export interface EdgeStatsJson {
  packets: { received: number };
  batches: number;
  verdicts: { accepted: number; marked: number };
  flows: { active: number };
  protocols: { l7: string; flows: number; packets: number }[];
  live_unset: { flows: number };
  source?: Record<string, number>;
  stateless?: Record<string, number>;
}

export class QueueLab {
  readonly lab: NetnsLab;
  cli = '';
  rtr = '';
  srv = '';
  /** The first flow number of the next flowgen run. */
  nextFlow = 0;

  constructor(
    prefix: string,
    /** Where the compiled helpers are (compileHelpers). */
    private readonly scratch: string,
    private readonly nice: number,
  ) {
    this.lab = new NetnsLab(prefix);
  }

  async build(): Promise<void> {
    const a = LAB_ADDRESSES;
    const lab = this.lab;
    this.cli = await lab.ns('cli');
    this.rtr = await lab.ns('rtr');
    this.srv = await lab.ns('srv');
    await lab.link(this.cli, 'eth0', `${a.client}/24`, this.rtr, 'veth0', `${a.routerIn}/24`);
    await lab.link(this.rtr, 'veth1', `${a.routerOut}/24`, this.srv, 'eth0', `${a.server}/24`);
    await lab.route(this.cli, '198.18.97.0/24', a.routerIn);
    await lab.route(this.rtr, a.sourceNet, a.client);
    await lab.route(this.srv, a.sourceNet, a.routerOut);
    await lab.exec(this.rtr, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await lab.exec(this.srv, ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-j', 'DROP']);
  }

  /** The /stats of the edge running in the router, on its metrics port. */
  async edgeStats(port: number): Promise<EdgeStatsJson> {
    const r = await this.lab.exec(this.rtr, ['curl', '-s', '-S', '--max-time', '10', `http://127.0.0.1:${port}/stats`]);
    return JSON.parse(r.stdout) as EdgeStatsJson;
  }

  async conntrackFlush(): Promise<void> {
    await this.lab.exec(this.rtr, ['conntrack', '-F'], { allowFail: true });
  }

  /** Packets that hit the router's NFQUEUE rules (iptables mangle, every chain). */
  async nfqueueRuleHits(): Promise<number> {
    const { stdout } = await this.lab.exec(this.rtr, ['iptables-save', '-c', '-t', 'mangle']);
    let n = 0;
    for (const line of stdout.split('\n')) {
      const m = /^\[(\d+):\d+\] -A \S+ .*-j NFQUEUE/.exec(line);
      if (m) n += Number(m[1]);
    }
    return n;
  }

  /** Runs flowgen in the client namespace, pinned to GEN_CPU, on fresh 5-tuples (`first`: from this flow number on). */
  async generate(opts: GenerateOptions, first = this.nextFlow): Promise<GenResult> {
    const a = LAB_ADDRESSES;
    const argv = [join(this.scratch, 'flowgen'), '-d', a.server, '-s', a.sources, '-S', String(a.sourceCount), '-t', String(opts.seconds), '-o', String(first)];
    if (opts.spacing) argv.push('-D', String(opts.spacing));
    if (opts.pps) argv.push('-p', String(opts.pps));
    if (opts.flows) argv.push('-f', String(opts.flows));
    if (opts.packets) argv.push('-P', String(opts.packets));
    if (opts.noisePackets) argv.push('-N', String(opts.noisePackets));
    const proc = this.lab.spawn(this.cli, pinned(GEN_CPU, argv, this.nice));
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), (opts.seconds + 30) * 1000);
    const { code } = await proc.exited.finally(() => clearTimeout(timer));
    if (code !== 0) throw new Error(`flowgen failed (${code}): ${proc.stderr.trim()}`);
    const g = JSON.parse(proc.stdout) as GenResult;
    this.nextFlow = Math.max(this.nextFlow, g.next_flow);
    return g;
  }

  /** Waits until queue `queue` is empty (the consumer `pid` answered everything); returns the seconds waited. */
  async drain(pid: number, queue: number, timeoutMs = 5_000): Promise<number> {
    const t0 = performance.now();
    let empty = 0;
    while (performance.now() - t0 < timeoutMs) {
      if (queueLine(pid, queue).queueTotal === 0) {
        if (++empty >= 2) break;
      } else empty = 0;
      await sleep(5);
    }
    return (performance.now() - t0) / 1000;
  }

  /** On SIGINT/SIGTERM: the lab and `scratch` removed, then exit 130 (once, however many signals come). Returns: was a signal received? */
  cleanupOnSignal(name: string, scratch: string): () => boolean {
    let interrupted = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (interrupted) return;
      interrupted = true;
      process.stderr.write(`${name}: ${sig}: cleaning up\n`);
      void this.cleanup().finally(() => {
        rmSync(scratch, { recursive: true, force: true });
        process.exit(130);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return () => interrupted;
  }

  cleanup(): Promise<void> {
    return this.lab.cleanup();
  }
}

/** What a router-lab benchmark starts with (startQueueBench). */
export interface QueueBench {
  scratch: string;
  q: QueueLab;
  /** Progress on stderr, with the seconds since the start. */
  log: (line: string) => void;
  /** A snapshot of the project's patterns: the edges and the memory runs load the same set. */
  patternDir: string;
}

/** Checks the build, makes the scratch directory and the lab (`prefix`), and snapshots the patterns; `name` heads the log lines. */
export function startQueueBench(prefix: string, name: string, nice: number): QueueBench {
  const cliDist = join(REPO_ROOT, 'services/cli/dist');
  const addon = join(REPO_ROOT, 'packages/nfqueue/build/Release');
  if (!existsSync(cliDist) || !existsSync(addon)) throw new Error('build the project first: npm run build');
  const scratch = mkdtempSync(join(tmpdir(), `l7mesh-${name.replace(/ /g, '-')}-`));
  const q = new QueueLab(prefix, scratch, nice);
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`${name} [${((Date.now() - started) / 1000).toFixed(0)} s]: ${line}\n`);
  const patternDir = join(scratch, 'patterns');
  mkdirSync(patternDir);
  for (const f of readdirSync(join(REPO_ROOT, 'patterns'))) if (f.endsWith('.pat')) copyFileSync(join(REPO_ROOT, 'patterns', f), join(patternDir, f));
  return { scratch, q, log, patternDir };
}
