/**
 * Memory per flow of the stateless edge's book (which flows have nftables
 * elements, and in which set), in a process of its own (a clean heap):
 *
 *   node --expose-gc bench/dist/statelessMemory.js SCENARIO FLOWS  -> one JSON line
 *
 * The map's driver is a fake that accepts every transaction (the kernel's
 * elements are not in the edge's heap). Flows are added as the live edge
 * adds them: one key string per flow (FlowEntry.key, 13 characters for
 * IPv4, made when the edge asks for it), changes committed every 256 flows
 * (a packet batch). WARMUP flows first, so that the code is compiled and the
 * map exists; then the heap after two full GCs, FLOWS more flows, and the
 * growth divided by FLOWS. Scenarios:
 *   decided  every flow gets its verdict's mark (the steady state: decided flows stay in the book until they end)
 *   held     every flow spent its budget undecided (hold elements)
 *   learned  as the live edge publishing records has it: every flow decided
 *            in its packet batch and its elements added by the kernel from
 *            the verdict's packet (the book also keeps that packet's length
 *            for the element counters)
 *   renewing the standalone edge's RenewingBook (elements without counters):
 *            every flow decided in its packet batch and learned, its
 *            booking kept in its flow-table entry. The entries are made
 *            before the first measurement: what is left is the book's own
 *            growth.
 * The first three are the VerdictMap of an edge with element counters.
 * The edge's flow table (EdgeCore) is measured by edgeMemory.js; in
 * stateless mode a decided flow has an entry in both while it is alive.
 */
import { FlowTable, flowKeyOfEndpoints, IPPROTO_UDP, type FlowEntry } from '@l7mesh/flow';
// The books are not exported by @l7mesh/edge (the live edge builds them in
// stateless.ts); the benchmark reads the compiled modules directly.
import { RenewingBook } from '../../services/edge/dist/renewingBook.js';
import { READ_FIELDS, VerdictMap } from '../../services/edge/dist/verdictMap.js';

const [scenario = 'decided', flowsArg = '200000'] = process.argv.slice(2);
const FLOWS = Number(flowsArg);
const WARMUP = 5_000;
const BATCH = 256;
const MARK = 0x100;

const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc !== 'function') {
  process.stderr.write('statelessMemory: run node with --expose-gc\n');
  process.exit(2);
}
if (scenario !== 'decided' && scenario !== 'held' && scenario !== 'learned' && scenario !== 'renewing') {
  process.stderr.write(`statelessMemory: unknown scenario ${scenario} (decided, held, learned, renewing)\n`);
  process.exit(2);
}

let transactions = 0;
let ops = 0;
const map = new VerdictMap({
  driver: {
    apply(batch) {
      transactions++;
      ops += batch.length;
    },
    read: (reads) => new Float64Array(reads.length * READ_FIELDS),
  },
  maxFlows: FLOWS + WARMUP + 1024,
  liveTimeoutSec: 30,
  elementTimeoutSec: 3600,
  sweepSec: 5,
  // Someone reads the counters (the edge's records): the book keeps what corrects them.
  ...(scenario === 'learned' ? { onCounted: () => undefined } : {}),
});

/** UDP flow i: source 198.18.0.0/16 + i, port 1024 + i / 65536, to 198.19.0.1:53 (as edgeMemory.js's). */
function keyOf(i: number): string {
  return flowKeyOfEndpoints({
    protocol: IPPROTO_UDP,
    src: `198.18.${(i >>> 8) & 0xff}.${i & 0xff}`,
    sport: 1024 + Math.floor(i / 65536),
    dst: '198.19.0.1',
    dport: 53,
  });
}

const renewing = new RenewingBook({
  driver: {
    apply(batch) {
      transactions++;
      ops += batch.length;
    },
  },
  maxFlows: FLOWS + WARMUP + 1024,
  liveTimeoutSec: 30,
});
/** The renewing scenario's flow-table entries, all made before the first measurement. */
const entries: FlowEntry[] = [];
if (scenario === 'renewing') {
  const table = new FlowTable({ maxFlows: FLOWS + WARMUP + 1024, onEnd: () => undefined });
  for (let i = 0; i < WARMUP + FLOWS; i++) {
    entries.push(
      table.track({
        tsSec: 1_800_000_000, tsNsec: 0, ipVersion: 4, protocol: IPPROTO_UDP,
        srcAddr: Uint8Array.of(198, 18, (i >>> 8) & 0xff, i & 0xff), dstAddr: Uint8Array.of(198, 19, 0, 1), srcPort: 1024 + Math.floor(i / 65536), dstPort: 53,
        tcpFlags: 0, tcpSeq: 0, tcpAck: 0, ipLength: 60, payload: new Uint8Array(0), payloadLength: 0,
      }).flow,
    );
  }
}

function add(from: number, to: number): void {
  if (scenario === 'renewing') {
    for (let i = from; i < to; i++) {
      renewing.decide(entries[i]!, MARK, false);
      renewing.carry(entries[i]!);
      if ((i + 1) % BATCH === 0) renewing.commit();
    }
    renewing.commit();
    return;
  }
  for (let i = from; i < to; i++) {
    const key = keyOf(i);
    if (scenario === 'held') map.hold(key);
    else if (scenario === 'decided') map.decide(key, MARK, false);
    else {
      map.decide(key, MARK, false, true);
      map.carry(key, 100, true);
    }
    if ((i + 1) % BATCH === 0) map.commit();
  }
  map.commit();
}

function settle() {
  gc!();
  gc!();
  return process.memoryUsage();
}

add(0, WARMUP);
const before = settle();
const t0 = process.hrtime.bigint();
add(WARMUP, WARMUP + FLOWS);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const after = settle();
process.stdout.write(
  `${JSON.stringify({
    scenario,
    flows: FLOWS,
    flowsInBook: scenario === 'renewing' ? renewing.size : map.size,
    transactions,
    elementOps: ops,
    heapBytesPerFlow: (after.heapUsed - before.heapUsed) / FLOWS,
    externalBytesPerFlow: (after.external - before.external) / FLOWS,
    rssBytesPerFlow: (after.rss - before.rss) / FLOWS,
    heapUsedMiB: after.heapUsed / 2 ** 20,
    flowsPerSec: FLOWS / seconds,
  })}\n`,
);
