import { copyHeadBytes, MAX_DATA_LEN_LIMIT } from '@l7mesh/flow';
import { StreamSet } from '@l7mesh/hyperscan';
import type { HeadScanner } from './headScanner.js';
import type { PatternSet } from './patternSet.js';

const ARENA_BYTES = 1 << 20;
const MAX_QUEUED = 8192;

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
  private count = 0;

  constructor(set: PatternSet) {
    this.streams = new StreamSet(set.database, { foldAsciiCase: true });
    this.endStreams = set.endDatabase ? new StreamSet(set.endDatabase, { eodCheck: true }) : undefined;
  }

  open(): number {
    const slot = this.streams.open();
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
    this.streams.close(handle);
    this.endStreams?.close(this.endSlotOf[handle]!);
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
    return written;
  }

  get queued(): number {
    return this.count;
  }

  get mustFlush(): boolean {
    return this.count === MAX_QUEUED || ARENA_BYTES - this.arenaUsed < MAX_DATA_LEN_LIMIT;
  }

  flush(): Int32Array {
    const n = this.count;
    if (n === 0) return new Int32Array(0);
    const data = this.arena.subarray(0, this.arenaUsed);
    const starts = this.starts.subarray(0, n);
    const ends = this.ends.subarray(0, n);
    // First call: folds case in the arena, then scans; the second sees folded data.
    const best = this.streams.scanBatch(this.slots.subarray(0, n), data, starts, ends);
    if (this.endStreams) {
      for (let i = 0; i < n; i++) this.endSlots[i] = this.endSlotOf[this.slots[i]!]!;
      const atEnd = this.endStreams.scanBatch(this.endSlots.subarray(0, n), data, starts, ends);
      for (let i = 0; i < n; i++) {
        const e = atEnd[i]!;
        if (e >= 0 && (best[i]! < 0 || e < best[i]!)) best[i] = e;
      }
    }
    this.count = 0;
    this.arenaUsed = 0;
    return best;
  }

  /** Frees every stream (the scanner is done). */
  close(): void {
    this.streams.closeAll();
    this.endStreams?.closeAll();
  }
}
