import { createHeadScanner, FlowClassifier, type EngineKind, type HeadScanner, type PatternSet } from '@l7mesh/engine';
import { IPPROTO_TCP, keyHasPort, TcpFlag, type DecodedPacket, type FlowEntry, type FlowTimeouts } from '@l7mesh/flow';
import { Direction, SegmentFlag, type FlowStart, type HeadBatch, type HeadSegment, type Verdict, type VerdictEvent } from '@l7mesh/wire';
import { MergeFlow, pendingOf, type Reporter } from './flowMerge.js';

/** What feeding needs of a segment (a queued one, or one fed as it arrives). */
type FedSegment = Pick<HeadSegment, 'direction' | 'tsSec' | 'tsNsec' | 'tcpFlags' | 'seq' | 'ack' | 'ipLength' | 'payload'>;

/**
 * A verdict as the cache keeps it: what any edge's generation of the flow
 * gets. With the flow's start, so that an answer from the cache can tell
 * the edge that opened the flow (see {@link opensFlow}).
 */
export type CachedVerdict = Pick<Verdict, 'l7' | 'decidedBy' | 'decidedAtPacket' | 'mark' | 'ruleSetVersion' | 'epoch' | 'start'>;

export interface MergingOptions {
  set: PatternSet;
  engine?: EngineKind;
  /** l7-filter's limits, counted over the merged flow (all edges' packets). */
  maxPackets?: number;
  maxDataLen?: number;
  ftpPorts?: number[];
  /** Idle timeouts of the worker's flow table (edges' timestamps). */
  timeouts?: Partial<FlowTimeouts>;
  /** Flows kept per zone (decided ones answer late reporters); the least recently active go first. */
  maxFlows?: number;
  /** Undecided flows beyond this are shed: their segments are dropped and counted. */
  maxFlowsInProgress?: number;
  /** Payload bytes waiting for their turn, over all flows; new flows are shed beyond it. */
  maxPendingBytes?: number;
  /** The longest a segment waits for its turn (ms). */
  holdMs?: number;
  /** An edge whose watermark is older than this is not waited for (ms). */
  edgeLivenessMs?: number;
  ruleSetVersion: number;
  /** The membership epoch now (verdicts carry it). */
  epoch: () => number;
  /** A verdict for one edge. */
  onVerdict: (edge: string, verdict: Verdict) => void;
  /** A decided flow, for the events stream. */
  onEvent?: (event: VerdictEvent) => void;
  /** A decision, for the verdict cache. */
  onDecided?: (zone: number, key: string, verdict: CachedVerdict) => void;
  /**
   * Asked for a flow the worker has no state of when an edge re-sends it
   * (its partition may have moved after a decision): the cached verdict, if any.
   */
  lookupCache?: (zone: number, key: string) => Promise<CachedVerdict | undefined>;
  /** Wall clock in ms (default Date.now). */
  now?: () => number;
}

export interface MergingCounters {
  segments: number;
  /** Segments fed to the classifier. */
  fed: number;
  duplicates: number;
  /** Segments dropped because their flow had too many waiting from one edge. */
  overflow: number;
  retransmissionsDropped: number;
  /** Segments of flows shed because the worker was past its limits. */
  shed: number;
  shedFlows: number;
  /** Segments fed because their hold passed, not because their turn came. */
  heldOut: number;
  decided: number;
  /** Answers given from the verdict cache. */
  fromCache: number;
  /** Flows that ended at the worker undecided (idle, evicted). */
  endedUnset: number;
}

interface ZoneState {
  classifier: FlowClassifier;
  flows: Map<string, MergeFlow>;
}

interface Watermark {
  /** From the edge's watermark messages: every partition. */
  t: number;
  done: boolean;
  seenMs: number;
  /** From its head batches: one partition each. */
  partitions: Map<number, number>;
}

/** A segment kept with its edge and arrival time (its payload copied): it waits for a lookup. */
interface ArrivedSegment {
  edge: string;
  s: HeadSegment;
  arrivedMs: number;
}

interface LookupBarrier {
  inFlight: number;
  after: ArrivedSegment[];
}

/** A flow answered from the cache: no classifier state, only the answer. */
interface CachedFlow {
  verdict: CachedVerdict;
  seenMs: number;
}

const DEFAULT_HOLD_MS = 3000;
const DEFAULT_LIVENESS_MS = 3000;
/** Latency samples kept between two takes (the worker takes them every second). */
const MAX_LATENCY_SAMPLES = 8192;
/** How long answers from the cache and shed flows are remembered. */
const MEMORY_MS = 60_000;

