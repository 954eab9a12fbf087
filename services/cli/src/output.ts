import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Bytes collected before one write. */
const CHUNK = 256 << 10;

/**
 * Makes writes to a pipe block until the reader has taken them, as Node
 * already does for a terminal (and a file's are synchronous anyway). Node's
 * own stdout pipe is non-blocking: the records of the flows ended at once at
 * the end of a capture, written in one synchronous run, then wait in memory
 * (the whole output, for a capture whose flows all live to its end) and go
 * out only after it, while the reader could have been taking them all
 * along; 10% of classify's time on the real-shape benchmark. Blocking, the
 * reader works alongside, and a slow reader holds classify back the way it
 * holds back any Unix filter. Streams without a libuv handle are left alone.
 */
export function blockingWrites(stream: Writable): void {
  const handle = (stream as { _handle?: { setBlocking?: (blocking: boolean) => number } })._handle;
  if (typeof handle?.setBlocking === 'function') handle.setBlocking(true);
}

/**
 * Output collected as bytes and written in large chunks: one write per flow
 * cost a third of classify's time. Each line is encoded into the chunk's
 * buffer as it comes: joining lines into one string and encoding that took
 * twice as long (the joined string is a rope, flattened before encoding).
 * `ready()` is the back-pressure: a promise while the stream's buffer is
 * over its mark, for the producer to wait on.
 */
export class LineOutput {
  private buf: Buffer;
  private used = 0;

  constructor(
    private readonly stream: Writable,
    private readonly chunk = CHUNK,
  ) {
    this.buf = Buffer.allocUnsafe(this.capacityFor(0));
  }

  /** Writes `text` (UTF-8) and a newline. */
  line(text: string): void {
    const room = 3 * text.length + 1;
    if (this.used + room > this.buf.length) {
      this.flush();
      if (room > this.buf.length) this.buf = Buffer.allocUnsafe(this.capacityFor(room));
    }
    const buf = this.buf;
    let at = this.used;
    at += buf.write(text, at);
    buf[at++] = 0x0a;
    this.used = at;
    if (at >= this.chunk) this.flush();
  }

  /**
   * Room for a line of at most `maxBytes` bytes, written by the caller into
   * {@link buffer} from the offset returned; {@link endLine} ends it.
   */
  reserve(maxBytes: number): number {
    const room = maxBytes + 1;
    if (this.used + room > this.buf.length) {
      this.flush();
      if (room > this.buf.length) this.buf = Buffer.allocUnsafe(this.capacityFor(room));
    }
    return this.used;
  }

  /** The buffer a reserved line is written into (valid until {@link endLine}). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** Ends the line written from {@link reserve}'s offset up to `end`, with a newline. */
  endLine(end: number): void {
    this.buf[end++] = 0x0a;
    this.used = end;
    if (end >= this.chunk) this.flush();
  }

  /** Writes whatever is collected. */
  flush(): void {
    if (this.used === 0) return;
    const buf = this.buf;
    const bytes = buf.subarray(0, this.used);
    this.used = 0;
    this.stream.write(bytes);
    // Files, and pipes on Linux, take a write at once: the buffer is free
    // again, and reusing it spares the page faults of a fresh one per chunk.
    // A stream that queued the chunk keeps it: the next goes into a new buffer.
    if (this.stream.writableLength !== 0 || buf.length !== this.capacityFor(0)) this.buf = Buffer.allocUnsafe(this.capacityFor(0));
  }

  /** Resolves when the stream can take more; undefined when it can now. */
  ready(): Promise<void> | undefined {
    if (!this.stream.writableNeedDrain) return undefined;
    return once(this.stream, 'drain').then(() => undefined);
  }

  /** Writes the rest and waits until the stream has taken it. */
  async end(): Promise<void> {
    this.flush();
    await this.ready();
  }

  /** A chunk, room for the line that completes it, and at least `bytes`. */
  private capacityFor(bytes: number): number {
    return Math.max(this.chunk + (this.chunk >> 2) + 4096, bytes);
  }
}
