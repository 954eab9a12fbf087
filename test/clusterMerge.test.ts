/**
 * The cluster's merge, in one process (the transport is covered by
 * test/cluster.test.ts): edges that see a capture whole or one direction
 * each, batches delivered late, out of order or twice, must give every flow
 * the verdict `classify` gives it on the whole capture.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FlowRecord, PatternSet } from '@l7mesh/engine';
import type { MergingClassifier } from '@l7mesh/classifier';
import type { HeadSegment } from '@l7mesh/wire';
import { CAPTURES_DIR, captureCorpus, classifyFile, projectPatternSet } from './captureCorpus.js';
import { capturePackets, FakeClock, newWorker, resendAfter, runEdge, settleLookups, verdictsOf, type SimEdge, type VerdictCache } from './clusterHarness.js';

let set: PatternSet;
beforeAll(() => {
  set = projectPatternSet();
});

const corpus = captureCorpus();

/** Every batch of the edge, in order; verdict-cache look-ups (a picked-up flow's, a re-sent one's) answered in between. */
async function deliver(worker: MergingClassifier, edge: SimEdge): Promise<void> {
  for (const batch of edge.batches) {
    worker.acceptBatch(batch);
    worker.endBatch();
    await settleLookups();
  }
}

/**
 * A worker that took the edge's partitions over: it learns of the finished
 * replay first, then gets the edge's re-sends (two rounds) and finishes.
 */
async function takeOver(worker: MergingClassifier, edge: SimEdge, clock: FakeClock): Promise<void> {
  worker.watermark(edge.id, Number.MAX_SAFE_INTEGER, true);
  for (let round = 0; round < 2; round++) {
    for (const batch of resendAfter(edge, clock, 2_000)) {
      worker.acceptBatch(batch);
      worker.endBatch();
      await settleLookups();
    }
  }
  edge.remote.finish();
  worker.finish();
}

function finishAll(worker: MergingClassifier, clock: FakeClock, edges: SimEdge[]): void {
  for (const e of edges) worker.watermark(e.id, Number.MAX_SAFE_INTEGER, true);
  worker.tick();
  for (const e of edges) e.remote.finish();
  worker.finish();
  clock.ms += 1;
}

/** Every flow an edge reported has classify's verdict for that flow. */
function expectSameVerdicts(edge: SimEdge, expected: Map<string, string[]>, capture: string): void {
  const got = verdictsOf(edge.records);
  const wrong: string[] = [];
  for (const [id, l7s] of got) {
    const want = expected.get(id);
    if (!want || want.join(',') !== l7s.join(',')) wrong.push(`${id}: ${l7s.join(',')} (classify: ${want?.join(',') ?? 'no such flow'})`);
  }
  expect(wrong, `${capture}, edge ${edge.id}`).toEqual([]);
}

