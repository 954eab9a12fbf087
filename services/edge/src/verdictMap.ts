import { endpointsOfKey, IPPROTO_TCP } from '@l7mesh/flow';
import type { ElementTarget, FlowTuple } from '@l7mesh/netfilter';

/** A change to one flow's elements: both directions' keys of the canonical flow key. */
export interface FlowChange {
  /** `destroy`: a delete that a missing element does not fail (kernel 6.3+). */
  op: 'add' | 'delete' | 'destroy';
  /** The flow package's canonical key of the flow. */
  key: string;
  target: ElementTarget;
  /** Adds: the elements' expiry. */
  timeoutSec?: number;
}

/** Packets and bytes per direction; the originator is the flow key's lower endpoint. */
export interface DirectionCounters {
  origIsLow: true;
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
}

const noCounts = (): DirectionCounters => ({ origIsLow: true, origPackets: 0, origBytes: 0, replyPackets: 0, replyBytes: 0 });

/** One element to read by key: a flow's in a target's set, or in the live set; `reverse`: the direction from the key's higher endpoint. */
export interface ElementRead {
  key: string;
  target: ElementTarget | 'live';
  reverse: boolean;
}

/** Numbers per read in {@link VerdictMapDriver.read}'s answer: found (1|0), packets, bytes, ms until it expires (-1: never); nfqueue's nftGetElements answers so. */
export const READ_FIELDS = 4;

/** A flow whose elements (both directions) are to go, in its target's set. */
export interface FlowRemoval {
  key: string;
  target: ElementTarget;
}

/** What the map needs of nftables (netlink writes and reads by key in the edge, a fake in unit tests). */
export interface VerdictMapDriver {
  /** Applies the changes in one transaction; throws (with the kernel's error) when any fails, and then applies none. */
  apply(changes: readonly FlowChange[]): void;
  /** Reads elements by key: READ_FIELDS numbers per read, in order (a missing element: found 0). */
  read(reads: readonly ElementRead[]): Float64Array;
  /**
   * Removes the flows' elements where they are (a missing one is no error);
   * when `counted`, answers what each counted at its removal: READ_FIELDS
   * numbers per element, per flow its key's direction then the reverse
   * (found 0: it was not there). Absent where the kernel cannot (before
   * 6.3): the map then reads the elements of ended flows and deletes those
   * it found.
   */
  remove?(removals: readonly FlowRemoval[], counted: boolean): Float64Array | undefined;
}

export interface VerdictMapOptions {
  driver: VerdictMapDriver;
  /** Flows the map may hold (each takes an element per direction). */
  maxFlows: number;
  liveTimeoutSec: number;
  elementTimeoutSec: number;
  sweepSec: number;
  /** Wall clock in seconds. */
  nowSec?: () => number;
  /**
   * A flow's elements were deleted (idle for liveTimeoutSec: `ended`), or
   * re-added (still live): what they counted since the flow first got
   * elements, per direction (orig: from the key's lower endpoint).
   */
  onCounted?: (key: string, counters: DirectionCounters, ended: boolean) => void;
  log?: (line: string) => void;
}

export interface VerdictMapCounters {
  /** Flows given elements, by kind of first element. */
  held: number;
  decided: number;
  /** Of those, flows whose elements the kernel added from a verdict's packet (no netlink transaction). */
  learned: number;
  /** Flows whose elements were missing when a packet of them came back to the queue (the kernel's add failed), added again. */
  repaired: number;
  /** Held flows whose elements were replaced by their verdict's. */
  replaced: number;
  /** Flows whose elements were deleted because they left the live set (idle for liveTimeoutSec); renewing elements (RenewingBook): bookings that lapsed. */
  ended: number;
  /** Decided flows given their elements again: a packet of them came back to the queue after they ended (an idle connection resumed). */
  resumed: number;
  /** Elements of live flows re-added before their expiry. */
  refreshed: number;
  /** Flows whose elements expired before the edge ended them (their counters lost). */
  expired: number;
  /** Flows refused because the map was full: their packets stay queued (and pass). */
  full: number;
  /** nft transactions that failed (each then retried flow by flow), and flows whose update failed alone too. */
  batchFailures: number;
  flowFailures: number;
}

