import { flowRecordOf, type ClassifierOptions } from '@l7mesh/engine';
import { FlowTable, IPPROTO_TCP, parseFtpDataEndpoint, TcpFlag, type DecodedPacket, type FlowEndReason, type FlowEntry } from '@l7mesh/flow';
import { Direction, SegmentFlag, type HeadSegment, type Verdict } from '@l7mesh/wire';
import type { FlowPipeline } from './core.js';
import type { JoinedFlow } from './records.js';

/** Where a remote classifier's segments go (the cluster link, or a test). */
export interface SegmentSink {
  send(segment: HeadSegment): void;
  /**
   * Segments that must travel in one message, or not at all (a re-sent
   * connection with the FTP announcements it may need; all of one address
   * pair, so of one partition).
   */
  sendTogether(segments: readonly HeadSegment[]): void;
}

export interface RemoteClassifierOptions extends ClassifierOptions {
  zone: number;
  sink: SegmentSink;
  /** An unanswered flow's segments are sent again after this long (ms). */
  resendMs: number;
  /** A flow with no verdict after this long is `unknown` here (ms). */
  verdictTimeoutMs: number;
  /** Wall clock in ms (default Date.now). */
  now?: () => number;
}

export interface RemoteCounters {
  segmentsSent: number;
  resends: number;
  /** Flows that got no verdict in time: `unknown` (cluster-timeout). */
  timedOut: number;
  verdicts: number;
  /** Verdicts for a flow the edge no longer has, or for an older instance of its tuple. */
  staleVerdicts: number;
  /** A second verdict for a decided flow: the same answer, or (conflicts) another one. */
  repeatedVerdicts: number;
  conflictingVerdicts: number;
  /** Verdicts of a worker that gave the flow up (it ended there undecided). */
  unsetVerdicts: number;
  /**
   * Flows picked up mid-stream (the first packet seen was a TCP packet
   * without SYN), and how they were answered: hits from a decision the
   * cluster had made before (another edge's head, or the verdict cache),
   * misses classified from what this edge saw, or timed out.
   */
  pickups: number;
  pickupHits: number;
  pickupMisses: number;
}

/** A flow waiting for its verdict: what was sent of it (for re-sends). */
interface Unanswered {
  flow: FlowEntry;
  segments: HeadSegment[];
  firstSentMs: number;
  lastSentMs: number;
  /** The flow left the table before its verdict came: reported once it comes. */
  ended: FlowEndReason | undefined;
}

const CLUSTER_TIMEOUT = 'cluster-timeout';

/**
 * The edge's classifier in remote mode: tracks flows like the in-process
 * one, but instead of scanning it sends each undecided flow's packets (up
 * to the edge's budget, maxPackets + 1, empty ones too) as head segments to
 * the cluster and takes verdicts back. It keeps each unanswered flow's
 * segments to send them again (its partition may have moved), and calls a
 * flow `unknown` when no verdict comes in time. A flow that leaves the
 * table unanswered is reported when its verdict (or the timeout) comes.
 *
 * A verdict also says whether this edge opened the flow (Verdict.opener);
 * the flows it did not open are kept, with the flow's start, until they
 * leave, for the records (joinedFlow; see records.ts). A flow that timed
 * out has no verdict: this edge's view counts it.
 */
export class RemoteClassifier implements FlowPipeline {
  readonly counters: RemoteCounters = {
    segmentsSent: 0,
    resends: 0,
    timedOut: 0,
    verdicts: 0,
    staleVerdicts: 0,
    repeatedVerdicts: 0,
    conflictingVerdicts: 0,
    unsetVerdicts: 0,
    pickups: 0,
    pickupHits: 0,
    pickupMisses: 0,
  };
  private readonly table: FlowTable;
  private readonly budget: number;
  private readonly unanswered = new Map<FlowEntry, Unanswered>();
  /** Unanswered flows picked up mid-stream (their segments ask the cluster to recall a verdict). */
  private readonly pickups = new Set<FlowEntry>();
  /** Unanswered flows that left the table, by key (a verdict finds them here). */
  private readonly parked = new Map<string, Unanswered>();
  /** Flows another edge opened (their verdict's opener was false), until they leave: none where routes are symmetric. */
  private readonly joined = new Map<FlowEntry, JoinedFlow>();
  private readonly now: () => number;
  private readonly expiryBudget: number;
  private readonly ftpPorts: Set<number>;
  /**
   * The announcements sent of FTP control connections past their budget or
   * verdict (PORT commands, PASV replies), per connection, the latest few: sent
   * again before re-sent flows, so that a worker that took a moved partition
   * over learns the announcements their data connections need.
   */
  private readonly watched = new Map<FlowEntry, HeadSegment[]>();
  /** The watched connections by address pair: a new TCP flow looks its pair up, rather than going through them all. */
  private readonly watchedByPair = new Map<string, Set<FlowEntry>>();
  /** Watched connections that left the table: kept while flows wait (a data connection may need them). */
  private readonly watchedEnded = new Set<FlowEntry>();
  private settleWaiters: (() => void)[] = [];
  /** ms from a flow's first segment to its verdict, since the last take. */
  private latencies: number[] = [];
  packets = 0;

