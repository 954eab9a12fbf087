import { busNames, connectBus, ensureRecordsStream, Membership, openMembersBucket, RecordPublisher, type Bus } from '@l7mesh/bus';
import { MemberRole } from '@l7mesh/wire';
import type { ClassifierOptions } from '@l7mesh/engine';
import type { FlowEntry } from '@l7mesh/flow';
import { ClusterLink, type LinkCounters } from './clusterLink.js';
import type { ClusterConfig, RecordsConfig } from './config.js';
import type { EdgeCore, FlowPipeline } from './core.js';
import { NatTranslator, type ConntrackReplyLookup, type NatCounters } from './natTranslator.js';
import type { JoinedFlow } from './records.js';
import { RemoteClassifier, type RemoteCounters } from './remoteClassifier.js';

/** A NATed flow's translation is kept this long after its last segment (s): FTP announcements and re-sends of long flows need it. */
const NAT_KEEP_SEC = 3600;
/** How often unanswered flows are checked for re-send and timeout (ms). */
const TICK_MS = 100;

export interface RemoteEdge {
  /**
   * The EdgeCore's pipeline factory for a zone (the config's zone; a
   * replay of several captures gives each its own, see replayCaptures).
   */
  pipeline(zone: number): (options: ClassifierOptions) => FlowPipeline;
  /**
   * The flows of a zone that another edge opened (RemoteClassifier.joinedFlow),
   * for the zone's EdgeRecords (`joinedFlow`), which count each connection once.
   */
  joinedFlows(zone: number): (flow: FlowEntry) => JoinedFlow | undefined;
  /** With source NAT on the router (natLookup): a flow's external key and its originator's place in it (NatTranslator.external). */
  readonly externalName: ((key: string, origIsLow: boolean) => { key: string; origIsLow: boolean } | undefined) | undefined;
  /** Binds a core (for late marks) once it exists. */
  attach(core: EdgeCore): void;
  /** Called after each batch with the newest packet's time (the watermark). */
  advance(tsSec: number, tsNsec: number): void;
  /** After a batch's verdicts went out (its new connections passed NAT): sends the segments that waited for their external tuple. */
  resolveNat(): void;
  /** Replay finished: publishes what is pending and a final watermark. */
  finishReplay(): void;
  /** Resolves when every flow sent has its verdict (or timed out). */
  settled(): Promise<void>;
  counters(): { link: LinkCounters; remote: RemoteCounters; connected: boolean; waiting: number; nat?: NatCounters & { kept: number } };
  /** The publisher of flow records and accounting on the records stream (absent: records disabled). */
  readonly records: RecordPublisher | undefined;
  /** Publishes the records still held (waiting at most `recordsDrainMs`, default 10 s), then leaves the cluster. */
  close(recordsDrainMs?: number): Promise<void>;
}

/**
 * Remote mode for an edge: connects to the cluster's NATS, and gives the
 * core a RemoteClassifier whose segments go out through a ClusterLink and
 * whose verdicts come back through it. With `records` enabled, flow
 * records and accounting go to the records stream over the same
 * connection (see records.ts).
 */