/** Book value: when the flow is to be looked at next (s), times CODE_BITS, plus its elements' target's code. */
const CODE_BITS = 1024;
const HOLD = 0;
const WATCH = 1;
/** learnedFrom's modes: which of a learned flow's elements counted its packet once too often. */
const LEARN_MODES = 4;
const LEARN_BOTH = 0;
const LEARN_ORIG = 1;
const LEARN_REPLY = 2;
/** Flows a sweep looks at per slice (a read of their live elements, then of the live ones' flow elements and a removal of the ended ones'), the event loop free in between. */
const SWEEP_SLICE = 2048;

/**
 * The edge's book of its flow-set elements, in stateless mode with element
 * counters (an edge that publishes flow records): which flows
 * have elements and in which target's set. A flow decided or held in a
 * packet batch gets its elements from the kernel itself, when a packet of
 * it goes back with the verdict's code ({@link carry}). Other changes (a
 * verdict between batches, a replacement, a watch) queue up and go to
 * nftables in one transaction per packet batch ({@link commit}), before
 * the batch's verdicts. Either way the next packet of a held or decided
 * flow already meets its elements and is not queued.
 *
 * A periodic {@link sweep} looks at the flows that are due: it reads their
 * live-set and flow-set elements by key (never a dump: dumping a hash set
 * costs the kernel time quadratic in its size, 33 s of CPU at 600k
 * elements). A flow missing from the live set has had no packet for
 * liveTimeoutSec: its elements are deleted, their counters reported first.
 * A live flow is due again when its live element would expire, and its
 * elements are re-added when they would expire before that: re-adding
 * refreshes an element's timeout only on kernels from 6.12, so the edge
 * never relies on it. Elements without counters renew themselves, and
 * need none of this: an edge without them keeps a RenewingBook instead.
 *
 * One number per flow (a key string and a double in a Map), so the book
 * stays small at hundreds of thousands of flows.
 */
export class VerdictMap {
  readonly counters: VerdictMapCounters = { held: 0, decided: 0, learned: 0, repaired: 0, replaced: 0, ended: 0, resumed: 0, refreshed: 0, expired: 0, full: 0, batchFailures: 0, flowFailures: 0 };
  private readonly book = new Map<string, number>();
  /** Flows changed since the last commit, with the code their elements had in nftables then (-1: none). */
  private readonly pending = new Map<string, number>();
  private readonly targets: ElementTarget[] = ['hold', 'watch'];
  private readonly markCodes = new Map<number, number>();
  private readonly nowSec: () => number;
  /** A flow is first due this long after its elements: when a live element made in its first second would have expired, had no packet come after that. */
  private readonly firstDueSec: number;
  private sweeping = false;
  /**
   * What the flow counted besides its current elements: what its elements
   * had counted before a re-add (a new element starts at zero), and
   * packets in flight when its elements were added (see carry). Only
   * long flows and such flows are here.
   */
  private readonly carried = new Map<string, DirectionCounters>();
  /**
   * Flows whose elements the kernel added from a packet: that packet's
   * length times LEARN_MODES plus which elements counted it once too
   * often (each new element counts it; see countedBefore). Kept only when
   * someone reads the counters.
   */
  private readonly learnedFrom: Map<string, number> | undefined;
  /**
   * Flows decided in the packet batch being handled (until its commit)
   * that had no elements: the edge's own counters at that verdict hold the
   * batch's packets, so the packet that adds the elements, and the flow's
   * other packets of the batch, are counted there already.
   */
  private readonly decidedInBatch = new Set<string>();

  constructor(private readonly options: VerdictMapOptions) {
    this.nowSec = options.nowSec ?? (() => Math.floor(Date.now() / 1000));
    this.firstDueSec = options.liveTimeoutSec + 1;
    this.learnedFrom = options.onCounted ? new Map() : undefined;
  }

