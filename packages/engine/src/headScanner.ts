/**
 * What the classifier needs from a matching engine: per-flow state, a way to
 * append a packet's head bytes, and a batched test of everything appended.
 *
 * Tests are queued and run in one batch because a call into native code costs
 * far more than the scan of a small chunk; the classifier applies the results
 * in queue order, so batching never changes a verdict.
 */
export interface HeadScanner {
  readonly engine: 'hyperscan' | 'reference';
  /** Opens the state of a new flow head. */
  open(): number;
  /** Frees a flow head's state; its queued tests must have been flushed. */
  release(handle: number): void;
  /**
   * Appends the packet's payload (`payload`, or its bytes [start, end)) to
   * the flow's head with l7 semantics (NULs dropped, lowercased), at most
   * `room` bytes. Returns the bytes appended; when > 0 a test of the flow
   * "as of this packet" is queued.
   */
  append(handle: number, payload: Uint8Array, room: number, start?: number, end?: number): number;
  /** Number of queued tests. */
  readonly queued: number;
  /** True when the next append may not fit: flush first. */
  readonly mustFlush: boolean;
  /**
   * Runs the queued tests. Result i is the order index of the first pattern,
   * in configured order, that matches the flow's data as of queued test i
   * (l7-filter re-ran every pattern on the whole buffer after each packet), or
   * -1 when none does. A test queued after one of the same flow head that
   * matches may be left unrun (-1): the first match decides the flow, so the
   * classifier never reads it. The array may be the scanner's own, reused
   * by the next flush.
   */
  flush(): Int32Array;
}
