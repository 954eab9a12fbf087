import { IPPROTO_TCP, TcpFlag, type FlowEntry } from '@l7mesh/flow';
import { SegmentFlag, type HeadSegment } from '@l7mesh/wire';

/** A segment waiting for its turn (its payload copied out of the message once it has to wait). */
export interface PendingSegment extends Omit<HeadSegment, 'zone' | 'key' | 'generation'> {
  /** tsSec + tsNsec as one number, for ordering. */
  t: number;
  /** Wall clock (ms) when the worker received it: the hold runs from here. */
  arrivedMs: number;
}

export function pendingOf(s: HeadSegment, arrivedMs: number, copyPayload: boolean): PendingSegment {
  return {
    direction: s.direction,
    counter: s.counter,
    flags: s.flags,
    tcpFlags: s.tcpFlags,
    seq: s.seq,
    ack: s.ack,
    tsSec: s.tsSec,
    tsNsec: s.tsNsec,
    t: s.tsSec + s.tsNsec * 1e-9,
    ipLength: s.ipLength,
    payload: copyPayload ? s.payload.slice() : s.payload,
    arrivedMs,
  };
}

/** One edge that reported a flow: its instance of the flow and what of it was fed. */
export class Reporter {
  /** The next counter (the edge's packet number) to feed; lower ones were fed or skipped. */
  next = 1;
  /** Waiting segments in counter order (a shared empty one until something waits: most flows never wait). */
  queue: PendingSegment[] = NOTHING_WAITS;
  /** answered, watchOnly and opener, in one small integer: a worker keeps one reporter per flow in progress. */
  private bits = WATCH_ONLY;

  /** The verdict went to this edge (for this generation). */
  get answered(): boolean {
    return (this.bits & ANSWERED) !== 0;
  }

  set answered(value: boolean) {
    this.bits = value ? this.bits | ANSWERED : this.bits & ~ANSWERED;
  }

  /**
   * Everything it sent was for the FTP helper only (SegmentFlag.Watched):
   * it decided the flow elsewhere, or gave up on it, and waits for no verdict.
   */
  get watchOnly(): boolean {
    return (this.bits & WATCH_ONLY) !== 0;
  }

  set watchOnly(value: boolean) {
    this.bits = value ? this.bits | WATCH_ONLY : this.bits & ~WATCH_ONLY;
  }

  /**
   * Its segment was the first the flow fed (the opening packet in the
   * merged order): this edge counts the flow (Verdict.opener). Kept when
   * the edge starts a new generation of the tuple: each of its instances
   * is then counted, as classify counts every instance its table makes.
   */
  get opener(): boolean {
    return (this.bits & OPENER) !== 0;
  }

  set opener(value: boolean) {
    this.bits = value ? this.bits | OPENER : this.bits & ~OPENER;
  }

  constructor(
    readonly edge: string,
    public generation: number,
  ) {}

  /** Queues a segment in counter order; false when it is a duplicate (fed, or queued already). */
  insert(s: PendingSegment): boolean {
    if (s.counter < this.next) return false;
    if (this.queue === NOTHING_WAITS) {
      this.queue = [s]; // room for one: most waits are one segment long
      return true;
    }
    const q = this.queue;
    let i = q.length;
    while (i > 0 && q[i - 1]!.counter > s.counter) i--;
    if (i > 0 && q[i - 1]!.counter === s.counter) return false;
    q.splice(i, 0, s);
    return true;
  }
}

const ANSWERED = 1;
const WATCH_ONLY = 2;
const OPENER = 4;
const MAY_BE_FTP_DATA = 1;
const FTP_CONTROL = 2;

/** The reporters of a flow no edge reported yet (never written to). */
const NO_REPORTERS: Reporter[] = [];

/** The queue of a reporter with nothing waiting (never written to). */
const NOTHING_WAITS: PendingSegment[] = [];

/**
 * Segments that may wait per flow and edge: an edge sends at most its
 * budget (maxPackets + 1) before a verdict, plus an FTP control
 * connection's replies; more means something is wrong with that edge.
 */
const MAX_WAITING_PER_REPORTER = 64;

