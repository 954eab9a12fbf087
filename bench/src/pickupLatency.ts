/**
 * Mid-stream pickup latency (issue 10, "Performance"), in a process of its own:
 *
 *   node bench/dist/pickupLatency.js FLOWS RATE  -> one JSON line on stdout
 *
 * A real nats-server with JetStream (startNatsServer), one worker as the
 * deployment runs it (`l7mesh worker run`, a child process), and two edges
 * in this process as the live edge builds them in remote mode
 * (connectRemoteEdge: ClusterLink + RemoteClassifier, live watermarks;
 * EdgeCore on raw IPv4 packets, timestamps from the wall clock):
 *   1. head: edge A sees the start of FLOWS TCP connections (SYN, SYN-ACK,
 *      ACK, "GET / HTTP/1.1"), paced at RATE connections a second, and the
 *      worker decides them (http) from A's head. Latency per connection:
 *      from the end of the packet batch that carried the GET to the verdict
 *      at A. The ordinary verdict latency, the baseline of this run.
 *   2. pickup, hit: edge B (a router the route moved to) sees one segment
 *      from the middle of each connection, server to client, ACK without
 *      SYN, at RATE a second. Its RemoteClassifier flags the flow a pickup;
 *      the worker recalls the verdict it reached from A's head. Latency:
 *      from the end of B's batch to the verdict at B.
 *   3. pickup, miss: B sees mid-stream segments of FLOWS / 4 connections
 *      the cluster never saw (an HTTP response on a keep-alive connection,
 *      which the http pattern matches): the worker looks the flow up in the
 *      verdict cache, misses, and classifies what B sent.
 * B's own counters (pickups, pickup hits and misses) are reported as it
 * counts them. Pacing: one EdgeCore batch every 10 ms with RATE / 100 flows,
 * as a queue batch would carry them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer, type NatsServerProcess } from '@l7mesh/bus';
import { connectRemoteEdge, EdgeCore, loadEdgePatterns, MarkPolicy, parseEdgeConfig, type EdgeFlow, type RemoteEdge } from '@l7mesh/edge';
import { REPO_ROOT } from './benchPatterns.js';
import { quantiles } from './quantiles.js';

const [flowsArg = '2000', rateArg = '1000'] = process.argv.slice(2);
const FLOWS = Number(flowsArg);
const RATE = Number(rateArg);
const MISS_FLOWS = Math.max(1, Math.floor(FLOWS / 4));
const TICK_MS = 10;
const WARMUP_FLOWS = 200;
const CLI = join(REPO_ROOT, 'services/cli/bin/l7mesh.js');
const SERVER_ADDR = (198 << 24) | (19 << 16) | (1 << 8) | 1;
const CLIENT_NET = (198 << 24) | (18 << 16) | (112 << 8);
const TCP_SYN = 0x02;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (line: string) => process.stderr.write(`pickup: ${line}\n`);

const GET = Buffer.from('GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: l7mesh-bench\r\nAccept: */*\r\n\r\n');
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4096\r\n\r\n' + 'x'.repeat(512));
const BODY = Buffer.alloc(1200, 0x78);

/** Connection i: client 198.18.112.0/20 + i % 4096, port 20000 + i / 4096, to 198.19.1.1:80. */
function endpoints(i: number): { client: number; cport: number } {
  return { client: (CLIENT_NET + (i % 4096)) >>> 0, cport: 20000 + (Math.floor(i / 4096) % 40000) };
}

/** A raw IPv4/TCP datagram (checksums 0: the edge's decoder does not check them). */
function tcp(src: number, sport: number, dst: number, dport: number, flags: number, seq: number, ack: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(40 + payload.length);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, b.length);
  v.setUint16(6, 0x4000);
  v.setUint8(8, 64);
  v.setUint8(9, 6);
  v.setUint32(12, src >>> 0);
  v.setUint32(16, dst >>> 0);
  v.setUint16(20, sport);
  v.setUint16(22, dport);
  v.setUint32(24, seq >>> 0);
  v.setUint32(28, ack >>> 0);
  v.setUint8(32, 5 << 4);
  v.setUint8(33, flags);
  v.setUint16(34, 65535);
  b.set(payload, 40);
  return b;
}

/** The head edge A sees of connection i. */
function head(i: number): Uint8Array[] {
  const { client, cport } = endpoints(i);
  return [
    tcp(client, cport, SERVER_ADDR, 80, TCP_SYN, 1000, 0),
    tcp(SERVER_ADDR, 80, client, cport, TCP_SYN | TCP_ACK, 5000, 1001),
    tcp(client, cport, SERVER_ADDR, 80, TCP_ACK, 1001, 5001),
    tcp(client, cport, SERVER_ADDR, 80, TCP_PSH | TCP_ACK, 1001, 5001, GET),
  ];
}

/** A segment from the middle of connection i, server to client: body data (hit phase) or a response header (miss phase). */
function midStream(i: number, payload: Uint8Array): Uint8Array[] {
  const { client, cport } = endpoints(i);
  return [tcp(SERVER_ADDR, 80, client, cport, TCP_PSH | TCP_ACK, 5001 + 7 * 1448, 1001 + GET.length, payload)];
}

interface Edge {
  id: string;
  core: EdgeCore;
  remote: RemoteEdge;
  /** Flow key -> when the batch that should decide it ended (performance.now()). */
  waiting: Map<string, number>;
  latencies: number[];
  decidedLabels: Record<string, number>;
}