describe.each(corpus.map((c) => [c.name, c.file]))('%s', (name, file) => {
  let expected: Map<string, string[]>;
  let classified: FlowRecord[];
  beforeAll(async () => {
    classified = await classifyFile(file, set, 'hyperscan');
    expected = verdictsOf(classified);
  });

  it('one edge that sees it whole: the verdicts of classify', async () => {
    const clock = new FakeClock();
    const packets = await capturePackets(file);
    const edge = runEdge('a', packets, 'both', clock);
    const worker = newWorker(set, clock, [edge]);
    await deliver(worker, edge);
    finishAll(worker, clock, [edge]);
    expect(edge.records.length).toBe(classified.length);
    expectSameVerdicts(edge, expected, name);
    expect(worker.counters.heldOut).toBe(0);
  });

  it('directions split over two edges, the request side a second late: the verdicts of classify at both', async () => {
    const clock = new FakeClock();
    const packets = await capturePackets(file);
    const requests = runEdge('a', packets, 'orig', clock);
    const replies = runEdge('b', packets, 'reply', clock);
    const worker = newWorker(set, clock, [requests, replies]);
    // Both edges are known to the worker before anything arrives (their first watermarks).
    worker.watermark('a', 0, false);
    worker.watermark('b', 0, false);
    await deliver(worker, replies);
    worker.watermark('b', Number.MAX_SAFE_INTEGER, true);
    clock.ms += 1_000;
    worker.tick();
    await deliver(worker, requests);
    finishAll(worker, clock, [requests, replies]);
    expectSameVerdicts(requests, expected, name);
    expectSameVerdicts(replies, expected, name);
    expect(worker.counters.heldOut).toBe(0);
  });

  it('the worker dies half way: another takes the partition over from the re-sends and decides as classify', async () => {
    const clock = new FakeClock();
    const packets = await capturePackets(file);
    const edge = runEdge('a', packets, 'both', clock, 4);
    const cache: VerdictCache = new Map();
    const first = newWorker(set, clock, [edge], cache);
    const half = Math.floor(edge.batches.length / 2);
    for (const batch of edge.batches.slice(0, half)) {
      first.acceptBatch(batch);
      first.endBatch();
    }
    // The rest went to the dead worker's subjects: lost.
    await takeOver(newWorker(set, clock, [edge], cache), edge, clock);
    expectSameVerdicts(edge, expected, name);
  });

  it('segments of each flow in reverse order within their batch, every batch twice: the verdicts of classify', async () => {
    const clock = new FakeClock();
    const packets = await capturePackets(file);
    const edge = runEdge('a', packets, 'both', clock, 4);
    const worker = newWorker(set, clock, [edge]);
    for (const batch of edge.batches) {
      // Flows keep their order (one edge's messages arrive in order over NATS); a flow's own segments come last first.
      const byFlow = new Map<string, HeadSegment[]>();
      for (const s of batch.segments) byFlow.set(s.key, [...(byFlow.get(s.key) ?? []), s]);
      const reordered = { ...batch, segments: [...byFlow.values()].flatMap((list) => list.reverse()) };
      for (let i = 0; i < 2; i++) {
        worker.acceptBatch(reordered);
        worker.endBatch();
        await settleLookups();
      }
    }
    finishAll(worker, clock, [edge]);
    expectSameVerdicts(edge, expected, name);
    const segments = edge.batches.reduce((n, b) => n + b.segments.length, 0);
    expect(worker.counters.segments).toBe(2 * segments);
  });
});

describe('an FTP announcement sent to a worker that died, its data connection sent live to the new owner', () => {
  it('the data connection’s first message brings the announcement along: it inherits ftp, as in classify', async () => {
    const file = join(CAPTURES_DIR, 'mixed', 'lab-mixed.pcap');
    const expected = verdictsOf(await classifyFile(file, set, 'hyperscan'));
    const clock = new FakeClock();
    const packets = await capturePackets(file);
    // The PASV reply: sent watched (the control connection has its verdict), and lost with the worker.
    const announcement = packets.findIndex(({ p }) => p.payloadLength > 4 && new TextDecoder().decode(p.payload.subarray(0, 4)) === '227 ');
    expect(announcement).toBeGreaterThan(0);
    const edge = runEdge('a', [], 'both', clock, 1);
    const cache: VerdictCache = new Map();
    const first = newWorker(set, clock, [edge], cache);
    const second = newWorker(set, clock, [edge], cache);
    for (const [i, { p }] of packets.entries()) {
      const before = edge.batches.length;
      edge.remote.process(p);
      edge.flush();
      if (i === announcement) continue; // to the dead worker's subject
      const owner = i < announcement ? first : second;
      for (const batch of edge.batches.slice(before)) {
        owner.acceptBatch(batch);
        owner.endBatch();
        await settleLookups();
      }
    }
    // What the first worker had in progress comes to the second in the edge's re-sends.
    await takeOver(second, edge, clock);
    const data = edge.records.find((r) => r.l7 === 'ftp' && r.why?.by === 'inherited');
    expect(data, 'the data connection inherits from its control connection').toBeDefined();
    expectSameVerdicts(edge, expected, 'mixed/lab-mixed.pcap');
  });
});
