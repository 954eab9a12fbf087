import { FlowIndex, type IndexKeyed } from './flowIndex.js';
import { flowKeyOf } from './flowKey.js';
import { IPPROTO_TCP, TcpFlag, type DecodedPacket } from './packet.js';

/**
 * Idle timeouts in seconds, conntrack's defaults: an unreplied UDP flow lives
 * 30 s, a replied one 120 s; an open TCP connection 5 days; once a FIN or RST
 * was seen, 120 s (TIME_WAIT).
 */
export interface FlowTimeouts {
  udpUnreplied: number;
  udpReplied: number;
  tcpOpen: number;
  tcpClosing: number;
}

export const DEFAULT_TIMEOUTS: FlowTimeouts = { udpUnreplied: 30, udpReplied: 120, tcpOpen: 432_000, tcpClosing: 120 };

/** Why a flow left the table. */
export type FlowEndReason = 'idle' | 'evicted' | 'reopened' | 'end';

/** Activity lists, one per timeout (indexes into FlowTable's lists). */
const TimeoutClass = { UdpUnreplied: 0, UdpReplied: 1, TcpOpen: 2, TcpClosing: 3 } as const;
type TimeoutClass = (typeof TimeoutClass)[keyof typeof TimeoutClass];
const CLASS_COUNT = 4;

/** FlowEntry.flags: bit 0 origIsLow, bit 1 closing, bits 2-3 the timeout class, bits 4-11 the protocol. */
const ORIG_IS_LOW = 1;
const CLOSING = 2;
const CLASS_SHIFT = 2;
const CLASS_MASK = 3 << CLASS_SHIFT;
const PROTOCOL_SHIFT = 4;

/**
 * One tracked connection, conntrack-like: the key, who opened it, counters per
 * direction, timestamps, and the l7 verdict. Endpoints are not stored apart
 * from the key; an IPv4 key is kept as three integers (the index compares
 * them, and the key string is made only when asked for); the booleans, the
 * timeout class and the protocol share one small integer: a busy edge holds
 * hundreds of thousands of flows.
 */
export class FlowEntry implements IndexKeyed {
  // Fields in the order of use, which V8 keeps as their order in the object:
  // what finding the flow of a packet compares (key words, then the
  // protocol in `flags`) and the verdict come first, then what every packet
  // updates, then what only classifying or reporting reads. A packet of a
  // decided flow then touches the first 128 of the entry's 176 bytes rather
  // than bytes all over it: fewer cache lines to miss per packet.
  /** IPv4: the lower address (int32); IPv6: the whole key string. */
  readonly k0: number | string;
  /** IPv4: the higher address (int32). */
  readonly k1: number;
  /** IPv4: the lower endpoint's port << 16 | the higher endpoint's port (int32). */
  readonly k2: number;
  /**
   * origIsLow, closing, the timeout class and the protocol (bits 0-11), and
   * the owner's small integer (bits 16-30, see {@link user}).
   */
  private flags: number;
  /**
   * The verdict and what decided it, as an index into the interned pairs
   * (bits 0-15; 0: unset), and the packet that decided it (bits 16-30; see
   * decidedAtPacket): one small integer, so that the entry has room for
   * {@link userValue} at no cost in bytes.
   */
  private verdict = 0;
  packetsOrig = 0;
  packetsReply = 0;
  bytesOrig = 0;
  bytesReply = 0;
  lastSec: number;
  lastNsec: number;
  prev: FlowEntry | null = null;
  next: FlowEntry | null = null;
  /** headLength (bits 0-16) and queuedTests (bits 17-30). */
  private head = 0;
  /** The head scanner's state handle, -1 when none is open. */
  scanHandle = -1;
  /**
   * A number free for the table's owner (0 in a new entry), beside
   * {@link user}: the stateless edge books the flow's flow-set elements
   * here. The table and the classifier never read it.
   */
  userValue = 0;
  /** Creation sequence number: output order for flows that end together. */
  readonly seq: number;
  readonly firstSec: number;
  readonly firstNsec: number;

