import { copyHeadBytes, MAX_DATA_LEN_LIMIT } from '@l7mesh/flow';
import { StreamSet } from '@l7mesh/hyperscan';
import type { HeadScanner } from './headScanner.js';
import type { PatternSet } from './patternSet.js';

const ARENA_BYTES = 1 << 20;
const MAX_QUEUED = 8192;
/** Released streams kept open for the next flows (as many as the native pool keeps). */
const MAX_PARKED = 1024;
const NO_RESULTS = new Int32Array(0);

/**
 * Streaming Hyperscan: every flow head is a Hyperscan stream, so each byte is
 * scanned once, against all patterns at once, however many patterns there
 * are. Appended bytes wait in one arena and are scanned by a single native
 * call per batch; no per-flow buffer is kept.
 *
 * The l7 transform is split: NULs are dropped here while copying, ASCII case
 * is folded by the native batch call. Patterns using `$` live in a second,
 * small database whose streams are checked "as if the data ended" after every
 * chunk (l7-filter re-ran them on the whole buffer after each packet).
 *
 * A batch is scanned in rounds: each stream's first chunk in the batch, then
 * the second chunks of the streams whose first matched nothing, and so on.
 * A flow is decided by its first chunk that matches, so its later chunks in
 * the batch would be scanned for nothing: on the real-shape benchmark that
 * was 57% of the chunks and 70% of the bytes (a flow's next packets come
 * before the batch is scanned). Their results are -1, never read.
 */
export class HyperscanHeadScanner implements HeadScanner {
  readonly engine = 'hyperscan';
  private readonly streams: StreamSet;
  private readonly endStreams: StreamSet | undefined;
  /** The `$` database's stream slot for each main slot. */
  private endSlotOf = new Uint32Array(1024);
  private readonly arena = new Uint8Array(ARENA_BYTES);
  private arenaUsed = 0;
  private readonly slots = new Uint32Array(MAX_QUEUED);
  private readonly endSlots = new Uint32Array(MAX_QUEUED);
  private readonly starts = new Uint32Array(MAX_QUEUED);
  private readonly ends = new Uint32Array(MAX_QUEUED);
  /** Per queued chunk: its place among its stream's chunks in this batch (1: the first). */
  private readonly rounds = new Uint16Array(MAX_QUEUED);
  /** Chunks queued per round (index: round); then, while flushing, where each round starts in byRound. */
  private readonly roundSizes = new Uint32Array(MAX_QUEUED + 2);
  private maxRound = 0;
  /** Per slot: its chunks queued in this batch. */
  private queuedOf = new Uint16Array(1024);
  /** Per slot, while flushing: 1 once one of its chunks matched. */
  private matchedOf = new Uint8Array(1024);
  // One round's chunks, picked out for a native call, and where each came from.
  private readonly roundSlots = new Uint32Array(MAX_QUEUED);
  private readonly roundStarts = new Uint32Array(MAX_QUEUED);
  private readonly roundEnds = new Uint32Array(MAX_QUEUED);
  private readonly roundIndexes = new Uint32Array(MAX_QUEUED);
  private readonly byRound = new Uint32Array(MAX_QUEUED);
  // Results, kept between flushes: per chunk of a scan call (main database, then `$`), and per queued chunk.
  private readonly found = new Int32Array(MAX_QUEUED);
  private readonly foundAtEnd = new Int32Array(MAX_QUEUED);
  private readonly best = new Int32Array(MAX_QUEUED);
  private count = 0;
  /**
   * Slots of released streams, still open: the next flow takes one and
   * restarts it, where a close and an open would cost two native calls.
   * Their state is the last flow's until then (its end-of-data matches are
   * never asked for: the flow was released).
   */
  private readonly parked: number[] = [];
  /**
   * Parked streams taken by new flows since the last flush, restarted
   * together at the next flush, before any scan (one native call per
   * database and batch instead of one per flow). A stream is only ever
   * scanned in flush, so none is scanned before its restart.
   */
  private restarts = new Uint32Array(1024);
  /** The `$` database's slots of `restarts` at a flush (kept, as `restarts` is: no array per flush). */
  private endRestarts = new Uint32Array(1024);
  private restartCount = 0;
  /** Per slot: 1 while it is in `restarts`. */
  private restartDue = new Uint8Array(1024);

  constructor(set: PatternSet) {
    this.streams = new StreamSet(set.database, { foldAsciiCase: true });
    this.endStreams = set.endDatabase ? new StreamSet(set.endDatabase, { eodCheck: true }) : undefined;
  }

  open(): number {
    if (this.parked.length > 0) {
      const slot = this.parked.pop()!;
      // Parked again before a flush restarted it: it is listed already.
      if (this.restartDue[slot] === 0) {
        if (this.restartCount === this.restarts.length) {
          const grown = new Uint32Array(this.restarts.length * 2);
          grown.set(this.restarts);
          this.restarts = grown;
        }
        this.restarts[this.restartCount++] = slot;
        this.restartDue[slot] = 1;
      }
      return slot;
    }
    const slot = this.streams.open();
    if (slot >= this.queuedOf.length) {
      const length = Math.max(this.queuedOf.length * 2, slot + 1);
      const queued = new Uint16Array(length);
      queued.set(this.queuedOf);
      this.queuedOf = queued;
      this.matchedOf = new Uint8Array(length); // all 0 between flushes
      const due = new Uint8Array(length);
      due.set(this.restartDue);
      this.restartDue = due;
    }
    if (this.endStreams) {
      if (slot >= this.endSlotOf.length) {
        const grown = new Uint32Array(this.endSlotOf.length * 2);
        grown.set(this.endSlotOf);
        this.endSlotOf = grown;
      }
      this.endSlotOf[slot] = this.endStreams.open();
    }
    return slot;
  }

