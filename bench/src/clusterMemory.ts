/**
 * Memory per flow in the cluster, in a process of its own (a clean heap):
 *
 *   node --expose-gc bench/dist/clusterMemory.js SCENARIO FLOWS  -> one JSON line
 *
 * Opens WARMUP flows (code compiled, tables grown), measures after two full
 * GCs, opens FLOWS more distinct flows, measures again, and divides the
 * growth by FLOWS. Scenarios:
 *   worker-udp       the worker's core (MergingClassifier, no bus) given the
 *                    first segment of each flow: one UDP packet of 120
 *                    bytes that no pattern matches, so every flow stays in
 *                    progress (merge state, flow entry, Hyperscan stream)
 *   worker-tcp       the same with a TCP flow's first four segments:
 *                    SYN, SYN-ACK, ACK, then 120 bytes no pattern matches
 *   edge-undecided   the edge in remote mode (EdgeCore + RemoteClassifier,
 *                    its segments going nowhere): one UDP packet per flow,
 *                    kept for re-sends until a verdict comes
 *   edge-undecided-tcp  the same, four TCP packets per flow (as above)
 *   edge-decided     the edge in remote mode, every flow answered (dns) at
 *                    the end of the batch that sent it: its segments dropped
 * Segments reach the worker as views into one buffer per batch, as the
 * decoder hands them out of a message: what the worker keeps of them shows.
 * The Hyperscan streams are native memory, outside heap and `external`:
 * they show in the RSS only. BENCH_CLUSTER_HEAP_SNAPSHOTS=DIR writes heap
 * snapshots before and after (compare them in DevTools).
 */
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { MergingClassifier, ruleSetVersionOf } from '@l7mesh/classifier';
import { EdgeCore, MarkPolicy, parseEdgeConfig, RemoteClassifier } from '@l7mesh/edge';
import { loadPatternSet } from '@l7mesh/engine';
import { flowKeyOf, IPPROTO_TCP, IPPROTO_UDP, TcpFlag, type DecodedPacket } from '@l7mesh/flow';
import { Direction, partitionOf, SegmentFlag, type HeadSegment } from '@l7mesh/wire';
import { REPO_ROOT } from './benchPatterns.js';

const [scenario = 'worker-udp', flowsArg = '100000'] = process.argv.slice(2);
const FLOWS = Number(flowsArg);
const WARMUP = 5_000;
const BATCH = 256;
const PAYLOAD = 120;
const TS_SEC = 1_800_000_000;
const SERVER = ((198 << 24) | (19 << 16) | 1) >>> 0;
const SERVER_PORT = 9999;
const CLIENT_PORT = 40000;
const tcp = scenario.endsWith('-tcp');

const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc !== 'function') {
  process.stderr.write('clusterMemory: run node with --expose-gc\n');
  process.exit(2);
}

const clientOf = (i: number) => ((10 << 24) | (i + 1)) >>> 0;
const bytes4 = (a: number) => Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);

/** Bytes no pattern matches: high-bit noise, different per flow. */
function noise(out: Uint8Array, i: number): void {
  let x = (i * 2654435761) >>> 0;
  for (let k = 0; k < out.length; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[k] = 0x80 | ((x >>> 16) & 0x7f);
  }
}

/** The flow's canonical key (client 10.x below the server 198.19.0.1). */
function keyOf(i: number): string {
  const p = { protocol: tcp ? IPPROTO_TCP : IPPROTO_UDP, srcAddr: bytes4(clientOf(i)), dstAddr: bytes4(SERVER), srcPort: CLIENT_PORT, dstPort: SERVER_PORT } as DecodedPacket;
  const k = flowKeyOf(p);
  if (!k.srcIsLow) throw new Error('clusterMemory: the client is expected to be the low endpoint');
  return k.key;
}

