import type { FlowEntry } from '@l7mesh/flow';
import type { ElementTarget } from '@l7mesh/netfilter';
import { applyBatch, applyFlowAlone, describeKey, type FlowChange, type VerdictMapCounters, type VerdictMapDriver } from './verdictMap.js';

export interface RenewingBookOptions {
  driver: Pick<VerdictMapDriver, 'apply'>;
  /** Flows the sets may hold (each takes an element per direction). */
  maxFlows: number;
  liveTimeoutSec: number;
  /** Wall clock in seconds. */
  nowSec?: () => number;
  log?: (line: string) => void;
}

/**
 * FlowEntry.userValue of a booked flow: ((due + 1) * 4 + change) * CODE_BITS
 * + code, where due is the clock second (modulo DUE_RANGE) at which the
 * booking lapses, change says what the next commit owes the kernel, and
 * code is the elements' target. 0: no booking. Every part is small, so
 * the value stays a small integer, which V8 keeps in the entry itself.
 */
const CODE_BITS = 512;
const CHANGES = 4;
const NO_CHANGE = 0;
/** Elements to add (none before): the next packet that goes back with the code adds them, else the commit. */
const CHANGE_ADD = 1;
/** Elements to replace: the commit deletes the old ones first. */
const CHANGE_REPLACE = 2;
/** Dues are kept modulo this many seconds (6 days) and compared within half of it. */
const DUE_RANGE = 1 << 19;
const HOLD = 0;
const WATCH = 1;

/**
 * The book of a stateless edge whose flow-set elements renew themselves
 * (no element counters: netfilter's statelessElementsRenew): the kernel
 * keeps a live flow's elements and lets an idle flow's expire, so the edge
 * never reads or removes them. It only needs, for the flows it sees, which
 * target their elements have, and how many flows may have elements (the
 * sets' size limit). Unlike {@link VerdictMap}, it keeps no map: a flow's
 * booking lives in its flow-table entry (FlowEntry.userValue), which the
 * packet path holds anyway, and a count of bookings per due second makes
 * the total. A booking lapses when its elements would have expired had
 * the flow had no packet since (liveTimeout and a second after it was
 * made): a packet of the flow that comes back to the queue after that
 * books it again (see {@link resume}).
 *
 * A flow that leaves the flow table takes its booking along; its count
 * stays until the booking lapses. A packet of it queued later starts a new
 * entry, which books the flow again: a packet is queued only when the
 * flow's elements are gone or watched, and a watched flow is booked alike.
 */
export class RenewingBook {
  readonly counters: VerdictMapCounters = { held: 0, decided: 0, learned: 0, repaired: 0, replaced: 0, ended: 0, resumed: 0, refreshed: 0, expired: 0, full: 0, batchFailures: 0, flowFailures: 0 };
  private readonly targets: ElementTarget[] = ['hold', 'watch'];
  private readonly markCodes = new Map<number, number>();
  private readonly nowSec: () => number;
  /** A booking lapses this long after it was made. */
  private readonly lapseSec: number;
  /** Bookings per due second (index: due modulo its length), and their total. */
  private readonly dueCounts: Uint32Array;
  private booked = 0;
  /** The last second whose lapsed bookings left the total. */
  private countedTo: number;
  /**
   * Flows that owe the kernel a change, with their target's code then (-1:
   * none), until the commit; the first `pendingCount` entries (the lists
   * keep their room between commits). A flow may appear twice: its last
   * entry holds.
   */
  private readonly pendingFlows: (FlowEntry | null)[] = [];
  private readonly pendingWas: number[] = [];
  private pendingCount = 0;

  constructor(private readonly options: RenewingBookOptions) {
    this.nowSec = options.nowSec ?? (() => Math.floor(Date.now() / 1000));
    this.lapseSec = options.liveTimeoutSec + 1;
    this.dueCounts = new Uint32Array(this.lapseSec + 2);
    this.countedTo = this.nowSec();
  }

  /** Flows booked (with elements, or about to get them). */
  get size(): number {
    this.countLapsed();
    return this.booked;
  }

