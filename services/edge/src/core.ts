import { createHeadScanner, FlowClassifier, flowSummaryOf, type ClassifierOptions, type FlowRecord, type FlowSummary, type HeadScanner, type PatternSet } from '@l7mesh/engine';
import { endpointsOfKey, IPPROTO_TCP, LinkType, PacketDecoder, type CaptureFrame, type DecodedPacket, type FlowEntry } from '@l7mesh/flow';
import type { EdgeConfig } from './config.js';
import { hex } from './config.js';
import type { MarkPolicy } from './markPolicy.js';
import type { ConntrackMarker, ConntrackTuple, PacketVerdict, QueuedPacket } from './types.js';

/** How a decided flow's mark reached the connection. */
export type MarkState =
  /** Not decided yet. */
  | 'waiting'
  /** Decided, but the verdict has no mark in the policy. */
  | 'none'
  /** Carried by a queued packet of the flow (iptables saves it to the connmark). */
  | 'packet'
  /** ctnetlink request in flight. */
  | 'pending'
  /** Set on the conntrack entry through ctnetlink. */
  | 'conntrack'
  /** ctnetlink failed (the entry was gone, or no permission). */
  | 'failed'
  /** Decided with no packet to carry the mark and no conntrack access (replay). */
  | 'unapplied';

/** Mark states as codes in the low bits of FlowEntry.user (index = code; 0, waiting, is a new entry's user). */
const MARK_STATES: readonly MarkState[] = ['waiting', 'none', 'packet', 'pending', 'conntrack', 'failed', 'unapplied'];
const NONE = 1;
const PACKET = 2;
const PENDING = 3;
const CONNTRACK = 4;
const FAILED = 5;
const UNAPPLIED = 6;
const STATE_MASK = 7;
/** FlowEntry.user above the state bits: 1 + index of the flow's mark in EdgeCore's mark list, 0 when none. */
const MARK_SHIFT = 3;

/** What a view needs of its core. */
interface EdgeFlowSource {
  /** Distinct marks in use (FlowEntry.user refers to them by index). */
  readonly marks: readonly number[];
  /** ctnetlink errors (rare, so not a field of every flow; weak: they go with their flows). */
  readonly errors: WeakMap<FlowEntry, string>;
}

/**
 * The edge's view of one flow: the classifier's entry plus what the edge did
 * with it. The edge keeps no object per flow (its state is a few bits of
 * FlowEntry.user, its counts are the entry's): a view is made on demand,
 * for /flows and the callbacks, and reads the entry when asked.
 */
export class EdgeFlow {
  constructor(
    private readonly source: EdgeFlowSource,
    readonly flow: FlowEntry,
  ) {}

  /** Packets of the flow the edge received (from the queue, or the capture): every packet it tracked. */
  get queued(): number {
    return this.flow.packets;
  }

  /** The l7 mark (bits under the mask) once decided, undefined when none. */
  get mark(): number | undefined {
    const i = this.flow.user >>> MARK_SHIFT;
    return i === 0 ? undefined : this.source.marks[i - 1];
  }

  get state(): MarkState {
    return MARK_STATES[this.flow.user & STATE_MASK]!;
  }

  /** Why ctnetlink failed, when it did. */
  get error(): string | undefined {
    return this.source.errors.get(this.flow);
  }

  get tuple(): ConntrackTuple {
    return tupleOf(this.flow);
  }
}

function setState(flow: FlowEntry, state: number): void {
  flow.user = (flow.user & ~STATE_MASK) | state;
}

export interface ProtocolCounters {
  flows: number;
  packets: number;
  bytes: number;
}

/** Monotonic counters of the edge (the /stats and /metrics sources). */
export interface EdgeCounters {
  /** Per verdict: flows decided (or ended unset), and their packets and bytes. */
  protocols: Map<string, ProtocolCounters>;
  batches: number;
  /** Packets received from the queue (or the capture). */
  packets: number;
  /** IP bytes of those packets (raw length). */
  bytes: number;
  /** Packets the decoder could not turn into TCP/UDP (accepted unchanged). */
  undecodable: number;
  verdicts: { accepted: number; marked: number };
  conntrack: { ok: number; failed: number };
}

