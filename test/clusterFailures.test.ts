/**
 * The cluster when things go wrong, over real nats-servers started by the
 * tests: a worker killed with SIGKILL under load, a NATS server restarted
 * mid-run, a server of a three-server NATS cluster killed, and garbage on
 * every subject.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { busNames, connectBus, openMembersBucket, startNatsCluster, startNatsServer, type NatsCluster, type NatsServerProcess } from '@l7mesh/bus';
import type { RunningWorker } from '@l7mesh/classifier';
import type { PatternSet } from '@l7mesh/engine';
import { seededRandom } from '@l7mesh/flow';
import { CAPTURES_DIR, classifyFile, projectPatternSet } from './captureCorpus.js';
import { verdictsOf } from './clusterHarness.js';
import { sleep } from '@l7mesh/netns';
import { childWorker, inProcessWorker, replayEdge, until, VerdictRecorder, type EdgeRun } from './clusterLab.js';

const MIXED = join(CAPTURES_DIR, 'mixed', 'lab-mixed.pcap');

let set: PatternSet;
let expected: Map<string, string[]>;
beforeAll(async () => {
  set = projectPatternSet();
  expected = verdictsOf(await classifyFile(MIXED, set, 'hyperscan'));
});

/** n copies of the mixed capture (a replay gives each its own zone, so their flows are distinct). */
function copies(n: number): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'l7mesh-copies-'));
  return Array.from({ length: n }, (_, i) => {
    const file = join(dir, `copy-${String(i).padStart(3, '0')}.pcap`);
    copyFileSync(MIXED, file);
    return file;
  });
}

/** Copies (by index) whose flows did not all get classify's verdicts. */
function wrongCopies(run: EdgeRun, files: string[]): string[] {
  const wrong: string[] = [];
  files.forEach((file, i) => {
    const got = verdictsOf(run.records.get(file)!);
    const bad = [...expected].filter(([id, l7s]) => got.get(id)?.join(',') !== l7s.join(','));
    if (bad.length > 0) wrong.push(`copy ${i}: ${bad.map(([id, l7s]) => `${id}: ${got.get(id)?.join(',') ?? 'missing'} (classify: ${l7s.join(',')})`).join('; ')}`);
  });
  return wrong;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a worker killed with SIGKILL under load', () => {
  it('its partitions move, every flow still gets its verdict, and no flow gets two different answers', async () => {
    const server = await startNatsServer();
    cleanups.push(() => server.stop());
    const workers = ['w1', 'w2', 'w3'].map((id) => childWorker(id, [server.url]));
    cleanups.push(async () => {
      for (const w of workers) w.child.kill('SIGKILL');
    });
    const recorder = await VerdictRecorder.start([server.url]);
    cleanups.push(() => recorder.close());
    const bus = await connectBus({ servers: server.url }, busNames());
    cleanups.push(() => bus.close());
    const members = await openMembersBucket(bus);
    await until(() => workers.every((w) => w.log.some((l) => l.includes('3 workers'))), 30_000, 'three workers to see each other');

    const files = copies(120);
    const run = replayEdge('edge-1', [server.url], files, set, { cluster: { verdictTimeoutMs: 30_000, resendMs: 1_000 } });
    // Kill the first worker as soon as verdicts flow: it holds a third of the partitions.
    await until(() => recorder.count > 200, 30_000, 'the first verdicts');
    const victim = workers[0]!;
    victim.child.kill('SIGKILL');
    const done = await run;
    expect(wrongCopies(done, files)).toEqual([]);
    expect(done.results[0]!.stats.cluster!.timed_out).toBe(0);
    expect(recorder.conflicts()).toEqual([]);
    // The survivors took its partitions over.
    const live = workers.slice(1);
    await until(() => live.every((w) => w.log.some((l) => l.includes('2 workers'))), 10_000, 'the survivors to drop the dead worker');
    expect(live.some((w) => w.log.some((l) => /owning \d+\/1024/.test(l)))).toBe(true);
    // A key updated while the listing runs (a survivor's heartbeat) can be listed twice, so count distinct keys.
    const keys = new Set<string>();
    for await (const k of await members.keys('worker.*')) keys.add(k);
    expect([...keys].sort()).toEqual(['worker.w1', 'worker.w2', 'worker.w3']); // its heartbeat stays until it ages out of the bucket
  }, 120_000);
});

describe('NATS restarted mid-run', () => {
  it('edges fail open, reconnect and carry on; verdicts resume within a few seconds', async () => {
    const server = await startNatsServer();
    cleanups.push(() => server.stop());
    const workers: RunningWorker[] = [];
    for (const id of ['w1', 'w2']) workers.push(await inProcessWorker(id, [server.url], set));
    cleanups.push(async () => {
      for (const w of workers) await w.stop();
    });
    // Six copies at the capture's own pace: about 10 s, with the server down from 2 s to 4 s.
    const files = copies(6);
    const run = replayEdge('edge-1', [server.url], files, set, { speed: 1 });
    await sleep(2_000);
    await server.kill();
    await sleep(2_000);
    await server.restart();
    const done = await run;
    // Fail-open: every packet of every copy went through the edge.
    for (const r of done.results) expect(r.frames).toBe(149);
    expect(done.results[0]!.stats.cluster!.connected).toBe(true);
    // Copies started at least 2.5 s after the restart got every verdict.
    expect(wrongCopies(done, files.slice(4))).toEqual([]);
    expect(wrongCopies(done, files.slice(0, 1))).toEqual([]);
  }, 120_000);
});

