/**
 * What an edge reports to control: a flow record when a flow is decided
 * (state live, its counters so far), one when it ends (state ended, its
 * final counters), and per interval the accounting deltas of what it
 * counted, per protocol and the customer side's direction.
 *
 * Where the counters come from:
 * - `edge` (replay): the edge sees every packet of the capture, so its own
 *   flow table's counters are whole. A decided flow's packets are accounted
 *   when it is decided (all so far), at each interval's end (what came
 *   since), and when it ends (the rest); an undecided flow when it ends, as
 *   `unset`. So over a replay every packet is accounted once, under the
 *   flow's final verdict, as `classify` counts it.
 * - `kernel` (live): the edge sees only the first packets of a connection
 *   (the queue budget). At the verdict those are all the packets so far,
 *   and they are accounted then; the rest comes from the kernel's counters,
 *   fed through flowCounters / flowEnded by the reader of ctnetlink DESTROY
 *   events and dumps (conntrack mode) or of the verdict map's element
 *   counters (stateless mode). The edge's own flow table ending a flow says
 *   nothing then: the kernel's end does.
 *
 * A flow is counted once (`flows`), when it is decided (or ends unset),
 * under its originator's direction: `out` when a customer opened it.
 *
 * Several edges may each see part of one connection (an asymmetric route:
 * requests via one router, replies via another). The worker that merged it
 * says in each edge's verdict whether that edge opened it (Verdict.opener)
 * and when and by whom it was opened (Verdict.start); `joinedFlow` hands
 * that over for the flows this edge did not open. Such a flow is not
 * counted here (its opener counts it), its packets and bytes are, and its
 * records name it as the opener's records do (the originator's 5-tuple and
 * the first packet's time, the store's flow identity), with its counters
 * turned to the originator's orientation: so the store has one row per
 * connection, listing both edges. The store keeps each counter's largest
 * value (it never adds records up): on an asymmetric route each direction
 * as the edge on its path counted it. Packets and bytes in accounting add
 * up exactly across the edges.
 */
import type { AccountingDeltaInput, FlowRecordInput } from '@l7mesh/bus';
import { endpointsOfKey, type FlowEntry } from '@l7mesh/flow';
import type { FlowStart } from '@l7mesh/wire';
import type { EdgeConfig } from './config.js';
import type { EdgeFlow } from './core.js';
import { CustomerSide } from './customerSide.js';

/** Where records and deltas go (the bus package's RecordPublisher, or a test). false: dropped. */
export interface RecordSink {
  addFlowRecord(record: FlowRecordInput): boolean;
  addAccountingDelta(delta: AccountingDeltaInput): boolean;
}

export type CounterSource = 'edge' | 'kernel';

/**
 * A flow another edge opened, as this edge's verdict described it
 * (Verdict.opener false). `start`: the flow's first packet as the worker
 * merged it; undefined when the worker did not know it (a verdict recalled
 * from the store), and the records then name the flow by this edge's own
 * view (a row of its own).
 */
export interface JoinedFlow {
  start: FlowStart | undefined;
}

export interface EdgeRecordsOptions {
  sink: RecordSink;
  /** The flows' zone (the wire's: overlapping address spaces behind different routers). */
  zone: number;
  /** The uplink interface the traffic is accounted to (made printable, at most 64 characters). */
  iface: string;
  intervalSec: number;
  customer: CustomerSide;
  counters: CounterSource;
  /** kernel: decided flows kept for the kernel's counters, at most (default 1 000 000); past it the oldest go (counted). */
  maxTracked?: number;
  /** The rule set that decides (0 until rule sets are versioned in the store). */
  ruleSetVersion?: number;
  /** Wall clock (ms) for records the kernel reports without times (default Date.now). */
  clock?: () => number;
  /**
   * Remote mode: the flows of this edge that another edge opened (see
   * JoinedFlow; RemoteEdge.joinedFlows). Without it, or for a flow it does
   * not know, this edge opened the flow: it counts it, and its own view
   * names it (local mode, and every flow one edge sees alone).
   */
  joinedFlow?: (flow: FlowEntry) => JoinedFlow | undefined;
  /**
   * Remote mode with source NAT on this edge's router (NatTranslator): the
   * key the other routers and the cluster know a flow by, and its
   * originator's place in it; undefined when not NATed. The records name the flow so, as the segments did: the
   * store then has one row for the connection.
   */
  externalName?: (key: string, origIsLow: boolean) => { key: string; origIsLow: boolean } | undefined;
}