/**
 * What the edge needs of its classifier: the engine's FlowClassifier (in
 * process, the default) or the cluster's RemoteClassifier (remote mode).
 */
export interface FlowPipeline {
  readonly activeFlows: number;
  process(p: DecodedPacket): FlowEntry;
  /** Applies queued tests (a verdict may come out). */
  flush(): void;
  /** End of input: applies every queued test, then ends every flow. */
  finish(): void;
  forEachFlow(fn: (flow: FlowEntry) => void): void;
  liveFlows(): FlowEntry[];
}

export interface EdgeCoreOptions {
  set: PatternSet;
  config: Pick<EdgeConfig, 'classification' | 'flows'>;
  policy: MarkPolicy;
  /** ctnetlink access; without it, verdicts with no packet to carry them stay `unapplied`. */
  conntrack?: ConntrackMarker;
  /** A scanner to use instead of one made from `config.classification.engine`. */
  scanner?: HeadScanner & { close?(): void };
  /**
   * Makes the classifier from the options the core would give the engine's
   * FlowClassifier (remote mode passes a RemoteClassifier's). No scanner is
   * made then.
   */
  pipeline?: (options: ClassifierOptions) => FlowPipeline;
  /** Told of every flow leaving the table (replay prints them). Without it no records are made. */
  onFlowEnd?: (record: FlowRecord, flow: EdgeFlow) => void;
  /** Told of every verdict as it is reached. */
  onDecision?: (flow: EdgeFlow) => void;
  /** Told when a ctnetlink update fails. */
  onConntrackError?: (flow: EdgeFlow, err: unknown) => void;
  /** Told why the decoder refused a packet (not of fragments held for reassembly); the packet is accepted unchanged. */
  onUndecodable?: (reason: string) => void;
  /** Wall clock in ms, for packets without a kernel timestamp (default Date.now). */
  clock?: () => number;
  /**
   * At most this many idle flows ended per packet (default: all that are
   * due). Live mode bounds it, so that a burst of flows idling out together
   * does not stall one batch's verdicts.
   */
  expiryBudget?: number;
}

/** Sentinel in a batch's mark list: accept without changing the mark. */
const NO_MARK = -1;

function tupleOf(flow: FlowEntry): ConntrackTuple {
  const e = endpointsOfKey(flow.key, flow.origIsLow);
  return { family: e.src.includes(':') ? 'ipv6' : 'ipv4', protocol: e.protocol === IPPROTO_TCP ? 'tcp' : 'udp', src: e.src, dst: e.dst, sport: e.sport, dport: e.dport };
}

/**
 * The edge's packet path, independent of where packets come from: decode,
 * track and classify (the engine's FlowClassifier, in process), and turn
 * verdicts into marks. Work is done per batch:
 *
 *   beginBatch(); ingest…(each packet); endBatch() -> one mark per packet
 *
 * Every packet is accepted at once (fail-open); a packet of a decided flow
 * carries the verdict's mark (the operator's bits outside the mask kept). A
 * verdict reached while none of the flow's packets is in the batch is set on
 * the conntrack entry through ctnetlink instead.
 */
export class EdgeCore implements EdgeFlowSource {
  readonly counters: EdgeCounters = {
    protocols: new Map(),
    batches: 0,
    packets: 0,
    bytes: 0,
    undecodable: 0,
    verdicts: { accepted: 0, marked: 0 },
    conntrack: { ok: 0, failed: 0 },
  };
  readonly decoder = new PacketDecoder();
  readonly policy: MarkPolicy;
  readonly marks: number[] = [];
  readonly errors = new WeakMap<FlowEntry, string>();
  private readonly markIndex = new Map<number, number>();
  private readonly classifier: FlowPipeline;
  private readonly scanner: (HeadScanner & { close?(): void }) | undefined;
  private readonly conntrack: ConntrackMarker | undefined;
  private readonly clock: () => number;
  // The batch's packets, the first batchSize entries of each. Overwritten
  // batch after batch, never truncated: `length = 0` frees an array's
  // store, which then grew again packet by packet in every batch.
  private readonly batchFlows: (FlowEntry | null)[] = [];
  private readonly batchPacketMarks: number[] = [];
  private readonly batchSaves: boolean[] = [];
  private batchSize = 0;
  private decided: FlowEntry[] = [];
  /** Flows decided during the current ingest(), and their packet counts then. */
  private readonly decidedNow: FlowEntry[] = [];
  private readonly decidedNowPackets: number[] = [];
  private pendingConntrack = new Set<Promise<void>>();
  private inBatch = false;
  private finished = false;

