/**
 * The stateless edge mode (issue 10, "Performance"), in one run:
 *
 *   node bench/dist/statelessBench.js        (about 2 minutes)
 *
 * 1. Packets/s on a router (root: network namespaces, nftables, iptables,
 *    NFQUEUE; tcpdump is not needed), the lab and traffic of edgeBench.ts
 *    (queueLab.ts; bench/c/flowgen.c: many new UDP flows, 50% DNS, 30% HTTP
 *    GET over UDP, 20% unmatched payloads of 12 packets), five consumers on
 *    CPU 1 one after the other, each on fresh 5-tuples:
 *      conntrack rules (applyEdgeRules: connmark, connbytes 0:N+1):
 *        the bare C accept loop (nfq_accept, VERDICT_BATCH per read);
 *        `l7mesh edge run --no-rules` in conntrack mode;
 *      the stateless table (applyStatelessRules: flow sets keyed on the
 *      5-tuple, unknown packets tagged, one iptables NFQUEUE rule on the
 *      tag, as on this kernel without nft's queue statement):
 *        the bare C accept loop: it adds no elements, so every packet of
 *        every flow is queued (the same queue rule the edge has, and more
 *        packets per flow than the edge lets through);
 *        `l7mesh edge run` in stateless mode (it installs the same table;
 *        its verdicts' packets add the flows' hold and mark elements).
 *        Standalone (no flow records), its elements have no counters and
 *        renew themselves: the kernel renews a live flow's and lets an
 *        idle flow's expire, and the edge books each flow in its
 *        flow-table entry (RenewingBook);
 *        the same with `elementCounters: true`, the table an edge that
 *        publishes flow records has: a live set, and sweeps that read the
 *        due flows' live elements and remove the ended flows' elements
 *        (the removals do not read the counts back here: nothing takes
 *        them without a cluster).
 *    The C loop on the stateless table and the standalone stateless edge
 *    run in turn for STATELESS_BENCH_ROUNDS rounds: the machine's speed
 *    drifts between runs (shared vCPUs), so their ratio is taken per round
 *    and the target judged on the medians.
 *    Measured as edgeBench.ts does: queued packets handled per second
 *    (the queue's id sequence over the generator's run plus the drain),
 *    packets the full queue let through (FAIL_OPEN), CPU µs per packet and
 *    packets per CPU-second of the consumer (its capacity on a CPU of its
 *    own); for the stateless edge also the table's counters and its book.
 * 2. Packets queued per flow, for flows longer than the budget: after a
 *    warm-up, the conntrack edge and the stateless one with element
 *    counters (the kernel's view needs them) each get LONG_FLOWS flows of
 *    20 packets each (DNS and HTTP decided on their first packet, unmatched
 *    ones `unknown` on packet N+1), paced (a flow's packets 10 ms apart);
 *    per flow the packets the edge received (its /flows), and for the
 *    stateless table also the kernel's view: the flow's packets less those
 *    its elements counted after the packet that added them (the elements
 *    outlive the run: liveTimeout is longer than it). Target: budget + 1
 *    at most. Also the edge's CPU for that paced load, until the
 *    sweep has ended the run's flows.
 * 3. Pickup latency: pickupLatency.js in a child (nats-server, a worker, two
 *    edges in remote mode; see there).
 * 4. Memory per flow of the stateless book: statelessMemory.js with
 *    --expose-gc (renewing, decided, held, learned: see there); beside it, in the
 *    same run, the edge's flow table (edgeMemory.js edge-decided, conntrack
 *    mode's figure). Target <= 200 B, for the largest of the book's kinds.
 * Results: tables on stdout and bench/results/stateless-<date>.json.
 *
 * The stateless edge's settings here: liveTimeout 5 s and sweepInterval 1 s
 * (the defaults, 30 s and 5 s, would hold tens of seconds of a synthetic
 * flood of new flows), mapSize 2^21 elements per set (a flow takes two),
 * interfaces: the router's two veth ends (not loopback);
 * conntrack's UDP timeout and the edges' udpUnreplied are 3 s, as in
 * edgeBench.ts.
 *
 * Knobs (environment): STATELESS_BENCH_SECONDS (measured generator time per
 * consumer, default 6), STATELESS_BENCH_WARMUP (1), STATELESS_BENCH_PPS (the
 * packets/s offered to each consumer; unset: as fast as the generator
 * sends, which overloads the edges), STATELESS_BENCH_LONG_FLOWS
 * (4000), STATELESS_BENCH_LONG_PPS (40000), STATELESS_BENCH_ROUNDS (3), STATELESS_BENCH_PICKUP_FLOWS
 * (2000), STATELESS_BENCH_PICKUP_RATE (1000 flows/s),
 * STATELESS_BENCH_MEMORY_FLOWS (200000), STATELESS_BENCH_MAXLEN (the edges'
 * queue.maxLen; default the edge's, 4096), STATELESS_BENCH_NICE (-10; 0: no
 * priority change), STATELESS_BENCH_PROFILE=1 (the edges with --cpu-prof:
 * where their main thread's time went; profiling slows them, so their
 * numbers are then not comparable).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { edgeRulesConfig, loadEdgeConfig, MarkPolicy, statelessRulesConfig } from '@l7mesh/edge';
import {
  applyEdgeRules,
  applyStatelessRules,
  parseCounters,
  parseFlowSets,
  removeEdgeRules,
  removeStatelessRules,
  type CounterValue,
} from '@l7mesh/netfilter';
import { run, sleep, type Spawned } from '@l7mesh/netns';
import { REPO_ROOT } from './benchPatterns.js';
import { loadCpuProfile, selfTimeShares } from './cpuProfile.js';
import { envNumber, fixed, pct, si } from './measure.js';
import { compileHelpers, CONSUMER_CPU, cpuTicks, flowgenTuple, GEN_CPU, LAB_ADDRESSES, pinned, processCpu, QueueLab, queueLine, startQueueBench, type EdgeStatsJson, type GenResult } from './queueLab.js';
import { processCpuSplit } from './cpu.js';
import type { Quantiles } from './quantiles.js';

const SECONDS = envNumber('STATELESS_BENCH_SECONDS', 6);
const WARMUP_SECONDS = envNumber('STATELESS_BENCH_WARMUP', 1);
/** Offered packets/s in the throughput runs (0, when unset: unpaced). */
const OFFERED_PPS = envNumber('STATELESS_BENCH_PPS', 0);
const offered = OFFERED_PPS > 0 ? { pps: OFFERED_PPS } : {};
const LONG_FLOWS = envNumber('STATELESS_BENCH_LONG_FLOWS', 4000);
const LONG_PPS = envNumber('STATELESS_BENCH_LONG_PPS', 40_000);
const PICKUP_FLOWS = envNumber('STATELESS_BENCH_PICKUP_FLOWS', 2000);
const PICKUP_RATE = envNumber('STATELESS_BENCH_PICKUP_RATE', 1000);
const MEMORY_FLOWS = envNumber('STATELESS_BENCH_MEMORY_FLOWS', 200_000);
const ROUNDS = envNumber('STATELESS_BENCH_ROUNDS', 3);
const NICE = process.env.STATELESS_BENCH_NICE ? Number(process.env.STATELESS_BENCH_NICE) : -10;
const PROFILE = process.env.STATELESS_BENCH_PROFILE === '1';
/** The edges' queue.maxLen; unset: the edge's default. */
const QUEUE_MAXLEN = process.env.STATELESS_BENCH_MAXLEN ? envNumber('STATELESS_BENCH_MAXLEN', 0) : undefined;