  constructor(private readonly options: RemoteClassifierOptions) {
    this.budget = (options.maxPackets ?? 10) + 1;
    this.now = options.now ?? Date.now;
    this.expiryBudget = options.expiryBudget ?? Infinity;
    this.ftpPorts = new Set(options.ftpPorts ?? [21]);
    this.table = new FlowTable({ timeouts: options.timeouts, maxFlows: options.maxFlows, onEnd: (flow, reason) => this.flowLeft(flow, reason) });
  }

  get activeFlows(): number {
    return this.table.size;
  }

  /** Flows sent and not answered yet (in the table or parked). */
  get waiting(): number {
    return this.unanswered.size;
  }

  forEachFlow(fn: (flow: FlowEntry) => void): void {
    this.table.forEach(fn);
  }

  liveFlows(): FlowEntry[] {
    return this.table.entries();
  }

  /**
   * A flow of this edge that another edge opened, with the flow's start as
   * the worker merged it; undefined when this edge opened it, or no verdict
   * said otherwise. Known until the flow has been reported (onFlow,
   * onFlowEnd).
   */
  joinedFlow(flow: FlowEntry): JoinedFlow | undefined {
    return this.joined.size === 0 ? undefined : this.joined.get(flow);
  }

  process(p: DecodedPacket): FlowEntry {
    this.packets++;
    this.table.expireAsOf(p.tsSec, this.expiryBudget);
    const { flow, isOrig, created } = this.table.track(p);
    if (created && p.protocol === IPPROTO_TCP && !(p.tcpFlags & TcpFlag.SYN)) {
      // No SYN (nor SYN-ACK, where a reply-only router starts): the flow began before this edge saw it.
      this.pickups.add(flow);
      this.counters.pickups++;
    }
    if (flow.l7 === 'unset' && flow.packets <= this.budget) {
      this.sendPacket(flow, p, isOrig, true);
    } else if (p.payloadLength > 0 && p.protocol === IPPROTO_TCP && (flow.l7 === 'ftp' || this.ftpPorts.has(p.srcPort) || this.ftpPorts.has(p.dstPort))) {
      // An FTP control connection stays watched past its budget and its
      // verdict, as conntrack's helper watches it: a later PORT or PASV
      // reply announces a data connection that inherits the verdict. Either
      // port counts: an edge that saw the server's packets first takes the
      // server for the originator.
      this.sendPacket(flow, p, isOrig, false);
    }
    return flow;
  }