/**
 * The worker's classification core, without the bus: segments from any
 * number of edges in, verdicts out. Each flow's segments are merged into
 * one packet sequence (see {@link MergeFlow} for the order) and fed to the
 * engine's FlowClassifier, one per zone, so the l7-filter semantics (NULs,
 * case, first match in order, the limits, FTP data inheriting) are the
 * in-process classifier's, unchanged.
 */
export class MergingClassifier {
  readonly counters: MergingCounters = {
    segments: 0,
    fed: 0,
    duplicates: 0,
    overflow: 0,
    retransmissionsDropped: 0,
    shed: 0,
    shedFlows: 0,
    heldOut: 0,
    decided: 0,
    fromCache: 0,
    endedUnset: 0,
  };
  private readonly zones = new Map<number, ZoneState>();
  private readonly scanners: (HeadScanner & { close?(): void })[] = [];
  private readonly watermarks = new Map<string, Watermark>();
  /** Flows with segments waiting for their turn, per partition. */
  private readonly blocked = new Map<number, Set<MergeFlow>>();
  /** FTP control connections in progress per zone and address pair (see MergeFlow.mayBeFtpData). */
  private readonly ftpPairs = new Map<string, number>();
  private readonly ftpPorts: Set<number>;
  private readonly touchedZones = new Set<ZoneState>();
  private readonly cached = new Map<string, CachedFlow>();
  private readonly shedKeys = new Map<string, number>();
  /** Flows that got segments from an edge that had finished its replay (see endOfInput). */
  private readonly afterInput = new Set<string>();
  private readonly lookups = new Map<string, { zone: number; key: string; segments: ArrivedSegment[] }>();
  /**
   * Partitions with lookups of FTP control connections in flight: how many,
   * and the segments of other new flows that arrived meanwhile. Those go
   * after the lookups settle, in their order (a data connection after the
   * control connection whose announcement opened it), or after the hold.
   */
  private readonly lookupBarriers = new Map<number, LookupBarrier>();
  private readonly holdMs: number;
  private readonly livenessMs: number;
  private readonly maxInProgress: number;
  private readonly maxPendingBytes: number;
  private readonly now: () => number;
  private inProgress = 0;
  private finished = false;
  /** The wall clock (ms) flows' arrival times count from. */
  private readonly clockBase: number;
  /**
   * FTP control connections decided before their partition moved here, with
   * the verdict from the cache (rare: not a field of every flow).
   */
  private readonly knownVerdicts = new Map<MergeFlow, CachedVerdict>();
  private readonly pending = { bytes: 0, retransmissions: 0 };
  /** Latencies (ms) from a flow's first segment to its verdict, since the last take. */
  private latencies: number[] = [];
  private readonly packet: DecodedPacket = {
    tsSec: 0,
    tsNsec: 0,
    ipVersion: 4,
    protocol: IPPROTO_TCP,
    srcAddr: new Uint8Array(4),
    dstAddr: new Uint8Array(4),
    srcPort: 0,
    dstPort: 0,
    tcpFlags: 0,
    tcpSeq: 0,
    tcpAck: 0,
    ipLength: 0,
    payload: new Uint8Array(0),
    payloadLength: 0,
  };
  private readonly v4 = [new Uint8Array(4), new Uint8Array(4)];
  private readonly v6 = [new Uint8Array(16), new Uint8Array(16)];

  constructor(private readonly options: MergingOptions) {
    this.holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.livenessMs = options.edgeLivenessMs ?? DEFAULT_LIVENESS_MS;
    this.maxInProgress = options.maxFlowsInProgress ?? 500_000;
    this.maxPendingBytes = options.maxPendingBytes ?? 256 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    this.clockBase = this.now();
    this.ftpPorts = new Set(options.ftpPorts ?? [21]);
  }

  /** Undecided flows. */
  get flowsInProgress(): number {
    return this.inProgress;
  }

  /** Flows known (decided and undecided), over all zones. */
  get flows(): number {
    let n = 0;
    for (const z of this.zones.values()) n += z.flows.size;
    return n;
  }

  /** Verdict latencies (ms) since the last call. */
  takeLatencies(): number[] {
    const l = this.latencies;
    this.latencies = [];
    return l;
  }

  /** An edge's watermark: it has sent every segment up to this time (`done`: everything). */
  watermark(edge: string, t: number, done: boolean): void {
    const w = this.watermarkOf(edge);
    if (t > w.t) w.t = t;
    const finished = done && !w.done;
    w.done = done;
    w.seenMs = this.now();
    if (finished) this.endOfInput();
  }