const QUEUE = 7;
const METRICS_PORT = 9917;
const MASK = 0xff00;
const TABLE = 'l7mesh';
const UDP_TIMEOUT = 3;
const LIVE_TIMEOUT = 5;
const SWEEP_INTERVAL = 1;
const MAP_SIZE = 1 << 21;
/** Packets of every flow of the queued-per-flow run (longer than the budget). */
const LONG_PACKETS = 20;
/** Flow starts between two packets of a flow in that run: each flow lasts well under liveTimeout. */
const LONG_SPACING = 20;
const SPACING = 1000;
/**
 * The router's veth ends (queueLab.ts). Without `interfaces` the stateless
 * table queues loopback packets too, among them the bench's own requests to
 * the edge's /stats and /flows, whose packets then advance the edge's flow
 * table clock and expire the flows being counted.
 */
const ROUTER_INTERFACES = ['veth0', 'veth1'];

// ------------------------------------------------------------------ consumers

type ConsumerKind = 'c-conntrack' | 'edge-conntrack' | 'c-stateless' | 'edge-stateless' | 'edge-stateless-counters';
type Rules = 'conntrack' | 'stateless';
const rulesOf = (kind: ConsumerKind): Rules => (kind.includes('stateless') ? 'stateless' : 'conntrack');
/** The pair the target compares, run ROUNDS times in turn. */
const PAIRED: readonly ConsumerKind[] = ['c-stateless', 'edge-stateless'];

interface Consumer {
  kind: ConsumerKind;
  rules: Rules;
  label: string;
  proc: Spawned;
}

const LABELS: Record<ConsumerKind, string> = {
  'c-conntrack': 'C accept loop, conntrack rules',
  'edge-conntrack': 'l7mesh edge, conntrack mode',
  'c-stateless': 'C accept loop, stateless table',
  'edge-stateless': 'l7mesh edge, stateless mode',
  'edge-stateless-counters': 'l7mesh edge, stateless, element counters',
};

let q: QueueLab;
let scratch = '';
const profileDir = (kind: ConsumerKind) => join(scratch, `profile-${kind}`);

async function startConsumer(kind: ConsumerKind, configFile: string): Promise<Consumer> {
  const rules = rulesOf(kind);
  if (kind.startsWith('edge')) {
    const bin = join(REPO_ROOT, 'services/cli/bin/l7mesh.js');
    // Stateless mode installs its own table (--no-rules does not apply to it).
    const prof = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir(kind)}`] : [];
    const argv = [process.execPath, ...prof, bin, 'edge', 'run', '--config', configFile, ...(rules === 'conntrack' ? ['--no-rules'] : [])];
    const proc = q.lab.spawn(q.rtr, pinned(CONSUMER_CPU, argv, NICE));
    await proc.waitFor('edge: running', 60_000);
    return { kind, rules, label: LABELS[kind], proc };
  }
  const proc = q.lab.spawn(q.rtr, pinned(CONSUMER_CPU, [join(scratch, 'nfq_accept'), '-q', String(QUEUE), '-v', 'batch', '-t', '900'], NICE));
  await proc.waitFor('ready', 10_000);
  return { kind, rules, label: LABELS[kind], proc };
}

async function stopConsumer(c: Consumer): Promise<unknown> {
  const { code } = await c.proc.stop('SIGTERM', 15_000);
  if (c.kind.startsWith('edge')) return { exit: code, log: c.proc.stderr.split('\n').filter((l) => /warning|error|stateless/i.test(l)).slice(-10) };
  try {
    return JSON.parse(c.proc.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { exit: code, stdout: c.proc.stdout, stderr: c.proc.stderr };
  }
}

const edgeStats = (): Promise<EdgeStatsJson> => q.edgeStats(METRICS_PORT);

interface FlowJson {
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  l7: string;
  queued: number;
}

async function edgeFlows(): Promise<FlowJson[]> {
  const r = await q.lab.exec(q.rtr, ['curl', '-s', '-S', '--max-time', '30', `http://127.0.0.1:${METRICS_PORT}/flows`], { timeoutMs: 40_000 });
  return JSON.parse(r.stdout) as FlowJson[];
}