  private sendPacket(flow: FlowEntry, p: DecodedPacket, isOrig: boolean, awaitVerdict: boolean): void {
    const lowToHigh = isOrig === flow.origIsLow;
    const sawBoth = flow.packetsOrig > 0 && flow.packetsReply > 0;
    const s: HeadSegment = {
      zone: this.options.zone,
      key: flow.key,
      direction: lowToHigh ? Direction.LowToHigh : Direction.HighToLow,
      generation: flow.seq,
      counter: flow.packets,
      flags: (sawBoth ? SegmentFlag.EdgeSawBoth : 0) | (awaitVerdict ? 0 : SegmentFlag.Watched) | (this.pickups.size > 0 && this.pickups.has(flow) ? SegmentFlag.Pickup : 0),
      tcpFlags: p.protocol === IPPROTO_TCP ? p.tcpFlags : 0,
      seq: p.protocol === IPPROTO_TCP ? p.tcpSeq >>> 0 : 0,
      ack: p.protocol === IPPROTO_TCP && p.tcpFlags & TcpFlag.ACK ? p.tcpAck >>> 0 : 0,
      tsSec: p.tsSec,
      tsNsec: p.tsNsec,
      ipLength: p.ipLength,
      // Kept for re-sends: the decoder's view is reused by the next packet.
      payload: p.payloadLength > 0 ? p.payload.slice() : EMPTY,
    };
    this.counters.segmentsSent++;
    if (!awaitVerdict) {
      // Kept: the announcements (PORT, EPRT, 227, 229), which data connections need.
      const fromClient = !this.ftpPorts.has(p.srcPort) && (this.ftpPorts.has(p.dstPort) || isOrig);
      if (parseFtpDataEndpoint(s.payload, fromClient)) {
        let list = this.watched.get(flow);
        if (!list) list = this.watch(flow);
        list.push(s);
        if (list.length > MAX_WATCHED) list.shift();
      }
      this.options.sink.send(s);
      return;
    }
    const nowMs = this.now();
    let u = this.unanswered.get(flow);
    if (!u) {
      u = { flow, segments: [s], firstSentMs: nowMs, lastSentMs: nowMs, ended: undefined };
      this.unanswered.set(flow, u);
      // A possible FTP data connection's first message carries the kept announcements between its hosts: the
      // one it needs may have gone to a worker that died since, and the partition's new owner knows nothing
      // of it (a duplicate is dropped by a worker that has it).
      const group = this.watched.size > 0 && flow.protocol === IPPROTO_TCP ? this.announcementsFor(flow) : [];
      if (group.length === 0) this.options.sink.send(s);
      else {
        group.push(s);
        this.options.sink.sendTogether(group);
      }
      return;
    }
    u.segments.push(s);
    this.options.sink.send(s);
  }

  /** Verdict latencies (ms, first segment to verdict) since the last call. */
  takeLatencies(): number[] {
    const l = this.latencies;
    this.latencies = [];
    return l;
  }

  /** Verdicts are applied as they arrive; nothing is queued here. */
  flush(): void {}

  /** End of input: every flow leaves the table; unanswered ones wait for {@link settled}. */
  finish(): void {
    this.table.drain();
  }

  /** A verdict from a worker. Returns the flow it decided, if any. */
  applyVerdict(v: Verdict): FlowEntry | undefined {
    this.counters.verdicts++;
    if (v.zone !== this.options.zone) {
      this.counters.staleVerdicts++;
      return undefined;
    }
    const flow = this.table.get(v.key) ?? this.parked.get(v.key)?.flow;
    if (!flow || flow.seq !== v.generation) {
      this.counters.staleVerdicts++;
      return undefined;
    }
    if (flow.l7 !== 'unset') {
      this.counters.repeatedVerdicts++;
      if (v.l7 !== flow.l7 && v.l7 !== 'unset' && flow.decidedBy !== CLUSTER_TIMEOUT) this.counters.conflictingVerdicts++;
      return undefined;
    }
    // Before the records hear of the flow (its decision, or its end if it left the table unanswered).
    if (!v.opener) this.joined.set(flow, { start: v.start });
    else if (this.joined.size > 0) this.joined.delete(flow);
    if (v.l7 === 'unset') {
      // The worker gave the flow up: nothing more will come for it.
      this.counters.unsetVerdicts++;
      this.answered(flow);
      return undefined;
    }
    flow.setVerdict(v.l7, v.decidedBy, v.decidedAtPacket);
    if (this.pickups.size > 0 && this.pickups.has(flow)) this.counters[v.recalled ? 'pickupHits' : 'pickupMisses']++;
    const u = this.unanswered.get(flow);
    if (u && this.latencies.length < MAX_LATENCY_SAMPLES) this.latencies.push(this.now() - u.firstSentMs);
    this.options.onDecision?.(flow);
    this.answered(flow);
    return flow;
  }