  /** Whether the flow is booked (has, or is about to get, elements). */
  has(flow: FlowEntry): boolean {
    return this.live(flow) !== 0;
  }

  /** The flow spent its queueing budget undecided: stop queueing it. */
  hold(flow: FlowEntry): void {
    if (this.live(flow) !== 0 || !this.admit()) return;
    this.counters.held++;
    this.set(flow, HOLD, 0);
  }

  /** The flow's verdict (see VerdictMap.decide; `inBatch` is of no matter here: nothing is counted). */
  decide(flow: FlowEntry, mark: number | undefined, watch: boolean): void {
    const code = this.codeOfVerdict(mark, watch);
    const had = this.live(flow);
    if (had !== 0) {
      if (had % CODE_BITS === code) return;
      this.counters.replaced++;
    } else {
      if (!this.admit()) return;
      this.counters.decided++;
    }
    this.set(flow, code, had);
  }

  /** A packet of a decided flow without a booking came back to the queue: books it again (see VerdictMap.resume). */
  resume(flow: FlowEntry, mark: number | undefined, watch: boolean): boolean {
    if (this.live(flow) !== 0 || this.size >= this.options.maxFlows) return false;
    this.counters.resumed++;
    this.set(flow, this.codeOfVerdict(mark, watch), 0);
    return true;
  }

  /** As VerdictMap.carry: the target whose code a packet of the flow must go back with, undefined to leave its mark, null when it is not booked. */
  carry(flow: FlowEntry): ElementTarget | undefined | null {
    const v = flow.userValue;
    // As live(), with the clock read once: the repair check below needs the same reading.
    const untilDue = v === 0 ? 0 : this.untilDue(v);
    if (untilDue <= 0) return null;
    const code = v % CODE_BITS;
    if (code === WATCH) return undefined;
    const change = changeOf(v);
    if (change === CHANGE_REPLACE) return undefined;
    if (change === CHANGE_ADD) {
      flow.userValue = v - CHANGE_ADD * CODE_BITS;
      this.counters.learned++;
    } else if (untilDue < this.lapseSec - 1) {
      // Booked two clock seconds ago or more, yet queued: the kernel's add from the verdict's packet failed (a full set). Netlink adds them too.
      this.counters.repaired++;
      flow.userValue = v + CHANGE_ADD * CODE_BITS;
      this.owe(flow, -1);
    }
    return this.targets[code];
  }

  /** Sends the owed changes to nftables: one transaction, or flow by flow when it fails. */
  commit(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingCount = 0;
    const flows = this.pendingFlows;
    const was = this.pendingWas;
    // Most owed changes were carried by a packet of the batch (learned): nothing is sent for those.
    let ops: FlowChange[] | undefined;
    const changed: FlowEntry[] = [];
    const changedWas: number[] = [];
    // Last entries first: a flow's last entry has the code its elements have now.
    for (let i = n - 1; i >= 0; i--) {
      const flow = flows[i]!;
      flows[i] = null; // no ended flow kept alive by the list's room
      const v = flow.userValue;
      if (v === 0 || changeOf(v) === NO_CHANGE) continue;
      flow.userValue = v - changeOf(v) * CODE_BITS;
      changed.push(flow);
      changedWas.push(was[i]!);
      this.opsOf(flow.key, was[i]!, v % CODE_BITS, (ops ??= []));
    }
    if (!ops || applyBatch(this.options.driver, ops, this.counters)) return;
    // An old element that expired since fails the whole transaction: retry each flow alone.
    for (let i = 0; i < changed.length; i++) this.applyOne(changed[i]!, changedWas[i]!);
  }

  /** Notes that the flow owes the kernel a change; `was`: its target's code before (-1: none). */
  private owe(flow: FlowEntry, was: number): void {
    const i = this.pendingCount++;
    this.pendingFlows[i] = flow;
    this.pendingWas[i] = was;
  }

  /** Takes lapsed bookings off the total (the kernel lets their elements expire by itself). */
  sweep(): Promise<void> {
    this.countLapsed();
    return Promise.resolve();
  }