  constructor(
    k0: number | string,
    k1: number,
    k2: number,
    protocol: number,
    /** True when the originator (sender of the first packet) is the key's lower endpoint. */
    origIsLow: boolean,
    seq: number,
    firstSec: number,
    firstNsec: number,
  ) {
    this.k0 = k0;
    this.k1 = k1;
    this.k2 = k2;
    const cls = protocol === IPPROTO_TCP ? TimeoutClass.TcpOpen : TimeoutClass.UdpUnreplied;
    this.flags = (origIsLow ? ORIG_IS_LOW : 0) | (cls << CLASS_SHIFT) | (protocol << PROTOCOL_SHIFT);
    this.lastSec = firstSec;
    this.lastNsec = firstNsec;
    this.seq = seq;
    this.firstSec = firstSec;
    this.firstNsec = firstNsec;
  }

  /** Verdict: a protocol name, 'unset' or 'unknown'. */
  get l7(): string {
    return verdictL7[this.verdict & PAIR_MASK]!;
  }

  set l7(l7: string) {
    this.verdict = (this.verdict & ~PAIR_MASK) | verdictOf(l7, this.decidedBy);
  }

  /** The pattern file (or 'inherited', 'packet-limit', 'byte-limit') that decided the verdict. */
  get decidedBy(): string | undefined {
    return verdictBy[this.verdict & PAIR_MASK];
  }

  set decidedBy(by: string | undefined) {
    this.verdict = (this.verdict & ~PAIR_MASK) | verdictOf(this.l7, by);
  }

  /** The packet number (both directions, 1-based) that decided the verdict; 0 before. */
  get decidedAtPacket(): number {
    const at = this.verdict >>> PAIR_BITS;
    return at === DECIDED_AT_ELSEWHERE ? largeDecidedAt.get(this)! : at;
  }

  set decidedAtPacket(packetNo: number) {
    let at = packetNo;
    if (packetNo >= DECIDED_AT_ELSEWHERE) {
      largeDecidedAt.set(this, packetNo);
      at = DECIDED_AT_ELSEWHERE;
    }
    this.verdict = (this.verdict & PAIR_MASK) | (at << PAIR_BITS);
  }

  /** Sets the verdict and what decided it at once. */
  setVerdict(l7: string, by: string | undefined, packetNo: number): void {
    this.verdict = verdictOf(l7, by);
    this.decidedAtPacket = packetNo;
  }

  /** Bytes of l7 head collected so far (at most 65535). */
  get headLength(): number {
    return this.head & HEAD_LENGTH_MASK;
  }

  set headLength(n: number) {
    this.head = (this.head & ~HEAD_LENGTH_MASK) | n;
  }

  /** Tests of this flow queued in the scanner and not yet run (fewer than 2^14). */
  get queuedTests(): number {
    return this.head >>> QUEUED_SHIFT;
  }

  set queuedTests(n: number) {
    this.head = (this.head & HEAD_LENGTH_MASK) | (n << QUEUED_SHIFT);
  }

  /**
   * A small integer (15 bits: 0 to 32767) free for the table's owner, so that
   * it needs no object or map of its own per flow (the edge keeps its mark
   * state here). The table and the classifier never read it.
   */
  get user(): number {
    return this.flags >>> USER_SHIFT;
  }

  set user(value: number) {
    this.flags = (this.flags & FLAGS_MASK) | (value << USER_SHIFT);
  }

  /** The canonical flow key (as flowKeyOf makes it); an IPv4 key is made on each call. */
  get key(): string {
    const k0 = this.k0;
    if (typeof k0 === 'string') return k0;
    const a = k0;
    const b = this.k1;
    const ports = this.k2;
    return String.fromCharCode(
      this.protocol,
      (a >>> 24) & 0xff, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff,
      (ports >>> 24) & 0xff, (ports >>> 16) & 0xff,
      (b >>> 24) & 0xff, (b >>> 16) & 0xff, (b >>> 8) & 0xff, b & 0xff,
      (ports >>> 8) & 0xff, ports & 0xff,
    );
  }

