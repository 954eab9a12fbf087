import { appendHeadBytes, MAX_DATA_LEN_LIMIT } from '@l7mesh/flow';
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
 */
export class HyperscanHeadScanner implements HeadScanner {
  readonly engine = 'hyperscan';
  private readonly streams: StreamSet;
  private readonly arena = new Uint8Array(ARENA_BYTES);
  private arenaUsed = 0;
  private readonly slots = new Uint32Array(MAX_QUEUED);
  private readonly starts = new Uint32Array(MAX_QUEUED);
  private readonly ends = new Uint32Array(MAX_QUEUED);
  private count = 0;

  constructor(set: PatternSet) {
    // `$` means "end of the data so far": check it after every chunk.
    this.streams = new StreamSet(set.database, { eodCheck: set.usesEndAnchor });
  }

  open(): number {
    return this.streams.open();
  }

  release(handle: number): void {
    this.streams.close(handle);
  }

  append(handle: number, payload: Uint8Array, room: number): number {
    const start = this.arenaUsed;
    const written = appendHeadBytes(payload, this.arena, start, room);
    if (written === 0) return 0;
    const i = this.count++;
    this.slots[i] = handle;
    this.starts[i] = start;
    this.ends[i] = start + written;
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
    const result = n === 0 ? new Int32Array(0) : this.streams.scanBatch(this.slots.subarray(0, n), this.arena.subarray(0, this.arenaUsed), this.starts.subarray(0, n), this.ends.subarray(0, n));
    this.count = 0;
    this.arenaUsed = 0;
    return result;
  }

  /** Frees every stream (the scanner is done). */
  close(): void {
    this.streams.closeAll();
  }
}
