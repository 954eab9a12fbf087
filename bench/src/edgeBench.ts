/**
 * The edge on a router under load, against a bare C NFQUEUE accept loop on
 * the same traffic (the performance section). Needs root (network
 * namespaces, iptables, NFQUEUE), tcpdump, conntrack, cc and pkg-config
 * with libnetfilter_queue and libmnl; the project built (`npm run build`).
 *
 *   node bench/dist/edgeBench.js        (about 1 minute)
 *
 * Lab: client ns — router ns — server ns, veth pairs, addresses from
 * 198.18.0.0/15 only, everything removed at the end (also after a failure,
 * SIGINT or SIGTERM). The router gets the edge's own rules (packages/
 * netfilter, from the benchmark's edge configuration), so the C loop and
 * the edge see the same queue rule: packets 1..N+1 of every connection
 * whose connmark has no l7 bits. The server drops everything in raw
 * PREROUTING (no replies, no ICMP).
 *
 * Traffic: bench/c/flowgen.c in the client ns, pinned to CPU 0: many new
 * UDP flows from one raw socket (1024 sources x 50000 ports), DNS queries,
 * "GET / HTTP/1.1" over UDP, and payloads no pattern matches (12 packets:
 * unknown on packet 11). Consumers, pinned to CPU 1: bench/c/nfq_accept.c
 * (VERDICT_BATCH per read, and one verdict per packet), then
 * `l7mesh edge run --no-rules` (every thread of it on that one CPU, like
 * the single-threaded C loop). Generator and consumers run at nice -10
 * (EDGE_BENCH_NICE, applied to an autogroup of their own) so that other
 * work on the machine disturbs less; how much of the consumer's CPU others
 * still took is reported. Conntrack's UDP timeout in the router and the
 * edge's udpUnreplied are both 3 s: at tens of thousands of new flows a
 * second, 30 s would overflow the router's conntrack table (262144).
 *
 * Order per consumer: latency (steady: after a paced warm-up), then
 * throughput (1 s warm-up, then the measured run at full speed); for the
 * edge also latency right after the burst, while its flows idle out.
 *
 * Measured per consumer:
 *   - queued packets handled per second: the queue's id sequence
 *     (/proc/net/netfilter/nfnetlink_queue, packets delivered to the
 *     consumer) over the generator's run plus the drain; packets the full
 *     queue let through (FAIL_OPEN) are the queue rule's hits minus those;
 *   - CPU µs per packet: the consumer process's CPU time (/proc/PID/stat,
 *     all threads, 10 ms ticks) over the packets delivered to it;
 *   - verdict latency (paced traffic, tcpdump in the router): see edgeLatency.ts;
 * and, in separate processes, the flow table's memory per flow (edgeMemory.ts).
 * Results: a table on stdout and bench/results/edge-<date>.json.
 *
 * Knobs (environment): EDGE_BENCH_SECONDS (measured generator time per
 * consumer, default 6), EDGE_BENCH_WARMUP (1), EDGE_BENCH_LATENCY_PPS (20000),
 * EDGE_BENCH_LATENCY_FLOWS (15000), EDGE_BENCH_MEMORY_FLOWS (200000),
 * EDGE_BENCH_NICE (-10; 0: no priority change), EDGE_BENCH_PROFILE=1 (run
 * the edge with --cpu-prof and print where its CPU time went; profiling
 * slows it, so its numbers are then not comparable).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { edgeRulesConfig, loadEdgeConfig } from '@l7mesh/edge';
import { applyEdgeRules } from '@l7mesh/netfilter';
import { REPO_ROOT } from './benchPatterns.js';
import { loadCpuProfile, selfTimeShares } from './cpuProfile.js';
import { analyseLatency, type LatencyResult } from './edgeLatency.js';
import { run, sleep, type Spawned } from '@l7mesh/netns';
import { pct, si } from './measure.js';
import { compileHelpers, CONSUMER_CPU, cpuTicks, GEN_CPU, pinned as pinnedWith, processCpu, QueueLab, queueLine as queueLineOf, startQueueBench, type EdgeStatsJson, type GenResult } from './queueLab.js';

const num = (name: string, dflt: number) => (process.env[name] !== undefined && process.env[name] !== '' ? Number(process.env[name]) : dflt);
const SECONDS = num('EDGE_BENCH_SECONDS', 6);
const WARMUP_SECONDS = num('EDGE_BENCH_WARMUP', 1);
const LATENCY_PPS = num('EDGE_BENCH_LATENCY_PPS', 20_000);
const LATENCY_FLOWS = num('EDGE_BENCH_LATENCY_FLOWS', 15_000);
const MEMORY_FLOWS = num('EDGE_BENCH_MEMORY_FLOWS', 200_000);
const NICE = num('EDGE_BENCH_NICE', -10);
const PROFILE = process.env.EDGE_BENCH_PROFILE === '1';

const QUEUE = 7;
const METRICS_PORT = 9917;
const MASK = 0xff00;
const DSCP = 0x0a;
const SPACING = 1000;
const LATENCY_SPACING = 250;
const UDP_TIMEOUT = 3;

/** pinnedWith at EDGE_BENCH_NICE, or at the caller's priority (`boost` false: tcpdump). */
function pinned(cpu: number, argv: readonly string[], boost = true): string[] {
  return pinnedWith(cpu, argv, boost ? NICE : 0);
}