  /** True when the originator (sender of the first packet) is the key's lower endpoint. */
  get origIsLow(): boolean {
    return (this.flags & ORIG_IS_LOW) !== 0;
  }

  /** TCP: a FIN or RST was seen, so a new SYN starts a new connection. */
  get closing(): boolean {
    return (this.flags & CLOSING) !== 0;
  }

  set closing(value: boolean) {
    this.flags = value ? this.flags | CLOSING : this.flags & ~CLOSING;
  }

  get timeoutClass(): TimeoutClass {
    return ((this.flags & CLASS_MASK) >> CLASS_SHIFT) as TimeoutClass;
  }

  set timeoutClass(cls: TimeoutClass) {
    this.flags = (this.flags & ~CLASS_MASK) | (cls << CLASS_SHIFT);
  }

  get protocol(): number {
    return (this.flags >>> PROTOCOL_SHIFT) & 0xff;
  }

  get packets(): number {
    return this.packetsOrig + this.packetsReply;
  }

  get bytes(): number {
    return this.bytesOrig + this.bytesReply;
  }
}

const HEAD_LENGTH_MASK = (1 << 17) - 1;
const QUEUED_SHIFT = 17;
const FLAGS_MASK = 0xffff;
const USER_SHIFT = 16;

/** FlowEntry.verdict: the pair index's bits, below the deciding packet's. */
const PAIR_BITS = 16;
const PAIR_MASK = (1 << PAIR_BITS) - 1;
/** A deciding packet number this large or larger (no budget comes near it) is kept in largeDecidedAt. */
const DECIDED_AT_ELSEWHERE = (1 << (31 - PAIR_BITS)) - 1;
const largeDecidedAt = new WeakMap<FlowEntry, number>();

/**
 * (l7, decidedBy) pairs, interned: a flow keeps one small index instead of
 * two strings. Pairs are few (patterns x ways of deciding, at most
 * 2^PAIR_BITS) and live as long as the process.
 */
const verdictL7: string[] = ['unset'];
const verdictBy: (string | undefined)[] = [undefined];
/** l7 -> decidedBy -> pair index: found without making a string per verdict. */
const verdictIds = new Map<string, Map<string | undefined, number>>([['unset', new Map([[undefined, 0]])]]);

function verdictOf(l7: string, by: string | undefined): number {
  let byIds = verdictIds.get(l7);
  if (byIds === undefined) verdictIds.set(l7, (byIds = new Map()));
  let id = byIds.get(by);
  if (id === undefined) {
    id = verdictL7.length;
    if (id > PAIR_MASK) throw new RangeError(`flow verdicts: more than ${PAIR_MASK} distinct (l7, decidedBy) pairs; adding ${JSON.stringify([l7, by])}`);
    verdictL7.push(l7);
    verdictBy.push(by);
    byIds.set(by, id);
  }
  return id;
}

/** Doubly linked list of flows ordered by last activity (oldest first). */
class ActivityList {
  head: FlowEntry | null = null;
  tail: FlowEntry | null = null;

  append(f: FlowEntry): void {
    f.prev = this.tail;
    f.next = null;
    if (this.tail) this.tail.next = f;
    else this.head = f;
    this.tail = f;
  }

  remove(f: FlowEntry): void {
    if (f.prev) f.prev.next = f.next;
    else this.head = f.next;
    if (f.next) f.next.prev = f.prev;
    else this.tail = f.prev;
    f.prev = f.next = null;
  }
}

/** Length of an IPv4 key string: protocol + 2 x (4 address + 2 port bytes). */
const V4_KEY_LENGTH = 13;
/** Scratch for an IPv4 key as index words (int32): lower addr, higher addr, ports, protocol. */
const words = new Int32Array(4);