  constructor(private readonly options: EdgeCoreOptions) {
    const c = options.config.classification;
    this.policy = options.policy;
    this.conntrack = options.conntrack;
    this.clock = options.clock ?? Date.now;
    const onFlowEnd = options.onFlowEnd;
    const classifierOptions: ClassifierOptions = {
      maxPackets: c.maxPackets,
      maxDataLen: c.maxBytes,
      ftpPorts: c.ftpPorts,
      maxFlows: options.config.flows.maxFlows,
      timeouts: options.config.flows.timeouts,
      expiryBudget: options.expiryBudget,
      // A record is made only for a caller that wants it (replay).
      ...(onFlowEnd ? { onFlow: (record: FlowRecord, flow: FlowEntry) => this.flowEnded(flow, record) } : { onFlowEnd: (flow: FlowEntry) => this.flowEnded(flow, undefined) }),
      onDecision: (flow) => this.flowDecided(flow),
    };
    if (options.pipeline) {
      this.classifier = options.pipeline(classifierOptions);
    } else {
      const scanner = options.scanner ?? createHeadScanner(c.engine, options.set, c.maxBytes);
      this.scanner = scanner;
      this.classifier = new FlowClassifier(options.set, scanner, classifierOptions);
    }
  }

  /** Flows in the table now. */
  get activeFlows(): number {
    return this.classifier.activeFlows;
  }

  /** ctnetlink requests not answered yet. */
  get conntrackInFlight(): number {
    return this.pendingConntrack.size;
  }

  // ---------------------------------------------------------------- batches

  /**
   * Starts a batch. A batch left unfinished (its consumer threw before
   * endBatch) is dropped: its packets were accepted by the fail-open path
   * of the queue, and its entries must not shift the next batch's marks.
   */
  beginBatch(): void {
    if (this.finished) throw new Error('EdgeCore: finished');
    this.inBatch = true;
    this.batchSize = 0;
  }

  /**
   * A raw IP datagram from the queue (IPv4 or IPv6). `savesMark` false: the
   * packet's mark will not reach the connmark (queued in INPUT, which never
   * passes POSTROUTING), so the flow's verdict goes through ctnetlink too.
   * Returns the packet's flow (null: not a TCP/UDP packet the decoder could read).
   */
  ingestRaw(bytes: Uint8Array, packetMark: number, tsSec?: number, tsNsec?: number, savesMark = true): FlowEntry | null {
    return this.ingestRange(bytes, 0, bytes.length, packetMark, tsSec, tsNsec, savesMark);
  }

  /** As ingestRaw, for the datagram at buf[start, end) (a queue batch's shared buffer: no view per packet). */
  ingestRange(buf: Uint8Array, start: number, end: number, packetMark: number, tsSec?: number, tsNsec?: number, savesMark = true): FlowEntry | null {
    if (tsSec === undefined) {
      const ms = this.clock();
      tsSec = Math.floor(ms / 1000);
      tsNsec = (ms % 1000) * 1e6;
    }
    this.counters.bytes += end - start;
    return this.ingest(this.decoder.decodeRange(LinkType.RAW, buf, start, end, tsSec, tsNsec ?? 0), packetMark, savesMark);
  }

  /** A frame of a capture file (replay). */
  ingestFrame(frame: CaptureFrame): FlowEntry | null {
    this.counters.bytes += frame.originalLength;
    return this.ingest(this.decoder.decodeFrame(frame), 0);
  }

  /** An already decoded packet (null: the decoder could not make a TCP/UDP packet of it). */
  ingest(p: DecodedPacket | null, packetMark = 0, savesMark = true): FlowEntry | null {
    if (!this.inBatch) this.beginBatch();
    this.counters.packets++;
    let flow: FlowEntry | null = null;
    if (p === null) {
      this.counters.undecodable++;
      const reason = this.decoder.lastError;
      if (reason !== undefined) this.options.onUndecodable?.(reason);
    } else {
      flow = this.classifier.process(p);
      if (flow.l7 !== 'unset') this.countPacket(flow, p.ipLength);
    }
    const i = this.batchSize++;
    this.batchFlows[i] = flow;
    this.batchPacketMarks[i] = packetMark >>> 0;
    this.batchSaves[i] = savesMark;
    return flow;
  }