  /** Flows with elements (or about to get them). */
  get size(): number {
    return this.book.size;
  }

  /** Whether the flow has (or is about to get) elements. */
  has(key: string): boolean {
    return this.book.has(key);
  }

  /** The flow spent its queueing budget undecided: stop queueing it. */
  hold(key: string): void {
    if (this.book.has(key)) return;
    if (!this.admit()) return;
    this.counters.held++;
    this.set(key, HOLD, undefined);
  }

  /**
   * The flow's verdict: its mark (undefined: none, so only stop queueing),
   * or `watch` for an FTP control connection, which stays queued (the edge
   * marks its packets and reads their announcements). `inBatch`: made in a
   * packet batch (by the edge's own classifier), not arrived between
   * batches (from the cluster).
   */
  decide(key: string, mark: number | undefined, watch: boolean, inBatch = false): void {
    const code = this.codeOfVerdict(mark, watch);
    const had = this.book.get(key);
    if (had !== undefined) {
      if (had % CODE_BITS === code) return;
      this.counters.replaced++;
      // The replaced elements go with what they counted, the learning packet included.
      this.learnedFrom?.delete(key);
    } else {
      if (!this.admit()) return;
      this.counters.decided++;
    }
    this.set(key, code, had);
    if (this.learnedFrom && inBatch && this.pending.get(key) === -1) this.decidedInBatch.add(key);
  }

  /**
   * A packet of a decided flow came back to the queue and the flow has no
   * elements booked: they were deleted when it left the live set and the
   * connection is active again (or the map was full at its verdict, or
   * their update failed). Books its verdict again, so that this packet's
   * {@link carry} adds its elements, which count from this packet.
   * Returns whether it did (false: it has elements, or the map is still
   * full; a full map is counted once, at the verdict).
   */
  resume(key: string, mark: number | undefined, watch: boolean): boolean {
    if (this.book.has(key) || this.book.size >= this.options.maxFlows) return false;
    this.counters.resumed++;
    this.set(key, this.codeOfVerdict(mark, watch), undefined);
    return true;
  }

  /**
   * A packet of the flow goes back to the kernel now, and the after-queue
   * chain adds the flow's elements from its l7 bits (statelessRules): a
   * flow that had none needs no netlink then. Returns the target whose code
   * the packet must carry for that: a mark (the edge's verdict sets it
   * anyway) or `hold`; undefined when the packet's mark must stay as it is
   * (a watch, or a replacement the next commit makes); null when the flow
   * has no elements booked (see {@link resume}). `ipLength`: the packet's
   * length, which the new elements count; `fromLow`: whether it comes from
   * the key's lower endpoint.
   */
  carry(key: string, ipLength: number, fromLow: boolean): ElementTarget | undefined | null {
    const v = this.book.get(key);
    if (v === undefined) return null;
    const code = v % CODE_BITS;
    if (code === WATCH) return undefined;
    const was = this.pending.get(key);
    if (was !== undefined) {
      if (was >= 0) return undefined;
      this.pending.delete(key);
      this.counters.learned++;
      if (this.learnedFrom) {
        // Its own direction's element counted it rightly unless the edge's counters at the verdict hold it too; the other direction's never did.
        const mode = this.decidedInBatch.has(key) ? LEARN_BOTH : fromLow ? LEARN_REPLY : LEARN_ORIG;
        this.learnedFrom.set(key, ipLength * LEARN_MODES + mode);
      }
    } else if (Math.floor(v / CODE_BITS) - this.firstDueSec < this.nowSec() - 1) {
      // Its elements were added two clock seconds ago or more (a whole
      // second at least: a packet in flight at the verdict may cross one
      // clock second, not two), yet a packet of it was queued: they are
      // missing. The kernel's add from a verdict's packet fails when its
      // per-element counters find no memory (atomic per-CPU allocations
      // run out under a burst of new flows): netlink adds them.
      this.counters.repaired++;
      if (this.learnedFrom) {
        // No element counted the packet that was to add them, nor this one:
        // both count on top (the first unless the verdict's counts hold it).
        const learned = this.learnedFrom.get(key);
        this.learnedFrom.delete(key);
        const mode = learned === undefined ? LEARN_BOTH : learned % LEARN_MODES;
        if (mode !== LEARN_BOTH) this.countInFlight(key, (learned! - mode) / LEARN_MODES, mode === LEARN_REPLY);
        this.countInFlight(key, ipLength, fromLow);
      }
      this.pending.set(key, -1);
    } else if (this.learnedFrom && !this.decidedInBatch.has(key)) {
      // Queued before its elements existed (in flight while they were
      // added), after the batch of its verdict: the edge counted it after
      // the verdict and no element did (the after-queue chain's lookup
      // counts nothing). Its counts go on top of the elements'.
      this.countInFlight(key, ipLength, fromLow);
    }
    return this.targets[code];
  }

