import { FlowIndex } from './flowIndex.js';
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

/**
 * One tracked connection, conntrack-like: the key, who opened it, counters per
 * direction, timestamps, and the l7 verdict. Endpoints are not stored apart
 * from the key (the key already holds their bytes), to keep a flow small.
 */
export class FlowEntry {
  /** Verdict: a protocol name, 'unset' or 'unknown'. */
  l7 = 'unset';
  /** The pattern file (or 'inherited', 'packet-limit', 'byte-limit') that decided the verdict. */
  decidedBy: string | undefined = undefined;
  /** The packet number (both directions, 1-based) that decided the verdict. */
  decidedAtPacket = 0;
  /** Bytes of l7 head collected so far. */
  headLength = 0;
  /** The head scanner's state handle, -1 when none is open. */
  scanHandle = -1;
  /** Tests of this flow queued in the scanner and not yet run. */
  queuedTests = 0;
  packetsOrig = 0;
  packetsReply = 0;
  bytesOrig = 0;
  bytesReply = 0;
  lastSec: number;
  lastNsec: number;
  /** TCP: a FIN or RST was seen, so a new SYN starts a new connection. */
  closing = false;
  /** Parent connection's key for an expected child (FTP data), else undefined. */
  parentKey: string | undefined = undefined;
  timeoutClass: TimeoutClass;
  prev: FlowEntry | null = null;
  next: FlowEntry | null = null;

  constructor(
    readonly key: string,
    /** True when the originator (sender of the first packet) is the key's lower endpoint. */
    readonly origIsLow: boolean,
    /** Creation sequence number: output order for flows that end together. */
    readonly seq: number,
    readonly firstSec: number,
    readonly firstNsec: number,
  ) {
    this.lastSec = firstSec;
    this.lastNsec = firstNsec;
    this.timeoutClass = key.charCodeAt(0) === IPPROTO_TCP ? TimeoutClass.TcpOpen : TimeoutClass.UdpUnreplied;
  }

  get protocol(): number {
    return this.key.charCodeAt(0);
  }

  get packets(): number {
    return this.packetsOrig + this.packetsReply;
  }

  get bytes(): number {
    return this.bytesOrig + this.bytesReply;
  }
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
/** Scratch for an IPv4 key as index words: lower addr, higher addr, ports, protocol. */
const words = new Uint32Array(4);

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
  /** Every flow in creation order, for drain() (a Set keeps insertion order). */
  private readonly flows = new Set<FlowEntry>();
  private readonly lists: ActivityList[] = Array.from({ length: CLASS_COUNT }, () => new ActivityList());
  private readonly timeoutOf: number[];
  private readonly maxFlows: number;
  private readonly onEnd: FlowTableOptions['onEnd'];
  private nextSeq = 0;
  private readonly result: TrackResult = { flow: null as unknown as FlowEntry, isOrig: true, created: false };
  evictions = 0;

  constructor(options: FlowTableOptions) {
    const t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.timeoutOf = [t.udpUnreplied, t.udpReplied, t.tcpOpen, t.tcpClosing];
    this.maxFlows = options.maxFlows ?? 1_000_000;
    this.onEnd = options.onEnd;
  }

  get size(): number {
    return this.flows.size;
  }

  get(key: string): FlowEntry | undefined {
    if (key.length !== V4_KEY_LENGTH) return this.index.getV6(key);
    v4WordsOfKey(key);
    return this.index.getV4(words[0]!, words[1]!, words[2]!, words[3]!);
  }

  /** Counts the packet in its flow (creating it if needed) and returns the flow. */
  track(p: DecodedPacket): TrackResult {
    let flow: FlowEntry | undefined;
    let srcIsLow: boolean;
    let v6Key = '';
    if (p.ipVersion === 4) {
      const src = v4Word(p.srcAddr);
      const dst = v4Word(p.dstAddr);
      srcIsLow = src < dst || (src === dst && p.srcPort <= p.dstPort);
      if (srcIsLow) setV4Words(src, dst, p.srcPort, p.dstPort, p.protocol);
      else setV4Words(dst, src, p.dstPort, p.srcPort, p.protocol);
      flow = this.index.getV4(words[0]!, words[1]!, words[2]!, words[3]!);
    } else {
      const k = flowKeyOf(p);
      srcIsLow = k.srcIsLow;
      v6Key = k.key;
      flow = this.index.getV6(v6Key);
    }
    const isSyn = p.protocol === IPPROTO_TCP && (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    if (flow && flow.closing && isSyn) {
      // A new connection reusing the 5-tuple of one that was closed.
      this.end(flow, 'reopened');
      flow = undefined;
    }
    let created = false;
    if (!flow) {
      if (this.flows.size >= this.maxFlows) this.evictOldest();
      // The key string is made once per flow, never per packet.
      flow = new FlowEntry(p.ipVersion === 4 ? flowKeyOf(p).key : v6Key, srcIsLow, this.nextSeq++, p.tsSec, p.tsNsec);
      if (p.ipVersion === 4) {
        // evictOldest() may have reused the scratch words: set them again.
        v4WordsOfKey(flow.key);
        this.index.setV4(words[0]!, words[1]!, words[2]!, words[3]!, flow);
      } else {
        this.index.setV6(v6Key, flow);
      }
      this.flows.add(flow);
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

  /** Ends every flow idle for longer than its timeout at time `nowSec`. */
  expire(nowSec: number): void {
    for (let c = 0; c < CLASS_COUNT; c++) {
      const list = this.lists[c]!;
      const timeout = this.timeoutOf[c]!;
      while (list.head && nowSec - list.head.lastSec > timeout) this.end(list.head, 'idle');
    }
  }

  /** Ends every remaining flow, in creation order (end of input). */
  drain(): void {
    for (const flow of this.flows) this.end(flow, 'end');
  }

  private evictOldest(): void {
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

  private end(flow: FlowEntry, reason: FlowEndReason): void {
    this.lists[flow.timeoutClass]!.remove(flow);
    if (flow.key.length === V4_KEY_LENGTH) {
      v4WordsOfKey(flow.key);
      this.index.deleteV4(words[0]!, words[1]!, words[2]!, words[3]!);
    } else {
      this.index.deleteV6(flow.key);
    }
    this.flows.delete(flow);
    this.onEnd(flow, reason);
  }
}
