/**
 * The stateless edge's packet path in one process, without the kernel:
 * EdgeCore and the standalone stateless book (startStateless, nftables
 * faked) fed flowgen's traffic (bench/c/flowgen.c: 50% DNS, 30% HTTP GET
 * over UDP, 20% 12-packet unmatched flows; packets of a flow 1000 flow
 * starts apart) in batches, as the queue delivers them. A flow's packets
 * stop coming once one went back with its target's code, as the kernel then
 * has its elements: about three packets of each flow are handled, as in
 * the real benchmark. It measures the edge's own work per packet (the
 * driver's copying of datagrams included), which the real benchmark
 * cannot tell apart from the kernel's and from the machine's drift.
 *
 *   node bench/dist/edgeInProcess.js [--packets N] [--warmup W] [--batch B]
 *     wall time per packet over N packets (default 200k), after W (default
 *     1.2M: 8 s of the traffic, when the flow table has its steady size and
 *     every path of the steady state has been optimized);
 *   node bench/dist/edgeInProcess.js --callgrind [--packets N] [...]
 *     instructions per packet: a run under valgrind's callgrind, counting
 *     the N measured packets only (callgrind_control), after a full
 *     collection. The clock follows the packets' timestamps and the run is
 *     single-threaded with fixed seeds, so that the count repeats: a change
 *     of 1% shows.
 *
 * Results: a table on stdout and bench/results/edge-in-process-<date>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import * as netfilter from '@l7mesh/netfilter';
import { EdgeCore, loadEdgePatterns, MarkPolicy, parseEdgeConfig } from '@l7mesh/edge';
import type { FlowEntry } from '@l7mesh/flow';
import { startStateless } from '../../services/edge/dist/stateless.js';
import { REPO_ROOT } from './benchPatterns.js';
import { fixed, si } from './measure.js';
import { flowgenKind, flowgenSourcePort, flowgenSourceWord } from './queueLab.js';

const SPACING = 1000;
/** Packets of a DNS or HTTP flow, and of an unmatched one (flowgen's defaults). */
const PACKETS = 2;
const NOISE_PACKETS = 12;
/** The packets' kernel timestamps advance at this rate: flows idle out of the table after udpUnreplied (3 s), as in the lab. */
const PACKETS_PER_SEC = 150_000;
const CONFIG = [
  'queue: { num: 7 }',
  'netfilter: { mode: stateless, stateless: { table: l7inproc, liveTimeout: 5, sweepInterval: 1, mapSize: 2097152 } }',
  `classification: { patterns: [${join(REPO_ROOT, 'patterns')}] }`,
  'marks:',
  '  mask: 0x0000ff00',
  '  unknown: 0xf00',
  '  protocols: { dns: 0x100, http: 0x200 }',
  'flows: { timeouts: { udpUnreplied: 3 } }',
  '',
].join('\n');

/** flowgen's datagrams by kind, with the fields that vary per packet patched in by {@link writePacket}. */
function templates(): { dns: Uint8Array; http: Uint8Array; noise: Uint8Array } {
  const datagram = (payload: Uint8Array, dport: number): Uint8Array => {
    const d = new Uint8Array(28 + payload.length);
    const v = new DataView(d.buffer);
    d[0] = 0x45;
    v.setUint16(2, d.length);
    d[8] = 64;
    d[9] = 17;
    d.set([198, 18, 97, 2], 16);
    v.setUint16(22, dport);
    v.setUint16(24, 8 + payload.length);
    d.set(payload, 28);
    return d;
  };
  const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const dns = Uint8Array.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, ...ascii('www'), 7, ...ascii('example'), 3, ...ascii('com'), 0, 0, 1, 0, 1]);
  // Unmatched: bytes >= 0x80 (flowgen's vary per packet; their content matters to no pattern), its longest length.
  const noise = new Uint8Array(191);
  let x = 0x9e3779b9;
  for (let k = 0; k < noise.length; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    noise[k] = 0x80 | ((x >>> 16) & 0x7f);
  }
  return { dns: datagram(dns, 53), http: datagram(ascii('GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: flowgen\r\nAccept: */*\r\n\r\n'), 80), noise: datagram(noise, 7777) };
}