function v4Word(addr: Uint8Array): number {
  return ((addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!) >>> 0;
}

function setV4Words(lowAddr: number, highAddr: number, lowPort: number, highPort: number, protocol: number): void {
  words[0] = lowAddr;
  words[1] = highAddr;
  words[2] = (lowPort << 16) | highPort;
  words[3] = protocol;
}

function v4WordsOfKey(key: string): void {
  const c = (i: number) => key.charCodeAt(i);
  setV4Words(((c(1) << 24) | (c(2) << 16) | (c(3) << 8) | c(4)) >>> 0, ((c(7) << 24) | (c(8) << 16) | (c(9) << 8) | c(10)) >>> 0, (c(5) << 8) | c(6), (c(11) << 8) | c(12), c(0));
}

export interface FlowTableOptions {
  timeouts?: Partial<FlowTimeouts>;
  /** Bound on tracked flows; the least recently active is evicted beyond it. */
  maxFlows?: number;
  /** Called for every flow leaving the table, before it is forgotten. */
  onEnd: (flow: FlowEntry, reason: FlowEndReason) => void;
}

/** Result of {@link FlowTable.track}: shared object, valid until the next call. */
export interface TrackResult {
  flow: FlowEntry;
  /** The packet travels from the originator to the responder. */
  isOrig: boolean;
  /** This packet created the flow. */
  created: boolean;
}

/**
 * The flow table: finds or creates the flow of each packet, counts it, keeps
 * flows ordered by activity per timeout class so that expiry only looks at the
 * oldest of each class, and bounds its size.
 */
export class FlowTable {
  private readonly index = new FlowIndex<FlowEntry>();
  /** Flows in the table (every one is in exactly one activity list). */
  private count = 0;
  private readonly lists: ActivityList[] = Array.from({ length: CLASS_COUNT }, () => new ActivityList());
  private readonly timeoutOf: number[];
  private readonly maxFlows: number;
  private readonly onEnd: FlowTableOptions['onEnd'];
  private nextSeq = 0;
  /** The time of the last expire() call, and whether it left expired flows to end. */
  private expiryNow = -Infinity;
  private expiring = false;
  /** Packet time of the last full pass of expireAsOf(). */
  private lastExpirySec = -Infinity;
  /**
   * While drain() reports the flows: those created before this sequence
   * number have been reported, though still in the index and lists (both
   * are emptied at once when it is done).
   */
  private drainedBelow = -1;
  private readonly result: TrackResult = { flow: null as unknown as FlowEntry, isOrig: true, created: false };
  evictions = 0;

  constructor(options: FlowTableOptions) {
    const t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.timeoutOf = [t.udpUnreplied, t.udpReplied, t.tcpOpen, t.tcpClosing];
    this.maxFlows = options.maxFlows ?? 1_000_000;
    this.onEnd = options.onEnd;
  }

  get size(): number {
    return this.count;
  }

  /** An expire() call stopped at its budget: expired flows are left (see {@link expireMore}). */
  get expiryPending(): boolean {
    return this.expiring;
  }

  get(key: string): FlowEntry | undefined {
    let flow: FlowEntry | undefined;
    if (key.length !== V4_KEY_LENGTH) flow = this.index.getV6(key);
    else {
      v4WordsOfKey(key);
      flow = this.index.getV4(words[0]!, words[1]!, words[2]!, words[3]!);
    }
    return flow !== undefined && flow.seq < this.drainedBelow ? undefined : flow;
  }

  /** Counts the packet in its flow (creating it if needed) and returns the flow. */
  track(p: DecodedPacket): TrackResult {
    let flow: FlowEntry | undefined;
    let srcIsLow: boolean;
    let v6Key = '';
    // The IPv4 key as index words (int32); kept here, as ending a flow may reuse the scratch words.
    let k0 = 0;
    let k1 = 0;
    let k2 = 0;
    if (p.ipVersion === 4) {
      const src = v4Word(p.srcAddr);
      const dst = v4Word(p.dstAddr);
      srcIsLow = src < dst || (src === dst && p.srcPort <= p.dstPort);
      if (srcIsLow) {
        k0 = src | 0;
        k1 = dst | 0;
        k2 = (p.srcPort << 16) | p.dstPort;
      } else {
        k0 = dst | 0;
        k1 = src | 0;
        k2 = (p.dstPort << 16) | p.srcPort;
      }
      flow = this.index.getV4(k0, k1, k2, p.protocol);
    } else {
      const k = flowKeyOf(p);
      srcIsLow = k.srcIsLow;
      v6Key = k.key;
      flow = this.index.getV6(v6Key);
    }
    const isSyn = p.protocol === IPPROTO_TCP && (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    if (flow && this.expiring && this.expiryNow - flow.lastSec > this.timeoutOf[flow.timeoutClass]!) {
      // Expired but not ended yet (an expiry left for later by its budget):
      // what an unbounded expire() would have done.
      this.end(flow, 'idle');
      flow = undefined;
    }
    if (flow && flow.closing && isSyn) {
      // A new connection reusing the 5-tuple of one that was closed.
      this.end(flow, 'reopened');
      flow = undefined;
    }
    let created = false;
    if (!flow) {
      if (this.count >= this.maxFlows) this.evictOldest();
      if (p.ipVersion === 4) {
        flow = new FlowEntry(k0, k1, k2, p.protocol, srcIsLow, this.nextSeq++, p.tsSec, p.tsNsec);
        this.index.setV4(flow);
      } else {
        // An IPv6 key string is made once per flow, never per packet.
        flow = new FlowEntry(v6Key, 0, 0, p.protocol, srcIsLow, this.nextSeq++, p.tsSec, p.tsNsec);
        this.index.setV6(v6Key, flow);
      }
      this.count++;
      this.lists[flow.timeoutClass]!.append(flow);
      created = true;
    }
    const isOrig = srcIsLow === flow.origIsLow;
    if (isOrig) {
      flow.packetsOrig++;
      flow.bytesOrig += p.ipLength;
    } else {
      flow.packetsReply++;
      flow.bytesReply += p.ipLength;
    }
    flow.lastSec = p.tsSec;
    flow.lastNsec = p.tsNsec;
    let cls: TimeoutClass = flow.timeoutClass;
    if (p.protocol === IPPROTO_TCP) {
      if (p.tcpFlags & (TcpFlag.FIN | TcpFlag.RST)) {
        flow.closing = true;
        cls = TimeoutClass.TcpClosing;
      }
    } else if (!isOrig) {
      cls = TimeoutClass.UdpReplied;
    }
    // Move to the tail of its (possibly new) activity list.
    this.lists[flow.timeoutClass]!.remove(flow);
    flow.timeoutClass = cls;
    this.lists[cls]!.append(flow);
    const r = this.result;
    r.flow = flow;
    r.isOrig = isOrig;
    r.created = created;
    return r;
  }

  /**
   * Ends every flow idle for longer than its timeout at time `nowSec`, or at
   * most `budget` of them: the rest are left for {@link expireMore} (a burst
   * of flows idling out together then cannot stall the caller). Meanwhile a
   * packet of such a flow ends it first (as `idle`), and a full table ends
   * one of them rather than evict a live flow, so the flows end as with an
   * unbounded call, only later. Returns true when nothing is left.
   */
  expire(nowSec: number, budget = Infinity): boolean {
    this.expiryNow = nowSec;
    return this.expireMore(budget);
  }

  /**
   * Expiry driven by packets: a full pass (at most `budget` flows) once per
   * second of packet time, in between the rest of a pass its budget cut short.
   * Call it before tracking each packet.
   */
  expireAsOf(nowSec: number, budget = Infinity): void {
    if (nowSec - this.lastExpirySec >= 1) {
      this.expire(nowSec, budget);
      this.lastExpirySec = nowSec;
    } else if (this.expiring) {
      this.expireMore(budget);
    }
  }

  /** Continues the last expire() call, ending at most `budget` flows; true when it is done. */
  expireMore(budget = Infinity): boolean {
    const nowSec = this.expiryNow;
    let left = budget;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const list = this.lists[c]!;
      const timeout = this.timeoutOf[c]!;
      while (list.head && nowSec - list.head.lastSec > timeout) {
        if (left <= 0) {
          this.expiring = true;
          return false;
        }
        left--;
        this.end(list.head, 'idle');
      }
    }
    this.expiring = false;
    return true;
  }

  /** Calls `fn` for every flow in the table, in no particular order (it must not change the table). */
  forEach(fn: (flow: FlowEntry) => void): void {
    for (const list of this.lists) for (let f = list.head; f; f = f.next) if (f.seq >= this.drainedBelow) fn(f);
  }

  /** Every flow in the table, in creation order (a snapshot). */
  entries(): FlowEntry[] {
    // Taken from the index's buckets, not along the activity lists: reading
    // an array lets the CPU fetch many entries at once, where following
    // `next` waits for each one (130k cache misses in a row at the end of a
    // capture).
    const found = this.index.all();
    const all: FlowEntry[] = [];
    let low = Infinity;
    let high = -Infinity;
    for (const f of found) {
      if (f.seq < this.drainedBelow) continue;
      all.push(f);
      if (f.seq < low) low = f.seq;
      if (f.seq > high) high = f.seq;
    }
    // Sequence numbers are unique: when they are dense (a drain at the end of
    // a capture), each flow is put in its place instead of sorting them all.
    const span = high - low + 1;
    if (all.length < 64 || span > 4 * all.length) return all.sort((a, b) => a.seq - b.seq);
    const bySeq = new Array<FlowEntry | undefined>(span);
    for (const f of all) bySeq[f.seq - low] = f;
    let n = 0;
    for (let i = 0; i < span; i++) {
      const f = bySeq[i];
      if (f !== undefined) all[n++] = f;
    }
    return all;
  }

  /**
   * Ends every remaining flow, in creation order (end of input). Every flow
   * goes, so none is taken out of its activity list and the index one by
   * one (each costs the cache misses of its neighbours and its bucket's,
   * about a third of a drain): the flows reported so far are only hidden
   * from get(), forEach() and entries(), and both are emptied at the end.
   * As during any report, `onEnd` must not process packets.
   */
  drain(): void {
    if (this.expiring) this.expireMore();
    const all = this.entries();
    try {
      for (const flow of all) {
        this.drainedBelow = flow.seq + 1;
        this.count--;
        this.onEnd(flow, 'end');
      }
    } finally {
      // The links go last: a callback may still walk the lists (forEach).
      for (const flow of all) flow.prev = flow.next = null;
      this.drainedBelow = -1;
      for (const list of this.lists) list.head = list.tail = null;
      this.index.clear();
      this.count = 0;
    }
  }

  private evictOldest(): void {
    // Expired flows left by a budgeted expiry go first, as idle.
    if (this.expiring && !this.expireMore(1)) return;
    if (this.count < this.maxFlows) return;
    let oldest: FlowEntry | null = null;
    for (const list of this.lists) {
      const h = list.head;
      if (h && (!oldest || h.lastSec < oldest.lastSec || (h.lastSec === oldest.lastSec && h.lastNsec < oldest.lastNsec))) {
        oldest = h;
      }
    }
    if (oldest) {
      this.evictions++;
      this.end(oldest, 'evicted');
    }
  }

  /**
   * Ends a flow now, as if its time had come: for an owner that knows more
   * than the packets show (a classifier worker told by an edge that the
   * tuple carries a new connection). A flow no longer in the table is left alone.
   */
  endFlow(flow: FlowEntry, reason: FlowEndReason): void {
    if (this.get(flow.key) === flow) this.end(flow, reason);
  }

  private end(flow: FlowEntry, reason: FlowEndReason): void {
    this.lists[flow.timeoutClass]!.remove(flow);
    const k0 = flow.k0;
    if (typeof k0 === 'string') this.index.deleteV6(k0);
    else this.index.deleteV4(k0, flow.k1, flow.k2, flow.protocol);
    this.count--;
    this.onEnd(flow, reason);
  }
}