  /**
   * Counts a packet of a decided flow under its verdict, unless the
   * decision (which counted every packet tracked by then) already did.
   */
  private countPacket(flow: FlowEntry, ipLength: number): void {
    if (this.decidedNow.length > 0) {
      const i = this.decidedNow.indexOf(flow);
      const countedThen = i < 0 ? -1 : this.decidedNowPackets[i]!;
      this.decidedNow.length = 0;
      this.decidedNowPackets.length = 0;
      if (countedThen === flow.packets) return;
    }
    const c = this.counterOf(flow.l7);
    c.packets++;
    c.bytes += ipLength;
  }

  /**
   * Ends the batch: runs the queued tests (one flush), and returns for every
   * packet of the batch, in order, the mark to set (or -1: leave it). Then
   * sets through ctnetlink the verdicts that no packet carried.
   */
  endBatch(): number[] {
    if (!this.inBatch) return [];
    this.classifier.flush();
    this.decidedNow.length = 0;
    this.decidedNowPackets.length = 0;
    const n = this.batchSize;
    const out = new Array<number>(n);
    const marks = this.marks;
    let marked = 0;
    for (let i = 0; i < n; i++) {
      const flow = this.batchFlows[i]!;
      // Not kept past the batch: an ended flow must not stay reachable from here.
      this.batchFlows[i] = null;
      out[i] = NO_MARK;
      if (flow === null) continue;
      const u = flow.user;
      const m = u >>> MARK_SHIFT;
      if (m === 0) continue;
      out[i] = this.policy.apply(this.batchPacketMarks[i]!, marks[m - 1]!);
      // A packet whose mark is not saved (INPUT) leaves the state as it
      // is: a verdict of this batch then goes through ctnetlink below.
      if (this.batchSaves[i] && (u & STATE_MASK) !== CONNTRACK) flow.user = (u & ~STATE_MASK) | PACKET;
      marked++;
    }
    const v = this.counters.verdicts;
    v.marked += marked;
    v.accepted += n;
    this.counters.batches++;
    this.inBatch = false;
    this.applyUncarried();
    return out;
  }

  /** One NFQUEUE batch: every packet accepted, decided flows' packets with their mark. */
  processBatch(packets: readonly QueuedPacket[]): PacketVerdict[] {
    this.beginBatch();
    for (const p of packets) this.ingestRaw(p.payload, p.mark, p.tsSec, p.tsNsec);
    const marks = this.endBatch();
    return packets.map((p, i) => (marks[i]! === NO_MARK ? { id: p.id } : { id: p.id, mark: marks[i]! }));
  }

  /** End of input (replay): applies every queued test, then ends every flow. */
  finish(): void {
    if (this.finished) return;
    if (this.inBatch) this.endBatch();
    this.classifier.finish();
    this.applyUncarried();
    this.finished = true;
    this.scanner?.close?.();
  }

  /** Resolves once every ctnetlink request sent so far is answered. */
  async settle(): Promise<void> {
    while (this.pendingConntrack.size > 0) await Promise.allSettled([...this.pendingConntrack]);
  }

  // ---------------------------------------------------------------- flows

  /** The view of a flow (made on demand: the edge keeps none per flow). */
  view(flow: FlowEntry): EdgeFlow {
    return new EdgeFlow(this, flow);
  }

  private flowDecided(flow: FlowEntry): void {
    const mark = this.policy.markOf(flow.l7);
    let m = 0;
    if (mark !== undefined) {
      m = this.markIndex.get(mark) ?? 0;
      if (m === 0) {
        // Distinct marks are the policy's (a few): far below the 4095 that FlowEntry.user has room for.
        this.marks.push(mark);
        m = this.marks.length;
        this.markIndex.set(mark, m);
      }
    }
    flow.user = (m << MARK_SHIFT) | (mark === undefined ? NONE : UNAPPLIED);
    // Every packet tracked so far counts under the verdict from now on.
    const c = this.counterOf(flow.l7);
    c.flows++;
    c.packets += flow.packets;
    c.bytes += flow.bytes;
    if (this.inBatch) {
      this.decidedNow.push(flow);
      this.decidedNowPackets.push(flow.packets);
    }
    // Kept for applyUncarried, which only a conntrack marker needs (not stateless mode, nor replay).
    if (this.conntrack) this.decided.push(flow);
    this.options.onDecision?.(this.view(flow));
  }