  /**
   * An edge finished its replay. Once every live edge has, no flow can get
   * anything more: what waits goes now, and a flow still undecided after
   * that ends as classify ends it at the end of a capture: `unset` (told to
   * its edges as a verdict that is not final).
   */
  private endOfInput(): void {
    if (!this.allEdgesDone()) return;
    for (const blocked of [...this.blocked.values()]) this.pumpAll(blocked, this.now());
    this.endBatch();
    for (const zone of this.zones.values()) for (const flow of zone.flows.values()) this.endIfInputOver(flow);
  }

  /**
   * An undecided flow, once every live edge finished its replay (any of
   * them could still report it before): `unset`, told to its edges.
   */
  private endIfInputOver(flow: MergeFlow): void {
    if (flow.decided || flow.waiting || !this.allEdgesDone()) return;
    for (const r of flow.reporters) {
      if (!r.answered) {
        const start = flow.entry ? startOf(flow.entry) : undefined;
        this.send(flow, r, { l7: 'unset', decidedBy: 'end-of-input', decidedAtPacket: 0, mark: 0, ruleSetVersion: this.options.ruleSetVersion, epoch: this.options.epoch(), start }, false, false);
      }
    }
  }

  private watermarkOf(edge: string): Watermark {
    let w = this.watermarks.get(edge);
    if (!w) this.watermarks.set(edge, (w = { t: 0, done: false, seenMs: this.now(), partitions: new Map() }));
    return w;
  }

  /**
   * A head batch: each segment in the edge's order, the edge's watermark for
   * the partition moving up to each segment's time as it goes (what the edge
   * sent before it is in), then to the batch's watermark. Decisions come out
   * at {@link endBatch}.
   */
  acceptBatch(batch: HeadBatch): void {
    const w = this.watermarkOf(batch.edge);
    const p = batch.partition;
    w.seenMs = this.now();
    for (const s of batch.segments) {
      // The edge's own order: everything of the partition it sent before this segment is in.
      const t = s.tsSec + s.tsNsec * 1e-9;
      if (t > (w.partitions.get(p) ?? 0)) w.partitions.set(p, t);
      // A connection opened between two hosts with an FTP control connection may be its data
      // connection: the other edges' segments before it (a PASV reply) must be fed first.
      if (this.ftpPairs.size > 0 && isOpeningSyn(s) && this.ftpPairs.has(addressPair(s.zone, s.key))) {
        this.pumpPartition(p);
      }
      this.accept(batch.edge, s, p);
    }
    const t = batch.watermarkSec + batch.watermarkNsec * 1e-9;
    if (t > (w.partitions.get(p) ?? 0)) w.partitions.set(p, t);
    // Flows of the partition that waited for this edge may go now.
    this.pumpPartition(p);
    // Re-sent segments of a finished replay (after a partition moved): their flows end at endBatch.
    if (w.done) for (const s of batch.segments) this.afterInput.add(flowId(s.zone, s.key));
  }

  private pumpPartition(partition: number): void {
    const blocked = this.blocked.get(partition);
    if (blocked) this.pumpAll(blocked, this.now());
  }

  /** One segment from an edge, of a flow of `partition`. */
  private accept(edge: string, s: HeadSegment, partition: number): void {
    this.counters.segments++;
    this.route(edge, s, partition, this.now());
  }

  /** A segment to its flow, or to a new one (`nowMs`: when it arrived). */
  private route(edge: string, s: HeadSegment, partition: number, nowMs: number): void {
    const zone = this.zoneOf(s.zone);
    let flow = zone.flows.get(s.key);
    if (flow && flow.decided && isOpeningSyn(s) && flow.reporters.some((r) => r.edge === edge && r.generation !== s.generation)) {
      // A new connection on a decided flow's tuple (its edge's table started a new instance): a flow of its own.
      this.removeFlow(zone, flow);
      if (flow.entry) zone.classifier.endFlow(flow.entry, 'reopened');
      flow = undefined;
    }
    if (!flow) {
      // The common new flow: nothing cached, looked up or shed, within bounds (no id string needed).
      const plain = this.cached.size === 0 && this.lookups.size === 0 && this.shedKeys.size === 0 && !(s.flags & ASKS_CACHE);
      if (plain && this.inProgress < this.maxInProgress && this.pending.bytes < this.maxPendingBytes) {
        this.add(zone, this.newFlow(zone, s.zone, s.key, partition, nowMs), edge, s, nowMs, false);
        return;
      }
      const id = flowId(s.zone, s.key);
      const cached = this.cached.get(id);
      if (cached && !(s.flags & SegmentFlag.Watched)) {
        this.answerFromCache(edge, s, cached.verdict);
        return;
      }
      const lookup = this.lookups.get(id);
      if (lookup) {
        lookup.segments.push({ edge, s: { ...s, payload: s.payload.slice() }, arrivedMs: nowMs });
        return;
      }
      const barrier = this.lookupBarriers.get(partition);
      if (barrier) {
        barrier.after.push({ edge, s: { ...s, payload: s.payload.slice() }, arrivedMs: nowMs });
        return;
      }
      if (this.shedKeys.has(id) || this.inProgress >= this.maxInProgress || this.pending.bytes >= this.maxPendingBytes) {
        if (!this.shedKeys.has(id)) {
          this.shedKeys.set(id, nowMs);
          this.counters.shedFlows++;
        }
        this.counters.shed++;
        return;
      }
      if (!cached && s.flags & ASKS_CACHE && this.options.lookupCache) {
        this.startLookup(id, edge, s, partition, nowMs);
        return;
      }
      flow = cached ? this.newWatchedFlow(zone, s.zone, s.key, partition, nowMs, cached.verdict) : this.newFlow(zone, s.zone, s.key, partition, nowMs);
    }
    this.add(zone, flow, edge, s, nowMs, false);
  }

