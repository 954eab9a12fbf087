import { createHeadScanner, FlowClassifier, type FlowRecord, type HeadScanner, type PatternSet } from '@l7mesh/engine';
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

/**
 * The edge's view of one live flow: the classifier's entry plus what the edge
 * did with it. Kept small (one per tracked flow): the conntrack tuple is
 * derived from the flow key only when it is needed.
 */
export class EdgeFlow {
  /** Packets of the flow the edge received (from the queue, or the capture). */
  queued = 0;
  /** The l7 mark (bits under the mask) once decided, undefined when none. */
  mark: number | undefined = undefined;
  state: MarkState = 'waiting';
  /** Why ctnetlink failed, when it did. */
  error?: string;
  /** Packets and bytes already added to the per-protocol counters. */
  countedPackets = 0;
  countedBytes = 0;
  /** Last batch with a packet of this flow. */
  batch = 0;

  constructor(readonly flow: FlowEntry) {}

  get tuple(): ConntrackTuple {
    return tupleOf(this.flow);
  }
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

export interface EdgeCoreOptions {
  set: PatternSet;
  config: Pick<EdgeConfig, 'classification' | 'flows'>;
  policy: MarkPolicy;
  /** ctnetlink access; without it, verdicts with no packet to carry them stay `unapplied`. */
  conntrack?: ConntrackMarker;
  /** A scanner to use instead of one made from `config.classification.engine`. */
  scanner?: HeadScanner & { close?(): void };
  /** Told of every flow leaving the table (replay prints them). */
  onFlowEnd?: (record: FlowRecord, flow: EdgeFlow | undefined) => void;
  /** Told of every verdict as it is reached. */
  onDecision?: (flow: EdgeFlow) => void;
  /** Told when a ctnetlink update fails. */
  onConntrackError?: (flow: EdgeFlow, err: unknown) => void;
  /** Wall clock in ms, for packets without a kernel timestamp (default Date.now). */
  clock?: () => number;
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
export class EdgeCore {
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
  private readonly classifier: FlowClassifier;
  private readonly scanner: HeadScanner & { close?(): void };
  private readonly states = new Map<FlowEntry, EdgeFlow>();
  private readonly conntrack: ConntrackMarker | undefined;
  private readonly clock: () => number;
  private readonly batchFlows: (EdgeFlow | null)[] = [];
  private readonly batchPacketMarks: number[] = [];
  private readonly batchSaves: boolean[] = [];
  private decided: EdgeFlow[] = [];
  private pendingConntrack = new Set<Promise<void>>();
  private batchNo = 0;
  private inBatch = false;
  private finished = false;

  constructor(private readonly options: EdgeCoreOptions) {
    const c = options.config.classification;
    this.policy = options.policy;
    this.conntrack = options.conntrack;
    this.clock = options.clock ?? Date.now;
    this.scanner = options.scanner ?? createHeadScanner(c.engine, options.set, c.maxBytes);
    this.classifier = new FlowClassifier(options.set, this.scanner, {
      maxPackets: c.maxPackets,
      maxDataLen: c.maxBytes,
      ftpPorts: c.ftpPorts,
      maxFlows: options.config.flows.maxFlows,
      timeouts: options.config.flows.timeouts,
      onFlow: (record, flow) => this.flowEnded(record, flow),
      onDecision: (flow) => this.flowDecided(flow),
    });
  }

  /** Flows in the table now. */
  get activeFlows(): number {
    return this.states.size;
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
    this.batchNo++;
    this.batchFlows.length = 0;
    this.batchPacketMarks.length = 0;
    this.batchSaves.length = 0;
  }

  /**
   * A raw IP datagram from the queue (IPv4 or IPv6). `savesMark` false: the
   * packet's mark will not reach the connmark (queued in INPUT, which never
   * passes POSTROUTING), so the flow's verdict goes through ctnetlink too.
   */
  ingestRaw(bytes: Uint8Array, packetMark: number, tsSec?: number, tsNsec?: number, savesMark = true): EdgeFlow | null {
    return this.ingestRange(bytes, 0, bytes.length, packetMark, tsSec, tsNsec, savesMark);
  }

