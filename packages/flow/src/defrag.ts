/** Largest fragmentable payload: the 16-bit IP length bounds every reassembled datagram. */
const MAX_PAYLOAD = 65535;
/** A hole list longer than this means a fragment flood; the queue is dropped. */
const MAX_HOLES = 64;

/** Counter the reassembler reports discarded fragments into (the decoder's stats). */
export interface FragmentDropCounter {
  fragmentsDropped: number;
}

class FragmentQueue {
  /** Reassembly buffer for the fragmentable part, grown as fragments arrive. */
  buf = new Uint8Array(2048);
  /** Unfilled ranges as flat [start, end) pairs (RFC 815); the last ends at MAX_PAYLOAD + 1 until the final fragment is seen. */
  holes: number[] = [0, MAX_PAYLOAD + 1];
  /** Length of the fragmentable part, known once the last fragment (MF=0) arrives. */
  total = -1;
  maxEnd = 0;
  fragments = 0;
  /** From the offset-0 fragment: header bytes before the fragmentable part, and its first header type. */
  headerLength = -1;
  nextHeader = -1;

  constructor(
    readonly key: string,
    readonly deadline: number,
  ) {}
}

/**
 * IPv4/IPv6 fragment reassembly with RFC 815 hole tracking.
 *
 * Overlaps: the first data received for a byte wins; later fragments only fill
 * holes, and exact duplicates are ignored. Modern Linux instead drops the whole
 * datagram on overlap, but a passive classifier gains nothing from discarding
 * what it saw, and first-wins cannot be steered by a later overlapping fragment.
 * Inconsistent lengths (two different final fragments, data beyond the final
 * end) do drop the queue.
 *
 * Memory is bounded: at most `maxQueues` datagrams are pending (the oldest is
 * evicted), each at most 64 KiB, and a queue expires `timeoutSec` after its
 * first fragment (capture time, like Linux ipfrag_time). Discarded fragments
 * are counted in `drops.fragmentsDropped`.
 */
export class FragmentReassembler {
  /** Capture time at which the oldest queue expires (Infinity when none): a cheap per-packet check. */
  nextDeadline = Infinity;
  /** Set by a completing add(): the offset-0 fragment's header length and first fragmentable header. */
  headerLength = 0;
  nextHeader = 0;
  private readonly queues = new Map<string, FragmentQueue>();

  constructor(
    private readonly maxQueues: number,
    private readonly timeoutSec: number,
    private readonly drops: FragmentDropCounter,
  ) {}

  /** Datagrams currently awaiting fragments. */
  get pending(): number {
    return this.queues.size;
  }

  /**
   * Adds fragment data[start, end) covering [offset, offset + end - start) of the
   * fragmentable part. Returns the reassembled fragmentable part when this
   * fragment completes the datagram, else null. Callers validate lengths
   * (8-byte multiples, MAX_PAYLOAD) first.
   */
  add(
    key: string,
    now: number,
    offset: number,
    more: boolean,
    data: Uint8Array,
    start: number,
    end: number,
    headerLength: number,
    nextHeader: number,
  ): Uint8Array | null {
    if (this.maxQueues <= 0) {
      this.drops.fragmentsDropped++;
      return null;
    }
    if (now >= this.nextDeadline) this.expire(now);
    let q = this.queues.get(key);
    if (q !== undefined && q.deadline <= now) {
      // Expired but not yet swept (capture timestamps can step backwards): start afresh.
      this.drop(q);
      q = undefined;
    }
    if (q === undefined) {
      if (this.queues.size >= this.maxQueues) this.evictOldest();
      q = new FragmentQueue(key, now + this.timeoutSec);
      this.queues.set(key, q);
      if (this.queues.size === 1) this.nextDeadline = q.deadline;
    }
    q.fragments++;
    const fEnd = offset + (end - start);
    if (!more) {
      if ((q.total >= 0 && q.total !== fEnd) || q.maxEnd > fEnd) {
        this.drop(q);
        return null;
      }
      q.total = fEnd;
    } else if (q.total >= 0 && fEnd > q.total) {
      this.drop(q);
      return null;
    }
    if (offset === 0 && q.headerLength < 0) {
      q.headerLength = headerLength;
      q.nextHeader = nextHeader;
    }
    if (!this.fill(q, offset, fEnd, data, start)) {
      this.drop(q);
      return null;
    }
    if (fEnd > q.maxEnd) q.maxEnd = fEnd;
    if (q.total < 0 || q.holes.length !== 0) return null;
    this.remove(q);
    this.headerLength = q.headerLength;
    this.nextHeader = q.nextHeader;
    return q.buf.subarray(0, q.total);
  }

  /** Drops queues whose deadline has passed (oldest first, in arrival order). */
  expire(now: number): void {
    for (const q of this.queues.values()) {
      if (q.deadline > now) break;
      this.drop(q);
    }
    this.resetDeadline();
  }

  /** Copies the fragment into the holes it covers (first data wins) and rebuilds the hole list. */
  private fill(q: FragmentQueue, s: number, e: number, data: Uint8Array, start: number): boolean {
    if (e > q.buf.length) {
      const grown = new Uint8Array(Math.min(MAX_PAYLOAD, Math.max(e, q.buf.length * 2)));
      grown.set(q.buf);
      q.buf = grown;
    }
    const limit = q.total >= 0 ? q.total : MAX_PAYLOAD + 1;
    const old = q.holes;
    const holes: number[] = [];
    for (let i = 0; i < old.length; i += 2) {
      const hs = old[i]!;
      const he = Math.min(old[i + 1]!, limit);
      if (hs >= he) continue; // beyond the now-known end
      if (he <= s || hs >= e) {
        holes.push(hs, he);
        continue;
      }
      const os = Math.max(hs, s);
      const oe = Math.min(he, e);
      q.buf.set(data.subarray(start + os - s, start + oe - s), os);
      if (hs < os) holes.push(hs, os);
      if (oe < he) holes.push(oe, he);
    }
    q.holes = holes;
    return holes.length <= MAX_HOLES * 2;
  }

  private evictOldest(): void {
    for (const q of this.queues.values()) {
      this.drop(q);
      break;
    }
    this.resetDeadline();
  }

  private drop(q: FragmentQueue): void {
    this.drops.fragmentsDropped += q.fragments;
    this.remove(q);
  }

  private remove(q: FragmentQueue): void {
    this.queues.delete(q.key);
    this.resetDeadline();
  }

  private resetDeadline(): void {
    this.nextDeadline = Infinity;
    for (const q of this.queues.values()) {
      this.nextDeadline = q.deadline;
      break;
    }
  }
}