  private newFlow(zone: ZoneState, zoneId: number, key: string, partition: number, nowMs: number): MergeFlow {
    const flow = new MergeFlow(zoneId, key, partition, Math.round(nowMs - this.clockBase), this.pending);
    zone.flows.set(key, flow);
    this.inProgress++;
    // The pair's string is made only where FTP is involved: not per new flow.
    if (key.charCodeAt(0) === IPPROTO_TCP && (this.ftpPairs.size > 0 || this.isFtpControl(key))) {
      const pair = addressPair(zoneId, key);
      if (this.isFtpControl(key)) {
        flow.ftpControl = true;
        this.ftpPairs.set(pair, (this.ftpPairs.get(pair) ?? 0) + 1);
      } else if (this.ftpPairs.has(pair)) flow.mayBeFtpData = true;
    }
    return flow;
  }

  /**
   * An FTP control connection decided before its partition moved here
   * (its verdict from the cache): fed only for the announcements its data
   * connections need, with that verdict for them to inherit.
   */
  private newWatchedFlow(zone: ZoneState, zoneId: number, key: string, partition: number, nowMs: number, verdict: CachedVerdict): MergeFlow {
    const flow = this.newFlow(zone, zoneId, key, partition, nowMs);
    this.knownVerdicts.set(flow, verdict);
    this.inProgress--; // decided already: it never passes through decided()
    return flow;
  }

  private isFtpControl(key: string): boolean {
    return keyHasPort(key, this.ftpPorts);
  }

  /** The flow leaves the worker's state. */
  private removeFlow(zone: ZoneState, flow: MergeFlow): void {
    zone.flows.delete(flow.key);
    if (this.knownVerdicts.size > 0) this.knownVerdicts.delete(flow);
    this.unblock(flow);
    flow.clearAll();
    if (flow.protocol === IPPROTO_TCP && this.isFtpControl(flow.key)) {
      const pair = addressPair(flow.zone, flow.key);
      const n = (this.ftpPairs.get(pair) ?? 1) - 1;
      if (n > 0) this.ftpPairs.set(pair, n);
      else this.ftpPairs.delete(pair);
    }
  }

  private unblock(flow: MergeFlow): void {
    const set = this.blocked.get(flow.partition);
    if (!set) return;
    set.delete(flow);
    if (set.size === 0) this.blocked.delete(flow.partition);
  }

  private pumpAll(flows: Set<MergeFlow>, nowMs: number): void {
    for (const flow of [...flows]) {
      const zone = this.zones.get(flow.zone)!;
      if (zone.flows.get(flow.key) !== flow) {
        this.unblock(flow);
        continue;
      }
      this.touchedZones.add(zone);
      this.pump(zone, flow, nowMs);
    }
  }

