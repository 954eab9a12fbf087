/**
 * Mid-stream pickup, in one process: an edge that joins TCP connections
 * after their start (a route moved, a router failed over) gets the verdict
 * the cluster reached from another edge's head, from the deciding worker's
 * memory or from the verdict cache, instead of classifying the middle of
 * the stream; with nothing to recall it classifies what it saw, and says so.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { endpointsOfKey, type DecodedPacket, type FlowEntry } from '@l7mesh/flow';
import type { MergingClassifier } from '@l7mesh/classifier';
import type { PatternSet } from '@l7mesh/engine';
import { projectPatternSet, REPO_ROOT } from './captureCorpus.js';
import { capturePackets, FakeClock, flowIdentity, newWorker, runEdge, settleLookups, verdictsOf, type SimEdge, type VerdictCache } from './clusterHarness.js';
import { join } from 'node:path';

const CAPTURE = join(REPO_ROOT, 'test/captures/mixed/lab-mixed.pcap');
/** Packets of each TCP connection the second edge never sees: the handshake and the first payload. */
const MISSED = 4;

type Packet = { p: DecodedPacket; fromOrig: boolean };

function identityOfFlow(f: FlowEntry): string {
  const e = endpointsOfKey(f.key, f.origIsLow);
  return flowIdentity({ proto: e.protocol === 6 ? 'tcp' : 'udp', src: e.src, sport: e.sport, dst: e.dst, dport: e.dport });
}

function identityOf(p: DecodedPacket): string {
  return flowIdentity({ proto: p.protocol === 6 ? 'tcp' : 'udp', src: p.srcAddr.join('.'), sport: p.srcPort, dst: p.dstAddr.join('.'), dport: p.dstPort });
}

/** The TCP packets of connections longer than MISSED + 1, from their packet MISSED + 1 on. */
function midStream(packets: readonly Packet[]): Packet[] {
  const total = new Map<string, number>();
  for (const { p } of packets) if (p.protocol === 6) total.set(identityOf(p), (total.get(identityOf(p)) ?? 0) + 1);
  const seen = new Map<string, number>();
  return packets.filter(({ p }) => {
    if (p.protocol !== 6) return false;
    const id = identityOf(p);
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return total.get(id)! > MISSED + 1 && n > MISSED;
  });
}

function deliver(worker: MergingClassifier, edge: SimEdge): void {
  for (const batch of edge.batches.splice(0)) {
    worker.acceptBatch(batch);
    worker.endBatch();
  }
}

let set: PatternSet;
let packets: Packet[];
let later: Packet[];
beforeAll(async () => {
  set = projectPatternSet();
  packets = await capturePackets(CAPTURE);
  later = midStream(packets);
});

describe('pickup of connections joined mid-stream', () => {
  it('the capture has connections to pick up (none of their packets the edge sees is a SYN)', () => {
    expect(new Set(later.map(({ p }) => identityOf(p))).size).toBeGreaterThan(5);
    expect(later.every(({ p }) => (p.tcpFlags & 0x02) === 0)).toBe(true);
  });

  it('the worker that decided the head answers from its memory: the first edge verdict at the second, every pickup a hit', () => {
    const clock = new FakeClock();
    const a = runEdge('a', packets, 'both', clock);
    const b = runEdge('b', later, 'both', clock);
    const worker = newWorker(set, clock, [a, b]);
    deliver(worker, a);
    // A connection whose head is still undecided (too short for the budget) is merged with what the second edge sends: no recall.
    const decided = new Set(a.remote.liveFlows().filter((f) => f.l7 !== 'unset').map(identityOfFlow));
    deliver(worker, b);
    a.remote.finish();
    b.remote.finish();
    const first = verdictsOf(a.records);
    const picked = verdictsOf(b.records);
    expect(picked.size).toBe(new Set(later.map(({ p }) => identityOf(p))).size);
    for (const [id, l7s] of picked) expect(l7s, id).toEqual(first.get(id));
    const recallable = [...picked.keys()].filter((id) => decided.has(id)).length;
    expect(recallable).toBeGreaterThan(5);
    expect(b.remote.counters.pickups).toBe(picked.size);
    expect(b.remote.counters.pickupHits).toBe(recallable);
    expect(b.remote.counters.pickupMisses).toBe(picked.size - recallable);
    // The first edge's flows started with a SYN: none of them is a pickup.
    expect(a.remote.counters.pickups).toBe(0);
  });

  it('a worker that never saw the flows answers from the verdict cache', async () => {
    const clock = new FakeClock();
    const cache: VerdictCache = new Map();
    const a = runEdge('a', packets, 'both', clock);
    const first = newWorker(set, clock, [a], cache);
    deliver(first, a);
    a.remote.finish();
    // The partition moved (or the first worker died): a new worker, the same cache.
    const b = runEdge('b', later, 'both', clock);
    const second = newWorker(set, clock, [b], cache);
    deliver(second, b);
    await settleLookups();
    const inCache = b.remote.liveFlows().filter((f) => cache.has(`7/${f.key}`)).length;
    b.remote.finish();
    const want = verdictsOf(a.records);
    const picked = verdictsOf(b.records);
    for (const [id, l7s] of picked) expect(l7s, id).toEqual(want.get(id));
    // Heads the first worker decided are in the cache; the others are classified anew.
    expect(inCache).toBeGreaterThan(5);
    expect(b.remote.counters.pickupHits).toBe(inCache);
    expect(b.remote.counters.pickupMisses).toBe(picked.size - inCache);
    expect(second.counters.fromCache).toBeGreaterThanOrEqual(picked.size);
  });

  it('nothing to recall: the flows are classified from what the edge saw, each pickup a miss', async () => {
    const clock = new FakeClock();
    const b = runEdge('b', later, 'both', clock);
    const worker = newWorker(set, clock, [b]);
    deliver(worker, b);
    await settleLookups();
    worker.watermark('b', Number.MAX_SAFE_INTEGER, true);
    worker.tick();
    b.remote.finish();
    worker.finish();
    const n = b.remote.counters.pickups;
    expect(n).toBeGreaterThan(5);
    expect(b.remote.counters.pickupHits).toBe(0);
    expect(b.remote.counters.pickupMisses).toBe(b.remote.counters.verdicts - b.remote.counters.unsetVerdicts);
    expect(b.remote.counters.pickupMisses).toBeGreaterThan(0);
  });
});