async function startEdge(id: string, url: string): Promise<Edge> {
  const config = parseEdgeConfig(
    ['marks: { unknown: 0x0f00, protocols: { http: 0x0100 } }', 'cluster:', `  servers: [${JSON.stringify(url)}]`, `  id: ${id}`, '  resendMs: 2000', '  verdictTimeoutMs: 10000', ''].join('\n'),
    join(tmpdir(), `pickup-${id}.yaml`),
  );
  const policy = new MarkPolicy(config.marks);
  const { set } = loadEdgePatterns(config, policy.markedProtocols);
  const remote = await connectRemoteEdge(config.cluster!, true, (line) => log(line));
  const edge: Edge = { id, core: undefined as unknown as EdgeCore, remote, waiting: new Map(), latencies: [], decidedLabels: {} };
  edge.core = new EdgeCore({
    set,
    config,
    policy,
    pipeline: remote.pipeline(config.cluster!.zone),
    onDecision: (view: EdgeFlow) => {
      const t = performance.now();
      const key = view.flow.key;
      const t0 = edge.waiting.get(key);
      edge.decidedLabels[view.flow.l7] = (edge.decidedLabels[view.flow.l7] ?? 0) + 1;
      if (t0 === undefined) return;
      edge.waiting.delete(key);
      edge.latencies.push(t - t0);
    },
  });
  remote.attach(edge.core);
  return edge;
}

/**
 * Feeds connections [from, to) to an edge, RATE a second in batches every
 * TICK_MS; each batch's flows wait from the batch's end. Resolves when every
 * one has its verdict (or after timeoutMs).
 */
async function feed(edge: Edge, from: number, to: number, packetsOf: (i: number) => Uint8Array[], timeoutMs = 30_000): Promise<number[]> {
  edge.latencies = [];
  const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
  const t0 = performance.now();
  for (let i = from, tick = 0; i < to; tick++) {
    const due = t0 + tick * TICK_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const keys: string[] = [];
    edge.core.beginBatch();
    for (const end = Math.min(to, i + perTick); i < end; i++) {
      let flow = null;
      for (const p of packetsOf(i)) flow = edge.core.ingestRaw(p, 0);
      if (flow) keys.push(flow.key);
    }
    edge.core.endBatch();
    const t = performance.now();
    // A flow decided within the batch itself would be none of the cluster's: not counted.
    for (const k of keys) if (!edge.waiting.has(k)) edge.waiting.set(k, t);
  }
  const end = performance.now() + timeoutMs;
  while (edge.waiting.size > 0 && performance.now() < end) await sleep(5);
  const out = edge.latencies;
  edge.latencies = [];
  return out;
}

function startWorker(url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', 'run', '--nats', url, '--id', 'bench-w1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker: not owning its partitions within 60 s:\n${text.slice(-2000)}`));
    }, 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.length > 1 << 16) text = text.slice(-(1 << 15));
      if (/owning \d+\/\d+ partitions/.test(text)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}):\n${text.slice(-2000)}`));
    });
  });
}

async function main(): Promise<object> {
  let server: NatsServerProcess | undefined;
  let worker: ChildProcess | undefined;
  const edges: Edge[] = [];
  try {
    server = await startNatsServer({ jetstream: true });
    worker = await startWorker(server.url);
    const a = await startEdge('bench-a', server.url);
    const b = await startEdge('bench-b', server.url);
    edges.push(a, b);
    // Warm-up: connections of their own (not measured), through both edges.
    await feed(a, 1_000_000, 1_000_000 + WARMUP_FLOWS, head);
    await feed(b, 1_000_000, 1_000_000 + WARMUP_FLOWS, (i) => midStream(i, BODY));
    const bWarm = { ...b.remote.counters().remote };

    log(`${FLOWS} connections' heads through edge A at ${RATE}/s`);
    const headMs = await feed(a, 0, FLOWS, head);
    const headUndecided = a.waiting.size;
    // The cluster has decided them (and written its verdict cache) before the route moves.
    await sleep(1_000);
    log(`mid-stream segments of the same ${FLOWS} through edge B`);
    const hitMs = await feed(b, 0, FLOWS, (i) => midStream(i, BODY));
    const hitUndecided = b.waiting.size;
    const afterHits = { ...b.remote.counters().remote };
    await sleep(1_000);
    log(`mid-stream segments of ${MISS_FLOWS} connections the cluster never saw`);
    const missMs = await feed(b, 2_000_000, 2_000_000 + MISS_FLOWS, (i) => midStream(i, RESPONSE));
    const missUndecided = b.waiting.size;
    const bEnd = b.remote.counters().remote;
    const delta = (x: typeof bEnd, y: typeof bEnd) => ({ pickups: x.pickups - y.pickups, pickupHits: x.pickupHits - y.pickupHits, pickupMisses: x.pickupMisses - y.pickupMisses, timedOut: x.timedOut - y.timedOut });
    return {
      flows: FLOWS,
      missFlows: MISS_FLOWS,
      rate: RATE,
      tickMs: TICK_MS,
      headMs: quantiles(headMs),
      pickupHitMs: quantiles(hitMs),
      pickupMissMs: quantiles(missMs),
      undecided: { head: headUndecided, hit: hitUndecided, miss: missUndecided },
      edgeB: { hitPhase: delta(afterHits, bWarm), missPhase: delta(bEnd, afterHits), total: bEnd },
      edgeA: a.remote.counters().remote,
      verdictsAtB: b.decidedLabels,
    };
  } finally {
    for (const e of edges) await e.remote.close(1_000).catch(() => undefined);
    if (worker && worker.exitCode === null) {
      const closed = new Promise<void>((r) => worker!.once('exit', () => r()));
      worker.kill('SIGTERM');
      const timer = setTimeout(() => worker!.kill('SIGKILL'), 10_000);
      await closed;
      clearTimeout(timer);
    }
    await server?.stop();
  }
}

const result = await main();
process.stdout.write(`${JSON.stringify(result)}\n`);
