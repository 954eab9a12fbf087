/**
 * The cluster over a real nats-server started by the test: edges in
 * remote replay mode, classifier workers, and what the issue asks of them
 * when routers see one direction each, workers die, and NATS restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerProcess } from '@l7mesh/bus';
import type { RunningWorker } from '@l7mesh/classifier';
import type { PatternSet } from '@l7mesh/engine';
import { readCaptureFile } from '@l7mesh/flow';
import { captureCorpus, classifyFile, projectPatternSet } from './captureCorpus.js';
import { verdictsOf } from './clusterHarness.js';
import { inProcessWorker, replayEdge, splitCapture } from './clusterLab.js';

let set: PatternSet;
beforeAll(() => {
  set = projectPatternSet();
});

async function firstTimestamp(file: string): Promise<number> {
  let first = Infinity;
  await readCaptureFile(file, (f) => {
    if (first === Infinity) first = f.tsSec + f.tsNsec / 1e9;
  });
  return first;
}

describe('two edges that each see one direction', () => {
  let server: NatsServerProcess;
  const workers: RunningWorker[] = [];
  beforeAll(async () => {
    server = await startNatsServer();
    // The edges are unsynchronised: segments may wait for the late edge as long as its replay lags.
    for (const id of ['w1', 'w2']) workers.push(await inProcessWorker(id, [server.url], set, { holdMs: 10_000 }));
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await server?.stop();
  });

  it('every flow of the bundled and golden captures gets the verdict of classify on the whole capture, at both edges, with the request side 1.5 s behind', async () => {
    // In the order of their first packets, so each edge's watermark only grows.
    const corpus = captureCorpus();
    const starts = new Map(await Promise.all(corpus.map(async (c) => [c.file, await firstTimestamp(c.file)] as const)));
    corpus.sort((a, b) => starts.get(a.file)! - starts.get(b.file)!);
    const splits = await Promise.all(corpus.map((c) => splitCapture(c.file)));
    const [replies, requests] = await Promise.all([
      replayEdge('router-b', [server.url], splits.map((s) => s.replies), set, { cluster: { verdictTimeoutMs: 30_000 } }),
      replayEdge('router-a', [server.url], splits.map((s) => s.requests), set, { startDelayMs: 1500, cluster: { verdictTimeoutMs: 30_000 } }),
    ]);
    const wrong: string[] = [];
    let compared = 0;
    for (const [i, c] of corpus.entries()) {
      const expected = verdictsOf(await classifyFile(c.file, set, 'hyperscan'));
      for (const [edge, run, file] of [['router-a', requests, splits[i]!.requests], ['router-b', replies, splits[i]!.replies]] as const) {
        for (const [id, l7s] of verdictsOf(run.records.get(file)!)) {
          compared++;
          const want = expected.get(id);
          if (!want || want.join(',') !== l7s.join(',')) wrong.push(`${c.name} at ${edge}: ${id}: ${l7s.join(',')} (classify: ${want?.join(',') ?? 'no such flow'})`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(compared).toBeGreaterThan(200);
    for (const run of [requests, replies]) {
      const cluster = run.results[0]!.stats.cluster!;
      expect(cluster.timed_out).toBe(0);
      expect(cluster.conflicting_verdicts).toBe(0);
    }
  }, 120_000);
});