/**
 * The stateless table's named counters (empty, with a warning, when nft
 * fails: no table, or a listing that did not finish in time; nft 1.0.6 may
 * take seconds while the edge commits to sets of 100k elements).
 */
async function nftCounters(): Promise<Record<string, CounterValue>> {
  const r = await q.lab.exec(q.rtr, ['nft', '-j', 'list', 'counters', 'table', 'inet', TABLE], { allowFail: true, timeoutMs: 60_000 });
  if (r.code === 0) return parseCounters(r.stdout);
  process.stderr.write(`stateless bench: warning: nft list counters failed (${r.code}): ${r.stderr.trim().split('\n')[0] ?? ''}\n`);
  return {};
}

function counterDeltas(after: Record<string, CounterValue>, before: Record<string, CounterValue>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(after)) out[name] = v.packets - (before[name]?.packets ?? 0);
  return out;
}

// ------------------------------------------------------------------ throughput

interface ThroughputResult {
  consumer: string;
  kind: ConsumerKind;
  /** The round of the C loop / stateless edge pair (1..ROUNDS); 1 for the others. */
  round: number;
  rules: Rules;
  generator: GenResult;
  /** Packets the NFQUEUE rule sent to the queue (its counter) and those delivered to the consumer (the queue's id sequence). */
  queueRuleHits: number;
  delivered: number;
  /** Let through by FAIL_OPEN while the queue was full (rule hits - delivered). */
  bypassedQueueFull: number;
  queueDropped: number;
  userDropped: number;
  windowSeconds: number;
  drainSeconds: number;
  handledPerSec: number;
  queuedPerFlow: number;
  consumerCpuSeconds: number;
  cpuUsPerPacket: number;
  /** Of the consumer's CPU, the share spent in the kernel (its stime: verdicts, reinjection, the nft rules run for the packets it sends back). */
  kernelShare: number;
  consumerCpuShare: number;
  othersOnConsumerCpuShare: number;
  /** Packets per CPU-second of the consumer (1e6 / cpuUsPerPacket): its capacity on a CPU of its own. */
  packetsPerCpuSecond: number;
  /** Stateless table: its named counters over the run (packets). */
  tableCounters?: Record<string, number>;
  /** The edge's /stats deltas (and its book at the end, stateless mode). */
  edge?: unknown;
}

async function throughputRun(c: Consumer, round: number): Promise<ThroughputResult> {
  await q.conntrackFlush();
  if (WARMUP_SECONDS > 0) {
    await q.generate({ seconds: WARMUP_SECONDS, spacing: SPACING, ...offered });
    await q.drain(c.proc.pid, QUEUE);
  }
  const isEdge = c.kind.startsWith('edge');
  const stats0 = isEdge ? await edgeStats() : undefined;
  const nft0 = c.rules === 'stateless' ? await nftCounters() : undefined;
  const hits0 = await q.nfqueueRuleHits();
  const q0 = queueLine(c.proc.pid, QUEUE);
  const cpu0 = processCpuSplit(c.proc.pid);
  const ticks0 = cpuTicks(CONSUMER_CPU);
  const gen = await q.generate({ seconds: SECONDS, spacing: SPACING, ...offered });
  const drainSeconds = await q.drain(c.proc.pid, QUEUE);
  const ticks1 = cpuTicks(CONSUMER_CPU);
  const cpu1 = processCpuSplit(c.proc.pid);
  const q1 = queueLine(c.proc.pid, QUEUE);
  const hits1 = await q.nfqueueRuleHits();
  const nft1 = nft0 ? await nftCounters() : undefined;
  const stats1 = isEdge ? await edgeStats() : undefined;
  const delivered = q1.delivered - q0.delivered;
  const cpu = cpu1.total - cpu0.total;
  const windowSeconds = gen.seconds + drainSeconds;
  const ticks = ticks1.total - ticks0.total;
  const busyShare = ticks > 0 ? (ticks1.busy - ticks0.busy) / ticks : NaN;
  let edge: unknown;
  if (stats0 && stats1) {
    const flows: Record<string, number> = {};
    for (const p of stats1.protocols) flows[p.l7] = p.flows - (stats0.protocols.find((x) => x.l7 === p.l7)?.flows ?? 0);
    const book: Record<string, number> = {};
    for (const [k, v] of Object.entries(stats1.stateless ?? {})) book[k] = k === 'flows' ? v : v - (stats0.stateless?.[k] ?? 0);
    edge = {
      received: stats1.packets.received - stats0.packets.received,
      batches: stats1.batches - stats0.batches,
      marked: stats1.verdicts.marked - stats0.verdicts.marked,
      flowsDecided: flows,
      flowTable: stats1.flows.active,
      liveUnset: stats1.live_unset.flows,
      source: stats1.source,
      ...(stats1.stateless ? { book } : {}),
    };
  }
  return {
    consumer: ROUNDS > 1 && PAIRED.includes(c.kind) ? `${c.label} (round ${round})` : c.label,
    kind: c.kind,
    round,
    rules: c.rules,
    generator: gen,
    queueRuleHits: hits1 - hits0,
    delivered,
    bypassedQueueFull: Math.max(0, hits1 - hits0 - delivered),
    queueDropped: q1.queueDropped - q0.queueDropped,
    userDropped: q1.userDropped - q0.userDropped,
    windowSeconds,
    drainSeconds,
    handledPerSec: delivered / windowSeconds,
    queuedPerFlow: (hits1 - hits0) / gen.flows,
    consumerCpuSeconds: cpu,
    cpuUsPerPacket: delivered > 0 ? (cpu * 1e6) / delivered : NaN,
    kernelShare: cpu > 0 ? (cpu1.sys - cpu0.sys) / cpu : NaN,
    consumerCpuShare: cpu / windowSeconds,
    othersOnConsumerCpuShare: Math.max(0, busyShare - cpu / windowSeconds),
    packetsPerCpuSecond: cpu > 0 ? delivered / cpu : NaN,
    ...(nft0 && nft1 ? { tableCounters: counterDeltas(nft1, nft0) } : {}),
    ...(edge ? { edge } : {}),
  };
}

