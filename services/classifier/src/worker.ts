import { hostname } from 'node:os';
import { connectBus, ensureEventsStream, Membership, openMembersBucket, openVerdictsBucket, verdictCacheKey, type BusNames, type BusOptions, type KV, type Subscription } from '@l7mesh/bus';
import type { EngineKind, PatternSet } from '@l7mesh/engine';
import type { FlowTimeouts } from '@l7mesh/flow';
import {
  DEFAULT_PARTITIONS,
  decodeEdgeWatermark,
  decodeHeadBatch,
  decodeVerdictBatch,
  encodeVerdictBatch,
  MemberRole,
  partitionOf,
  type Verdict,
} from '@l7mesh/wire';
import { EventPublisher } from './eventPublisher.js';
import { MergingClassifier, type CachedVerdict } from './mergingClassifier.js';
import { assignPartitions, membershipEpoch } from './rendezvous.js';

export interface WorkerOptions {
  bus: BusOptions;
  names?: BusNames;
  /** Member id (default host-pid). Becomes a subject token: [A-Za-z0-9_-]. */
  id?: string;
  set: PatternSet;
  /** Identifies the pattern set in verdicts and heartbeats. */
  ruleSetVersion: number;
  engine?: EngineKind;
  maxPackets?: number;
  maxDataLen?: number;
  ftpPorts?: number[];
  timeouts?: Partial<FlowTimeouts>;
  partitions?: number;
  heartbeatMs?: number;
  /** A member silent for this long is dropped and its partitions move (ms). */
  memberTimeoutMs?: number;
  holdMs?: number;
  edgeLivenessMs?: number;
  maxFlows?: number;
  maxFlowsInProgress?: number;
  maxPendingBytes?: number;
  /** Messages received and not yet processed; beyond it messages are dropped and counted. */
  maxQueuedMessages?: number;
  /** Replicas of the events stream and the buckets (3 on a three-server cluster). */
  replicas?: number;
  verdictCacheTtlSec?: number;
  /**
   * Where a pickup or a re-send looks when the verdict cache has nothing
   * (its entries expired): the central store's flow table (l7mesh worker run
   * --database-url).
   */
  recallStored?: (zone: number, key: string) => Promise<CachedVerdict | undefined>;
  log?: (line: string) => void;
}

export interface WorkerCounters {
  messages: number;
  /** Messages rejected by the decoder, per kind. */
  badMessages: { head: number; watermark: number; heartbeat: number; cache: number };
  /** Messages dropped because the worker was past its queue bound. */
  droppedMessages: number;
  verdictsSent: number;
  /** Core publishes (verdicts, cache entries) that failed: the connection was closed. */
  publishErrors: number;
  partitionMoves: number;
  /** Cache misses looked up in the store (recallStored): found, not found, failed. */
  storeLookups: { hits: number; misses: number; errors: number };
}

export interface RunningWorker {
  readonly id: string;
  /** The worker's own counters; the merging classifier's are `merging.counters`, the events stream's `events.counters`. */
  readonly counters: WorkerCounters;
  readonly events: EventPublisher;
  /** Partitions this worker owns now. */
  owned(): number[];
  liveWorkers(): readonly string[];
  readonly epoch: number;
  readonly merging: MergingClassifier;
  /** Resolves once the server has what this worker sent so far (its subscriptions too). */
  flush(): Promise<void>;
  /** Leaves the cluster (its partitions move at once), drains the connection. */
  stop(): Promise<void>;
}

/** Messages handled per turn of the event loop before yielding, so the socket keeps being read. */
const SLICE = 64;
const TICK_MS = 20;
const EVENT_FLUSH_MS = 100;
/** Idle timeout (s) of an open TCP flow in the worker's table; the edge's default too. */
const WORKER_TCP_OPEN_TIMEOUT = 600;

