/**
 * One replay edge of the cluster benchmark, in a process of its own (its
 * CPU time is its own):
 *
 *   node bench/dist/clusterEdge.js JSON  -> one JSON line on stdout
 *
 * JSON: see EdgeJob. The edge's parts (EdgeCore, RemoteClassifier,
 * ClusterLink, as replayCaptures puts them together in remote mode) driven
 * here, reading the capture either paced at `rate` flows a second, or as
 * fast as a window of flows in flight allows (`window` flows sent and not
 * answered yet). The window stands in for back-pressure, which core NATS
 * does not have: an edge replaying at full speed outruns the workers, they
 * drop messages past their queue bound, the edge re-sends after resendMs,
 * and what is measured then is the overload, not the capacity. Per flow it
 * notes when the edge handed each head packet to the link, and when the
 * verdict arrived: latency from the first segment, and from the segment that
 * decided it (the verdict's packet number: the edge's own counter, as one
 * edge saw the whole flow).
 * `out` gets one line per flow, "<flow> <l7>", for the comparison with classify.
 */
import { statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busNames, connectBus } from '@l7mesh/bus';
import { ClusterLink, EdgeCore, loadEdgePatterns, MarkPolicy, parseEdgeConfig, RemoteClassifier, type EdgeConfig } from '@l7mesh/edge';
import type { FlowRecord } from '@l7mesh/engine';
import { endpointsOfKey, IPPROTO_TCP, readCaptureFile } from '@l7mesh/flow';
import { SegmentFlag, type HeadSegment } from '@l7mesh/wire';
import { quantiles } from './quantiles.js';

interface EdgeJob {
  url: string;
  id: string;
  file: string;
  out?: string;
  /** Flows a second (0: as fast as the window lets), and the flows in the file (for its bytes per flow). */
  rate?: number;
  flows?: number;
  /** Not paced: the most flows waiting for their verdict at a time. */
  window?: number;
  /** Stop reading after this long (ms); flows first sent in the first warmupMs are not in the latencies. */
  stopAfterMs?: number;
  warmupMs?: number;
  flushMs?: number;
}

/** A flow unanswered this long is not counted in flight any more (the worker keeps flows that end undecided until the edge is done). */
const IN_FLIGHT_HORIZON_MS = 1000;
const STOP = new Error('stop reading');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const totalCpuSeconds = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

const job = JSON.parse(process.argv[2] ?? '{}') as EdgeJob;
const log = (line: string) => process.stderr.write(`${line}\n`);

function edgeConfig(): EdgeConfig {
  const lines = ['marks:', '  unknown: 0x0f00', 'cluster:', `  servers: [${JSON.stringify(job.url)}]`, `  id: ${job.id}`, '  verdictTimeoutMs: 30000'];
  if (job.flushMs !== undefined) lines.push(`  flushMs: ${job.flushMs}`);
  return parseEdgeConfig(`${lines.join('\n')}\n`, join(tmpdir(), `${job.id}.yaml`));
}

const flowName = (r: FlowRecord) => `${r.proto} ${r.src}:${r.sport}>${r.dst}:${r.dport}`;