/** Writes flowgen's packet j of flow i at buf[at] (its tuple as numbers, no strings); returns its length. */
function writePacket(buf: Uint8Array, at: number, i: number, j: number, t: ReturnType<typeof templates>): number {
  const kind = flowgenKind(i);
  const template = t[kind];
  const length = kind === 'noise' ? 28 + 64 + ((i * 7 + j * 13) % 128) : template.length;
  buf.set(template, at);
  const src = flowgenSourceWord(i);
  const sport = flowgenSourcePort(i);
  buf[at + 2] = length >> 8;
  buf[at + 3] = length & 0xff;
  buf[at + 5] = j + 1;
  buf[at + 12] = src >>> 24;
  buf[at + 13] = (src >>> 16) & 0xff;
  buf[at + 14] = (src >>> 8) & 0xff;
  buf[at + 15] = src & 0xff;
  buf[at + 20] = sport >> 8;
  buf[at + 21] = sport & 0xff;
  buf[at + 24] = (length - 20) >> 8;
  buf[at + 25] = (length - 20) & 0xff;
  if (kind === 'dns') {
    buf[at + 28] = (i >>> 8) & 0xff;
    buf[at + 29] = i & 0xff;
  }
  return length;
}

interface RunResult {
  nsPerPacket: number;
  packets: number;
  flows: number;
  batches: number;
}

/**
 * `measured` packets after `warmup` packets, in batches of `batchSize`;
 * `window` (under callgrind): instrumentation on for the measured packets
 * only, after a full collection.
 */
async function run(warmup: number, measured: number, batchSize: number, window = false): Promise<RunResult> {
  // The wall clock follows the packets (the book's dues), from a whole second of the real one, so that a run
  // does the same work however fast it goes.
  let packets = 0;
  const startMs = Math.floor(Date.now() / 1000) * 1000;
  Date.now = () => Math.floor(startMs + (packets / PACKETS_PER_SEC) * 1e3);
  const config = parseEdgeConfig(CONFIG, 'edgeInProcess.yaml');
  const policy = new MarkPolicy(config.marks);
  const { set } = loadEdgePatterns(config, policy.markedProtocols);
  // The kernel faked: no table is installed, element writes go nowhere.
  const fakeNetfilter = { ...netfilter, applyStatelessRules: () => Promise.resolve({ queueVia: 'none' }), removeStatelessRules: () => Promise.resolve() } as unknown as typeof netfilter;
  const fakeNft = { nftApplyElements: () => undefined, nftGetElements: () => new Float64Array(0), nftRemoveElements: () => new Float64Array(0) } as unknown as Parameters<typeof startStateless>[2];
  let inBatch = false;
  let stateless: Awaited<ReturnType<typeof startStateless>> | undefined;
  const core = new EdgeCore({ set, config, policy, expiryBudget: 64, onDecision: (flow) => stateless?.onDecision(flow, inBatch) });
  stateless = await startStateless(config, policy, fakeNft, fakeNetfilter, {}, () => undefined);
  const edge = stateless;
  const t = templates();

  // Room for a whole template per packet (the noise one is 219 bytes). A Buffer, as the queue's batches are:
  // the packet path's loops over payload bytes are then monomorphic, as in the edge.
  const buf = Buffer.alloc(batchSize * 256);
  const offsets = new Uint32Array(batchSize);
  const lengths = new Uint32Array(batchSize);
  /** Flow index of each packet of the batch. */
  const owners = new Float64Array(batchSize);
  const flows: (FlowEntry | null)[] = new Array<FlowEntry | null>(batchSize).fill(null);
  /** Flows whose packets the kernel no longer queues (one went back with a code), by flow index modulo a span longer than a flow's. */
  const learned = new Uint8Array(16 * SPACING);
  let n = 0;
  let used = 0;
  let batches = 0;
  let flowCount = 0;
  const endBatch = (): void => {
    const tsUs = Date.now() * 1e3;
    const tsSec = Math.floor(tsUs / 1e6);
    const tsNsec = Math.round(tsUs % 1e6) * 1e3;
    inBatch = true;
    core.beginBatch();
    for (let k = 0; k < n; k++) flows[k] = core.ingestRange(buf, offsets[k]!, offsets[k]! + lengths[k]!, 0, tsSec, tsNsec);
    const marks = core.endBatch();
    inBatch = false;
    for (let k = 0; k < n; k++) {
      const flow = flows[k]!;
      flows[k] = null;
      if (edge.packetMark(flow, marks[k]!, 0, buf, offsets[k]!) >= 0) learned[owners[k]! % learned.length] = 1;
    }
    edge.commit();
    packets += n;
    batches++;
    n = 0;
    used = 0;
  };
  let slot = 0;
  /** Packets until `until` have been handled (flowgen's schedule: slot s sends packet j of flow s - j * SPACING). */
  const feed = (until: number): void => {
    for (; packets < until; slot++) {
      for (let j = 0; j < NOISE_PACKETS; j++) {
        const i = slot - j * SPACING;
        if (i < 0) break;
        if (j === 0) {
          learned[i % learned.length] = 0;
          flowCount++;
        }
        if (j >= (flowgenKind(i) === 'noise' ? NOISE_PACKETS : PACKETS) || learned[i % learned.length] === 1) continue;
        offsets[n] = used;
        lengths[n] = writePacket(buf, used, i, j, t);
        owners[n] = i;
        used += lengths[n]!;
        if (++n === batchSize) endBatch();
      }
    }
  };
  // The window is one more call of the loop the warm-up called many times: opened inside the loop, it would
  // deoptimize it (and the code inlined in it), and a loop entered once only runs optimized by on-stack replacement.
  for (let until = 0; until < warmup; until += 1024) feed(Math.min(until + 1024, warmup));
  if (window) {
    (globalThis as { gc?: () => void }).gc?.();
    execFileSync('callgrind_control', ['-i', 'on', String(process.pid)], { stdio: 'ignore' });
  }
  const start = performance.now();
  const counted = packets;
  feed(warmup + measured);
  const nsPerPacket = ((performance.now() - start) * 1e6) / (packets - counted);
  if (window) execFileSync('callgrind_control', ['-i', 'off', String(process.pid)], { stdio: 'ignore' });
  await edge.stop(true);
  return { nsPerPacket, packets: packets - counted, flows: flowCount, batches };
}