/** Our queue's line of nfnetlink_queue, through the consumer's /proc entry. */
const queueLine = (pid: number) => queueLineOf(pid, QUEUE);

// ------------------------------------------------------------------ the lab

let q: QueueLab;
let scratch = '';

async function conntrackFlush(): Promise<void> {
  await q.conntrackFlush();
}

/** Packets that hit the queue rules (L7MESH-QUEUE, tcp + udp). */
async function queueRuleHits(): Promise<number> {
  const { stdout } = await q.lab.exec(q.rtr, ['iptables-save', '-c', '-t', 'mangle']);
  let n = 0;
  for (const line of stdout.split('\n')) {
    const m = /^\[(\d+):\d+\] -A L7MESH-QUEUE /.exec(line);
    if (m) n += Number(m[1]);
  }
  return n;
}

/** Runs flowgen in the client namespace on fresh 5-tuples. */
function generate(opts: { seconds: number; pps?: number; flows?: number; spacing?: number }): Promise<GenResult> {
  return q.generate({ ...opts, spacing: opts.spacing ?? SPACING });
}

/** Waits until the kernel queue is empty (the consumer answered everything); returns the seconds waited. */
function drain(pid: number, timeoutMs = 5_000): Promise<number> {
  return q.drain(pid, QUEUE, timeoutMs);
}

// ------------------------------------------------------------------ consumers

type ConsumerKind = 'c-batch' | 'c-each' | 'edge';

interface Consumer {
  kind: ConsumerKind;
  label: string;
  proc: Spawned;
}