/** A connection's counters as the kernel reports them, in its own orientation. */
export interface KernelCounters {
  /** True when the counters' originator (conntrack's orig tuple's source) is the flow key's lower endpoint. */
  origIsLow: boolean;
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
}

export interface KernelCountersOptions {
  /** The connection is over (a DESTROY event; an element deleted): the record says ended, and the flow is forgotten. */
  final?: boolean;
  /**
   * What the counters cover: 'connection' (conntrack's counters: the whole
   * connection, default) or 'since-verdict' (a verdict map element's: the
   * packets after the edge added it, so the edge's own counters at the
   * verdict come on top).
   */
  scope?: 'connection' | 'since-verdict';
  /** The connection's latest packet (ms since the epoch); default now. */
  lastSeenMs?: number;
  /** A connection the edge never decided (it started before the edge): its start, for its record (without it only accounting is reported). */
  firstSeenMs?: number;
}

export interface EdgeRecordsCounters {
  flowRecords: number;
  deltas: number;
  /** Records and deltas the sink refused (its bound). */
  refused: number;
  /** kernel: reports of connections the edge had not decided (accounted `unset`). */
  unknownConnections: number;
  /** kernel: decided flows forgotten before the kernel reported their end (maxTracked). */
  evicted: number;
  /** kernel: decided flows tracked again after their end (flowResumed). */
  resumed: number;
}

/**
 * How this edge's records name a flow, and whether it counts it: its own
 * view, or (a flow another edge opened) the opener's.
 */
interface FlowName {
  /** The key the records carry: the flow's own, or the one the other routers see (NAT on this edge's router). */
  key: string;
  /** The originator's place in `key`. */
  keyOrigIsLow: boolean;
  /** The originator's place in the flow's own key. */
  origIsLow: boolean;
  firstSec: number;
  firstNsec: number;
  /** The edge's table has the flow the other way round (its first packet was the responder's): its orig and reply counters swap. */
  reversed: boolean;
  /** This edge counts the flow (`flows`). */
  counted: boolean;
}

/** What a flow's counters were accounted up to. */
interface Accounted {
  l7: string;
  /** The originator's direction is `out`. */
  origOut: boolean;
  /** The flow's counters in the edge's table are the other way round than its records' (FlowName.reversed). */
  reversed: boolean;
  po: number;
  bo: number;
  pr: number;
  br: number;
}

/** kernel: a decided flow waiting for its counters. */
interface Tracked extends Accounted {
  decidedBy: string;
  mark: number;
  /** The originator's place in the flow's key (the kernel's counters are turned by it). */
  origIsLow: boolean;
  /** What the records name it by (FlowName.key, keyOrigIsLow). */
  recordKey: string;
  recordOrigIsLow: boolean;
  firstSec: number;
  firstNsec: number;
  lastSec: number;
  lastNsec: number;
  /** The edge's own counters at the verdict (what a 'since-verdict' count adds to). */
  atVerdict: readonly [number, number, number, number];
}

interface Bucket {
  l7: string;
  out: boolean;
  flows: number;
  packets: number;
  bytes: number;
}

const UNSET = 'unset';

/** An interface name the wire and the store take: printable ASCII without blanks, 1-64 characters. */
export function accountingInterfaceName(name: string): string {
  const printable = name.replace(/[^\x21-\x7e]/g, '_').slice(0, 64);
  return printable.length > 0 ? printable : 'default';
}