describe('a three-server NATS cluster', () => {
  let cluster: NatsCluster;
  it('loses the server most clients use: they move to the other two, verdicts carry on, and the events stream loses nothing', async () => {
    cluster = await startNatsCluster(3, { monitor: true });
    cleanups.push(() => cluster.stop());
    const urls = cluster.urls;
    const workers: RunningWorker[] = [];
    for (const id of ['w1', 'w2']) workers.push(await inProcessWorker(id, urls, set, { replicas: 3 }));
    cleanups.push(async () => {
      for (const w of workers) await w.stop();
    });
    const files = copies(8);
    const run = replayEdge('edge-1', urls, files, set, { speed: 1.5, cluster: { verdictTimeoutMs: 30_000, resendMs: 1_000 } });
    await sleep(1_500);
    const busiest = await busiestServer(cluster.servers);
    await busiest.kill();
    const done = await run;
    expect(wrongCopies(done, files)).toEqual([]);
    expect(done.results[0]!.stats.cluster!.timed_out).toBe(0);
    // Every decided flow is in the events stream once (deduplicated by batch id); stopping publishes the last ones.
    for (const w of workers) await w.stop();
    const decided = workers.reduce((n, w) => n + w.merging.counters.decided, 0);
    const events = await countEvents(cluster.servers.filter((s) => s !== busiest).map((s) => s.url));
    expect(events).toBe(decided);
  }, 180_000);
});

/** The server with the most client connections, by its /connz. */
async function busiestServer(servers: readonly NatsServerProcess[]): Promise<NatsServerProcess> {
  let best = servers[0]!;
  let most = -1;
  for (const s of servers) {
    const connz = (await (await fetch(`${s.monitorUrl}/connz`)).json()) as { num_connections: number };
    if (connz.num_connections > most) {
      most = connz.num_connections;
      best = s;
    }
  }
  return best;
}

/** Verdict events in the stream (each event batch holds several). */
async function countEvents(servers: string[]): Promise<number> {
  const { decodeEventBatch } = await import('@l7mesh/wire');
  const bus = await connectBus({ servers }, busNames());
  try {
    // Right after a server died the stream may still be electing its leader: ask again.
    const retry = async <T>(what: () => Promise<T>): Promise<T> => {
      for (let tries = 0; ; tries++) {
        try {
          return await what();
        } catch (err) {
          if (tries >= 20) throw err;
          await sleep(500);
        }
      }
    };
    const jsm = await retry(() => bus.jetstreamManager());
    const batches = (await retry(() => jsm.streams.info(bus.names.eventsStream))).state.messages;
    const consumer = await retry(() => bus.jetstream().consumers.get(bus.names.eventsStream));
    let events = 0;
    for (let read = 0; read < batches; ) {
      const m = await consumer.next({ expires: 5_000 });
      if (!m) continue;
      read++;
      events += decodeEventBatch(m.data).events.length;
    }
    return events;
  } finally {
    await bus.close();
  }
}

describe('garbage on every subject', () => {
  let server: NatsServerProcess;
  it('is rejected and counted, and the workers and the edge keep working', async () => {
    server = await startNatsServer();
    cleanups.push(() => server.stop());
    const workers: RunningWorker[] = [];
    for (const id of ['w1', 'w2']) workers.push(await inProcessWorker(id, [server.url], set));
    cleanups.push(async () => {
      for (const w of workers) await w.stop();
    });
    const bus = await connectBus({ servers: server.url }, busNames());
    cleanups.push(() => bus.close());
    await until(() => workers.every((w) => w.liveWorkers().length === 2), 10_000, 'both workers to see each other');
    for (const w of workers) await w.flush(); // their partition subscriptions are in place
    let edgeUp = false;
    const watch = await (await openMembersBucket(bus)).watch({ key: 'edge.edge-1' });
    void (async () => {
      for await (const e of watch) if (e.operation === 'PUT') edgeUp = true;
    })();
    cleanups.push(async () => watch.stop());
    const random = seededRandom(8);
    const junk = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
    const files = copies(4);
    const run = replayEdge('edge-1', [server.url], files, set, { speed: 2 });
    const names = bus.names;
    const members = await openMembersBucket(bus);
    // Random bytes, a truncated real header, and an oversized message.
    const garbage = (i: number) => (i % 3 === 0 ? junk(1 + (i % 50)) : i % 3 === 1 ? Uint8Array.of(0x4c, 0x37, 1, 1, 0, 5) : junk(200_000));
    // The edge's verdict subject first, while it surely replays (its heartbeat says it is up).
    await until(() => edgeUp, 10_000, 'the edge to join');
    for (let i = 0; i < 200; i++) bus.nc.publish(names.verdict('edge-1'), garbage(i));
    await bus.nc.flush();
    for (let i = 0; i < 200; i++) {
      const body = garbage(i);
      bus.nc.publish(names.head(i % 1024), body);
      bus.nc.publish(names.edgeWatermark(`junk-${i % 7}`), body);
      if (i % 20 === 0) await members.put(`worker.junk-${i}`, body);
      await sleep(2);
    }
    const done = await run;
    const bad = workers.reduce((acc, w) => ({ head: acc.head + w.counters.badMessages.head, watermark: acc.watermark + w.counters.badMessages.watermark, heartbeat: acc.heartbeat + w.counters.badMessages.heartbeat }), { head: 0, watermark: 0, heartbeat: 0 });
    // Every garbage message that reached a worker was counted (core NATS may lose one under this flood).
    expect(bad.head).toBeGreaterThanOrEqual(190);
    expect(bad.head).toBeLessThanOrEqual(200);
    expect(bad.watermark).toBe(400); // both workers hear every watermark
    expect(bad.heartbeat).toBeGreaterThan(0);
    expect(done.results[0]!.stats.cluster!.bad_verdict_messages).toBe(200);
    expect(wrongCopies(done, files)).toEqual([]);
  }, 120_000);
});
