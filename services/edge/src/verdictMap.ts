import { endpointsOfKey, flowKeyOfEndpoints, IPPROTO_TCP, IPPROTO_UDP } from '@l7mesh/flow';
import type { ElementTarget, FlowTuple } from '@l7mesh/netfilter';

/** A change to one flow's elements: both directions' keys of the canonical flow key. */
export interface FlowChange {
  op: 'add' | 'delete';
  /** The flow package's canonical key of the flow. */
  key: string;
  target: ElementTarget;
  /** Adds: the elements' expiry. */
  timeoutSec?: number;
}

/** A flow-set element with its counters (the packets that matched it). */
export interface FlowElement {
  key: FlowTuple;
  target: ElementTarget;
  packets: number;
  bytes: number;
}

/** Packets and bytes per direction; the originator is the flow key's lower endpoint. */
export interface DirectionCounters {
  origIsLow: true;
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
}

/** What the map needs of nftables (libnftables and a netlink dump in the edge, a fake in unit tests). */
export interface VerdictMapDriver {
  /** Applies the changes in one transaction; throws (with the kernel's error) when any fails, and then applies none. */
  apply(changes: readonly FlowChange[]): void;
  /** The tuples in the live sets (refreshed by every packet of a flow that has elements). */
  live(): Promise<FlowTuple[]>;
  /** Every element of the flow sets, with counters. */
  elements(): Promise<FlowElement[]>;
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
   * A flow's elements were deleted (gone from the live sets: `ended`), or
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
  /** Held flows whose elements were replaced by their verdict's. */
  replaced: number;
  /** Flows whose elements were deleted because they left the live set. */
  ended: number;
  /** Elements of live flows re-added before their expiry. */
  refreshed: number;
  /** Flows whose elements expired before the edge ended them (an element an earlier sweep missed). */
  expired: number;
  /** Flows refused because the map was full: their packets stay queued (and pass). */
  full: number;
  /** nft transactions that failed (each then retried flow by flow), and flows whose update failed alone too. */
  batchFailures: number;
  flowFailures: number;
}

/** Book value: when the elements were (re-)added (s), times CODE_BITS, plus their target's code. */
const CODE_BITS = 1024;
const HOLD = 0;
const WATCH = 1;

/**
 * The edge's book of its flow-set elements, in stateless mode: which flows
 * have elements and in which target's set. Changes queue up and go to
 * nftables in one transaction per packet batch ({@link commit}), before
 * the batch's verdicts, so the next packet of a held or decided flow
 * already meets its element and is not queued. A periodic {@link sweep}
 * reads the live sets and deletes the elements of flows gone from them
 * (their counters read first), and re-adds the elements of live flows
 * before they expire: re-adding refreshes an element's timeout only on
 * kernels from 6.12, so the edge never relies on it.
 *
 * One number per flow (a key string and a double in a Map), so the book
 * stays small at hundreds of thousands of flows.
 */
export class VerdictMap {
  readonly counters: VerdictMapCounters = { held: 0, decided: 0, replaced: 0, ended: 0, refreshed: 0, expired: 0, full: 0, batchFailures: 0, flowFailures: 0 };
  private readonly book = new Map<string, number>();
  /** Flows changed since the last commit, with the code their elements had in nftables then (-1: none). */
  private readonly pending = new Map<string, number>();
  private readonly targets: ElementTarget[] = ['hold', 'watch'];
  private readonly markCodes = new Map<number, number>();
  private readonly nowSec: () => number;
  private sweeping = false;
  /** While the flow sets are dumped, commits wait: a commit to a set makes its dump start over. */
  private dumping = false;
  /** Flows missing from the last sweep's live sets: a dump is no snapshot, so a flow ends only when missing from two. */
  private absent = new Set<string>();
  /** What the elements of re-added flows had counted before (a new element starts at zero): only long flows are here. */
  private readonly carried = new Map<string, DirectionCounters>();

  constructor(private readonly options: VerdictMapOptions) {
    this.nowSec = options.nowSec ?? (() => Math.floor(Date.now() / 1000));
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
    this.set(key, HOLD);
  }

  /**
   * The flow's verdict: its mark (undefined: none, so only stop queueing),
   * or `watch` for an FTP control connection, which stays queued (the edge
   * marks its packets and reads their announcements).
   */
  decide(key: string, mark: number | undefined, watch: boolean): void {
    const code = watch ? WATCH : mark === undefined ? HOLD : this.codeOf(mark);
    const had = this.book.get(key);
    if (had !== undefined) {
      if (had % CODE_BITS === code) return;
      this.counters.replaced++;
    } else {
      if (!this.admit()) return;
      this.counters.decided++;
    }
    this.set(key, code);
  }

  /** Sends the queued changes to nftables: one transaction, or flow by flow when it fails. */
  commit(): void {
    if (this.pending.size === 0 || this.dumping) return;
    const changes = [...this.pending];
    this.pending.clear();
    const ops: FlowChange[] = [];
    for (const [key, was] of changes) this.opsOf(key, was, ops);
    if (ops.length === 0) return;
    try {
      this.options.driver.apply(ops);
      return;
    } catch {
      this.counters.batchFailures++;
    }
    // One stale element (expired since it was added) fails the whole transaction: retry each flow alone.
    for (const [key, was] of changes) this.applyOne(key, was);
  }