export class EdgeRecords {
  readonly counters: EdgeRecordsCounters = { flowRecords: 0, deltas: 0, refused: 0, unknownConnections: 0, evicted: 0, resumed: 0 };
  private readonly iface: string;
  private readonly intervalSec: number;
  private readonly clock: () => number;
  /** edge: decided flows still in the table, with what was accounted of them. */
  private readonly live = new Map<FlowEntry, Accounted>();
  /** kernel: decided flows by key, until the kernel reports their end. */
  private readonly tracked = new Map<string, Tracked>();
  private readonly buckets = new Map<string, Bucket>();
  /** The current interval's start (s); undefined before the first event. */
  private intervalStart: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: EdgeRecordsOptions) {
    if (!Number.isInteger(options.intervalSec) || options.intervalSec < 1) throw new RangeError(`accounting interval must be a whole number of seconds >= 1, got ${options.intervalSec}`);
    this.iface = accountingInterfaceName(options.iface);
    this.intervalSec = options.intervalSec;
    this.clock = options.clock ?? Date.now;
  }

  /** The interface the records and deltas name. */
  get interfaceName(): string {
    return this.iface;
  }

  /** kernel: flows waiting for their counters. */
  get trackedFlows(): number {
    return this.tracked.size;
  }

  // ---------------------------------------------------------------- the edge's own events

  /** A flow was decided (EdgeCore's onDecision): its record, and its counters so far accounted under the verdict. */
  flowDecided(view: EdgeFlow): void {
    const f = view.flow;
    if (f.l7 === UNSET) return;
    this.startAt(f.lastSec);
    const name = this.nameOf(f);
    const origOut = this.originatorIsCustomer(f.key, name.origIsLow);
    const now = countersOf(f, name.reversed);
    this.add(f.l7, origOut, name.counted ? 1 : 0, now);
    const accounted: Accounted = { l7: f.l7, origOut, reversed: name.reversed, po: now[0], bo: now[1], pr: now[2], br: now[3] };
    if (this.options.counters === 'edge') this.live.set(f, accounted);
    else this.track(f, name, accounted, view.mark ?? 0, now);
    this.emitRecord(f, name, 'live', view.mark ?? 0, now);
  }

  /**
   * A decided flow whose kernel counters had ended (stateless mode: idle
   * for liveTimeout, its elements deleted) is active again and has new
   * elements (kernel counters only). Tracked again under its verdict and
   * its record's identity, its counters from zero, and not counted as a
   * flow again: its later records name the same connection, and the store
   * keeps each counter's larger part, before or after the pause.
   */
  flowResumed(f: FlowEntry, mark: number | undefined): void {
    if (this.options.counters !== 'kernel' || f.l7 === UNSET || this.tracked.has(f.key)) return;
    const name = this.nameOf(f);
    const accounted: Accounted = { l7: f.l7, origOut: this.originatorIsCustomer(f.key, name.origIsLow), reversed: name.reversed, po: 0, bo: 0, pr: 0, br: 0 };
    this.track(f, name, accounted, mark ?? 0, [0, 0, 0, 0]);
    this.counters.resumed++;
  }

  /** Tracks the flow for the kernel's reports by its key (at most maxTracked, the oldest evicted). */
  private track(f: FlowEntry, name: FlowName, accounted: Accounted, mark: number, atVerdict: readonly [number, number, number, number]): void {
    const key = f.key;
    // A key seen again (a new connection on the tuple) replaces the old one's entry: the kernel reports by tuple.
    this.tracked.delete(key);
    this.tracked.set(key, {
      ...accounted,
      decidedBy: f.decidedBy ?? '',
      mark,
      origIsLow: name.origIsLow,
      recordKey: name.key,
      recordOrigIsLow: name.keyOrigIsLow,
      firstSec: name.firstSec,
      firstNsec: name.firstNsec,
      lastSec: f.lastSec,
      lastNsec: f.lastNsec,
      atVerdict,
    });
    const max = this.options.maxTracked ?? 1_000_000;
    while (this.tracked.size > max) {
      this.tracked.delete(this.tracked.keys().next().value!);
      this.counters.evicted++;
    }
  }

  /**
   * A flow left the edge's table (EdgeCore's onFlowEnd). edge: its final
   * record, and what was not accounted yet (an undecided flow: all of it,
   * as `unset`). kernel: nothing; the kernel reports the end.
   */
  flowEnded(view: EdgeFlow): void {
    const f = view.flow;
    const name = this.nameOf(f);
    if (this.options.counters === 'kernel') {
      const t = this.tracked.get(f.key);
      if (t && t.firstSec === name.firstSec && t.firstNsec === name.firstNsec) {
        t.lastSec = f.lastSec;
        t.lastNsec = f.lastNsec;
      }
      return;
    }
    this.startAt(f.lastSec);
    const final = countersOf(f, name.reversed);
    const a = this.live.get(f);
    if (a) {
      this.live.delete(f);
      this.addProgress(a, final);
    } else {
      // Never decided here (it ended unset), or decided before records were kept: all of it, once.
      this.add(f.l7, this.originatorIsCustomer(f.key, name.origIsLow), name.counted ? 1 : 0, final);
    }
    this.emitRecord(f, name, 'ended', view.mark ?? 0, final);
  }

  // ---------------------------------------------------------------- the kernel's counters (live mode)

  /**
   * The kernel's counters of a connection (conntrack's, or a verdict map
   * element's): accounts what came since the last report under the flow's
   * verdict, and reports a flow record (ended with `final`). `key` is the
   * flow package's canonical key of the connection (flowKeyOfEndpoints of
   * its tuple).
   */
  flowCounters(key: string, counters: KernelCounters, options: KernelCountersOptions = {}): void {
    const nowMs = this.clock();
    const lastMs = options.lastSeenMs ?? nowMs;
    const lastSec = Math.floor(lastMs / 1000);
    this.startAt(lastSec);
    let t = this.tracked.get(key);
    if (!t) {
      // Not decided here: it started before the edge, or was never queued. Counted once, as unset.
      this.counters.unknownConnections++;
      const e = endpointsOfKey(key, counters.origIsLow);
      const origOut = this.options.customer.originatorIsCustomer(e.src, e.dst);
      const firstMs = options.firstSeenMs;
      t = {
        l7: UNSET,
        origOut,
        reversed: false,
        po: 0,
        bo: 0,
        pr: 0,
        br: 0,
        decidedBy: '',
        mark: 0,
        origIsLow: counters.origIsLow,
        recordKey: key,
        recordOrigIsLow: counters.origIsLow,
        firstSec: firstMs === undefined ? -1 : Math.floor(firstMs / 1000),
        firstNsec: firstMs === undefined ? 0 : (firstMs % 1000) * 1e6,
        lastSec,
        lastNsec: 0,
        atVerdict: [0, 0, 0, 0],
      };
      this.add(UNSET, origOut, 1, [0, 0, 0, 0]);
      if (!options.final) this.tracked.set(key, t);
    }
    // In the flow's own orientation (the one its records were written under).
    const same = counters.origIsLow === t.origIsLow;
    let total: [number, number, number, number] = same
      ? [counters.origPackets, counters.origBytes, counters.replyPackets, counters.replyBytes]
      : [counters.replyPackets, counters.replyBytes, counters.origPackets, counters.origBytes];
    if (options.scope === 'since-verdict') total = [total[0] + t.atVerdict[0], total[1] + t.atVerdict[1], total[2] + t.atVerdict[2], total[3] + t.atVerdict[3]];
    this.addProgress(t, total);
    if (lastSec > t.lastSec || (lastSec === t.lastSec && (lastMs % 1000) * 1e6 > t.lastNsec)) {
      t.lastSec = lastSec;
      t.lastNsec = (lastMs % 1000) * 1e6;
    }
    if (options.final) this.tracked.delete(key);
    if (t.firstSec < 0) return;
    const last = t.lastSec > t.firstSec || (t.lastSec === t.firstSec && t.lastNsec >= t.firstNsec) ? t : { lastSec: t.firstSec, lastNsec: t.firstNsec };
    this.push({
      zone: this.options.zone,
      key: t.recordKey,
      origIsLow: t.recordOrigIsLow,
      state: options.final ? 'ended' : 'live',
      firstSec: t.firstSec,
      firstNsec: t.firstNsec,
      lastSec: last.lastSec,
      lastNsec: last.lastNsec,
      origPackets: total[0],
      origBytes: total[1],
      replyPackets: total[2],
      replyBytes: total[3],
      l7: t.l7,
      decidedBy: t.decidedBy,
      mark: t.mark,
      ruleSetVersion: this.options.ruleSetVersion ?? 0,
      iface: this.iface,
    });
  }

  /** The kernel's final counters of a connection: flowCounters with `final`. */
  flowEndedWithCounters(key: string, counters: KernelCounters, options: Omit<KernelCountersOptions, 'final'> = {}): void {
    this.flowCounters(key, counters, { ...options, final: true });
  }

  // ---------------------------------------------------------------- intervals

  /**
   * The clock moved to `nowSec` (a replay: the newest packet's time; live:
   * the wall clock). When the current interval is over, its deltas are
   * published (with, in edge mode, the progress of the flows still live).
   */
  advance(nowSec: number): void {
    if (this.intervalStart === undefined) {
      this.startAt(nowSec);
      return;
    }
    if (nowSec < this.intervalStart + this.intervalSec) return;
    this.closeInterval();
    this.intervalStart = this.alignedStart(nowSec);
  }

  /** Live mode: closes intervals by the wall clock (checked every second) until stop(). */
  startClock(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.advance(Math.floor(this.clock() / 1000)), 1000);
    this.timer.unref();
  }

  /** Publishes what is accounted so far (the end of a replay, or a stop), as the current interval's deltas. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.intervalStart !== undefined) this.closeInterval();
  }

  // ---------------------------------------------------------------- internals

  private alignedStart(sec: number): number {
    return Math.floor(sec / this.intervalSec) * this.intervalSec;
  }

  private startAt(sec: number): void {
    this.intervalStart ??= this.alignedStart(sec);
  }

  private closeInterval(): void {
    for (const [f, a] of this.live) this.addProgress(a, countersOf(f, a.reversed));
    const startSec = this.intervalStart!;
    for (const b of this.buckets.values()) {
      if (b.flows === 0 && b.packets === 0 && b.bytes === 0) continue;
      this.counters.deltas++;
      if (!this.options.sink.addAccountingDelta({ startSec, iface: this.iface, l7: b.l7, direction: b.out ? 'out' : 'in', flows: b.flows, packets: b.packets, bytes: b.bytes })) this.counters.refused++;
    }
    this.buckets.clear();
  }

  /** Accounts what `a`'s counters grew by since last time (never less than nothing), and remembers `now`. */
  private addProgress(a: Accounted, now: readonly [number, number, number, number]): void {
    const d: [number, number, number, number] = [Math.max(0, now[0] - a.po), Math.max(0, now[1] - a.bo), Math.max(0, now[2] - a.pr), Math.max(0, now[3] - a.br)];
    if (d[0] + d[1] + d[2] + d[3] === 0) return;
    this.add(a.l7, a.origOut, 0, d);
    a.po = Math.max(a.po, now[0]);
    a.bo = Math.max(a.bo, now[1]);
    a.pr = Math.max(a.pr, now[2]);
    a.br = Math.max(a.br, now[3]);
  }

  /** Adds a flow count (to the originator's direction) and packets/bytes (orig, then reply) to the interval's buckets. */
  private add(l7: string, origOut: boolean, flows: number, c: readonly [number, number, number, number]): void {
    const orig = this.bucket(l7, origOut);
    orig.flows += flows;
    orig.packets += c[0];
    orig.bytes += c[1];
    if (c[2] !== 0 || c[3] !== 0) {
      const reply = this.bucket(l7, !origOut);
      reply.packets += c[2];
      reply.bytes += c[3];
    }
  }

  private bucket(l7: string, out: boolean): Bucket {
    const id = out ? `o${l7}` : `i${l7}`;
    let b = this.buckets.get(id);
    if (!b) this.buckets.set(id, (b = { l7, out, flows: 0, packets: 0, bytes: 0 }));
    return b;
  }

  private originatorIsCustomer(key: string, origIsLow: boolean): boolean {
    const e = endpointsOfKey(key, origIsLow);
    return this.options.customer.originatorIsCustomer(e.src, e.dst);
  }

  /** How the records name the flow and whether this edge counts it (see JoinedFlow). */
  private nameOf(f: FlowEntry): FlowName {
    const joined = this.options.joinedFlow?.(f);
    const start = joined?.start;
    const origIsLow = start?.origIsLow ?? f.origIsLow;
    const external = this.options.externalName?.(f.key, origIsLow);
    const key = external?.key ?? f.key;
    const keyOrigIsLow = external?.origIsLow ?? origIsLow;
    if (start === undefined) return { key, keyOrigIsLow, origIsLow, firstSec: f.firstSec, firstNsec: f.firstNsec, reversed: false, counted: joined === undefined };
    return { key, keyOrigIsLow, origIsLow, firstSec: start.firstSec, firstNsec: start.firstNsec, reversed: start.origIsLow !== f.origIsLow, counted: false };
  }

  /** `c`: the counters in the record's orientation (countersOf). */
  private emitRecord(f: FlowEntry, name: FlowName, state: 'live' | 'ended', mark: number, c: readonly [number, number, number, number]): void {
    // The opener's first packet may carry a later time than this edge's last (two clocks): a record never ends before it starts.
    const endsLater = f.lastSec > name.firstSec || (f.lastSec === name.firstSec && f.lastNsec >= name.firstNsec);
    this.push({
      zone: this.options.zone,
      key: name.key,
      origIsLow: name.keyOrigIsLow,
      state,
      firstSec: name.firstSec,
      firstNsec: name.firstNsec,
      lastSec: endsLater ? f.lastSec : name.firstSec,
      lastNsec: endsLater ? f.lastNsec : name.firstNsec,
      origPackets: c[0],
      origBytes: c[1],
      replyPackets: c[2],
      replyBytes: c[3],
      l7: f.l7,
      decidedBy: f.l7 === UNSET ? '' : (f.decidedBy ?? ''),
      mark: f.l7 === UNSET ? 0 : mark,
      ruleSetVersion: this.options.ruleSetVersion ?? 0,
      iface: this.iface,
    });
  }

  private push(record: FlowRecordInput): void {
    this.counters.flowRecords++;
    if (!this.options.sink.addFlowRecord(record)) this.counters.refused++;
  }
}