  private countInFlight(key: string, ipLength: number, fromLow: boolean): void {
    let c = this.carried.get(key);
    if (!c) this.carried.set(key, (c = noCounts()));
    if (fromLow) {
      c.origPackets++;
      c.origBytes += ipLength;
    } else {
      c.replyPackets++;
      c.replyBytes += ipLength;
    }
  }

  /** Sends the queued changes to nftables: one transaction, or flow by flow when it fails. */
  commit(): void {
    this.decidedInBatch.clear();
    if (this.pending.size === 0) return;
    const changes = [...this.pending];
    this.pending.clear();
    const ops: FlowChange[] = [];
    for (const [key, was] of changes) this.opsOf(key, was, ops);
    if (ops.length === 0 || applyBatch(this.options.driver, ops, this.counters)) return;
    // One stale element (expired since it was added) fails the whole transaction: retry each flow alone.
    for (const [key, was] of changes) this.applyOne(key, was);
  }

  /**
   * Looks at the flows that are due (see the class comment), at most
   * SWEEP_SLICE per call of the driver, the event loop free in between.
   * Flows that change meanwhile (a verdict, a commit) are left for later.
   */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const now = this.nowSec();
      const due: string[] = [];
      // forEach, not for-of: the book is walked whole every sweep, and an iterator makes an entry array per flow.
      this.book.forEach((v, key) => {
        if (Math.floor(v / CODE_BITS) <= now && !this.pending.has(key)) due.push(key);
      });
      for (let start = 0; start < due.length; start += SWEEP_SLICE) {
        if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        this.sweepSlice(due.slice(start, start + SWEEP_SLICE));
      }
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * One slice of a sweep: the due flows' live elements first. Live flows
   * get their flow elements read (expiry, counters); ended ones are
   * removed with what they counted (driver.remove), or read and deleted.
   */
  private sweepSlice(keys: readonly string[]): void {
    const o = this.options;
    const flows: string[] = [];
    const values: number[] = [];
    const liveReads: ElementRead[] = [];
    const due = this.nowSec();
    for (const key of keys) {
      const v = this.book.get(key);
      // Changed since the sweep began: a verdict, a commit.
      if (v === undefined || this.pending.has(key) || Math.floor(v / CODE_BITS) > due) continue;
      flows.push(key);
      values.push(v);
      liveReads.push({ key, target: 'live', reverse: false }, { key, target: 'live', reverse: true });
    }
    if (flows.length === 0) return;
    const live = o.driver.read(liveReads);
    const liveMsOf = (i: number) => {
      const r = 2 * i * READ_FIELDS;
      return Math.max(live[r] ? live[r + 3]! : -1, live[r + READ_FIELDS] ? live[r + READ_FIELDS + 3]! : -1);
    };
    const removing = o.driver.remove !== undefined;
    const flowReads: ElementRead[] = [];
    const readOf: number[] = [];
    const removals: FlowRemoval[] = [];
    const removalOf: number[] = [];
    for (let i = 0; i < flows.length; i++) {
      const key = flows[i]!;
      const target = this.targets[values[i]! % CODE_BITS]!;
      if (liveMsOf(i) < 0 && removing) {
        removals.push({ key, target });
        removalOf.push(i);
      } else {
        flowReads.push({ key, target, reverse: false }, { key, target, reverse: true });
        readOf.push(i);
      }
    }
    const got = flowReads.length > 0 ? o.driver.read(flowReads) : undefined;
    const deletes: FlowChange[] = [];
    const now = this.nowSec();
    for (let n = 0; n < readOf.length; n++) {
      const i = readOf[n]!;
      const key = flows[i]!;
      const code = values[i]! % CODE_BITS;
      const r = 2 * n * READ_FIELDS;
      const c = this.counted(key, got!, r);
      if (!c) continue;
      const liveMs = liveMsOf(i);
      if (liveMs < 0) {
        this.end(key, c);
        deletes.push({ op: 'delete', key, target: this.targets[code]! });
        continue;
      }
      // Due again when its live element would expire, were it idle from now.
      const next = now + Math.ceil(liveMs / 1000) + 1;
      const elementMs = Math.min(got![r] ? got![r + 3]! : Infinity, got![r + READ_FIELDS] ? got![r + READ_FIELDS + 3]! : Infinity);
      if (elementMs >= 0 && elementMs < (next - now + 3 * o.sweepSec) * 1000) {
        this.counters.refreshed++;
        o.onCounted?.(key, c, false);
        this.carried.set(key, c);
        this.learnedFrom?.delete(key);
        this.pending.set(key, code);
      }
      this.book.set(key, next * CODE_BITS + code);
    }
    if (removals.length > 0) {
      // Nobody reads the counts: the elements just go (and whether they had expired is not known).
      const removed = o.driver.remove!(removals, o.onCounted !== undefined);
      for (let n = 0; n < removals.length; n++) {
        const key = flows[removalOf[n]!]!;
        if (!removed) {
          this.forget(key);
          this.counters.ended++;
          continue;
        }
        const c = this.counted(key, removed, 2 * n * READ_FIELDS);
        if (c) this.end(key, c);
      }
    }
    if (deletes.length > 0) this.deleteEnded(deletes);
    this.commit();
  }