  /**
   * Reads the live sets: deletes the elements of flows gone from them
   * (reading their counters first), and re-adds those of live flows that
   * would expire before the next sweeps. The reads are netlink dumps that
   * run off the event loop; flows that change meanwhile are left for the
   * next sweep.
   */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.sweepOnce();
    } finally {
      this.sweeping = false;
    }
  }

  private async sweepOnce(): Promise<void> {
    const o = this.options;
    const live = new Set<string>();
    for (const t of await o.driver.live()) live.add(keyOfTuple(t));
    const now = this.nowSec();
    const ending = new Map<string, number>();
    const refreshing = new Map<string, number>();
    const absent = new Set<string>();
    for (const [key, v] of this.book) {
      if (this.pending.has(key)) continue;
      const age = now - Math.floor(v / CODE_BITS);
      if (live.has(key)) {
        if (age >= o.elementTimeoutSec - 3 * o.sweepSec) refreshing.set(key, v);
      } else if (age >= o.liveTimeoutSec) {
        // Added a live timeout ago and missing from the live sets (twice): no packet of it since, or its elements expired.
        if (this.absent.has(key)) ending.set(key, v);
        else absent.add(key);
      }
    }
    this.absent = absent;
    if (ending.size === 0 && refreshing.size === 0) return;
    const counted = new Map<string, DirectionCounters>();
    this.dumping = true;
    let elements: FlowElement[];
    try {
      elements = await o.driver.elements();
    } finally {
      this.dumping = false;
    }
    for (const e of elements) {
      const key = keyOfTuple(e.key);
      let c = counted.get(key);
      if (!c) counted.set(key, (c = { ...(this.carried.get(key) ?? { origIsLow: true, origPackets: 0, origBytes: 0, replyPackets: 0, replyBytes: 0 }) }));
      const low = endpointsOfKey(key, true);
      if (e.key.src === low.src && e.key.sport === low.sport) {
        c.origPackets += e.packets;
        c.origBytes += e.bytes;
      } else {
        c.replyPackets += e.packets;
        c.replyBytes += e.bytes;
      }
    }
    // What changed while the dumps ran (a verdict, a commit) is the next sweep's.
    const unchanged = (key: string, v: number) => this.book.get(key) === v && !this.pending.has(key);
    const deletes: FlowChange[] = [];
    for (const [key, v] of ending) {
      if (!unchanged(key, v)) continue;
      const c = counted.get(key);
      this.book.delete(key);
      this.carried.delete(key);
      if (!c) {
        this.counters.expired++;
        continue;
      }
      this.counters.ended++;
      o.onCounted?.(key, c, true);
      const target = this.targets[v % CODE_BITS]!;
      deletes.push({ op: 'delete', key, target });
    }
    for (const [key, v] of refreshing) {
      if (!unchanged(key, v)) continue;
      const c = counted.get(key);
      if (!c) {
        // Expired already: the flow's next packets are queued again and picked up.
        this.book.delete(key);
        this.carried.delete(key);
        this.counters.expired++;
        continue;
      }
      this.counters.refreshed++;
      o.onCounted?.(key, c, false);
      this.carried.set(key, c);
      const code = v % CODE_BITS;
      this.book.set(key, now * CODE_BITS + code);
      this.pending.set(key, code);
    }
    if (deletes.length > 0) {
      try {
        o.driver.apply(deletes);
      } catch (err) {
        // An element that expired since the dump: the rest go one flow at a time.
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
    this.commit();
  }

  private admit(): boolean {
    if (this.book.size < this.options.maxFlows) return true;
    this.counters.full++;
    return false;
  }

  private set(key: string, code: number): void {
    if (!this.pending.has(key)) {
      const had = this.book.get(key);
      this.pending.set(key, had === undefined ? -1 : had % CODE_BITS);
    }
    this.book.set(key, this.nowSec() * CODE_BITS + code);
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
      this.options.driver.apply(ops);
      return;
    } catch (err) {
      if (was >= 0) {
        // The old elements expired (a delete of a missing element fails): add only.
        try {
          this.options.driver.apply(ops.filter((op) => op.op === 'add'));
          return;
        } catch {
          // Reported below.
        }
      }
      this.counters.flowFailures++;
      this.book.delete(key);
      this.carried.delete(key);
      if (this.counters.flowFailures <= 10) this.options.log?.(`verdict map: ${describeKey(key)}: ${(err as Error).message}`);
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

function keyOfTuple(t: FlowTuple): string {
  return flowKeyOfEndpoints({ protocol: t.protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP, src: t.src, sport: t.sport, dst: t.dst, dport: t.dport });
}

function describeKey(key: string): string {
  const [t] = tuplesOf(key);
  return `${t.protocol} ${t.src}:${t.sport} <-> ${t.dst}:${t.dport}`;
}