  private flowEnded(flow: FlowEntry, record: FlowRecord | undefined): void {
    // Undecided flows are counted when they end (as unset), so a counter
    // never has to move packets from one protocol to another.
    if (flow.l7 === 'unset') {
      const c = this.counterOf('unset');
      c.flows++;
      c.packets += flow.packets;
      c.bytes += flow.bytes;
    }
    if (record) this.options.onFlowEnd!(record, this.view(flow));
  }

  private counterOf(l7: string): ProtocolCounters {
    let c = this.counters.protocols.get(l7);
    if (!c) this.counters.protocols.set(l7, (c = { flows: 0, packets: 0, bytes: 0 }));
    return c;
  }

  /**
   * Verdicts no packet carried: set them on the conntrack entry. Called at
   * the end of each batch, and by remote mode when verdicts arrive between
   * batches.
   */
  applyUncarried(): void {
    if (this.decided.length === 0) return;
    const decided = this.decided;
    this.decided = [];
    for (const flow of decided) {
      const u = flow.user;
      if ((u & STATE_MASK) !== UNAPPLIED || u >>> MARK_SHIFT === 0) continue;
      if (this.conntrack) this.setConntrackMark(flow, this.marks[(u >>> MARK_SHIFT) - 1]!);
    }
  }

  private setConntrackMark(flow: FlowEntry, mark: number): void {
    setState(flow, PENDING);
    const ok = () => {
      this.counters.conntrack.ok++;
      if ((flow.user & STATE_MASK) === PENDING) setState(flow, CONNTRACK);
    };
    const failed = (err: unknown) => {
      this.counters.conntrack.failed++;
      if ((flow.user & STATE_MASK) === PENDING) setState(flow, FAILED);
      this.errors.set(flow, err instanceof Error ? err.message : String(err));
      this.options.onConntrackError?.(this.view(flow), err);
    };
    let r: void | Promise<void>;
    try {
      r = this.conntrack!.setMark(tupleOf(flow), mark, this.policy.mask);
    } catch (err) {
      failed(err);
      return;
    }
    if (r && typeof (r as Promise<void>).then === 'function') {
      const p: Promise<void> = (r as Promise<void>).then(ok, failed).finally(() => this.pendingConntrack.delete(p));
      this.pendingConntrack.add(p);
    } else {
      ok();
    }
  }

  // ---------------------------------------------------------------- views

  /** The live flow table, oldest first. */
  liveFlows(): EdgeFlow[] {
    return this.classifier.liveFlows().map((f) => this.view(f));
  }

  /** Packets, bytes and count of the live flows not decided yet. */
  liveUnset(): ProtocolCounters {
    const c = { flows: 0, packets: 0, bytes: 0 };
    this.classifier.forEachFlow((f) => {
      if (f.l7 !== 'unset') return;
      c.flows++;
      c.packets += f.packets;
      c.bytes += f.bytes;
    });
    return c;
  }
}

/** A live flow as the /flows endpoint serves it (one JSON object). */
export interface FlowView extends FlowSummary {
  group?: string;
  why?: { by: string; packet: number };
  queued: number;
  mark?: string;
  mark_state: MarkState;
  error?: string;
}

export function flowView(st: EdgeFlow, policy: MarkPolicy): FlowView {
  const f = st.flow;
  const view: FlowView = { ...flowSummaryOf(f), queued: st.queued, mark_state: st.state };
  const group = policy.groupOf(f.l7);
  if (group !== undefined) view.group = group;
  if (f.decidedBy !== undefined) view.why = { by: f.decidedBy, packet: f.decidedAtPacket };
  if (st.mark !== undefined) view.mark = hex(st.mark);
  if (st.error !== undefined) view.error = st.error;
  return view;
}