  /**
   * A flow's counters from its two elements' READ_FIELDS at `got[r]`,
   * added to what it counted before; undefined when neither element was
   * there (expired before the edge ended them: the flow is forgotten).
   */
  private counted(key: string, got: Float64Array, r: number): DirectionCounters | undefined {
    if (!got[r] && !got[r + READ_FIELDS]) {
      this.forget(key);
      this.counters.expired++;
      return undefined;
    }
    const c = this.countedBefore(key);
    c.origPackets += got[r + 1]!;
    c.origBytes += got[r + 2]!;
    c.replyPackets += got[r + READ_FIELDS + 1]!;
    c.replyBytes += got[r + READ_FIELDS + 2]!;
    return c;
  }

  private end(key: string, c: DirectionCounters): void {
    this.forget(key);
    this.counters.ended++;
    this.options.onCounted?.(key, c, true);
  }

  /** Deletes ended flows' elements (kernels without driver.remove): one transaction, or flow by flow when one had expired since it was read. */
  private deleteEnded(deletes: readonly FlowChange[]): void {
    const o = this.options;
    try {
      o.driver.apply(deletes);
    } catch (err) {
      this.counters.batchFailures++;
      for (const change of deletes) {
        try {
          o.driver.apply([change]);
        } catch {
          this.counters.flowFailures++;
        }
      }
      o.log?.(`verdict map: deleting ended flows: ${(err as Error).message}`);
    }
  }

  /** What the flow's elements counted before the current ones (re-adds), less the packet that added them (a learn). */
  private countedBefore(key: string): DirectionCounters {
    const was = this.carried.get(key);
    const c = was ? { ...was } : noCounts();
    const learned = this.learnedFrom?.get(key);
    if (learned !== undefined) {
      const mode = learned % LEARN_MODES;
      const bytes = (learned - mode) / LEARN_MODES;
      if (mode !== LEARN_REPLY) {
        c.origPackets--;
        c.origBytes -= bytes;
      }
      if (mode !== LEARN_ORIG) {
        c.replyPackets--;
        c.replyBytes -= bytes;
      }
    }
    return c;
  }