async function drive(): Promise<object> {
  const config = edgeConfig();
  const cl = config.cluster!;
  const policy = new MarkPolicy(config.marks);
  const { set } = loadEdgePatterns(config, policy.markedProtocols);
  const bus = await connectBus({ servers: cl.servers, name: `l7mesh-bench-${cl.id}` }, busNames(cl.prefix));
  const rate = job.rate ?? 0;
  const fileBytes = statSync(job.file).size;
  const bytesPerMs = (rate * (fileBytes / (job.flows ?? 1))) / 1000;
  const window = job.window ?? 4096;

  let remote: RemoteClassifier | undefined;
  let core: EdgeCore | undefined;
  /** Unanswered flows: when the edge handed packet n (index n-1) to the link. */
  const sentAt = new Map<string, number[]>();
  /** Flows in first-send order, and those unanswered past the horizon (left undecided by the worker till the end: not in flight). */
  const order: { key: string; t: number }[] = [];
  let orderHead = 0;
  const stale = new Set<string>();
  const inFlight = (): number => {
    const old = performance.now() - IN_FLIGHT_HORIZON_MS;
    while (orderHead < order.length && order[orderHead]!.t < old) {
      const key = order[orderHead++]!.key;
      if (sentAt.has(key)) stale.add(key);
    }
    if (orderHead > 1 << 16) {
      order.splice(0, orderHead);
      orderHead = 0;
    }
    return sentAt.size - stale.size;
  };
  const fromFirst: number[] = [];
  const fromDeciding: number[] = [];
  /** The flows whose verdicts took longest (from the deciding segment). */
  const slowest: { flow: string; l7: string; decidedBy: string; packet: number; ms: number }[] = [];
  let t0 = Infinity;
  let measureFrom = Infinity;
  const lines: string[] = [];
  const verdicts: Record<string, number> = {};
  let flows = 0;
  const link = new ClusterLink({
    bus,
    edge: cl.id,
    partitions: cl.partitions,
    flushMs: cl.flushMs,
    live: false,
    log,
    onVerdicts: (vs) => {
      const t = performance.now();
      for (const v of vs) {
        const flow = remote!.applyVerdict(v);
        if (!flow) continue;
        const times = sentAt.get(v.key);
        if (!times) continue;
        sentAt.delete(v.key);
        stale.delete(v.key);
        if (times[0]! < measureFrom) continue;
        fromFirst.push(t - times[0]!);
        const deciding = times[v.decidedAtPacket - 1];
        if (deciding === undefined) continue;
        const ms = t - deciding;
        fromDeciding.push(ms);
        if (slowest.length < 5 || ms > slowest[slowest.length - 1]!.ms) {
          const e = endpointsOfKey(flow.key, flow.origIsLow);
          slowest.push({ flow: `${e.protocol === IPPROTO_TCP ? 'tcp' : 'udp'} ${e.src}:${e.sport}>${e.dst}:${e.dport}`, l7: v.l7, decidedBy: v.decidedBy, packet: v.decidedAtPacket, ms });
          slowest.sort((a, b) => b.ms - a.ms);
          slowest.length = Math.min(slowest.length, 5);
        }
      }
      core!.applyUncarried();
    },
  });
  const sink = {
    send(s: HeadSegment): void {
      if (!(s.flags & (SegmentFlag.Resent | SegmentFlag.Watched))) {
        const t = performance.now();
        let times = sentAt.get(s.key);
        if (!times) {
          sentAt.set(s.key, (times = []));
          order.push({ key: s.key, t });
        }
        times[s.counter - 1] = t;
      }
      link.send(s);
    },
    sendTogether(segments: readonly HeadSegment[]): void {
      link.sendTogether(segments);
    },
  };
  core = new EdgeCore({
    set,
    config,
    policy,
    pipeline: (o) => (remote = new RemoteClassifier({ ...o, zone: cl.zone, sink, resendMs: cl.resendMs, verdictTimeoutMs: cl.verdictTimeoutMs })),
    onFlowEnd: (record) => {
      flows++;
      verdicts[record.l7] = (verdicts[record.l7] ?? 0) + 1;
      if (job.out) lines.push(`${flowName(record)} ${record.l7}`);
    },
  });
  const ticker = setInterval(() => {
    remote!.tick();
    core!.applyUncarried();
  }, 100);

  let inBatch = 0;
  let tsSec = 0;
  let tsNsec = 0;
  let maxLagMs = 0;
  let windowWaits = 0;
  let stopped = false;
  const endBatch = (): void => {
    core!.endBatch();
    inBatch = 0;
    link.advance(tsSec, tsNsec);
  };
  const waitForWindow = async (): Promise<void> => {
    windowWaits++;
    while (inFlight() >= window * 0.75) await sleep(1);
  };
  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  measureFrom = t0 + (job.warmupMs ?? 0);
  try {
    await readCaptureFile(
      job.file,
      (frame) => {
        core!.ingestFrame(frame);
        tsSec = frame.tsSec;
        tsNsec = frame.tsNsec;
        if (++inBatch === 256) endBatch();
      },
      {
        // Paced: about a millisecond of traffic per read, handled as one burst (as a queue batch is).
        chunkSize: rate > 0 ? Math.max(8 << 10, Math.round(bytesPerMs)) : 64 << 10,
        onProgress: (read) => {
          if (inBatch > 0) endBatch();
          const now = performance.now();
          if (job.stopAfterMs !== undefined && now - t0 >= job.stopAfterMs) throw STOP;
          if (rate > 0) {
            const wait = t0 + read / bytesPerMs - now;
            if (wait > 0.5) return sleep(wait);
            maxLagMs = Math.max(maxLagMs, -wait);
            return undefined;
          }
          return inFlight() >= window ? waitForWindow() : undefined;
        },
      },
    );
  } catch (err) {
    if (err !== STOP) throw err;
    stopped = true;
  }
  try {
    if (inBatch > 0) endBatch();
    const fedSeconds = (performance.now() - t0) / 1000;
    core.finish();
    link.finishReplay();
    await remote!.settled();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (job.out) writeFileSync(job.out, `${lines.join('\n')}\n`);
    return {
      rateTarget: rate,
      window: rate > 0 ? undefined : window,
      stopped,
      flows,
      fedSeconds,
      seconds,
      flowsPerSec: flows / (rate > 0 ? fedSeconds : seconds),
      maxLagMs,
      windowWaits,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      processCpuSeconds: totalCpuSeconds(),
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      verdicts,
      latencyFromFirstMs: quantiles(fromFirst),
      latencyFromDecidingMs: quantiles(fromDeciding),
      slowest,
      link: link.counters,
      remote: remote!.counters,
    };
  } finally {
    clearInterval(ticker);
    await link.close();
    await bus.close();
  }
}

const result = await drive();
process.stdout.write(`${JSON.stringify(result)}\n`);