// ------------------------------------------------------------------ queued per flow

interface PerFlowStats {
  flows: number;
  max: number;
  mean: number;
  /** Packets queued -> flows. */
  histogram: Record<string, number>;
}

interface QueuedPerFlowResult {
  consumer: string;
  kind: ConsumerKind;
  generator: GenResult;
  packetsPerFlow: number;
  budget: number;
  /** The edge's view (/flows: packets it received of each flow), all flows and per kind. */
  edge: { all: PerFlowStats; byKind: Record<string, PerFlowStats>; missing: number };
  /** Stateless: the kernel's view (packets less what the flow's elements counted), and the table's counters over the run. */
  kernel?: { all: PerFlowStats; byKind: Record<string, PerFlowStats>; withoutElements: number };
  tableCounters?: Record<string, number>;
  /**
   * The edge's cost at this paced load, from the run's start until the
   * stateless edge's sweep has ended the run's flows (liveTimeout and two
   * sweeps after the last packet; the same wait in conntrack mode; idle
   * time included): CPU seconds, per flow and per queued packet, and
   * packets the queue let through full (0: it kept up).
   */
  paced: { seconds: number; delivered: number; bypassedQueueFull: number; cpuSeconds: number; cpuUsPerFlow: number; cpuUsPerQueuedPacket: number };
}

function perFlowStats(values: number[]): PerFlowStats {
  const histogram: Record<string, number> = {};
  for (const v of values) histogram[v] = (histogram[v] ?? 0) + 1;
  return { flows: values.length, max: values.length > 0 ? Math.max(...values) : NaN, mean: values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : NaN, histogram };
}

function byKind(values: Map<number, number>): { all: PerFlowStats; byKind: Record<string, PerFlowStats> } {
  const kinds: Record<string, number[]> = {};
  for (const [i, v] of values) (kinds[flowgenTuple(i).kind] ??= []).push(v);
  return { all: perFlowStats([...values.values()]), byKind: Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, perFlowStats(v)])) };
}

/**
 * LONG_FLOWS flows of LONG_PACKETS packets each through the edge, paced;
 * then each flow's queued packets from the edge's /flows and (stateless)
 * from the table's elements.
 */
async function queuedPerFlowRun(c: Consumer, budget: number): Promise<QueuedPerFlowResult> {
  await q.conntrackFlush();
  // Warm-up, then let its flows idle out (the edge's table: udpUnreplied, so that /flows stays short;
  // the stateless book: liveTimeout and two sweeps, so that ending them is not this run's cost).
  await q.generate({ seconds: WARMUP_SECONDS, pps: 20_000, spacing: SPACING });
  await q.drain(c.proc.pid, QUEUE);
  await sleep((Math.max(UDP_TIMEOUT, LIVE_TIMEOUT + 2 * SWEEP_INTERVAL) + 0.5) * 1000);
  const nft0 = c.rules === 'stateless' ? await nftCounters() : undefined;
  const first = q.nextFlow;
  const t0 = performance.now();
  const cpu0 = processCpu(c.proc.pid);
  const q0 = queueLine(c.proc.pid, QUEUE);
  const hits0 = await q.nfqueueRuleHits();
  const gen = await q.generate(
    { seconds: 60, pps: LONG_PPS, flows: LONG_FLOWS, spacing: LONG_SPACING, packets: LONG_PACKETS, noisePackets: LONG_PACKETS },
    first,
  );
  await q.drain(c.proc.pid, QUEUE);
  const doneAt = performance.now();
  const hits1 = await q.nfqueueRuleHits();
  const delivered = queueLine(c.proc.pid, QUEUE).delivered - q0.delivered;
  // The table first: a flow's elements are deleted liveTimeout after its last packet.
  let kernel: QueuedPerFlowResult['kernel'];
  let tableCounters: Record<string, number> | undefined;
  if (nft0) {
    const listing = await q.lab.exec(q.rtr, ['nft', '-j', 'list', 'table', 'inet', TABLE], { timeoutMs: 60_000 });
    tableCounters = counterDeltas(parseCounters(listing.stdout), nft0);
    const counted = new Map<string, number>();
    for (const e of parseFlowSets(listing.stdout)) {
      const k = `${e.key.src}:${e.key.sport}`;
      const other = `${e.key.dst}:${e.key.dport}`;
      // An element of either direction; the flow is known by its client's end.
      const id = e.key.dst === LAB_ADDRESSES.server ? k : other;
      counted.set(id, (counted.get(id) ?? 0) + e.packets);
    }
    const values = new Map<number, number>();
    let withoutElements = 0;
    for (let i = first; i < first + gen.flows; i++) {
      const t = flowgenTuple(i);
      const matched = counted.get(`${t.src}:${t.sport}`);
      if (matched === undefined) withoutElements++;
      // The packet whose verdict added the elements was queued, and each direction's new element counted it once.
      values.set(i, LONG_PACKETS - (matched === undefined ? 0 : matched - 2));
    }
    kernel = { ...byKind(values), withoutElements };
  }
  // The edge's own view after the CPU window (serving /flows is not the run's cost; its table only moves with packets).
  const wait = doneAt + (LIVE_TIMEOUT + 2 * SWEEP_INTERVAL + 0.5) * 1000 - performance.now();
  if (wait > 0) await sleep(wait);
  const cpu = processCpu(c.proc.pid) - cpu0;
  const seconds = (performance.now() - t0) / 1000;
  const flows = await edgeFlows();
  const seen = new Map<string, number>();
  for (const f of flows) if (f.dst === LAB_ADDRESSES.server || f.src === LAB_ADDRESSES.server) seen.set(f.dst === LAB_ADDRESSES.server ? `${f.src}:${f.sport}` : `${f.dst}:${f.dport}`, f.queued);
  const values = new Map<number, number>();
  let missing = 0;
  for (let i = first; i < first + gen.flows; i++) {
    const t = flowgenTuple(i);
    const v = seen.get(`${t.src}:${t.sport}`);
    if (v === undefined) missing++;
    else values.set(i, v);
  }
  return {
    consumer: c.label,
    kind: c.kind,
    generator: gen,
    paced: {
      seconds,
      delivered,
      bypassedQueueFull: Math.max(0, hits1 - hits0 - delivered),
      cpuSeconds: cpu,
      cpuUsPerFlow: (cpu * 1e6) / gen.flows,
      cpuUsPerQueuedPacket: delivered > 0 ? (cpu * 1e6) / delivered : NaN,
    },
    packetsPerFlow: LONG_PACKETS,
    budget,
    edge: { ...byKind(values), missing },
    ...(kernel ? { kernel } : {}),
    ...(tableCounters ? { tableCounters } : {}),
  };
}