  /** Re-sends unanswered flows due for it, and times out those past the verdict timeout. */
  tick(): void {
    const nowMs = this.now();
    for (const u of [...this.unanswered.values()]) {
      if (nowMs - u.firstSentMs >= this.options.verdictTimeoutMs) {
        this.counters.timedOut++;
        if (this.pickups.has(u.flow)) this.counters.pickupMisses++;
        u.flow.setVerdict('unknown', CLUSTER_TIMEOUT, u.flow.packets);
        this.options.onDecision?.(u.flow);
        this.answered(u.flow);
      } else if (nowMs - u.lastSentMs >= this.options.resendMs) {
        u.lastSentMs = nowMs;
        // In one message: the announcements of answered FTP control connections between the same hosts (the
        // connection may be their data connection), then its own segments, and (an unanswered control
        // connection) its own announcements. A worker that took the partition over learns them first.
        const group = this.watched.size > 0 && u.flow.protocol === IPPROTO_TCP ? this.announcementsFor(u.flow) : [];
        group.push(...u.segments, ...(this.watched.get(u.flow) ?? []));
        for (const s of group) s.flags |= SegmentFlag.Resent;
        this.counters.resends += group.length;
        this.options.sink.sendTogether(group);
      }
    }
  }

  /** Starts keeping the announcements of an FTP control connection. */
  private watch(flow: FlowEntry): HeadSegment[] {
    const list: HeadSegment[] = [];
    this.watched.set(flow, list);
    const pair = addressPairOf(flow);
    let controls = this.watchedByPair.get(pair);
    if (!controls) this.watchedByPair.set(pair, (controls = new Set()));
    controls.add(flow);
    return list;
  }

  private unwatch(flow: FlowEntry): void {
    if (!this.watched.delete(flow)) return;
    const pair = addressPairOf(flow);
    const controls = this.watchedByPair.get(pair)!;
    controls.delete(flow);
    if (controls.size === 0) this.watchedByPair.delete(pair);
  }

  /** The kept announcements of answered FTP control connections between the flow's two hosts. */
  private announcementsFor(flow: FlowEntry): HeadSegment[] {
    const pair = addressPairOf(flow);
    const out: HeadSegment[] = [];
    for (const control of this.watchedByPair.get(pair) ?? []) if (!this.unanswered.has(control)) out.push(...this.watched.get(control)!);
    return out;
  }

  /** Resolves when no flow waits for a verdict any more. */
  settled(): Promise<void> {
    if (this.unanswered.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  private answered(flow: FlowEntry): void {
    const u = this.unanswered.get(flow);
    if (!u) return;
    this.unanswered.delete(flow);
    this.pickups.delete(flow);
    if (u.ended !== undefined) {
      this.parked.delete(flow.key);
      this.report(flow, u.ended);
    }
    if (this.unanswered.size === 0) {
      for (const ended of this.watchedEnded) this.unwatch(ended);
      this.watchedEnded.clear();
      const waiters = this.settleWaiters;
      this.settleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private flowLeft(flow: FlowEntry, reason: FlowEndReason): void {
    if (this.watched.has(flow)) {
      if (this.unanswered.size === 0) this.unwatch(flow);
      else this.watchedEnded.add(flow);
    }
    const u = this.unanswered.get(flow);
    if (u && flow.l7 === 'unset') {
      u.ended = reason;
      // A newer instance of the tuple may be parked over an older one: the older one's answer is then lost (its generation no longer matches).
      const older = this.parked.get(flow.key);
      if (older) this.answered(older.flow);
      this.parked.set(flow.key, u);
      return;
    }
    this.unanswered.delete(flow);
    this.report(flow, reason);
  }

  private report(flow: FlowEntry, reason: FlowEndReason): void {
    const { onFlow, onFlowEnd } = this.options;
    if (onFlow) {
      const decision = flow.decidedBy !== undefined ? { by: flow.decidedBy, packet: flow.decidedAtPacket } : undefined;
      onFlow(flowRecordOf(flow, decision, reason), flow);
    }
    onFlowEnd?.(flow, reason);
    if (this.joined.size > 0) this.joined.delete(flow);
  }
}

const EMPTY = new Uint8Array(0);
/** Latency samples kept between two takes (a heartbeat takes them every second): a bound, should nobody take them. */
const MAX_LATENCY_SAMPLES = 8192;

/** The two addresses of a flow (what partitions the flow space). */
function addressPairOf(flow: FlowEntry): string {
  if (typeof flow.k0 === 'number') return `${flow.k0},${flow.k1}`;
  const a = (flow.k0.length - 1) / 2 - 2;
  return flow.k0.slice(1, 1 + a) + flow.k0.slice(a + 3, 2 * a + 3);
}
/** Announcements of an FTP control connection kept for re-sends: its latest. */
const MAX_WATCHED = 16;