/** Sequence-space comparison (RFC 1982): a is at or before b. */
export function seqLE(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/**
 * What the worker knows of one flow: who reported it, what is waiting, and
 * how far each direction's bytes were fed. The ordering rules live here:
 *
 * - one edge's segments go in that edge's order (its arrival order, as the
 *   kernel appended them, retransmissions included);
 * - a TCP segment that acknowledges bytes of the other direction waits
 *   until those bytes were fed (causal order across directions), unless its
 *   edge saw both directions itself (then its order is the truth);
 * - among segments that may go, the earliest timestamp goes first; one whose
 *   edge did not see both directions also waits until every other live edge
 *   is past its timestamp (their watermarks), since another edge may still
 *   send an earlier segment of the flow. A SYN that opens a connection has
 *   nothing of its flow before it and goes at once, unless an FTP control
 *   connection between the same hosts is in progress: an FTP data
 *   connection's SYN must come after the PORT or PASV reply that announced
 *   it, which may cross another router;
 * - where the flow has several reporters, a segment whose bytes in its
 *   direction were all fed already is a retransmission and is dropped;
 * - nothing waits longer than the hold: then the earliest waiting segment
 *   goes anyway.
 */
export class MergeFlow {
  /** The edges that reported the flow (one, mostly: made with room for exactly one). */
  reporters: Reporter[] = NO_REPORTERS;
  /** The worker's flow entry once a segment was fed (the classifier's). */
  entry: FlowEntry | null = null;
  /** mayBeFtpData and ftpControl, in one small integer. */
  private ftpBits = 0;

  /** An FTP control connection between the same two hosts is in progress (set by the worker). */
  get mayBeFtpData(): boolean {
    return (this.ftpBits & MAY_BE_FTP_DATA) !== 0;
  }

  set mayBeFtpData(value: boolean) {
    this.ftpBits = value ? this.ftpBits | MAY_BE_FTP_DATA : this.ftpBits & ~MAY_BE_FTP_DATA;
  }

  /**
   * An FTP control connection (on an FTP port, or decided `ftp`): fed on
   * after its verdict, as conntrack's helper watches it, for the PORT and
   * PASV replies that announce data connections.
   */
  get ftpControl(): boolean {
    return (this.ftpBits & FTP_CONTROL) !== 0;
  }

  set ftpControl(value: boolean) {
    this.ftpBits = value ? this.ftpBits | FTP_CONTROL : this.ftpBits & ~FTP_CONTROL;
  }
  /** End of the fed sequence space per direction (valid where `dirKnown` has the direction's bit). */
  private dirEnd0 = 0;
  private dirEnd1 = 0;
  private dirKnown = 0;
  constructor(
    readonly zone: number,
    readonly key: string,
    readonly partition: number,
    /**
     * When the first segment arrived, in whole ms since the worker's clock
     * base (see MergingClassifier): verdict latency runs from here. An
     * integer, so that V8 keeps it in the object, not in a box of its own.
     */
    readonly firstArrival: number,
    /** Over every flow of the worker: payload bytes waiting (its memory bound), retransmissions dropped. */
    private readonly pool: { bytes: number; retransmissions: number },
  ) {}

  get protocol(): number {
    return this.key.charCodeAt(0);
  }

  get decided(): boolean {
    return this.entry !== null && this.entry.l7 !== 'unset';
  }

  reporter(edge: string, generation: number): Reporter {
    for (const r of this.reporters) {
      if (r.edge === edge) {
        if (r.generation !== generation) {
          // The edge's table started a new instance of the tuple: its counters start again.
          r.generation = generation;
          r.next = 1;
          r.answered = false;
          r.watchOnly = true;
          this.clear(r);
        }
        return r;
      }
    }
    const r = new Reporter(edge, generation);
    // A literal holds one element exactly; a push onto an empty array would make room for 17.
    if (this.reporters === NO_REPORTERS) this.reporters = [r];
    else this.reporters.push(r);
    return r;
  }

  /** Queues a segment of the reporter's: queued, a duplicate, or past the bound of what may wait per edge. */
  enqueue(r: Reporter, s: PendingSegment): 'queued' | 'duplicate' | 'overflow' {
    if (r.queue.length >= MAX_WAITING_PER_REPORTER) return 'overflow';
    if (!r.insert(s)) return 'duplicate';
    this.pool.bytes += s.payload.length;
    return 'queued';
  }

  /** Drops what waits (the flow was decided, or leaves). */
  clearAll(): void {
    for (const r of this.reporters) this.clear(r);
  }

  private clear(r: Reporter): void {
    for (const s of r.queue) this.pool.bytes -= s.payload.length;
    r.queue = NOTHING_WAITS;
  }

  get waiting(): boolean {
    for (const r of this.reporters) if (r.queue.length > 0) return true;
    return false;
  }

  /** Some edge's segments from before time t wait: a gap in its counters, or a queued one sent before t. */
  waitsBefore(t: number): boolean {
    for (const r of this.reporters) {
      const s = r.queue[0];
      if (s && (s.counter !== r.next || s.t < t)) return true;
    }
    return false;
  }

  /** The segment that may be fed next, with its reporter, or undefined: wait. */
  nextToFeed(nowMs: number, holdMs: number, othersPast: (edge: string, t: number) => boolean): { r: Reporter; s: PendingSegment } | undefined {
    const tcp = this.protocol === IPPROTO_TCP;
    const several = this.reporters.length > 1;
    let best: PendingSegment | undefined;
    let bestR: Reporter | undefined;
    for (const r of this.reporters) {
      let s = r.queue[0];
      while (s && several && tcp && this.isRetransmission(s)) {
        this.drop(r);
        s = r.queue[0];
      }
      if (!s) continue;
      const held = nowMs - s.arrivedMs >= holdMs;
      // A gap in the edge's counters: a lost batch; its re-send fills it, or the hold passes.
      // Past the verdict (or the budget) only an FTP control connection's payload comes, and counters skip.
      if (s.counter !== r.next && !held && !(s.flags & SegmentFlag.Watched) && !this.decided) continue;
      if (tcp && !held && !this.causallyReady(s, r)) continue;
      if (!best || s.t < best.t) {
        best = s;
        bestR = r;
      }
    }
    if (!best || !bestR) return undefined;
    const opening = tcp && !this.mayBeFtpData && (best.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    if (!sawBoth(bestR) && !opening && nowMs - best.arrivedMs < holdMs && !othersPast(bestR.edge, best.t)) {
      return undefined;
    }
    return { r: bestR, s: best };
  }

  /** Takes the reporter's first segment out of its queue and notes what it covered. */
  take(r: Reporter): PendingSegment {
    const s = r.queue.shift()!;
    if (r.queue.length === 0) r.queue = NOTHING_WAITS; // the emptied array keeps its room: let it go
    this.pool.bytes -= s.payload.length;
    this.noteFed(r, s);
    return s;
  }

  /**
   * The segment may be fed the moment it arrives, without waiting in a
   * queue: the common case of a flow one edge sees whole, in order.
   */
  feedsAtOnce(r: Reporter, s: HeadSegment): boolean {
    if (r.queue.length > 0 || s.counter !== r.next || this.reporters.length > 1 || this.decided) return false;
    if (s.flags & SegmentFlag.EdgeSawBoth) return true;
    return this.protocol === IPPROTO_TCP && !this.mayBeFtpData && (s.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
  }

  /** Notes a segment fed: the reporter's next counter, and the sequence space it covered. */
  noteFed(r: Reporter, s: Pick<HeadSegment, 'counter' | 'flags' | 'direction' | 'seq' | 'tcpFlags' | 'payload'>): void {
    // A segment that went past a gap in the counters (FTP watching) leaves
    // the gap open: what fills it later is still fed, not taken for a duplicate.
    if (s.counter === r.next || !(s.flags & SegmentFlag.Watched || this.decided)) r.next = s.counter + 1;
    if (this.protocol !== IPPROTO_TCP) return;
    const end = (s.seq + s.payload.length + (s.tcpFlags & TcpFlag.SYN ? 1 : 0) + (s.tcpFlags & TcpFlag.FIN ? 1 : 0)) | 0;
    const bit = 1 << s.direction;
    if (!(this.dirKnown & bit) || seqLE(this.endOf(s.direction), end)) {
      if (s.direction === 0) this.dirEnd0 = end;
      else this.dirEnd1 = end;
    }
    this.dirKnown |= bit;
  }

  private endOf(direction: number): number {
    return direction === 0 ? this.dirEnd0 : this.dirEnd1;
  }

  private drop(r: Reporter): void {
    const s = r.queue.shift()!;
    if (r.queue.length === 0) r.queue = NOTHING_WAITS;
    this.pool.bytes -= s.payload.length;
    this.pool.retransmissions++;
    r.next = s.counter + 1;
  }

  /** A segment whose payload lies wholly within the direction's bytes already fed. */
  private isRetransmission(s: PendingSegment): boolean {
    if (s.payload.length === 0 || !(this.dirKnown & (1 << s.direction))) return false;
    return seqLE((s.seq + s.payload.length) | 0, this.endOf(s.direction));
  }

  /** The bytes of the other direction that the segment acknowledges were fed (or it acknowledges none). */
  private causallyReady(s: PendingSegment, r: Reporter): boolean {
    if (!(s.tcpFlags & TcpFlag.ACK) || sawBoth(r)) return true;
    const other = 1 - s.direction;
    // A pickup's ACK acknowledges data from before any edge reported the
    // flow: nothing will come to satisfy it, only the watermarks order it.
    if (!(this.dirKnown & (1 << other))) return (s.flags & SegmentFlag.Pickup) !== 0;
    return seqLE(s.ack, this.endOf(other));
  }
}

/**
 * The reporting edge saw both directions of the flow (by its last queued
 * segment: the flag only ever turns on): its own order is the kernel's.
 */
function sawBoth(r: Reporter): boolean {
  const last = r.queue[r.queue.length - 1];
  return last !== undefined && (last.flags & SegmentFlag.EdgeSawBoth) !== 0;
}