async function startConsumer(kind: ConsumerKind, configFile: string): Promise<Consumer> {
  if (kind === 'edge') {
    const bin = join(REPO_ROOT, 'services/cli/bin/l7mesh.js');
    const prof = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(scratch, 'profile')}`] : [];
    const proc = q.lab.spawn(q.rtr, pinned(CONSUMER_CPU, [process.execPath, ...prof, bin, 'edge', 'run', '--config', configFile, '--no-rules']));
    await proc.waitFor('edge: running', 60_000);
    return { kind, label: 'l7mesh edge', proc };
  }
  const variant = kind === 'c-batch' ? 'batch' : 'each';
  const proc = q.lab.spawn(q.rtr, pinned(CONSUMER_CPU, [join(scratch, 'nfq_accept'), '-q', String(QUEUE), '-v', variant, '-t', '900']));
  await proc.waitFor('ready', 10_000);
  return { kind, label: `C accept loop (${variant === 'batch' ? 'VERDICT_BATCH per read' : 'one verdict per packet'})`, proc };
}

const edgeStats = (): Promise<EdgeStatsJson> => q.edgeStats(METRICS_PORT);

interface ThroughputResult {
  consumer: string;
  kind: ConsumerKind;
  generator: GenResult;
  /** Packets offered to the queue rule (its counter) and delivered to the consumer (the queue's id sequence). */
  queueRuleHits: number;
  delivered: number;
  /** Let through by FAIL_OPEN while the queue was full (rule hits - delivered). */
  bypassedQueueFull: number;
  queueDropped: number;
  userDropped: number;
  windowSeconds: number;
  drainSeconds: number;
  handledPerSec: number;
  consumerCpuSeconds: number;
  cpuUsPerPacket: number;
  /** The consumer's share of its CPU over the window, and what everything else on that CPU took. */
  consumerCpuShare: number;
  othersOnConsumerCpuShare: number;
  /** Packets per CPU-second of the consumer (1e6 / cpuUsPerPacket): its capacity on a CPU of its own. */
  packetsPerCpuSecond: number;
  /** The consumer's own report: the C loop's JSON at exit, the edge's /stats deltas. */
  own?: unknown;
}

async function throughputRun(c: Consumer): Promise<ThroughputResult> {
  await conntrackFlush();
  if (WARMUP_SECONDS > 0) {
    await generate({ seconds: WARMUP_SECONDS });
    await drain(c.proc.pid);
  }
  const stats0 = c.kind === 'edge' ? await edgeStats() : undefined;
  const hits0 = await queueRuleHits();
  const q0 = queueLine(c.proc.pid);
  const cpu0 = processCpu(c.proc.pid);
  const ticks0 = cpuTicks(CONSUMER_CPU);
  const gen = await generate({ seconds: SECONDS });
  const drainSeconds = await drain(c.proc.pid);
  const ticks1 = cpuTicks(CONSUMER_CPU);
  const cpu1 = processCpu(c.proc.pid);
  const q1 = queueLine(c.proc.pid);
  const hits1 = await queueRuleHits();
  const stats1 = c.kind === 'edge' ? await edgeStats() : undefined;
  const delivered = q1.delivered - q0.delivered;
  const cpu = cpu1 - cpu0;
  const windowSeconds = gen.seconds + drainSeconds;
  const ticks = ticks1.total - ticks0.total;
  const busyShare = ticks > 0 ? (ticks1.busy - ticks0.busy) / ticks : NaN;
  const consumerShare = cpu / windowSeconds;
  let own: unknown;
  if (stats0 && stats1) {
    const flows: Record<string, number> = {};
    for (const p of stats1.protocols) flows[p.l7] = p.flows - (stats0.protocols.find((q) => q.l7 === p.l7)?.flows ?? 0);
    own = {
      received: stats1.packets.received - stats0.packets.received,
      batches: stats1.batches - stats0.batches,
      marked: stats1.verdicts.marked - stats0.verdicts.marked,
      flowsDecided: flows,
      flowTable: stats1.flows.active,
      liveUnset: stats1.live_unset.flows,
      source: stats1.source,
    };
  }
  return {
    consumer: c.label,
    kind: c.kind,
    generator: gen,
    queueRuleHits: hits1 - hits0,
    delivered,
    bypassedQueueFull: Math.max(0, hits1 - hits0 - delivered),
    queueDropped: q1.queueDropped - q0.queueDropped,
    userDropped: q1.userDropped - q0.userDropped,
    windowSeconds,
    drainSeconds,
    handledPerSec: delivered / windowSeconds,
    consumerCpuSeconds: cpu,
    cpuUsPerPacket: delivered > 0 ? (cpu * 1e6) / delivered : NaN,
    consumerCpuShare: consumerShare,
    othersOnConsumerCpuShare: Math.max(0, busyShare - consumerShare),
    packetsPerCpuSecond: cpu > 0 ? delivered / cpu : NaN,
    own,
  };
}

type LatencyPhase = 'steady' | 'after-burst';

interface LatencyRun extends LatencyResult {
  consumer: string;
  kind: ConsumerKind;
  /**
   * steady: after a paced warm-up, so the consumer's state is that of this
   * traffic (for the edge: its flow table expiring as many flows a second
   * as arrive). after-burst: right after the throughput run, while the
   * edge's table still holds that run's flows, which idle out (all at
   * once, conntrack's UDP timeout after they stopped) during the capture.
   */
  phase: LatencyPhase;
  generator: GenResult;
  /** Queue rule hits and packets delivered during the capture; the difference passed the full queue unseen. */
  queueRuleHits: number;
  delivered: number;
  bypassedQueueFull: number;
  tcpdumpDropped: number;
}

async function latencyRun(c: Consumer, phase: LatencyPhase): Promise<LatencyRun> {
  if (phase === 'steady') {
    await conntrackFlush();
    await generate({ seconds: WARMUP_SECONDS, pps: LATENCY_PPS, spacing: LATENCY_SPACING });
    await drain(c.proc.pid);
  }
  const files = { in: join(scratch, `${c.kind}-${phase}-in.pcap`), out: join(scratch, `${c.kind}-${phase}-out.pcap`) };
  const capture = (dev: string, dir: string, file: string) =>
    q.lab.spawn(q.rtr, pinned(GEN_CPU, ['tcpdump', '-i', dev, '-Q', dir, '-n', '-s', '64', '-B', '32768', '--time-stamp-precision', 'nano', '-w', file, 'udp'], false));
  const caps = [capture('veth0', 'in', files.in), capture('veth1', 'out', files.out)];
  try {
    for (const cap of caps) await cap.waitFor('listening on', 10_000);
    const hits0 = await queueRuleHits();
    const q0 = queueLine(c.proc.pid);
    const gen = await generate({ seconds: 30, pps: LATENCY_PPS, flows: LATENCY_FLOWS, spacing: LATENCY_SPACING });
    await drain(c.proc.pid);
    const q1 = queueLine(c.proc.pid);
    const hits1 = await queueRuleHits();
    // tcpdump hands packets over in blocks with a 1 s timeout, and a block
    // not handed over when it is stopped is lost: wait for the last one.
    await sleep(1_200);
    let dropped = 0;
    for (const cap of caps) {
      await cap.stop('SIGINT', 5_000);
      dropped += Number(/(\d+) packets? dropped by kernel/.exec(cap.stderr)?.[1] ?? 0);
    }
    const delivered = q1.delivered - q0.delivered;
    return {
      consumer: c.label,
      kind: c.kind,
      phase,
      generator: gen,
      queueRuleHits: hits1 - hits0,
      delivered,
      bypassedQueueFull: Math.max(0, hits1 - hits0 - delivered),
      tcpdumpDropped: dropped,
      ...analyseLatency(files.in, files.out),
    };
  } finally {
    for (const cap of caps) if (cap.running) await cap.stop('SIGKILL', 2_000);
    rmSync(files.in, { force: true });
    rmSync(files.out, { force: true });
  }
}

async function stopConsumer(c: Consumer): Promise<unknown> {
  const { code } = await c.proc.stop('SIGTERM', 15_000);
  if (c.kind === 'edge') return { exit: code };
  try {
    return JSON.parse(c.proc.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { exit: code, stdout: c.proc.stdout, stderr: c.proc.stderr };
  }
}

/** Self time per function of the edge's CPU profile (EDGE_BENCH_PROFILE=1), busiest first, as shares of the non-idle time. */
function profileSummary(dir: string, top = 15): { function: string; share: number }[] {
  const prof = loadCpuProfile(dir);
  return prof ? selfTimeShares(prof, top).functions : [];
}

// ------------------------------------------------------------------ memory

interface MemoryResult {
  scenario: string;
  flows: number;
  flowsInTable: number;
  decisions: Record<string, number>;
  heapBytesPerFlow: number;
  externalBytesPerFlow: number;
  rssBytesPerFlow: number;
  flowsPerSec: number;
}

/** One memory scenario in a child process (asynchronously, so that a signal is still handled meanwhile). */
async function memoryRun(scenario: string, patternDir: string): Promise<MemoryResult> {
  const r = await run([process.execPath, '--expose-gc', join(REPO_ROOT, 'bench/dist/edgeMemory.js'), scenario, String(MEMORY_FLOWS), patternDir], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`edgeMemory ${scenario} failed (${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as MemoryResult;
}

// ------------------------------------------------------------------ main

function fmtUs(v: number): string {
  return Number.isFinite(v) ? (v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(0)} µs`) : '-';
}

async function main(): Promise<void> {
  const bench = startQueueBench('l7bench', 'edge bench', NICE);
  ({ scratch, q } = bench);
  const { log, patternDir } = bench;
  const configFile = join(scratch, 'edge.yaml');
  writeFileSync(
    configFile,
    [
      `queue: { num: ${QUEUE} }`,
      'classification: { patterns: [patterns] }',
      'marks:',
      `  mask: 0x${MASK.toString(16).padStart(8, '0')}`,
      '  unknown: 0xf00',
      '  protocols: { dns: 0x100, http: 0x200 }',
      `flows: { timeouts: { udpUnreplied: ${UDP_TIMEOUT} } }`,
      `metrics: { port: ${METRICS_PORT} }`,
      '',
    ].join('\n'),
  );

  const interrupted = q.cleanupOnSignal('edge bench', scratch);

  const throughput: ThroughputResult[] = [];
  const latency: LatencyRun[] = [];
  const exits: Record<string, unknown> = {};
  let labError: string | undefined;
  const root = process.getuid?.() === 0;
  try {
    if (!root) throw new Error('not root: the router lab needs network namespaces, iptables and NFQUEUE');
    compileHelpers(scratch);
    log(`lab ${q.lab.prefix}{cli,rtr,srv}; consumers on CPU ${CONSUMER_CPU}, generator on CPU ${GEN_CPU}, nice ${NICE}`);
    await q.build();
    const config = loadEdgeConfig(configFile);
    await applyEdgeRules(edgeRulesConfig(config), { netns: q.rtr });
    // Make "left the router with an l7 mark" visible on the wire, for the latency captures.
    await q.lab.exec(q.rtr, ['iptables', '-t', 'mangle', '-A', 'POSTROUTING', '-o', 'veth1', '-m', 'mark', '!', '--mark', `0x0/0x${MASK.toString(16)}`, '-j', 'DSCP', '--set-dscp', String(DSCP)]);
    await q.lab.exec(q.rtr, ['sysctl', '-qw', `net.netfilter.nf_conntrack_udp_timeout=${UDP_TIMEOUT}`]);

    for (const kind of ['c-batch', 'c-each', 'edge'] as const) {
      const c = await startConsumer(kind, configFile);
      try {
        if (kind !== 'c-each') {
          log(`${c.label}: latency, ${LATENCY_FLOWS} flows at ${LATENCY_PPS} packets/s`);
          latency.push(await latencyRun(c, 'steady'));
        }
        log(`${c.label}: ${WARMUP_SECONDS} s warm-up + ${SECONDS} s of flows`);
        throughput.push(await throughputRun(c));
        if (kind === 'edge') {
          log(`${c.label}: latency while the burst's flows idle out`);
          latency.push(await latencyRun(c, 'after-burst'));
        }
      } finally {
        exits[kind] = await stopConsumer(c);
      }
    }
  } catch (err) {
    labError = err instanceof Error ? err.message : String(err);
    log(`lab: ${labError}`);
  } finally {
    await q.cleanup();
  }

  if (interrupted()) return;
  const profile = PROFILE ? profileSummary(join(scratch, 'profile')) : undefined;
  log(`memory: ${MEMORY_FLOWS} flows per scenario`);
  const memory: MemoryResult[] = [];
  for (const s of ['classifier-decided', 'edge-decided', 'classifier-open', 'edge-open']) memory.push(await memoryRun(s, patternDir));
  rmSync(scratch, { recursive: true, force: true });
  if (interrupted()) return;

  // ---------------------------------------------------------------- report
  const style = { head: [], border: [] };
  const tput = new Table({
    head: ['consumer', 'offered pkt/s', 'new flows/s', 'queued pkts', 'handled pkt/s', 'passed queue full', 'CPU µs/pkt', 'consumer CPU', 'others on its CPU', 'pkts per CPU-s'],
    style,
  });
  for (const r of throughput) {
    tput.push([
      r.consumer,
      si(r.generator.pps),
      si(r.generator.flows / r.generator.seconds),
      r.delivered,
      si(r.handledPerSec),
      r.bypassedQueueFull,
      r.cpuUsPerPacket.toFixed(2),
      pct(r.consumerCpuShare),
      pct(r.othersOnConsumerCpuShare),
      si(r.packetsPerCpuSecond),
    ]);
  }
  const lat = new Table({
    head: ['consumer', 'phase', 'flows', 'first packet in->out p50', 'p99', 'first payload packet -> mark applied p50', 'p99', 'max', 'deciding packet (N+1) in->out p50', 'p99', 'passed queue full', 'never marked'],
    style,
  });
  for (const r of latency) {
    lat.push([
      r.consumer,
      r.phase,
      r.flows,
      fmtUs(r.firstPacketTransitUs.p50),
      fmtUs(r.firstPacketTransitUs.p99),
      fmtUs(r.markOnFirstPacketUs.p50),
      fmtUs(r.markOnFirstPacketUs.p99),
      fmtUs(r.markOnFirstPacketUs.max),
      fmtUs(r.decidingPacketTransitUs.p50),
      fmtUs(r.decidingPacketTransitUs.p99),
      r.bypassedQueueFull,
      r.kind === 'edge' ? r.flowsNeverMarked : '-',
    ]);
  }
  const mem = new Table({ head: ['flow table', 'flows', 'JS heap B/flow', 'external B/flow', 'RSS B/flow', 'verdicts', 'flows/s'], style });
  for (const m of memory) {
    mem.push([m.scenario, m.flowsInTable, m.heapBytesPerFlow.toFixed(0), m.externalBytesPerFlow.toFixed(0), m.rssBytesPerFlow.toFixed(0), JSON.stringify(m.decisions), si(m.flowsPerSec)]);
  }

  const cBatch = throughput.find((r) => r.kind === 'c-batch');
  const cEach = throughput.find((r) => r.kind === 'c-each');
  const edge = throughput.find((r) => r.kind === 'edge');
  const edgeMem = memory.find((m) => m.scenario === 'edge-decided')!;
  const ratios = {
    handledPpsVsCBatch: edge && cBatch ? edge.handledPerSec / cBatch.handledPerSec : NaN,
    handledPpsVsCEach: edge && cEach ? edge.handledPerSec / cEach.handledPerSec : NaN,
    capacityVsCBatch: edge && cBatch ? edge.packetsPerCpuSecond / cBatch.packetsPerCpuSecond : NaN,
    capacityVsCEach: edge && cEach ? edge.packetsPerCpuSecond / cEach.packetsPerCpuSecond : NaN,
  };
  const memPerFlow = edgeMem.heapBytesPerFlow + Math.max(0, edgeMem.externalBytesPerFlow);
  const targets = {
    edgeAtLeastHalfOfC: { target: 0.5, handledPps: ratios.handledPpsVsCBatch, capacity: ratios.capacityVsCBatch, met: ratios.capacityVsCBatch >= 0.5 && ratios.handledPpsVsCBatch >= 0.5 },
    bytesPerFlow: { target: 200, measured: memPerFlow, met: memPerFlow <= 200 },
  };

  const out = process.stdout;
  out.write(`machine: ${cpus().length} CPUs (${cpus()[0]?.model}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}\n`);
  if (labError) out.write(`router lab not run: ${labError}\n`);
  if (throughput.length > 0) {
    out.write(`queue ${QUEUE} in the router ns; ${SECONDS} s of traffic per consumer (fresh 5-tuples each run): 50% DNS, 30% HTTP GET over UDP (2 packets each), 20% unmatched (12 packets)\n`);
    out.write(`${tput.toString()}\n`);
    if (edge?.own) out.write(`edge, measured run: ${JSON.stringify(edge.own)}\n`);
    out.write(
      `edge / bare C loop: handled packets/s ${ratios.handledPpsVsCBatch.toFixed(2)}x (vs one verdict per packet: ${ratios.handledPpsVsCEach.toFixed(2)}x); ` +
        `packets per CPU-second ${ratios.capacityVsCBatch.toFixed(2)}x (${ratios.capacityVsCEach.toFixed(2)}x)\n`,
    );
    const bound = throughput.filter((r) => r.bypassedQueueFull === 0).map((r) => r.consumer);
    if (bound.length > 0) out.write(`kept up with everything offered (the generator was the limit, not the consumer): ${bound.join('; ')}\n`);
  }
  if (latency.length > 0) {
    out.write(`verdict latency: ${LATENCY_FLOWS} flows at ${LATENCY_PPS} packets/s, tcpdump on the router's ingress and egress (ns timestamps; marked packets carry DSCP ${DSCP} set in POSTROUTING)\n`);
    out.write(`${lat.toString()}\n`);
    for (const r of latency.filter((l) => l.kind === 'edge')) out.write(`edge, ${r.phase}: flows by the packet that carried the mark: ${JSON.stringify(r.markedOnPacket)}\n`);
    const drops = latency.reduce((n, r) => n + r.tcpdumpDropped, 0);
    if (drops > 0) out.write(`tcpdump dropped ${drops} packets: some flows are missing from the latency figures\n`);
  }
  if (profile && profile.length > 0) {
    out.write(`edge CPU profile (--cpu-prof; self time, share of busy time; includes startup):\n`);
    for (const p of profile) out.write(`  ${(p.share * 100).toFixed(1).padStart(5)}%  ${p.function}\n`);
  }
  out.write(`${mem.toString()}\n`);
  out.write(
    `targets: edge >= 0.5x the bare C loop: ${targets.edgeAtLeastHalfOfC.met ? 'met' : 'NOT met'} (handled ${ratios.handledPpsVsCBatch.toFixed(2)}x, per CPU ${ratios.capacityVsCBatch.toFixed(2)}x); ` +
      `<= 200 B per tracked flow: ${targets.bytesPerFlow.met ? 'met' : 'NOT met'} (${memPerFlow.toFixed(0)} B, EdgeCore, decided flows, JS heap + external)\n`,
  );

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadavg: loadavg() },
    setup: {
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      queue: QUEUE,
      nice: NICE,
      generatorCpu: GEN_CPU,
      consumerCpu: CONSUMER_CPU,
      spacing: SPACING,
      conntrackUdpTimeout: UDP_TIMEOUT,
      traffic: '50% DNS query x2, 30% HTTP GET over UDP x2, 20% unmatched x12; fresh 5-tuples per run',
      latency: { pps: LATENCY_PPS, flows: LATENCY_FLOWS, spacing: LATENCY_SPACING },
      profiled: PROFILE,
      memoryFlows: MEMORY_FLOWS,
    },
    labError,
    throughput,
    latency,
    memory,
    edgeProfile: profile,
    consumerExits: exits,
    ratios,
    targets,
  };
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `edge-${results.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  out.write(`written: ${file}\n`);
  if (labError) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  process.stderr.write(`edge bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  await q?.cleanup();
  process.exitCode = 1;
});