  /** As ingestRaw, for the datagram at buf[start, end) (a queue batch's shared buffer: no view per packet). */
  ingestRange(buf: Uint8Array, start: number, end: number, packetMark: number, tsSec?: number, tsNsec?: number, savesMark = true): EdgeFlow | null {
    if (tsSec === undefined) {
      const ms = this.clock();
      tsSec = Math.floor(ms / 1000);
      tsNsec = (ms % 1000) * 1e6;
    }
    this.counters.bytes += end - start;
    return this.ingest(this.decoder.decodeRange(LinkType.RAW, buf, start, end, tsSec, tsNsec ?? 0), packetMark, savesMark);
  }

  /** A frame of a capture file (replay). */
  ingestFrame(frame: CaptureFrame): EdgeFlow | null {
    this.counters.bytes += frame.originalLength;
    return this.ingest(this.decoder.decodeFrame(frame), 0);
  }

  /** An already decoded packet (null: the decoder could not make a TCP/UDP packet of it). */
  ingest(p: DecodedPacket | null, packetMark = 0, savesMark = true): EdgeFlow | null {
    if (!this.inBatch) this.beginBatch();
    this.counters.packets++;
    let st: EdgeFlow | null = null;
    if (p === null) {
      this.counters.undecodable++;
    } else {
      st = this.stateOf(this.classifier.process(p));
      st.queued++;
      st.batch = this.batchNo;
    }
    this.batchFlows.push(st);
    this.batchPacketMarks.push(packetMark >>> 0);
    this.batchSaves.push(savesMark);
    return st;
  }

  /**
   * Ends the batch: runs the queued tests (one flush), and returns for every
   * packet of the batch, in order, the mark to set (or -1: leave it). Then
   * sets through ctnetlink the verdicts that no packet carried.
   */
  endBatch(): number[] {
    if (!this.inBatch) return [];
    this.classifier.flush();
    const out = new Array<number>(this.batchFlows.length);
    const v = this.counters.verdicts;
    for (let i = 0; i < this.batchFlows.length; i++) {
      const st = this.batchFlows[i]!;
      out[i] = NO_MARK;
      if (st !== null && st.mark !== undefined) {
        out[i] = this.policy.apply(this.batchPacketMarks[i]!, st.mark);
        // A packet whose mark is not saved (INPUT) leaves the state as it
        // is: a verdict of this batch then goes through ctnetlink below.
        if (this.batchSaves[i] && st.state !== 'conntrack') st.state = 'packet';
        v.marked++;
      }
      v.accepted++;
      if (st !== null) this.account(st);
    }
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
    this.scanner.close?.();
  }

  /** Resolves once every ctnetlink request sent so far is answered. */
  async settle(): Promise<void> {
    while (this.pendingConntrack.size > 0) await Promise.allSettled([...this.pendingConntrack]);
  }

  // ---------------------------------------------------------------- flows

  private stateOf(flow: FlowEntry): EdgeFlow {
    let st = this.states.get(flow);
    if (st) return st;
    st = new EdgeFlow(flow);
    this.states.set(flow, st);
    return st;
  }

  private flowDecided(flow: FlowEntry): void {
    const st = this.stateOf(flow);
    st.mark = this.policy.markOf(flow.l7);
    st.state = st.mark === undefined ? 'none' : 'unapplied';
    this.counterOf(flow.l7).flows++;
    this.decided.push(st);
    this.options.onDecision?.(st);
  }

  private flowEnded(record: FlowRecord, flow: FlowEntry): void {
    const st = this.states.get(flow);
    if (st) {
      this.states.delete(flow);
      if (record.l7 === 'unset') this.counterOf('unset').flows++;
      this.account(st);
    }
    this.options.onFlowEnd?.(record, st);
  }