interface PacketPlan {
  fromClient: boolean;
  tcpFlags: number;
  seq: number;
  ack: number;
  payload: boolean;
}
const ISN_C = 1000;
const ISN_S = 5000;
const PLAN: PacketPlan[] = tcp
  ? [
      { fromClient: true, tcpFlags: TcpFlag.SYN, seq: ISN_C, ack: 0, payload: false },
      { fromClient: false, tcpFlags: TcpFlag.SYN | TcpFlag.ACK, seq: ISN_S, ack: ISN_C + 1, payload: false },
      { fromClient: true, tcpFlags: TcpFlag.ACK, seq: ISN_C + 1, ack: ISN_S + 1, payload: false },
      { fromClient: true, tcpFlags: TcpFlag.ACK | TcpFlag.PSH, seq: ISN_C + 1, ack: ISN_S + 1, payload: true },
    ]
  : [{ fromClient: true, tcpFlags: 0, seq: 0, ack: 0, payload: true }];

type Feeder = { feed(from: number, to: number): void; inProgress(): number; notes(): Record<string, number> };

function workerFeeder(): Feeder {
  const { set } = loadPatternSet([join(REPO_ROOT, 'patterns')]);
  let verdicts = 0;
  const merging = new MergingClassifier({ set, ruleSetVersion: ruleSetVersionOf(set), epoch: () => 1, onVerdict: () => void verdicts++ });
  let batchSeq = 0;
  return {
    feed(from, to) {
      for (let first = from; first < to; first += BATCH) {
        const n = Math.min(BATCH, to - first);
        // One "message" per batch: the payloads are views into it, as decoded segments are.
        const message = new Uint8Array(n * PAYLOAD);
        for (let j = 0; j < n; j++) {
          const i = first + j;
          const key = keyOf(i);
          const payload = message.subarray(j * PAYLOAD, (j + 1) * PAYLOAD);
          noise(payload, i);
          const segments: HeadSegment[] = PLAN.map((p, c) => ({
            zone: 0,
            key,
            direction: p.fromClient ? Direction.LowToHigh : Direction.HighToLow,
            generation: 1,
            counter: c + 1,
            flags: c > 0 ? SegmentFlag.EdgeSawBoth : 0,
            tcpFlags: p.tcpFlags,
            seq: p.seq,
            ack: p.ack,
            tsSec: TS_SEC,
            tsNsec: i % 1e9,
            ipLength: (tcp ? 40 : 28) + (p.payload ? PAYLOAD : 0),
            payload: p.payload ? payload : new Uint8Array(0),
          }));
          merging.acceptBatch({ edge: 'edge-1', partition: partitionOf(0, key, 1024), batchSeq: ++batchSeq, watermarkSec: TS_SEC, watermarkNsec: i % 1e9, segments });
        }
        merging.endBatch();
      }
    },
    inProgress: () => merging.flowsInProgress,
    notes: () => ({ verdicts, decided: merging.counters.decided, fed: merging.counters.fed, segments: merging.counters.segments }),
  };
}

/** A raw IPv4 datagram (no checksums: the decoder does not check them). */
function datagram(i: number, p: PacketPlan, buf: Uint8Array): number {
  const l4 = tcp ? 20 : 8;
  const len = 20 + l4 + (p.payload ? PAYLOAD : 0);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const [src, dst, sport, dport] = p.fromClient ? [clientOf(i), SERVER, CLIENT_PORT, SERVER_PORT] : [SERVER, clientOf(i), SERVER_PORT, CLIENT_PORT];
  v.setUint8(0, 0x45);
  v.setUint8(1, 0);
  v.setUint16(2, len);
  v.setUint32(4, 0);
  v.setUint8(8, 64);
  v.setUint8(9, tcp ? IPPROTO_TCP : IPPROTO_UDP);
  v.setUint16(10, 0);
  v.setUint32(12, src);
  v.setUint32(16, dst);
  v.setUint16(20, sport);
  v.setUint16(22, dport);
  if (tcp) {
    v.setUint32(24, p.seq);
    v.setUint32(28, p.ack);
    v.setUint8(32, 5 << 4);
    v.setUint8(33, p.tcpFlags);
    v.setUint16(34, 65535);
    v.setUint32(36, 0);
  } else {
    v.setUint16(24, 8 + (p.payload ? PAYLOAD : 0));
    v.setUint16(26, 0);
  }
  if (p.payload) noise(buf.subarray(20 + l4, len), i);
  return len;
}

