import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Bytes collected before one write. */
const CHUNK = 256 << 10;

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

  /** Writes whatever is collected. */
  flush(): void {
    if (this.used === 0) return;
    const bytes = this.buf.subarray(0, this.used);
    // The stream may keep the chunk queued: the next one goes into a new buffer.
    this.buf = Buffer.allocUnsafe(this.capacityFor(0));
    this.used = 0;
    this.stream.write(bytes);
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