  private counterOf(l7: string): ProtocolCounters {
    let c = this.counters.protocols.get(l7);
    if (!c) this.counters.protocols.set(l7, (c = { flows: 0, packets: 0, bytes: 0 }));
    return c;
  }

  /**
   * Adds what the flow did since it was last counted to its verdict's
   * counters. Undecided flows are counted when they end (as unset), so a
   * counter never has to move packets from one protocol to another.
   */
  private account(st: EdgeFlow): void {
    const f = st.flow;
    if (f.l7 === 'unset' && this.states.has(f)) return;
    const packets = f.packets - st.countedPackets;
    const bytes = f.bytes - st.countedBytes;
    if (packets === 0 && bytes === 0) return;
    const c = this.counterOf(f.l7);
    c.packets += packets;
    c.bytes += bytes;
    st.countedPackets = f.packets;
    st.countedBytes = f.bytes;
  }

  /** Verdicts no packet of this batch carried: set them on the conntrack entry. */
  private applyUncarried(): void {
    if (this.decided.length === 0) return;
    const decided = this.decided;
    this.decided = [];
    for (const st of decided) {
      if (st.state !== 'unapplied' || st.mark === undefined) continue;
      if (this.conntrack) this.setConntrackMark(st, st.mark);
    }
  }

  private setConntrackMark(st: EdgeFlow, mark: number): void {
    st.state = 'pending';
    const ok = () => {
      this.counters.conntrack.ok++;
      if (st.state === 'pending') st.state = 'conntrack';
    };
    const failed = (err: unknown) => {
      this.counters.conntrack.failed++;
      if (st.state === 'pending') st.state = 'failed';
      st.error = err instanceof Error ? err.message : String(err);
      this.options.onConntrackError?.(st, err);
    };
    let r: void | Promise<void>;
    try {
      r = this.conntrack!.setMark(st.tuple, mark, this.policy.mask);
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
    return [...this.states.values()].sort((a, b) => a.flow.seq - b.flow.seq);
  }

  /** Packets, bytes and count of the live flows not decided yet. */
  liveUnset(): ProtocolCounters {
    const c = { flows: 0, packets: 0, bytes: 0 };
    for (const st of this.states.values()) {
      if (st.flow.l7 !== 'unset') continue;
      c.flows++;
      c.packets += st.flow.packets;
      c.bytes += st.flow.bytes;
    }
    return c;
  }
}

/** A live flow as the /flows endpoint serves it (one JSON object). */
export interface FlowView {
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  l7: string;
  group?: string;
  why?: { by: string; packet: number };
  packets: number;
  bytes: number;
  packets_orig: number;
  packets_reply: number;
  bytes_orig: number;
  bytes_reply: number;
  first_ts: number;
  last_ts: number;
  queued: number;
  mark?: string;
  mark_state: MarkState;
  error?: string;
}

export function flowView(st: EdgeFlow, policy: MarkPolicy): FlowView {
  const f = st.flow;
  const t = st.tuple;
  const view: FlowView = {
    proto: t.protocol,
    src: t.src,
    sport: t.sport,
    dst: t.dst,
    dport: t.dport,
    l7: f.l7,
    packets: f.packets,
    bytes: f.bytes,
    packets_orig: f.packetsOrig,
    packets_reply: f.packetsReply,
    bytes_orig: f.bytesOrig,
    bytes_reply: f.bytesReply,
    first_ts: f.firstSec + Math.round(f.firstNsec / 1e3) / 1e6,
    last_ts: f.lastSec + Math.round(f.lastNsec / 1e3) / 1e6,
    queued: st.queued,
    mark_state: st.state,
  };
  const group = policy.groupOf(f.l7);
  if (group !== undefined) view.group = group;
  if (f.decidedBy !== undefined) view.why = { by: f.decidedBy, packet: f.decidedAtPacket };
  if (st.mark !== undefined) view.mark = hex(st.mark);
  if (st.error !== undefined) view.error = st.error;
  return view;
}
