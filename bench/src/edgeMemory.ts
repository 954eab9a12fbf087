/**
 * Flow-table memory per flow, in a process of its own (a clean heap):
 *
 *   node --expose-gc bench/dist/edgeMemory.js SCENARIO FLOWS PATTERN_DIR  -> one JSON line
 *
 * Builds the classifier (or the whole EdgeCore), opens WARMUP flows so
 * that the code is compiled and the tables exist, measures the heap after
 * two full GCs, opens FLOWS more flows (one UDP packet each, distinct
 * 5-tuples, fed through the real decoder as raw IPv4 datagrams, as the
 * queue delivers them), collects again and reports the growth divided by
 * FLOWS. Scenarios:
 *   classifier-decided  FlowClassifier alone, every flow a DNS query (decided on its packet)
 *   edge-decided        EdgeCore (flow table + the edge's per-flow state), DNS queries
 *   classifier-open     FlowClassifier, payloads no pattern matches: flows stay undecided,
 *                       each holding a Hyperscan stream (native memory: see rssBytesPerFlow)
 *   edge-open           EdgeCore, undecided flows
 * A decided flow stays in the table until it idles out (conntrack's timeouts),
 * so "decided" is the steady state of a busy edge; "open" is the worst case.
 */
import { createHeadScanner, FlowClassifier } from '@l7mesh/engine';
import { EdgeCore, loadEdgePatterns, MarkPolicy, parseEdgeConfig } from '@l7mesh/edge';
import { LinkType, PacketDecoder } from '@l7mesh/flow';

const [scenario = 'edge-decided', flowsArg = '200000', patternDir = ''] = process.argv.slice(2);
const FLOWS = Number(flowsArg);
const WARMUP = 5_000;
const BATCH = 256;
const TS_SEC = 1_800_000_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc !== 'function') {
  process.stderr.write('edgeMemory: run node with --expose-gc\n');
  process.exit(2);
}

const DNS = Buffer.from('12400100000100000000000003777777076578616d706c6503636f6d0000010001', 'hex');
const config = parseEdgeConfig(
  [
    `classification: { patterns: [${JSON.stringify(patternDir)}] }`,
    'marks: { mask: 0x0000ff00, unknown: 0xf00, protocols: { dns: 0x100, http: 0x200 } }',
    `flows: { maxFlows: ${FLOWS + WARMUP + 1024} }`,
    '',
  ].join('\n'),
  '/dev/null/edge-bench.yaml',
);
const policy = new MarkPolicy(config.marks);
const { set } = loadEdgePatterns(config, policy.markedProtocols);
const open = scenario.endsWith('-open');
const decisions: Record<string, number> = {};

/** Raw IPv4/UDP datagram of flow i: source 198.18.0.0/16 + i, port 1024 + i / 65536, to 198.19.0.1:53. */
const packet = new Uint8Array(20 + 8 + 160);
function buildPacket(i: number): number {
  const payload = packet.subarray(28);
  let plen: number;
  if (open) {
    plen = 120;
    let x = (i * 2654435761) >>> 0;
    for (let k = 0; k < plen; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      payload[k] = 0x80 | ((x >>> 16) & 0x7f);
    }
  } else {
    payload.set(DNS);
    // An id of letters, as flowgen's (no NUL, not openvpn's 0x38 ... 0x40).
    payload[0] = 0x41 + (i % 26);
    payload[1] = 0x61 + (Math.floor(i / 26) % 26);
    plen = DNS.length;
  }
  const len = 28 + plen;
  const v = new DataView(packet.buffer);
  v.setUint8(0, 0x45);
  v.setUint8(1, 0);
  v.setUint16(2, len);
  v.setUint16(4, 1);
  v.setUint16(6, 0);
  v.setUint8(8, 64);
  v.setUint8(9, 17);
  v.setUint16(10, 0);
  v.setUint32(12, ((198 << 24) | (18 << 16) | (i & 0xffff)) >>> 0);
  v.setUint32(16, ((198 << 24) | (19 << 16) | 1) >>> 0);
  v.setUint16(20, 1024 + Math.floor(i / 65536));
  v.setUint16(22, 53);
  v.setUint16(24, 8 + plen);
  v.setUint16(26, 0);
  return len;
}

type Feeder = { feed(from: number, to: number): void; size(): number };

function classifierFeeder(): Feeder {
  const scanner = createHeadScanner(config.classification.engine, set, config.classification.maxBytes);
  const classifier = new FlowClassifier(set, scanner, {
    maxPackets: config.classification.maxPackets,
    maxDataLen: config.classification.maxBytes,
    maxFlows: config.flows.maxFlows,
    timeouts: config.flows.timeouts,
    onFlow: () => undefined,
    onDecision: (f) => {
      decisions[f.l7] = (decisions[f.l7] ?? 0) + 1;
    },
  });
  const decoder = new PacketDecoder();
  return {
    feed(from, to) {
      for (let i = from; i < to; i++) {
        const len = buildPacket(i);
        const p = decoder.decodeRange(LinkType.RAW, packet, 0, len, TS_SEC, i);
        if (p) classifier.process(p);
        if ((i + 1) % BATCH === 0) classifier.flush();
      }
      classifier.flush();
    },
    size: () => classifier.activeFlows,
  };
}

function edgeFeeder(): Feeder {
  const core = new EdgeCore({
    set,
    config,
    policy,
    onDecision: (st) => {
      decisions[st.flow.l7] = (decisions[st.flow.l7] ?? 0) + 1;
    },
  });
  return {
    feed(from, to) {
      core.beginBatch();
      for (let i = from; i < to; i++) {
        const len = buildPacket(i);
        core.ingestRange(packet, 0, len, 0, TS_SEC, i);
        if ((i + 1) % BATCH === 0) {
          core.endBatch();
          core.beginBatch();
        }
      }
      core.endBatch();
    },
    size: () => core.activeFlows,
  };
}

function settle() {
  gc!();
  gc!();
  return process.memoryUsage();
}

const feeder = scenario.startsWith('edge') ? edgeFeeder() : classifierFeeder();
feeder.feed(0, WARMUP);
const before = settle();
const t0 = process.hrtime.bigint();
feeder.feed(WARMUP, WARMUP + FLOWS);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const after = settle();
const flowsInTable = feeder.size();
process.stdout.write(
  `${JSON.stringify({
    scenario,
    flows: FLOWS,
    flowsInTable,
    decisions,
    patterns: set.patterns.length,
    heapBytesPerFlow: (after.heapUsed - before.heapUsed) / FLOWS,
    externalBytesPerFlow: (after.external - before.external) / FLOWS,
    rssBytesPerFlow: (after.rss - before.rss) / FLOWS,
    heapUsedMiB: after.heapUsed / 2 ** 20,
    rssMiB: after.rss / 2 ** 20,
    flowsPerSec: FLOWS / seconds,
  })}\n`,
);
