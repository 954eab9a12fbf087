import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Bytes (UTF-16 units, near enough) collected before one write. */
const CHUNK = 256 << 10;

/**
 * Lines collected and written in large chunks: one write per flow cost a
 * third of classify's time. `ready()` is the back-pressure: a promise while
 * the stream's buffer is over its mark, for the producer to wait on.
 */
export class LineOutput {
  private text = '';

  constructor(
    private readonly stream: Writable,
    private readonly chunk = CHUNK,
  ) {}

  line(text: string): void {
    this.text += `${text}\n`;
    if (this.text.length >= this.chunk) this.flush();
  }

  /** Writes whatever is collected. */
  flush(): void {
    if (this.text === '') return;
    const text = this.text;
    this.text = '';
    this.stream.write(text);
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
}