  private add(zone: ZoneState, flow: MergeFlow, edge: string, s: HeadSegment, arrivedMs: number, copied: boolean): void {
    const r = flow.reporter(edge, s.generation);
    if (!(s.flags & SegmentFlag.Watched)) r.watchOnly = false;
    if (flow.decided) {
      // A late reporter, or a segment sent before the edge had the verdict.
      if (!r.answered || s.flags & SegmentFlag.Resent) this.answer(flow, r, true);
      if (!flow.ftpControl && flow.entry!.l7 === 'ftp') flow.ftpControl = true;
      if (!flow.ftpControl || s.payload.length === 0) return;
    }
    if (flow.feedsAtOnce(r, s) && !(flow.mayBeFtpData && this.controlBehind(flow, s.tsSec + s.tsNsec * 1e-9))) {
      flow.noteFed(r, s);
      this.touchedZones.add(zone);
      this.feedFrom(zone, flow, r, s);
      return;
    }
    const pending = pendingOf(s, arrivedMs, false);
    const queued = flow.enqueue(r, pending);
    if (queued !== 'queued') {
      this.counters[queued === 'duplicate' ? 'duplicates' : 'overflow']++;
      return;
    }
    this.touchedZones.add(zone);
    this.pump(zone, flow, arrivedMs);
    // A segment that stays must not hold on to the message it came in.
    if (!copied && r.queue.includes(pending)) pending.payload = pending.payload.slice();
  }

  /** Feeds the flow's segments whose turn has come; remembers the flow when some must wait. */
  private pump(zone: ZoneState, flow: MergeFlow, nowMs: number): void {
    const othersPast = (edge: string, t: number) => this.othersPast(edge, t, flow.partition, nowMs);
    for (;;) {
      const next = flow.nextToFeed(nowMs, this.holdMs, othersPast);
      if (!next) break;
      if (flow.entry === null && flow.mayBeFtpData && nowMs - next.s.arrivedMs < this.holdMs && this.controlBehind(flow, next.s.t)) break;
      const s = flow.take(next.r);
      if (nowMs - s.arrivedMs >= this.holdMs) this.counters.heldOut++;
      this.feedFrom(zone, flow, next.r, s);
      if (flow.decided && !flow.ftpControl) break;
    }
    if (flow.waiting && (!flow.decided || flow.ftpControl)) {
      let set = this.blocked.get(flow.partition);
      if (!set) this.blocked.set(flow.partition, (set = new Set()));
      set.add(flow);
    } else {
      this.unblock(flow);
      if (flow.decided && !flow.ftpControl) flow.clearAll();
    }
  }

  /**
   * An FTP control connection between the flow's two hosts has segments
   * from before time t still waiting: a gap in its edge's counters (its
   * first packets went to the partition's dead owner, and the edge's re-send
   * fills it) or segments not yet in turn. A possible data connection opens
   * only after them, as its announcement may be among them.
   */
  private controlBehind(flow: MergeFlow, t: number): boolean {
    const blocked = this.blocked.get(flow.partition);
    if (!blocked) return false;
    let pair: string | undefined;
    for (const c of blocked) {
      if (c === flow || !c.ftpControl || c.zone !== flow.zone || !c.waitsBefore(t)) continue;
      pair ??= addressPair(flow.zone, flow.key);
      if (addressPair(c.zone, c.key) === pair) return true;
    }
    return false;
  }

  private allEdgesDone(): boolean {
    const nowMs = this.now();
    for (const w of this.watermarks.values()) if (!w.done && nowMs - w.seenMs <= this.livenessMs) return false;
    return true;
  }

  /** Every other live edge has sent all it has of the partition up to time t. */
  private othersPast(edge: string, t: number, partition: number, nowMs: number): boolean {
    for (const [other, w] of this.watermarks) {
      if (other === edge || w.done || nowMs - w.seenMs > this.livenessMs) continue;
      if (w.t < t && (w.partitions.get(partition) ?? 0) < t) return false;
    }
    return true;
  }

  /**
   * Feeds a reporter's segment. The flow's first makes its reporter the
   * opener: that edge reported the packet that opened the flow in the
   * merged order (not so for a flow decided before its partition moved
   * here: it was opened, and counted, elsewhere).
   */
  private feedFrom(zone: ZoneState, flow: MergeFlow, r: Reporter, s: FedSegment): void {
    if (flow.entry === null && (this.knownVerdicts.size === 0 || !this.knownVerdicts.has(flow))) r.opener = true;
    this.feed(zone, flow, s);
  }