/** Flags of a counted run: the collector and the compilers on the counted thread, no randomness, and gc() for a clean start. */
const DETERMINISTIC = ['--single-threaded', '--hash-seed=1', '--random-seed=1', '--expose-gc'];

/** Instructions of the measured packets of a run under callgrind (its totals line). */
function callgrindTotal(warmup: number, measured: number, batchSize: number, dir: string): number {
  const out = join(dir, `callgrind.${measured}`);
  const args = [new URL(import.meta.url).pathname, '--child', '--window', '--warmup', String(warmup), '--packets', String(measured), '--batch', String(batchSize)];
  execFileSync('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...DETERMINISTIC, ...args], { stdio: 'pipe', maxBuffer: 64 << 20 });
  const summary = /^totals: (\d+)/m.exec(readFileSync(out, 'utf8'));
  if (!summary) throw new Error(`no totals line in ${out}`);
  return Number(summary[1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      packets: { type: 'string', default: '200000' },
      // 8 s of the traffic: the flow table has its steady size (udpUnreplied, 3 s), the book's first bookings have
      // lapsed (liveTimeout + 1 s), and every path taken in steady state has been optimized.
      warmup: { type: 'string', default: String(8 * PACKETS_PER_SEC) },
      batch: { type: 'string', default: '16' },
      callgrind: { type: 'boolean', default: false },
      child: { type: 'boolean', default: false },
      window: { type: 'boolean', default: false },
    },
  });
  const measured = Number(values.packets);
  const warmup = Number(values.warmup);
  const batchSize = Number(values.batch);
  if (!(measured > 0) || !(warmup >= 0) || !(batchSize > 0 && batchSize <= 1024)) throw new Error('--packets must be positive, --warmup not negative, --batch from 1 to 1024');
  if (values.child) {
    await run(warmup, measured, batchSize, values.window);
    return;
  }
  const result: Record<string, unknown> = { date: new Date().toISOString(), warmup, packets: measured, batch: batchSize, node: process.version };
  if (values.callgrind) {
    const dir = mkdtempSync(join(tmpdir(), 'l7mesh-callgrind-'));
    try {
      // A run first, outside valgrind: it fills the compiled-database cache, which both counted runs then read.
      execFileSync(process.execPath, [new URL(import.meta.url).pathname, '--child', '--warmup', '0', '--packets', '1000'], { stdio: 'pipe' });
      const total = callgrindTotal(warmup, measured, batchSize, dir);
      result.instructionsPerPacket = total / measured;
      result.total = total;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    Object.assign(result, await run(warmup, measured, batchSize));
  }
  const table = new Table({ head: ['stateless edge, in process', 'packets', 'batch', values.callgrind ? 'instructions per packet' : 'ns per packet'] });
  table.push(['EdgeCore + RenewingBook, kernel faked', si(measured), String(batchSize), values.callgrind ? fixed(result.instructionsPerPacket as number, 0) : fixed(result.nsPerPacket as number, 0)]);
  process.stdout.write(`${table.toString()}\n`);
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `edge-in-process-${String(result.date).replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`written: ${file}\n`);
}

await main();