/** A flow's counters (orig packets and bytes, reply packets and bytes), swapped when `reversed` (FlowName.reversed). */
function countersOf(f: FlowEntry, reversed: boolean): [number, number, number, number] {
  return reversed ? [f.packetsReply, f.bytesReply, f.packetsOrig, f.bytesOrig] : [f.packetsOrig, f.bytesOrig, f.packetsReply, f.bytesReply];
}

/**
 * The records of a live edge (startEdge): counters from the kernel, the
 * configured interface (`default` when none), the cluster's zone, and
 * intervals closed by the wall clock until finish(). In remote mode pass
 * the remote edge's `joinedFlows(zone)`, so that a connection another edge
 * opened is not counted twice.
 */
export function startLiveRecords(
  config: Pick<EdgeConfig, 'accounting' | 'cluster'>,
  sink: RecordSink,
  maxTracked?: number,
  joinedFlow?: (flow: FlowEntry) => JoinedFlow | undefined,
  externalName?: EdgeRecordsOptions['externalName'],
): EdgeRecords {
  const records = new EdgeRecords({
    sink,
    zone: config.cluster?.zone ?? 0,
    iface: config.accounting.interface ?? 'default',
    intervalSec: config.accounting.intervalSec,
    customer: new CustomerSide(config.accounting.customerNetworks),
    counters: 'kernel',
    ...(maxTracked !== undefined ? { maxTracked } : {}),
    ...(joinedFlow ? { joinedFlow } : {}),
    ...(externalName ? { externalName } : {}),
  });
  records.startClock();
  return records;
}
