import { Database, databaseHandle } from './database.js';
import { HyperscanError } from './errors.js';
import { addon, type NativeStreamSet } from './native.js';

export interface StreamSetOptions {
  /** scanBatch also reports matches "as if the data ended" after each chunk (e.g. `\z`). */
  eodCheck?: boolean;
  /**
   * scanBatch lowercases ASCII letters of each chunk, in place in `data`,
   * before scanning it (l7-filter matched lowercased data).
   */
  foldAsciiCase?: boolean;
}

/**
 * A table of streams of one stream-mode database, addressed by small integer
 * slots (no JS object per stream, so a million streams cost only their libhs state).
 */
export class StreamSet {
  readonly #native: NativeStreamSet;

  constructor(db: Database, options: StreamSetOptions = {}) {
    if (!(db instanceof Database)) throw new HyperscanError('HS_INVALID_ARGUMENT', 'StreamSet needs a Database');
    this.#native = new addon.NativeStreamSet(databaseHandle(db), options.eodCheck === true, options.foldAsciiCase === true);
  }

  /** Opens a stream; returns its slot. Slots are reused after close. */
  open(): number {
    return this.#native.open();
  }

  /** Ids matched by this chunk, in report order, duplicates removed. */
  scan(slot: number, chunk: Uint8Array): number[] {
    return this.#native.scan(slot, chunk);
  }

  /** Closes the stream; returns ids matched at end of data. */
  close(slot: number): number[] {
    return this.#native.close(slot);
  }

  /** Reports end-of-data matches, then restarts the stream from offset 0. */
  reset(slot: number): number[] {
    return this.#native.reset(slot);
  }

  /**
   * Restarts the streams from offset 0 without reporting end-of-data
   * matches (cheaper than reset, for streams reused for new data), in one
   * native call. Throws HS_INVALID_ARGUMENT when slots is not a
   * Uint32Array, and HS_STREAM_CLOSED, restarting none, when a slot is not
   * open (both checked natively, as scanBatch's arrays are). `count`: the
   * first `count` slots only (default all), as in scanBatch.
   */
  restart(slots: Uint32Array, count?: number): void {
    this.#native.restart(slots, count);
  }

  get openCount(): number {
    return this.#native.openCount();
  }

  /**
   * The hot path: scans chunk i = data.subarray(starts[i], ends[i]) into stream
   * slots[i], in array order, in one native call. Returns, per pair, the smallest
   * pattern id matched by that chunk or -1. With eodCheck, end-of-data matches
   * at the chunk's end count too (the real stream is unaffected). With
   * foldAsciiCase, the chunks' ASCII letters are lowercased in `data` first.
   * All pairs are validated before any is scanned.
   *
   * `count`: the first `count` pairs only (default: all, and the three arrays
   * must then be as long); `out`: the results go there (at least `count`
   * long) and it is returned, instead of a new array. With both, a caller
   * that keeps its arrays between batches makes none per call.
   */
  scanBatch(slots: Uint32Array, data: Uint8Array, starts: Uint32Array, ends: Uint32Array, count?: number, out?: Int32Array): Int32Array {
    return this.#native.scanBatch(slots, data, starts, ends, count, out);
  }

  /** Closes every stream (no end-of-data reporting) and empties the slot table. */
  closeAll(): void {
    this.#native.closeAll();
  }
}