export async function connectRemoteEdge(
  cluster: ClusterConfig,
  live: boolean,
  log: (line: string) => void,
  records?: RecordsConfig,
  /** The router source-NATs and flows are reported under their external tuple: conntrack's reply tuple of a connection. */
  natLookup?: ConntrackReplyLookup,
): Promise<RemoteEdge> {
  const bus: Bus = await connectBus(
    {
      servers: cluster.servers,
      name: `l7mesh-edge-${cluster.id}`,
      user: cluster.user,
      pass: cluster.pass,
      token: cluster.token,
      credsFile: cluster.credsFile,
      tls: cluster.tls,
      onStatus: (s) => log(`edge ${cluster.id}: nats: ${s.type}`),
    },
    busNames(cluster.prefix),
  );
  // One remote classifier per zone (one per capture of a replay; one in live mode); verdicts find theirs by zone.
  const remotes = new Map<number, RemoteClassifier>();
  const cores: EdgeCore[] = [];
  /** Verdicts for a zone this edge has no classifier of (a foreign or mistaken answer). */
  let strayVerdicts = 0;
  const link = new ClusterLink({
    bus,
    edge: cluster.id,
    partitions: cluster.partitions,
    flushMs: cluster.flushMs,
    live,
    log,
    onVerdicts: (verdicts) => {
      for (const v of verdicts) {
        const remote = remotes.get(v.zone);
        if (remote) remote.applyVerdict(nat ? nat.inbound(v) : v);
        else strayVerdicts++;
      }
      for (const core of cores) core.applyUncarried();
    },
  });
  // Flows go out under their external tuple, translated once their first packets passed NAT (see resolveNat).
  const nat = natLookup ? new NatTranslator(link, { lookup: natLookup, keepSec: NAT_KEEP_SEC }) : undefined;
  const sum = (): RemoteCounters => {
    const total: RemoteCounters = {
      segmentsSent: 0,
      resends: 0,
      timedOut: 0,
      verdicts: 0,
      staleVerdicts: strayVerdicts,
      repeatedVerdicts: 0,
      conflictingVerdicts: 0,
      unsetVerdicts: 0,
      pickups: 0,
      pickupHits: 0,
      pickupMisses: 0,
    };
    for (const r of remotes.values()) for (const k of Object.keys(total) as (keyof RemoteCounters)[]) total[k] += r.counters[k];
    return total;
  };
  // A heartbeat in the membership bucket, so that `l7mesh cluster status` lists the edge too (best effort: it classifies without).
  const startedMs = Date.now();
  let latency = { p50: 0, p99: 0 };
  let membership: Membership | undefined;
  try {
    membership = new Membership({
      kv: await openMembersBucket(bus),
      periodMs: 1000,
      timeoutMs: 3000,
      heartbeat: () => {
        const l = [...remotes.values()].flatMap((r) => r.takeLatencies()).sort((a, b) => a - b);
        if (l.length > 0) latency = { p50: l[Math.floor(l.length / 2)]!, p99: l[Math.min(l.length - 1, Math.floor(l.length * 0.99))]! };
        const c = sum();
        return { id: cluster.id, role: MemberRole.Edge, timeMs: Date.now(), startedMs, ruleSetVersion: 0, partitions: 0, flowsInProgress: [...remotes.values()].reduce((n, r) => n + r.waiting, 0), decided: c.verdicts, latencyP50Us: Math.round(latency.p50 * 1000), latencyP99Us: Math.round(latency.p99 * 1000) };
      },
    });
    await membership.start();
  } catch (err) {
    membership = undefined;
    log(`edge ${cluster.id}: no heartbeat in the membership bucket: ${(err as Error).message}`);
  }
  let publisher: RecordPublisher | undefined;
  if (records?.enabled) {
    // Best effort, as the heartbeat: control creates the stream too, and the publisher retries until it exists.
    await ensureRecordsStream(bus).catch((err: unknown) => log(`edge ${cluster.id}: records stream: ${(err as Error).message}`));
    publisher = new RecordPublisher({ bus, edge: cluster.id, maxBuffered: records.maxBuffered, flushMs: records.flushMs, log: (line) => log(`edge ${cluster.id}: ${line}`) });
  }
  const ticker = setInterval(() => {
    for (const remote of remotes.values()) remote.tick();
    for (const core of cores) core.applyUncarried();
  }, TICK_MS);
  return {
    pipeline: (zone) => (options) => {
      const remote = new RemoteClassifier({ ...options, zone, sink: nat ?? link, resendMs: cluster.resendMs, verdictTimeoutMs: cluster.verdictTimeoutMs });
      remotes.set(zone, remote);
      return remote;
    },
    joinedFlows: (zone) => (flow) => remotes.get(zone)?.joinedFlow(flow),
    externalName: nat ? (key, origIsLow) => nat.external(key, origIsLow) : undefined,
    attach: (core) => {
      cores.push(core);
    },
    advance: (tsSec, tsNsec) => link.advance(tsSec, tsNsec),
    resolveNat: () => nat?.resolve(),
    finishReplay: () => link.finishReplay(),
    settled: async () => {
      await Promise.all([...remotes.values()].map((r) => r.settled()));
    },
    counters: () => ({
      link: link.counters,
      remote: sum(),
      connected: bus.connected,
      waiting: [...remotes.values()].reduce((n, r) => n + r.waiting, 0),
      ...(nat ? { nat: { ...nat.counters, kept: nat.size } } : {}),
    }),
    records: publisher,
    close: async (recordsDrainMs = 10_000) => {
      clearInterval(ticker);
      if (publisher) {
        if (!(await publisher.drain(recordsDrainMs))) log(`edge ${cluster.id}: records: ${publisher.buffered} records not acknowledged at close (lost)`);
        publisher.close();
      }
      await membership?.stop(true);
      await link.close();
      await bus.close();
    },
  };
}