  private forget(key: string): void {
    this.book.delete(key);
    this.carried.delete(key);
    this.learnedFrom?.delete(key);
    this.decidedInBatch.delete(key);
  }

  private admit(): boolean {
    if (this.book.size < this.options.maxFlows) return true;
    this.counters.full++;
    return false;
  }

  /** Books the flow's target; `had`: its book value before (looked up by the caller). */
  private set(key: string, code: number, had: number | undefined): void {
    if (!this.pending.has(key)) this.pending.set(key, had === undefined ? -1 : had % CODE_BITS);
    this.book.set(key, (this.nowSec() + this.firstDueSec) * CODE_BITS + code);
  }

  /** The code of a verdict's elements: watch, hold (no mark), or its mark's. */
  private codeOfVerdict(mark: number | undefined, watch: boolean): number {
    return watch ? WATCH : mark === undefined ? HOLD : this.codeOf(mark);
  }

  private codeOf(mark: number): number {
    let code = this.markCodes.get(mark);
    if (code === undefined) {
      // Distinct marks are the policy's (a few): far below CODE_BITS.
      code = this.targets.push({ mark }) - 1;
      this.markCodes.set(mark, code);
    }
    return code;
  }

  /** The operations that bring a flow's elements from code `was` (-1: none) to its booked target. */
  private opsOf(key: string, was: number, ops: FlowChange[]): void {
    const v = this.book.get(key);
    if (v === undefined) return;
    if (was >= 0) ops.push({ op: 'delete', key, target: this.targets[was]! });
    ops.push({ op: 'add', key, target: this.targets[v % CODE_BITS]!, timeoutSec: this.options.elementTimeoutSec });
  }

  private applyOne(key: string, was: number): void {
    const ops: FlowChange[] = [];
    this.opsOf(key, was, ops);
    if (ops.length === 0) return;
    try {
      applyFlowAlone(this.options.driver, ops);
    } catch (err) {
      this.counters.flowFailures++;
      this.forget(key);
      if (this.counters.flowFailures <= 10) this.options.log?.(`verdict map: ${describeKey(key)}: ${(err as Error).message}`);
    }
  }
}

/** A commit's changes in one transaction: whether it went through (a failure is counted, and the caller retries flow by flow). */
export function applyBatch(driver: Pick<VerdictMapDriver, 'apply'>, ops: readonly FlowChange[], counters: VerdictMapCounters): boolean {
  try {
    driver.apply(ops);
    return true;
  } catch {
    counters.batchFailures++;
    return false;
  }
}

/**
 * One flow's changes in a transaction of their own, after a batch failed:
 * when they replace elements that expired meanwhile (a delete of a missing
 * element fails), the adds alone. Throws the first error when that fails too.
 */
export function applyFlowAlone(driver: Pick<VerdictMapDriver, 'apply'>, ops: readonly FlowChange[]): void {
  try {
    driver.apply(ops);
  } catch (err) {
    const adds = ops.filter((op) => op.op === 'add');
    if (adds.length === ops.length) throw err;
    try {
      driver.apply(adds);
    } catch {
      throw err;
    }
  }
}

/** Both directions' tuples of a flow key. */
export function tuplesOf(key: string): [FlowTuple, FlowTuple] {
  const e = endpointsOfKey(key, true);
  const base = { family: e.src.includes(':') ? ('ipv6' as const) : ('ipv4' as const), protocol: e.protocol === IPPROTO_TCP ? ('tcp' as const) : ('udp' as const) };
  return [
    { ...base, src: e.src, sport: e.sport, dst: e.dst, dport: e.dport },
    { ...base, src: e.dst, sport: e.dport, dst: e.src, dport: e.sport },
  ];
}

/** A flow key as an operator reads it in a log line. */
export function describeKey(key: string): string {
  const [t] = tuplesOf(key);
  return `${t.protocol} ${t.src}:${t.sport} <-> ${t.dst}:${t.dport}`;
}