  /** Feeds one segment to the zone's classifier as the packet it was. */
  private feed(zone: ZoneState, flow: MergeFlow, s: FedSegment): void {
    this.counters.fed++;
    const p = this.packet;
    const key = flow.key;
    const v6 = key.length !== 13;
    const addrLen = v6 ? 16 : 4;
    const [low, high] = v6 ? this.v6 : this.v4;
    for (let i = 0; i < addrLen; i++) {
      low![i] = key.charCodeAt(1 + i);
      high![i] = key.charCodeAt(addrLen + 3 + i);
    }
    const lowPort = (key.charCodeAt(addrLen + 1) << 8) | key.charCodeAt(addrLen + 2);
    const highPort = (key.charCodeAt(2 * addrLen + 3) << 8) | key.charCodeAt(2 * addrLen + 4);
    const lowToHigh = s.direction === Direction.LowToHigh;
    p.ipVersion = v6 ? 6 : 4;
    p.protocol = key.charCodeAt(0) as DecodedPacket['protocol'];
    p.srcAddr = lowToHigh ? low! : high!;
    p.dstAddr = lowToHigh ? high! : low!;
    p.srcPort = lowToHigh ? lowPort : highPort;
    p.dstPort = lowToHigh ? highPort : lowPort;
    p.tsSec = s.tsSec;
    p.tsNsec = s.tsNsec;
    p.tcpFlags = s.tcpFlags;
    p.tcpSeq = s.seq;
    p.tcpAck = s.ack;
    p.ipLength = s.ipLength;
    p.payload = s.payload;
    p.payloadLength = s.payload.length;
    const entry = zone.classifier.process(p);
    if (flow.entry !== entry) flow.entry = entry;
    // Its queued test, if any, is then ignored: a decided flow is not tested.
    const known = this.knownVerdicts.size > 0 ? this.knownVerdicts.get(flow) : undefined;
    if (known && entry.l7 === 'unset') entry.setVerdict(known.l7, known.decidedBy, known.decidedAtPacket);
  }

  /** Runs the tests queued by the segments accepted since the last call: verdicts go out. */
  endBatch(): void {
    for (const zone of this.touchedZones) zone.classifier.flush();
    this.touchedZones.clear();
    this.counters.retransmissionsDropped = this.pending.retransmissions;
    if (this.afterInput.size === 0) return;
    for (const id of this.afterInput) {
      const at = id.indexOf('/');
      const flow = this.zones.get(Number(id.slice(0, at)))?.flows.get(id.slice(at + 1));
      if (flow) this.endIfInputOver(flow);
    }
    this.afterInput.clear();
  }

  /** Feeds what waited long enough or whose turn came with a watermark; forgets old memories. */
  tick(): void {
    const nowMs = this.now();
    for (const flows of [...this.blocked.values()]) this.pumpAll(flows, nowMs);
    for (const [partition, b] of this.lookupBarriers) if (b.after.length > 0 && nowMs - b.after[0]!.arrivedMs >= this.holdMs) this.liftBarrier(partition, b);
    this.endBatch();
    for (const [id, c] of this.cached) if (nowMs - c.seenMs > MEMORY_MS) this.cached.delete(id);
    for (const [id, at] of this.shedKeys) if (nowMs - at > MEMORY_MS) this.shedKeys.delete(id);
  }

  /**
   * Forgets every flow for which `leaves` says true (their partition moved
   * to another worker, which the edges' re-sends will reach).
   */
  forget(leaves: (zone: number, key: string) => boolean): number {
    let n = 0;
    for (const [zoneId, zone] of this.zones) {
      for (const [key, flow] of zone.flows) {
        if (!leaves(zoneId, key) || flow.decided) continue;
        this.removeFlow(zone, flow);
        this.inProgress--;
        n++;
      }
    }
    return n;
  }

  /** Applies every queued test and ends every flow (shutdown). */
  finish(): void {
    this.finished = true;
    for (const zone of this.zones.values()) zone.classifier.finish();
    for (const s of this.scanners) s.close?.();
  }

  private zoneOf(id: number): ZoneState {
    let zone = this.zones.get(id);
    if (zone) return zone;
    const o = this.options;
    const scanner = createHeadScanner(o.engine ?? 'hyperscan', o.set, o.maxDataLen);
    this.scanners.push(scanner);
    const flows = new Map<string, MergeFlow>();
    const classifier = new FlowClassifier(o.set, scanner, {
      maxPackets: o.maxPackets,
      maxDataLen: o.maxDataLen,
      ftpPorts: o.ftpPorts,
      timeouts: o.timeouts,
      maxFlows: o.maxFlows,
      onDecision: (entry) => this.decided(id, flows, entry),
      onFlowEnd: (entry) => this.ended(zone!, entry),
    });
    zone = { classifier, flows };
    this.zones.set(id, zone);
    return zone;
  }