  release(handle: number): void {
    if (this.parked.length < MAX_PARKED) {
      this.parked.push(handle);
      return;
    }
    // A closed slot leaves the restarts (applyRestarts skips it): libhs may give its number to a fresh stream.
    this.restartDue[handle] = 0;
    this.streams.close(handle);
    this.endStreams?.close(this.endSlotOf[handle]!);
  }

  /** Restarts the parked streams new flows took since the last flush (see `restarts`). */
  private applyRestarts(): void {
    const n = this.restartCount;
    if (n === 0) return;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const slot = this.restarts[i]!;
      if (this.restartDue[slot] === 0) continue;
      this.restartDue[slot] = 0;
      this.restarts[m++] = slot;
    }
    this.restartCount = 0;
    if (m === 0) return;
    this.streams.restart(this.restarts, m);
    if (this.endStreams) {
      if (this.endRestarts.length < m) this.endRestarts = new Uint32Array(this.restarts.length);
      for (let i = 0; i < m; i++) this.endRestarts[i] = this.endSlotOf[this.restarts[i]!]!;
      this.endStreams.restart(this.endRestarts, m);
    }
  }

  append(handle: number, payload: Uint8Array, room: number, start = 0, end = payload.length): number {
    const at = this.arenaUsed;
    const written = copyHeadBytes(payload, this.arena, at, room, start, end);
    if (written === 0) return 0;
    const i = this.count++;
    this.slots[i] = handle;
    this.starts[i] = at;
    this.ends[i] = at + written;
    this.arenaUsed += written;
    const round = ++this.queuedOf[handle]!;
    this.rounds[i] = round;
    this.roundSizes[round]!++;
    if (round > this.maxRound) this.maxRound = round;
    return written;
  }

  get queued(): number {
    return this.count;
  }

  get mustFlush(): boolean {
    return this.count === MAX_QUEUED || ARENA_BYTES - this.arenaUsed < MAX_DATA_LEN_LIMIT;
  }

  /** The results of this flush: a view of the scanner's own array, valid until the next flush. */
  flush(): Int32Array {
    this.applyRestarts();
    const n = this.count;
    if (n === 0) return NO_RESULTS;
    // The whole arena: the chunks' ranges say where their bytes are (no view of the used part per flush).
    const data = this.arena;
    let best: Int32Array;
    if (this.maxRound === 1) {
      best = this.scan(this.slots, this.starts, this.ends, n, data);
    } else {
      best = this.best.fill(-1, 0, n);
      // The chunk indexes in round order (packet order within a round):
      // roundSizes becomes where each round's indexes start.
      const maxRound = this.maxRound;
      const at = this.roundSizes;
      let sum = 0;
      for (let r = 1; r <= maxRound; r++) {
        const size = at[r]!;
        at[r] = sum;
        sum += size;
      }
      at[maxRound + 1] = sum;
      for (let i = 0; i < n; i++) this.byRound[at[this.rounds[i]!]!++] = i;
      // Each at[r] now holds where round r + 1 starts.
      let from = 0;
      for (let r = 1; r <= maxRound; r++) {
        const to = at[r]!;
        let m = 0;
        for (let k = from; k < to; k++) {
          const i = this.byRound[k]!;
          const slot = this.slots[i]!;
          if (this.matchedOf[slot] !== 0) continue;
          this.roundSlots[m] = slot;
          this.roundStarts[m] = this.starts[i]!;
          this.roundEnds[m] = this.ends[i]!;
          this.roundIndexes[m] = i;
          m++;
        }
        from = to;
        // A stream left out of this round has no chunk in a later one scanned either.
        if (m === 0) break;
        const found = this.scan(this.roundSlots, this.roundStarts, this.roundEnds, m, data);
        for (let j = 0; j < m; j++) {
          const id = found[j]!;
          best[this.roundIndexes[j]!] = id;
          if (id >= 0) this.matchedOf[this.roundSlots[j]!] = 1;
        }
      }
    }
    for (let i = 0; i < n; i++) {
      const slot = this.slots[i]!;
      this.queuedOf[slot] = 0;
      this.matchedOf[slot] = 0;
    }
    this.roundSizes.fill(0, 0, this.maxRound + 2);
    this.maxRound = 0;
    this.count = 0;
    this.arenaUsed = 0;
    return best.subarray(0, n);
  }

  /** Scans chunks [0, n) of the lists, main and `$` database; the smallest id per chunk, or -1 (in `found`, kept). */
  private scan(slots: Uint32Array, starts: Uint32Array, ends: Uint32Array, n: number, data: Uint8Array): Int32Array {
    // First call: folds case in the arena, then scans; the second sees folded data.
    const best = this.streams.scanBatch(slots, data, starts, ends, n, this.found);
    if (this.endStreams) {
      for (let i = 0; i < n; i++) this.endSlots[i] = this.endSlotOf[slots[i]!]!;
      const atEnd = this.endStreams.scanBatch(this.endSlots, data, starts, ends, n, this.foundAtEnd);
      for (let i = 0; i < n; i++) {
        const v = atEnd[i]!;
        if (v >= 0 && (best[i]! < 0 || v < best[i]!)) best[i] = v;
      }
    }
    return best;
  }

  /** Frees every stream (the scanner is done). */
  close(): void {
    this.parked.length = 0;
    this.restartCount = 0;
    this.restartDue.fill(0);
    this.streams.closeAll();
    this.endStreams?.closeAll();
  }
}