/**
 * A classifier worker: joins the membership, owns the partitions that
 * rendezvous hashing gives it, merges and classifies the segments edges
 * publish to them, and publishes verdicts to each reporting edge, decided
 * flows to the events stream, and decisions to the verdict cache.
 */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const storeLookups = { hits: 0, misses: 0, errors: 0 };
  const recallStored = async (zone: number, key: string): Promise<CachedVerdict | undefined> => {
    if (!options.recallStored) return undefined;
    try {
      const v = await options.recallStored(zone, key);
      storeLookups[v ? 'hits' : 'misses']++;
      return v;
    } catch (err) {
      // The store unreachable: the flow is classified from what its edges send.
      if (storeLookups.errors++ < 10) (options.log ?? (() => undefined))(`worker: store lookup failed: ${(err as Error).message}`);
      return undefined;
    }
  };
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const id = options.id ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}`;
  const partitions = options.partitions ?? DEFAULT_PARTITIONS;
  const replicas = options.replicas ?? 1;
  const startedMs = Date.now();

  const bus = await connectBus({ name: `l7mesh-worker-${id}`, ...options.bus, onStatus: (s) => log(`worker ${id}: nats: ${s.type}`) }, options.names);
  const names = bus.names;
  let membersKv: KV;
  let verdictsKv: KV;
  try {
    await ensureEventsStream(bus, { replicas });
    membersKv = await openMembersBucket(bus, { replicas });
    verdictsKv = await openVerdictsBucket(bus, { replicas, ttlSec: options.verdictCacheTtlSec });
  } catch (err) {
    await bus.close().catch(() => undefined);
    throw err;
  }

  const counters: WorkerCounters = {
    messages: 0,
    badMessages: { head: 0, watermark: 0, heartbeat: 0, cache: 0 },
    droppedMessages: 0,
    verdictsSent: 0,
    publishErrors: 0,
    partitionMoves: 0,
    storeLookups,
  };
  let epoch = membershipEpoch([id]);
  let latency = { p50: 0, p99: 0 };

  /** A core publish; one that fails (the connection closed) is counted, and its flows' edges re-send. */
  const publish = (subject: string, data: Uint8Array): void => {
    try {
      bus.nc.publish(subject, data);
    } catch (err) {
      if (counters.publishErrors++ < 10) log(`worker ${id}: publish to ${subject} failed: ${(err as Error).message}`);
    }
  };

  // Verdicts per edge, sent together at the end of each slice of work.
  const outbox = new Map<string, Verdict[]>();
  const events = new EventPublisher(bus.jetstream(), names.eventsSubject, id, startedMs, log);
  const merging = new MergingClassifier({
    set: options.set,
    engine: options.engine,
    maxPackets: options.maxPackets,
    maxDataLen: options.maxDataLen,
    ftpPorts: options.ftpPorts,
    // A worker sees only flow heads, never the FIN of a decided flow: an open TCP flow is kept 10 minutes, not conntrack's 5 days.
    timeouts: { tcpOpen: WORKER_TCP_OPEN_TIMEOUT, ...options.timeouts },
    maxFlows: options.maxFlows,
    maxFlowsInProgress: options.maxFlowsInProgress,
    maxPendingBytes: options.maxPendingBytes,
    holdMs: options.holdMs,
    edgeLivenessMs: options.edgeLivenessMs,
    ruleSetVersion: options.ruleSetVersion,
    epoch: () => epoch,
    onVerdict: (edge, v) => {
      let list = outbox.get(edge);
      if (!list) outbox.set(edge, (list = []));
      list.push(v);
    },
    onEvent: (e) => events.add(e),
    onDecided: (zone, key, v) => {
      // Best effort and off the hot path: a plain publish to the bucket's subject, no ack awaited.
      publish(`$KV.${names.verdictsBucket}.${verdictCacheKey(zone, key)}`, encodeCachedVerdict(id, zone, key, v));
    },
    lookupCache: async (zone, key) => {
      const e = await verdictsKv.get(verdictCacheKey(zone, key));
      if (!e || e.operation !== 'PUT' || e.value.length === 0) return recallStored(zone, key);
      try {
        return decodeCachedVerdict(e.value);
      } catch (err) {
        // A foreign or damaged entry: the flow is classified anew, and the entry is counted.
        counters.badMessages.cache++;
        badLog(`verdict cache ${e.key}`, err);
        return undefined;
      }
    },
  });

  const flushVerdicts = (): void => {
    for (const [edge, verdicts] of outbox) {
      for (let i = 0; i < verdicts.length; i += 1000) {
        publish(names.verdict(edge), encodeVerdictBatch({ worker: id, verdicts: verdicts.slice(i, i + 1000) }));
      }
      counters.verdictsSent += verdicts.length;
    }
    outbox.clear();
  };

  // Inbound messages in arrival order: head batches and watermarks share one
  // queue, because a watermark speaks of the segments published before it.
  const inbound: { kind: 'head' | 'watermark'; data: Uint8Array }[] = [];
  /** The next message to work on: the array is compacted now and then, not shifted per message. */
  let next = 0;
  let scheduled = false;
  const maxQueued = options.maxQueuedMessages ?? 20_000;
  const badLog = (kind: string, err: unknown): void => {
    const b = counters.badMessages;
    const n = b.head + b.watermark + b.heartbeat + b.cache;
    if (n <= 10 || n % 10_000 === 0) log(`worker ${id}: rejected ${kind} message (${n} so far): ${(err as Error).message}`);
  };
  const work = (): void => {
    scheduled = false;
    const end = Math.min(next + SLICE, inbound.length);
    for (; next < end; next++) {
      const m = inbound[next]!;
      counters.messages++;
      if (m.kind === 'head') {
        let batch;
        try {
          batch = decodeHeadBatch(m.data);
        } catch (err) {
          counters.badMessages.head++;
          badLog('head', err);
          continue;
        }
        merging.acceptBatch(batch);
      } else {
        try {
          const w = decodeEdgeWatermark(m.data);
          merging.watermark(w.edge, w.tsSec + w.tsNsec * 1e-9, w.done);
        } catch (err) {
          counters.badMessages.watermark++;
          badLog('watermark', err);
        }
      }
    }
    if (next === inbound.length) {
      inbound.length = 0;
      next = 0;
    } else if (next >= 4096) {
      inbound.splice(0, next);
      next = 0;
    }
    merging.endBatch();
    flushVerdicts();
    if (inbound.length > next) schedule();
  };
  const schedule = (): void => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(work);
    }
  };
  const receive = (kind: 'head' | 'watermark', data: Uint8Array): void => {
    if (inbound.length - next >= maxQueued) {
      counters.droppedMessages++;
      return;
    }
    inbound.push({ kind, data });
    schedule();
  };

  // Partition subscriptions follow the membership.
  const subscriptions = new Map<number, Subscription>();
  let owners: string[] = [];
  const reassign = (workers: string[]): void => {
    const before = new Set(subscriptions.keys());
    owners = assignPartitions(workers, partitions);
    epoch = membershipEpoch(workers);
    const mine = new Set<number>();
    owners.forEach((owner, p) => owner === id && mine.add(p));
    for (const p of before) {
      if (mine.has(p)) continue;
      subscriptions.get(p)!.unsubscribe();
      subscriptions.delete(p);
    }
    for (const p of mine) {
      if (subscriptions.has(p)) continue;
      subscriptions.set(p, bus.nc.subscribe(names.head(p), { callback: (_err, msg) => receive('head', msg.data) }));
    }
    const lost = [...before].filter((p) => !mine.has(p));
    if (lost.length > 0) {
      const lostSet = new Set(lost);
      const forgotten = merging.forget((zone, key) => lostSet.has(partitionOf(zone, key, partitions)));
      counters.partitionMoves += lost.length;
      log(`worker ${id}: gave up ${lost.length} partitions (${forgotten} flows in progress there)`);
    }
    log(`worker ${id}: ${workers.length} workers [${workers.join(', ')}], owning ${mine.size}/${partitions} partitions (epoch ${epoch.toString(16)})`);
  };

  const watermarkSub = bus.nc.subscribe(names.edgeWatermarkWildcard, { callback: (_err, msg) => receive('watermark', msg.data) });

  const membership = new Membership({
    kv: membersKv,
    periodMs: options.heartbeatMs ?? 1000,
    timeoutMs: options.memberTimeoutMs ?? 3000,
    heartbeat: () => ({
      id,
      role: MemberRole.Worker,
      timeMs: Date.now(),
      startedMs,
      ruleSetVersion: options.ruleSetVersion,
      partitions: subscriptions.size,
      flowsInProgress: merging.flowsInProgress,
      decided: merging.counters.decided,
      latencyP50Us: Math.round(latency.p50 * 1000),
      latencyP99Us: Math.round(latency.p99 * 1000),
    }),
    onWorkersChanged: reassign,
    onBadHeartbeat: (key, err) => {
      counters.badMessages.heartbeat++;
      badLog(`heartbeat ${key}`, err);
    },
  });
  await membership.start();

  let stopping = false;
  const ticker = setInterval(() => {
    merging.tick();
    flushVerdicts();
  }, TICK_MS);
  const eventTimer = setInterval(() => events.publish(), EVENT_FLUSH_MS);
  const latencyTimer = setInterval(() => {
    const l = merging.takeLatencies().sort((a, b) => a - b);
    latency = l.length === 0 ? { p50: 0, p99: 0 } : { p50: l[Math.floor(l.length * 0.5)]!, p99: l[Math.min(l.length - 1, Math.floor(l.length * 0.99))]! };
  }, 1000);

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(ticker);
    clearInterval(eventTimer);
    clearInterval(latencyTimer);
    await membership.stop(true);
    for (const s of subscriptions.values()) s.unsubscribe();
    watermarkSub.unsubscribe();
    while (inbound.length > next) work();
    flushVerdicts();
    await events.drain();
    merging.finish();
    await bus.close();
  };

  return {
    id,
    counters,
    owned: () => [...subscriptions.keys()].sort((a, b) => a - b),
    liveWorkers: () => membership.liveWorkers,
    get epoch() {
      return epoch;
    },
    merging,
    events,
    flush: () => bus.nc.flush(),
    stop,
  };
}

/**
 * A cache entry is a one-verdict batch (the flow's key and zone inside;
 * generation 0; for no edge, so opener false) with the flow's start.
 */
function encodeCachedVerdict(worker: string, zone: number, key: string, v: CachedVerdict): Uint8Array {
  return encodeVerdictBatch({ worker, verdicts: [{ zone, key, generation: 0, ...v, final: true, recalled: false, opener: false }] });
}

function decodeCachedVerdict(bytes: Uint8Array): CachedVerdict | undefined {
  const v = decodeVerdictBatch(bytes).verdicts[0];
  if (!v) return undefined;
  const cached: CachedVerdict = { l7: v.l7, decidedBy: v.decidedBy, decidedAtPacket: v.decidedAtPacket, mark: v.mark, ruleSetVersion: v.ruleSetVersion, epoch: v.epoch };
  if (v.start) cached.start = v.start;
  return cached;
}