  private decided(zone: number, flows: Map<string, MergeFlow>, entry: FlowEntry): void {
    const flow = flows.get(entry.key);
    if (!flow || (flow.entry !== null && flow.entry !== entry)) return;
    flow.entry = entry;
    this.inProgress--;
    if (entry.l7 === 'ftp') flow.ftpControl = true;
    if (!flow.ftpControl) {
      flow.clearAll();
      this.unblock(flow);
    }
    for (const r of flow.reporters) this.answer(flow, r, false);
    // A flow only watched here (an FTP control connection decided before its partition moved) was decided and told elsewhere.
    if (flow.reporters.every((r) => r.watchOnly)) return;
    this.counters.decided++;
    if (this.latencies.length < MAX_LATENCY_SAMPLES) this.latencies.push(this.now() - this.clockBase - flow.firstArrival);
    this.options.onDecided?.(zone, flow.key, this.verdictOf(flow));
    this.options.onEvent?.({
      zone,
      key: flow.key,
      origIsLow: entry.origIsLow,
      l7: entry.l7,
      decidedBy: entry.decidedBy ?? entry.l7,
      decidedAtPacket: entry.decidedAtPacket,
      ruleSetVersion: this.options.ruleSetVersion,
      firstSec: entry.firstSec,
      firstNsec: entry.firstNsec,
      edges: flow.reporters.map((r) => r.edge),
    });
  }

  private ended(zone: ZoneState, entry: FlowEntry): void {
    const flow = zone.flows.get(entry.key);
    if (!flow || flow.entry !== entry) return;
    this.removeFlow(zone, flow);
    if (entry.l7 === 'unset') {
      // Ended undecided (idle or evicted): tell the edges, so they stop waiting.
      this.inProgress--;
      this.counters.endedUnset++;
      for (const r of flow.reporters) if (!r.answered) this.send(flow, r, { ...this.verdictOf(flow), l7: 'unset', decidedBy: 'worker-idle' }, false, false);
    }
  }

  /**
   * A fed flow's verdict as the cache keeps it, with its start: the first
   * packet fed (for a flow decided before its partition moved here, the
   * start the cache gave).
   */
  private verdictOf(flow: MergeFlow): CachedVerdict {
    const entry = flow.entry!;
    const known = this.knownVerdicts.size > 0 ? this.knownVerdicts.get(flow) : undefined;
    return {
      l7: entry.l7,
      decidedBy: entry.decidedBy ?? entry.l7,
      decidedAtPacket: entry.decidedAtPacket,
      mark: 0,
      ruleSetVersion: this.options.ruleSetVersion,
      epoch: this.options.epoch(),
      start: known ? known.start : startOf(entry),
    };
  }

  /** `recalled`: the flow was decided before this reporter reported it. */
  private answer(flow: MergeFlow, r: Reporter, recalled: boolean): void {
    this.send(flow, r, this.verdictOf(flow), true, recalled);
  }

  /**
   * A verdict for one reporter. It is the opener when its segment was the
   * first the flow fed; when nothing of the flow was fed (it ended with
   * nothing in turn), its first reporter is, so that a flow is counted once
   * whatever happened to it.
   */
  private send(flow: MergeFlow, r: Reporter, v: CachedVerdict, final: boolean, recalled: boolean): void {
    if (r.watchOnly) return;
    r.answered = true;
    const opener = r.opener || (flow.entry === null && r === flow.reporters[0]);
    this.options.onVerdict(r.edge, { zone: flow.zone, key: flow.key, generation: r.generation, ...v, final, recalled, opener });
  }

  /** An answer from the cache (`s`: the lowest-numbered segment of the edge's at hand). */
  private answerFromCache(edge: string, s: HeadSegment, v: CachedVerdict): void {
    this.counters.fromCache++;
    this.options.onVerdict(edge, { zone: s.zone, key: s.key, generation: s.generation, ...v, final: true, recalled: true, opener: opensFlow(s, v.start) });
  }

  private startLookup(id: string, edge: string, s: HeadSegment, partition: number, nowMs: number): void {
    const lookup = { zone: s.zone, key: s.key, segments: [{ edge, s: { ...s, payload: s.payload.slice() }, arrivedMs: nowMs }] };
    this.lookups.set(id, lookup);
    // Rare: a control connection whose partition moved here (its announcements may open data connections).
    let barrier: LookupBarrier | undefined;
    if (s.flags & SegmentFlag.Watched || (s.key.charCodeAt(0) === IPPROTO_TCP && this.isFtpControl(s.key))) {
      barrier = this.lookupBarriers.get(partition);
      if (barrier) barrier.inFlight++;
      else this.lookupBarriers.set(partition, (barrier = { inFlight: 1, after: [] }));
    }
    const settle = (v: CachedVerdict | undefined) => {
      this.lookups.delete(id);
      if (this.finished) return;
      this.settleLookup(id, lookup, partition, v);
      if (barrier && --barrier.inFlight === 0) this.liftBarrier(partition, barrier);
      this.endBatch();
    };
    this.options.lookupCache!(s.zone, s.key).then(settle, () => settle(undefined));
  }