  /** The flow's booking, 0 when it has none or it lapsed. */
  private live(flow: FlowEntry): number {
    const v = flow.userValue;
    return v !== 0 && this.untilDue(v) > 0 ? v : 0;
  }

  /** Seconds from now until the booking `v` lapses (0 or less: lapsed). */
  private untilDue(v: number): number {
    const d = (Math.floor(v / (CHANGES * CODE_BITS)) - 1 - this.nowSec()) % DUE_RANGE;
    // Within half the range either way: a booking is never older than that while its flow is in the table.
    return d >= DUE_RANGE / 2 ? d - DUE_RANGE : d < -DUE_RANGE / 2 ? d + DUE_RANGE : d;
  }

  private countLapsed(): void {
    const now = this.nowSec();
    // After a long pause (or a clock step) every bucket has lapsed.
    if (now - this.countedTo >= this.dueCounts.length) {
      this.counters.ended += this.booked;
      this.booked = 0;
      this.dueCounts.fill(0);
    } else {
      for (let s = this.countedTo + 1; s <= now; s++) {
        const i = s % this.dueCounts.length;
        this.booked -= this.dueCounts[i]!;
        this.counters.ended += this.dueCounts[i]!;
        this.dueCounts[i] = 0;
      }
    }
    if (now > this.countedTo) this.countedTo = now;
  }

  private admit(): boolean {
    if (this.size < this.options.maxFlows) return true;
    this.counters.full++;
    return false;
  }

  /** Books the flow's target; `had`: its live booking before (0: none). */
  private set(flow: FlowEntry, code: number, had: number): void {
    this.countLapsed();
    const now = this.nowSec();
    const due = now + this.lapseSec;
    if (had !== 0) this.dueCounts[(now + this.untilDue(had)) % this.dueCounts.length]!--;
    else this.booked++;
    this.dueCounts[due % this.dueCounts.length]!++;
    let change = had === 0 ? NO_CHANGE : changeOf(had);
    if (change === NO_CHANGE) {
      // The kernel has the old code's elements, or none: what the commit owes it.
      change = had === 0 ? CHANGE_ADD : CHANGE_REPLACE;
      this.owe(flow, had === 0 ? -1 : had % CODE_BITS);
    }
    flow.userValue = (((due % DUE_RANGE) + 1) * CHANGES + change) * CODE_BITS + code;
  }

  private forget(flow: FlowEntry): void {
    const v = this.live(flow);
    flow.userValue = 0;
    if (v === 0) return;
    this.dueCounts[(this.nowSec() + this.untilDue(v)) % this.dueCounts.length]!--;
    this.booked--;
  }

  private codeOfVerdict(mark: number | undefined, watch: boolean): number {
    if (watch) return WATCH;
    if (mark === undefined) return HOLD;
    let code = this.markCodes.get(mark);
    if (code === undefined) {
      // Distinct marks are the policy's (a few): far below CODE_BITS.
      code = this.targets.push({ mark }) - 1;
      if (code >= CODE_BITS) throw new Error(`stateless book: more than ${CODE_BITS - 2} distinct marks`);
      this.markCodes.set(mark, code);
    }
    return code;
  }

  /** The operations that bring a flow's elements from code `was` (-1: none) to `code`'s target. Renewing elements take their set's timeout. */
  private opsOf(key: string, was: number, code: number, ops: FlowChange[]): void {
    if (was >= 0) ops.push({ op: 'delete', key, target: this.targets[was]! });
    ops.push({ op: 'add', key, target: this.targets[code]! });
  }

  private applyOne(flow: FlowEntry, was: number): void {
    const key = flow.key;
    const ops: FlowChange[] = [];
    this.opsOf(key, was, flow.userValue % CODE_BITS, ops);
    try {
      applyFlowAlone(this.options.driver, ops);
    } catch (err) {
      this.counters.flowFailures++;
      this.forget(flow);
      if (this.counters.flowFailures <= 10) this.options.log?.(`stateless book: ${describeKey(key)}: ${(err as Error).message}`);
    }
  }
}

function changeOf(v: number): number {
  return Math.floor(v / CODE_BITS) % CHANGES;
}
