import { appendHeadBytes, headCapacity, DEFAULT_MAX_DATA_LEN } from '@l7mesh/flow';
import type { HeadScanner } from './headScanner.js';
import type { PatternSet } from './patternSet.js';

/**
 * The l7-filter method in plain TypeScript, the oracle for differential tests
 * and the benchmarks' baseline: each flow keeps its whole head, and after each
 * packet every pattern is run, one by one in order, on the whole head, with JS
 * RegExp. Tests queue (flow, length-so-far); since a head only grows, its
 * prefix of that length is exactly the data as of that packet.
 */
export class ReferenceHeadScanner implements HeadScanner {
  readonly engine = 'reference';
  private readonly regexes: RegExp[];
  private readonly capacity: number;
  private readonly heads: (Buffer | undefined)[] = [];
  private readonly lengths: number[] = [];
  private readonly free: number[] = [];
  private readonly queuedHandles: number[] = [];
  private readonly queuedEnds: number[] = [];

  constructor(set: PatternSet, maxDataLen = DEFAULT_MAX_DATA_LEN) {
    this.regexes = set.patterns.map((p) => new RegExp(p.translated.javascript, ''));
    this.capacity = headCapacity(maxDataLen);
  }

  open(): number {
    const handle = this.free.pop() ?? this.heads.length;
    this.heads[handle] = Buffer.allocUnsafe(this.capacity);
    this.lengths[handle] = 0;
    return handle;
  }

  release(handle: number): void {
    this.heads[handle] = undefined;
    this.free.push(handle);
  }

  append(handle: number, payload: Uint8Array, room: number, start = 0, end = payload.length): number {
    const length = this.lengths[handle]!;
    const written = appendHeadBytes(payload, this.heads[handle]!, length, room, start, end);
    if (written > 0) {
      this.lengths[handle] = length + written;
      this.queuedHandles.push(handle);
      this.queuedEnds.push(length + written);
    }
    return written;
  }

  get queued(): number {
    return this.queuedHandles.length;
  }

  get mustFlush(): boolean {
    return false;
  }

  flush(): Int32Array {
    const n = this.queuedHandles.length;
    const result = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const data = this.heads[this.queuedHandles[i]!]!.toString('latin1', 0, this.queuedEnds[i]!);
      result[i] = this.regexes.findIndex((re) => re.test(data));
    }
    this.queuedHandles.length = 0;
    this.queuedEnds.length = 0;
    return result;
  }
}