  /** A looked-up flow's segments: answered from the verdict, or fed to a flow of this worker's. */
  private settleLookup(id: string, lookup: { zone: number; key: string; segments: ArrivedSegment[] }, partition: number, v: CachedVerdict | undefined): void {
    const zone = this.zoneOf(lookup.zone);
    // In each edge's counter order: segments past a gap (FTP watching) go as they come.
    let segments = [...lookup.segments].sort((a, b) => (a.edge === b.edge ? a.s.counter - b.s.counter : 0));
    if (v) {
      this.cached.set(id, { verdict: v, seenMs: this.now() });
      const answered = new Set<string>();
      for (const q of segments) {
        const gen = `${q.edge}\n${q.s.generation}`;
        if (q.s.flags & SegmentFlag.Watched || answered.has(gen)) continue;
        answered.add(gen);
        this.answerFromCache(q.edge, q.s, v);
      }
      segments = segments.filter((q) => q.s.flags & SegmentFlag.Watched);
      if (segments.length === 0) return;
    }
    let flow = zone.flows.get(lookup.key);
    flow ??= v ? this.newWatchedFlow(zone, lookup.zone, lookup.key, partition, segments[0]!.arrivedMs, v) : this.newFlow(zone, lookup.zone, lookup.key, partition, segments[0]!.arrivedMs);
    for (const q of segments) {
      this.add(zone, flow, q.edge, q.s, q.arrivedMs, true);
      this.noteIfAfterInput(q.edge, id);
    }
  }

  /** The segments that waited behind the partition's lookups go, in order (the lookups settled, or the hold passed). */
  private liftBarrier(partition: number, barrier: LookupBarrier): void {
    if (this.lookupBarriers.get(partition) !== barrier) return; // lifted at the hold already
    this.lookupBarriers.delete(partition);
    // A segment that starts another control connection's lookup raises the barrier again: the rest wait behind it.
    for (const q of barrier.after) {
      this.route(q.edge, q.s, partition, q.arrivedMs);
      this.noteIfAfterInput(q.edge, flowId(q.s.zone, q.s.key));
    }
  }

  /** A segment of an edge that finished its replay: its flow ends at endBatch (see endIfInputOver). */
  private noteIfAfterInput(edge: string, id: string): void {
    if (this.watermarks.get(edge)?.done) this.afterInput.add(id);
  }
}

/**
 * Segments of a flow the worker does not know that look its verdict up in
 * the cache first: re-sent ones (the partition may have moved), picked-up
 * ones (the edge joined the flow mid-stream) and watched ones (an FTP
 * control connection decided before its partition moved here: its
 * verdict is what its data connections inherit).
 */
const ASKS_CACHE = SegmentFlag.Resent | SegmentFlag.Pickup | SegmentFlag.Watched;

/**
 * Whether an edge answered from the cache opened the flow. With the flow's
 * start (the deciding worker's first packet), the edge did when its first
 * packet (counter 1) is that packet: same time, same sender; that is the
 * opener re-sending a flow whose verdict was lost or whose partition moved
 * after the decision. Any other edge joined a flow another edge opened (a
 * reply path, a pickup). Without a start (a verdict recalled from the
 * store) the worker cannot tell: an edge that picked the flow up mid-stream
 * did not open it, any other is taken for its opener, as an edge counted
 * every flow before verdicts said who opened it.
 */
function opensFlow(s: HeadSegment, start: FlowStart | undefined): boolean {
  if (start === undefined) return !(s.flags & SegmentFlag.Pickup);
  return s.counter === 1 && s.tsSec === start.firstSec && s.tsNsec === start.firstNsec && (s.direction === Direction.LowToHigh) === start.origIsLow;
}

/** A flow entry's start: its first packet (the originator sent it). */
function startOf(entry: FlowEntry): FlowStart {
  return { origIsLow: entry.origIsLow, firstSec: entry.firstSec, firstNsec: entry.firstNsec };
}

/** A TCP SYN without ACK: it opens a connection. */
function isOpeningSyn(s: HeadSegment): boolean {
  return s.key.charCodeAt(0) === IPPROTO_TCP && (s.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
}

/** The zone and the two addresses of a flow key (the partitioning's unit). */
function addressPair(zone: number, key: string): string {
  const a = key.length === 13 ? 4 : 16;
  return `${zone}/${key.slice(1, 1 + a)}${key.slice(a + 3, 2 * a + 3)}`;
}

/** One string per (zone, flow key). */
function flowId(zone: number, key: string): string {
  return `${zone}/${key}`;
}