function edgeFeeder(decided: boolean): Feeder {
  const config = parseEdgeConfig(
    ['marks: { mask: 0x0000ff00, unknown: 0xf00, protocols: { dns: 0x100 } }', `flows: { maxFlows: ${FLOWS + WARMUP + 1024} }`, ''].join('\n'),
    '/dev/null/cluster-bench-edge.yaml',
  );
  const policy = new MarkPolicy(config.marks);
  // Remote mode scans nothing (the core makes no scanner), but the core takes a set.
  const { set } = loadPatternSet([join(REPO_ROOT, 'patterns')]);
  const sent: HeadSegment[] = [];
  let remote: RemoteClassifier | undefined;
  const core = new EdgeCore({
    set,
    config,
    policy,
    pipeline: (o) => (remote = new RemoteClassifier({ ...o, zone: 0, sink: { send: (s) => void (decided && sent.push(s)), sendTogether: () => undefined }, resendMs: 2_000, verdictTimeoutMs: 10_000 })),
  });
  const packet = new Uint8Array(20 + 20 + PAYLOAD);
  let answered = 0;
  return {
    feed(from, to) {
      for (let first = from; first < to; first += BATCH) {
        core.beginBatch();
        for (let i = first; i < Math.min(to, first + BATCH); i++) {
          for (const p of PLAN) {
            const len = datagram(i, p, packet);
            core.ingestRange(packet, 0, len, 0, TS_SEC, i % 1e9);
          }
        }
        core.endBatch();
        if (decided) {
          for (const s of sent) {
            const flow = remote!.applyVerdict({ zone: 0, key: s.key, generation: s.generation, l7: 'dns', decidedBy: 'dns', decidedAtPacket: s.counter, mark: 0, ruleSetVersion: 1, epoch: 1, final: true, recalled: false, opener: true });
            if (flow) answered++;
          }
          sent.length = 0;
          core.applyUncarried();
        }
      }
    },
    inProgress: () => remote!.waiting,
    notes: () => ({ flowsInTable: core.activeFlows, answered, segmentsSent: remote!.counters.segmentsSent }),
  };
}

function settle() {
  gc!();
  gc!();
  return process.memoryUsage();
}

/** BENCH_CLUSTER_HEAP_SNAPSHOTS=DIR: heap snapshots before and after, to see which objects the bytes are. */
const snapshots = process.env.BENCH_CLUSTER_HEAP_SNAPSHOTS;
const feeder = scenario.startsWith('worker') ? workerFeeder() : edgeFeeder(scenario === 'edge-decided');
feeder.feed(0, WARMUP);
const before = settle();
if (snapshots) writeHeapSnapshot(join(snapshots, `${scenario}-before.heapsnapshot`));
const t0 = process.hrtime.bigint();
feeder.feed(WARMUP, WARMUP + FLOWS);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const after = settle();
if (snapshots) writeHeapSnapshot(join(snapshots, `${scenario}-after.heapsnapshot`));
const per = (k: 'heapUsed' | 'external' | 'arrayBuffers' | 'rss') => (after[k] - before[k]) / FLOWS;
process.stdout.write(
  `${JSON.stringify({
    scenario,
    flows: FLOWS,
    inProgress: feeder.inProgress(),
    ...feeder.notes(),
    heapBytesPerFlow: per('heapUsed'),
    // `external` includes the ArrayBuffers' bytes.
    externalBytesPerFlow: per('external'),
    arrayBuffersBytesPerFlow: per('arrayBuffers'),
    rssBytesPerFlow: per('rss'),
    rssMiB: after.rss / 2 ** 20,
    flowsPerSec: FLOWS / seconds,
  })}\n`,
);