// ------------------------------------------------------------------ children

interface PickupResult {
  flows: number;
  missFlows: number;
  rate: number;
  headMs: Quantiles;
  pickupHitMs: Quantiles;
  pickupMissMs: Quantiles;
  undecided: { head: number; hit: number; miss: number };
  edgeB: {
    hitPhase: { pickups: number; pickupHits: number; pickupMisses: number; timedOut: number };
    missPhase: { pickups: number; pickupHits: number; pickupMisses: number; timedOut: number };
    total: Record<string, number>;
  };
}

interface MemoryResult {
  scenario: string;
  flows: number;
  heapBytesPerFlow: number;
  externalBytesPerFlow: number;
  rssBytesPerFlow: number;
  flowsPerSec: number;
  [more: string]: unknown;
}

async function child<T>(argv: string[], timeoutMs: number): Promise<T> {
  const r = await run([process.execPath, ...argv], { timeoutMs });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim().split('\n').slice(-8).join('\n')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
}

// ------------------------------------------------------------------ main

/** The edge's config: conntrack mode, or stateless (with `counters`, every flow-set element has its counter, as on an edge publishing flow records). */
function edgeConfigText(mode: Rules, counters = false): string {
  return [
    `queue: { num: ${QUEUE}${QUEUE_MAXLEN === undefined ? '' : `, maxLen: ${QUEUE_MAXLEN}`} }`,
    ...(mode === 'stateless'
      ? [
          `netfilter: { mode: stateless, stateless: { table: ${TABLE}, liveTimeout: ${LIVE_TIMEOUT}, sweepInterval: ${SWEEP_INTERVAL}, mapSize: ${MAP_SIZE}, ` +
            `elementCounters: ${counters ? 'true' : 'auto'}, interfaces: [${ROUTER_INTERFACES.join(', ')}] } }`,
        ]
      : []),
    'classification: { patterns: [patterns] }',
    'marks:',
    `  mask: 0x${MASK.toString(16).padStart(8, '0')}`,
    '  unknown: 0xf00',
    '  protocols: { dns: 0x100, http: 0x200 }',
    `flows: { timeouts: { udpUnreplied: ${UDP_TIMEOUT} } }`,
    `metrics: { port: ${METRICS_PORT} }`,
    '',
  ].join('\n');
}

const f0 = (v: number) => fixed(v, 0);
const f2 = (v: number) => fixed(v, 2);

async function main(): Promise<void> {
  const bench = startQueueBench('l7sless', 'stateless bench', NICE);
  ({ scratch, q } = bench);
  const { log, patternDir } = bench;
  const configFiles: Record<Rules, string> = { conntrack: join(scratch, 'conntrack.yaml'), stateless: join(scratch, 'stateless.yaml') };
  for (const mode of ['conntrack', 'stateless'] as const) writeFileSync(configFiles[mode], edgeConfigText(mode));
  const countersFile = join(scratch, 'stateless-counters.yaml');
  writeFileSync(countersFile, edgeConfigText('stateless', true));
  const configs = { conntrack: loadEdgeConfig(configFiles.conntrack), stateless: loadEdgeConfig(configFiles.stateless) };
  const budget = configs.stateless.netfilter.maxPackets;

  const interrupted = q.cleanupOnSignal('stateless bench', scratch);

  const throughput: ThroughputResult[] = [];
  const perFlow: QueuedPerFlowResult[] = [];
  const exits: Record<string, unknown> = {};
  let labError: string | undefined;
  let queueVia: string | undefined;
  try {
    if (process.getuid?.() !== 0) throw new Error('not root: the router lab needs network namespaces, nftables, iptables and NFQUEUE');
    compileHelpers(scratch);
    log(`lab ${q.lab.prefix}{cli,rtr,srv}; consumers on CPU ${CONSUMER_CPU}, generator on CPU ${GEN_CPU}, nice ${NICE}`);
    await q.build();
    await q.lab.exec(q.rtr, ['sysctl', '-qw', `net.netfilter.nf_conntrack_udp_timeout=${UDP_TIMEOUT}`], { allowFail: true });
    const target = { netns: q.rtr };
    // The C loop and the stateless edge alternate for ROUNDS rounds: their ratio is taken per round (the machine's speed drifts between runs).
    const plan: ConsumerKind[] = ['c-conntrack', 'edge-conntrack', ...Array.from({ length: ROUNDS }, () => PAIRED).flat(), 'edge-stateless-counters'];
    const rounds = new Map<ConsumerKind, number>();
    for (const kind of plan) {
      const rules = rulesOf(kind);
      const round = (rounds.get(kind) ?? 0) + 1;
      rounds.set(kind, round);
      // The C loop gets the rules from here; the conntrack edge runs with --no-rules on the same; the stateless edge installs its own table.
      if (kind === 'c-conntrack') await applyEdgeRules(edgeRulesConfig(configs.conntrack), target);
      if (kind === 'c-stateless') queueVia = (await applyStatelessRules(statelessRulesConfig(configs.stateless, new MarkPolicy(configs.stateless.marks)), target)).queueVia;
      const c = await startConsumer(kind, kind === 'edge-stateless-counters' ? countersFile : configFiles[rules]);
      try {
        // The kernel's view of the queued packets per flow needs element counters.
        if (kind === 'edge-conntrack' || kind === 'edge-stateless-counters') {
          log(`${c.label}: ${LONG_FLOWS} flows of ${LONG_PACKETS} packets at ${LONG_PPS} packets/s (queued per flow)`);
          perFlow.push(await queuedPerFlowRun(c, configs[rules].netfilter.maxPackets));
        }
        log(`${c.label}${ROUNDS > 1 && PAIRED.includes(kind) ? ` (round ${round})` : ''}: ${WARMUP_SECONDS} s warm-up + ${SECONDS} s of flows`);
        throughput.push(await throughputRun(c, round));
      } finally {
        exits[`${kind}#${round}`] = await stopConsumer(c);
      }
      if (kind === 'edge-conntrack') await removeEdgeRules(edgeRulesConfig(configs.conntrack), target);
      if (kind === 'c-stateless') await removeStatelessRules({ table: TABLE }, target);
    }
    // The stateless edge removed its table at SIGTERM; nothing of ours may be left.
    const left = await q.lab.exec(q.rtr, ['nft', 'list', 'tables']);
    if (left.stdout.includes(`inet ${TABLE}`)) log(`warning: table inet ${TABLE} left behind by the stateless edge`);
  } catch (err) {
    labError = err instanceof Error ? err.message : String(err);
    log(`lab: ${labError}`);
  } finally {
    await q.cleanup();
  }
  if (interrupted()) return;
  const profiles: Record<string, { function: string; share: number }[]> = {};
  if (PROFILE) {
    for (const kind of ['edge-conntrack', 'edge-stateless', 'edge-stateless-counters'] as const) {
      const prof = loadCpuProfile(profileDir(kind));
      if (prof) profiles[kind] = selfTimeShares(prof, 15).functions;
    }
  }

  log(`pickup latency: ${PICKUP_FLOWS} connections at ${PICKUP_RATE}/s`);
  let pickup: PickupResult | undefined;
  let pickupError: string | undefined;
  try {
    pickup = await child<PickupResult>([join(REPO_ROOT, 'bench/dist/pickupLatency.js'), String(PICKUP_FLOWS), String(PICKUP_RATE)], 180_000);
  } catch (err) {
    pickupError = (err as Error).message;
    log(`pickup: ${pickupError}`);
  }

  log(`memory: ${MEMORY_FLOWS} flows per scenario`);
  const memory: MemoryResult[] = [];
  for (const s of ['renewing', 'decided', 'held', 'learned']) {
    memory.push({ ...(await child<MemoryResult>(['--expose-gc', join(REPO_ROOT, 'bench/dist/statelessMemory.js'), s, String(MEMORY_FLOWS)], 120_000)), scenario: `book, ${s}` });
  }
  memory.push({ ...(await child<MemoryResult>(['--expose-gc', join(REPO_ROOT, 'bench/dist/edgeMemory.js'), 'edge-decided', String(MEMORY_FLOWS), patternDir], 120_000)), scenario: 'flow table (EdgeCore), decided' });
  rmSync(scratch, { recursive: true, force: true });
  if (interrupted()) return;

  // ---------------------------------------------------------------- report
  const style = { head: [], border: [] };
  const tput = new Table({
    head: ['consumer', 'offered pkt/s', 'new flows/s', 'queued pkts', 'queued / flow', 'handled pkt/s', 'passed queue full', 'CPU µs/pkt', 'of it in kernel', 'consumer CPU', 'others on its CPU', 'pkts per CPU-s'],
    style,
  });
  for (const r of throughput) {
    tput.push([
      r.consumer,
      si(r.generator.pps),
      si(r.generator.flows / r.generator.seconds),
      r.delivered,
      f2(r.queuedPerFlow),
      si(r.handledPerSec),
      r.bypassedQueueFull,
      f2(r.cpuUsPerPacket),
      pct(r.kernelShare),
      pct(r.consumerCpuShare),
      pct(r.othersOnConsumerCpuShare),
      si(r.packetsPerCpuSecond),
    ]);
  }
  const find = (k: ConsumerKind, round = 1) => throughput.find((r) => r.kind === k && r.round === round);
  const ratio = (a: ThroughputResult | undefined, b: ThroughputResult | undefined, f: (r: ThroughputResult) => number) => (a && b ? f(a) / f(b) : NaN);
  // The pair's ratios per round; the target is judged on their medians, and the round with the median capacity ratio stands for the edge below.
  const pairs = Array.from({ length: ROUNDS }, (_, i) => ({ c: find('c-stateless', i + 1), edge: find('edge-stateless', i + 1) }))
    .filter((p) => p.c && p.edge)
    .map((p) => ({ ...p, handled: ratio(p.edge, p.c, (r) => r.handledPerSec), capacity: ratio(p.edge, p.c, (r) => r.packetsPerCpuSecond) }));
  const median = (xs: number[]) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1]!);
  const medianPair = [...pairs].sort((a, b) => a.capacity - b.capacity)[(pairs.length - 1) >> 1];
  const sl = medianPair?.edge;
  const lastC = find('c-stateless', ROUNDS);
  const ratios = {
    handledVsCStateless: median(pairs.map((p) => p.handled)),
    capacityVsCStateless: median(pairs.map((p) => p.capacity)),
    perRound: pairs.map((p) => ({ round: p.edge!.round, handled: p.handled, capacity: p.capacity })),
    handledVsCConntrack: ratio(sl, find('c-conntrack'), (r) => r.handledPerSec),
    capacityVsCConntrack: ratio(sl, find('c-conntrack'), (r) => r.packetsPerCpuSecond),
    handledVsEdgeConntrack: ratio(sl, find('edge-conntrack'), (r) => r.handledPerSec),
    capacityVsEdgeConntrack: ratio(sl, find('edge-conntrack'), (r) => r.packetsPerCpuSecond),
    conntrackEdgeCapacityVsC: ratio(find('edge-conntrack'), find('c-conntrack'), (r) => r.packetsPerCpuSecond),
    // Against the C loop's last round, the run before it.
    countersHandledVsCStateless: ratio(find('edge-stateless-counters'), lastC, (r) => r.handledPerSec),
    countersCapacityVsCStateless: ratio(find('edge-stateless-counters'), lastC, (r) => r.packetsPerCpuSecond),
  };

  const perFlowTable = new Table({ head: ['queued per flow', 'view', 'kind', 'flows', 'max', 'mean', 'distribution (queued: flows)', 'target'], style });
  for (const r of perFlow) {
    const views: [string, { all: PerFlowStats; byKind: Record<string, PerFlowStats> }][] = [['edge /flows', r.edge]];
    if (r.kernel) views.push(['kernel (nft elements)', r.kernel]);
    for (const [view, v] of views) {
      for (const [kind, s] of [['all', v.all], ...Object.entries(v.byKind)] as [string, PerFlowStats][]) {
        const hist = Object.entries(s.histogram)
          .sort((a, b) => Number(a[0]) - Number(b[0]))
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ');
        perFlowTable.push([r.consumer, view, kind, s.flows, f0(s.max), f2(s.mean), hist, `<= ${r.budget + 1}`]);
      }
    }
  }

  const lat = new Table({ head: ['verdict latency (ms)', 'flows', 'p50', 'p90', 'p99', 'max', 'counted by edge B'], style });
  if (pickup) {
    const b = pickup.edgeB;
    lat.push(['head at edge A (no pickup; baseline)', pickup.headMs.count, f2(pickup.headMs.p50), f2(pickup.headMs.p90), f2(pickup.headMs.p99), f2(pickup.headMs.max), '']);
    lat.push(['pickup, cluster decided it (hit)', pickup.pickupHitMs.count, f2(pickup.pickupHitMs.p50), f2(pickup.pickupHitMs.p90), f2(pickup.pickupHitMs.p99), f2(pickup.pickupHitMs.max), `pickups ${b.hitPhase.pickups}, hits ${b.hitPhase.pickupHits}, misses ${b.hitPhase.pickupMisses}`]);
    lat.push(['pickup, nothing to recall (miss)', pickup.pickupMissMs.count, f2(pickup.pickupMissMs.p50), f2(pickup.pickupMissMs.p90), f2(pickup.pickupMissMs.p99), f2(pickup.pickupMissMs.max), `pickups ${b.missPhase.pickups}, hits ${b.missPhase.pickupHits}, misses ${b.missPhase.pickupMisses}`]);
  }

  const mem = new Table({ head: ['memory per flow', 'flows', 'JS heap B/flow', 'external B/flow', 'flows/s', 'target'], style });
  for (const m of memory) mem.push([m.scenario, m.flows, f0(m.heapBytesPerFlow), f0(m.externalBytesPerFlow), si(m.flowsPerSec), m.scenario.startsWith('book') ? '<= 200' : '']);
  const bytesOf = (m: MemoryResult) => m.heapBytesPerFlow + Math.max(0, m.externalBytesPerFlow);
  // The target holds for the book's largest kind of entry (learned: what a live edge publishing records keeps).
  const bookBytes = Math.max(...memory.filter((m) => m.scenario.startsWith('book')).map(bytesOf));
  const table = memory.find((m) => m.scenario.startsWith('flow table'))!;
  const tableBytes = bytesOf(table);

  const slFlow = perFlow.find((r) => r.kind === 'edge-stateless-counters');
  const maxQueued = slFlow ? Math.max(slFlow.edge.all.max, slFlow.kernel?.all.max ?? -Infinity) : NaN;
  const targets = {
    statelessAtLeastHalfOfC: {
      target: 0.5,
      handledPps: ratios.handledVsCStateless,
      capacity: ratios.capacityVsCStateless,
      met: ratios.handledVsCStateless >= 0.5 && ratios.capacityVsCStateless >= 0.5,
    },
    queuedPerFlow: { target: budget + 1, max: maxQueued, met: maxQueued <= budget + 1 },
    bookBytesPerFlow: { target: 200, measured: bookBytes, met: bookBytes <= 200 },
  };

  const out = process.stdout;
  out.write(`machine: ${cpus().length} CPUs (${cpus()[0]?.model}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}\n`);
  if (labError) out.write(`router lab not (fully) run: ${labError}\n`);
  if (throughput.length > 0) {
    out.write(
      `queue ${QUEUE} in the router ns; ${SECONDS} s of traffic per consumer (fresh 5-tuples each run): 50% DNS, 30% HTTP GET over UDP (2 packets each), 20% unmatched (12 packets); ` +
        `stateless table queueing via ${queueVia ?? '?'}\n`,
    );
    out.write(`${tput.toString()}\n`);
    if (sl?.edge) out.write(`stateless edge, measured run: ${JSON.stringify(sl.edge)}\n`);
    if (sl?.tableCounters && Object.keys(sl.tableCounters).length > 0) out.write(`stateless table counters over the run (packets): ${JSON.stringify(sl.tableCounters)}\n`);
    const rounds = ratios.perRound.map((p) => `round ${p.round}: ${f2(p.handled)}x, ${f2(p.capacity)}x`).join('; ');
    out.write(
      `stateless edge / bare C loop on the stateless table, median of ${ratios.perRound.length} rounds (${rounds}): handled packets/s ${f2(ratios.handledVsCStateless)}x, packets per CPU-second ${f2(ratios.capacityVsCStateless)}x; ` +
        `the median round's edge / C loop on the conntrack rules: ${f2(ratios.handledVsCConntrack)}x, ${f2(ratios.capacityVsCConntrack)}x; / conntrack edge: ${f2(ratios.handledVsEdgeConntrack)}x, ${f2(ratios.capacityVsEdgeConntrack)}x\n`,
    );
    out.write(
      `stateless edge with element counters (as when it publishes flow records) / bare C loop on the stateless table: handled packets/s ${f2(ratios.countersHandledVsCStateless)}x, ` +
        `packets per CPU-second ${f2(ratios.countersCapacityVsCStateless)}x\n`,
    );
    const bound = throughput.filter((r) => r.bypassedQueueFull === 0).map((r) => r.consumer);
    if (bound.length > 0) out.write(`kept up with everything queued (handled packets/s is then the offered load, not the consumer's limit): ${bound.join('; ')}\n`);
  }
  if (perFlow.length > 0) {
    out.write(`queued per flow: ${LONG_FLOWS} flows of ${LONG_PACKETS} packets (every kind longer than the budget, ${budget} packets = classification.maxPackets + 1) at ${LONG_PPS} packets/s\n`);
    out.write(`${perFlowTable.toString()}\n`);
    for (const r of perFlow) {
      const p = r.paced;
      out.write(
        `${r.consumer}, this paced run: ${p.delivered} packets queued, ${p.bypassedQueueFull} passed the full queue; CPU ${f2(p.cpuSeconds)} s in ${f2(p.seconds)} s, until the flows ended ` +
          `(${f0(p.cpuUsPerFlow)} µs per flow, ${f2(p.cpuUsPerQueuedPacket)} µs per queued packet: ${si(1e6 / p.cpuUsPerFlow)} such flows per CPU-second)\n`,
      );
      if (r.edge.missing > 0) out.write(`${r.consumer}: ${r.edge.missing} flows not in /flows\n`);
      if (r.kernel && r.kernel.withoutElements > 0) out.write(`${r.consumer}: ${r.kernel.withoutElements} flows without elements in the table\n`);
      if (r.tableCounters) out.write(`${r.consumer}: table counters over the run (packets): ${JSON.stringify(r.tableCounters)}\n`);
    }
  }
  for (const [kind, fns] of Object.entries(profiles)) {
    out.write(`${LABELS[kind as ConsumerKind]}: CPU profile (--cpu-prof, main thread, self time as shares of its busy time; includes startup):\n`);
    for (const p of fns) out.write(`  ${(p.share * 100).toFixed(1).padStart(5)}%  ${p.function}\n`);
  }
  if (pickup) {
    out.write(`pickup: nats-server, one worker (l7mesh worker run), edges A and B in remote mode in one process; ${pickup.flows} connections at ${pickup.rate}/s; from the end of the edge's packet batch to the verdict at that edge\n`);
    out.write(`${lat.toString()}\n`);
    const u = pickup.undecided;
    if (u.head + u.hit + u.miss > 0) out.write(`pickup: flows with no verdict within 30 s: head ${u.head}, hit ${u.hit}, miss ${u.miss}\n`);
  } else out.write(`pickup latency not measured: ${pickupError}\n`);
  out.write(`${mem.toString()}\n`);
  out.write(
    `targets: stateless >= 0.5x the bare C loop: ${targets.statelessAtLeastHalfOfC.met ? 'met' : 'NOT met'} (handled ${f2(ratios.handledVsCStateless)}x, per CPU ${f2(ratios.capacityVsCStateless)}x); ` +
      `queued per flow <= ${budget + 1}: ${targets.queuedPerFlow.met ? 'met' : 'NOT met'} (max ${f0(maxQueued)}); ` +
      `<= 200 B per tracked flow (book): ${targets.bookBytesPerFlow.met ? 'met' : 'NOT met'} (${f0(bookBytes)} B; with the flow table's ${f0(tableBytes)} B a live decided flow takes ${f0(bookBytes + tableBytes)} B)\n`,
  );

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadavg: loadavg() },
    setup: {
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      offeredPps: OFFERED_PPS,
      queue: QUEUE,
      queueMaxLen: configs.stateless.queue.maxLen,
      nice: NICE,
      generatorCpu: GEN_CPU,
      consumerCpu: CONSUMER_CPU,
      spacing: SPACING,
      conntrackUdpTimeout: UDP_TIMEOUT,
      stateless: { table: TABLE, liveTimeout: LIVE_TIMEOUT, sweepInterval: SWEEP_INTERVAL, mapSize: MAP_SIZE, interfaces: ROUTER_INTERFACES, queueVia },
      budget,
      traffic: '50% DNS query x2, 30% HTTP GET over UDP x2, 20% unmatched x12; fresh 5-tuples per run',
      queuedPerFlow: { flows: LONG_FLOWS, packets: LONG_PACKETS, pps: LONG_PPS, spacing: LONG_SPACING },
      pickup: { flows: PICKUP_FLOWS, rate: PICKUP_RATE },
      memoryFlows: MEMORY_FLOWS,
      profiled: PROFILE,
    },
    labError,
    throughput,
    queuedPerFlow: perFlow,
    pickup,
    pickupError,
    memory,
    consumerExits: exits,
    edgeProfiles: PROFILE ? profiles : undefined,
    ratios,
    targets,
  };
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `stateless-${results.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  out.write(`written: ${file}\n`);
  if (labError || pickupError) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  process.stderr.write(`stateless bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  await q?.cleanup();
  process.exitCode = 1;
});
