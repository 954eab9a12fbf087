import { rd32 } from './capture-bytes.js';
import { CaptureError } from './capture-error.js';
import { FrameSink, type CaptureFormat, type CaptureFrame, type FormatReader } from './capture-frame.js';
import { isPcapMagic, PcapReader } from './capture-pcap.js';
import { PCAPNG_SHB, PcapngReader } from './capture-pcapng.js';

/**
 * Incremental pcap/pcapng parser: feed chunks of any size and it calls onFrame
 * for each complete record. A record that lies wholly inside a chunk is handed
 * out as a view of that chunk (no copy); only a record spanning chunk
 * boundaries is assembled in a carry buffer. Blocks we do not interpret are
 * skipped by length without buffering, so memory stays bounded by the largest
 * packet record (~320 KiB) whatever the file size.
 *
 * After an exception (a CaptureError, or one thrown by onFrame) every further
 * push()/end() rethrows it: the position in the stream is lost.
 */
export class CaptureParser {
  private readonly sink: FrameSink;
  private reader: FormatReader | undefined;
  private carry = new Uint8Array(0);
  private carryLen = 0;
  /** Bytes the current unit needs before the reader can make progress. */
  private needed = 0;
  /** Bytes still to drop from upcoming chunks (body of a skipped block). */
  private skip = 0;
  /** File offset of the first byte not yet consumed by a complete unit. */
  private offset = 0;
  /** First exception (CaptureError, or one thrown by onFrame): the position is lost, so it sticks. */
  private failure: unknown;
  private failed = false;
  private ended = false;

  constructor(
    onFrame: (frame: CaptureFrame) => void,
    private readonly source?: string,
  ) {
    this.sink = new FrameSink(onFrame);
  }

  /** Detected container format, once the first four bytes have been seen. */
  get format(): CaptureFormat | undefined {
    return this.reader?.format;
  }

  /** Frames delivered so far. */
  get frames(): number {
    return this.sink.count;
  }

  /** Bytes of complete headers/records/blocks consumed so far (excludes a carried partial record). */
  get bytesConsumed(): number {
    return this.offset;
  }

  push(chunk: Uint8Array): void {
    if (this.failed) throw this.failure;
    if (this.ended) throw new Error('CaptureParser.push() after end()');
    try {
      this.consume(chunk);
    } catch (e) {
      this.failed = true;
      this.failure = e;
      throw e;
    }
  }

  /** Declares end of input; throws CAPTURE_TRUNCATED if a partial header or record remains. */
  end(): void {
    if (this.failed) throw this.failure;
    this.ended = true;
    let err: CaptureError | undefined;
    if (this.reader === undefined) {
      err = new CaptureError(
        'CAPTURE_TRUNCATED',
        this.carryLen === 0 ? 'empty capture file' : `capture file too short (${this.carryLen} bytes)`,
        0,
        this.source,
      );
    } else if (this.carryLen > 0 || this.skip > 0 || this.reader.openBlockOffset >= 0) {
      const at = this.reader.openBlockOffset >= 0 ? this.reader.openBlockOffset : this.offset;
      const have = this.carryLen > 0 ? `${this.carryLen} of ${this.needed} bytes present` : 'block tail missing';
      err = new CaptureError('CAPTURE_TRUNCATED', `capture ends inside a record (${have})`, at, this.source);
    }
    if (err) {
      this.failed = true;
      this.failure = err;
      throw err;
    }
  }

  private consume(chunk: Uint8Array): void {
    const len = chunk.length;
    let pos = this.dropSkipped(chunk, 0);
    if (this.carryLen > 0 && pos < len) pos = this.completeCarry(chunk, pos);
    while (pos < len && this.carryLen === 0 && this.skip === 0) {
      const avail = len - pos;
      const used = this.drive(chunk, pos, avail);
      if (used === 0) {
        this.startCarry(chunk, pos, len);
        return;
      }
      if (used > avail) {
        this.offset += avail;
        this.skip = used - avail;
        return;
      }
      pos += used;
      this.offset += used;
    }
  }

  /** Drops bytes of a skipped block; returns the new position in the chunk. */
  private dropSkipped(chunk: Uint8Array, pos: number): number {
    if (this.skip === 0) return pos;
    const n = Math.min(this.skip, chunk.length - pos);
    this.skip -= n;
    this.offset += n;
    return pos + n;
  }

  /** Runs the reader on a unit starting at buf[off]; first call detects the format. */
  private drive(buf: Uint8Array, off: number, avail: number): number {
    if (this.reader === undefined) {
      if (avail < 4) {
        this.needed = 4;
        return 0;
      }
      this.reader = this.detect(buf, off);
    }
    const used = this.reader.step(buf, off, avail, this.offset);
    if (used === 0) this.needed = this.reader.needed;
    return used;
  }

  private detect(buf: Uint8Array, off: number): FormatReader {
    const magic = rd32(buf, off, true);
    if (isPcapMagic(magic)) return new PcapReader(this.sink, this.source);
    if (magic === PCAPNG_SHB) return new PcapngReader(this.sink, this.source);
    const hint = buf[off] === 0x1f && buf[off + 1] === 0x8b ? ' (gzip-compressed: decompress it first)' : '';
    throw new CaptureError(
      'CAPTURE_BAD_MAGIC',
      `not a pcap or pcapng file: magic 0x${magic.toString(16).padStart(8, '0')}${hint}`,
      this.offset,
      this.source,
    );
  }

  private startCarry(chunk: Uint8Array, pos: number, len: number): void {
    this.ensureCarry(this.needed);
    this.carry.set(chunk.subarray(pos, len), 0);
    this.carryLen = len - pos;
  }

  /**
   * Tops the carry buffer up from the chunk until the pending unit is complete
   * and runs it; returns the chunk position after the bytes taken.
   */
  private completeCarry(chunk: Uint8Array, pos: number): number {
    const len = chunk.length;
    while (this.carryLen > 0) {
      if (this.carryLen < this.needed) {
        const take = Math.min(this.needed - this.carryLen, len - pos);
        this.ensureCarry(this.needed);
        this.carry.set(chunk.subarray(pos, pos + take), this.carryLen);
        this.carryLen += take;
        pos += take;
        if (this.carryLen < this.needed) return pos;
      }
      const used = this.drive(this.carry, 0, this.carryLen);
      if (used === 0) continue; // the header revealed a larger unit; `needed` grew
      if (used >= this.carryLen) {
        this.skip = used - this.carryLen;
        this.offset += this.carryLen;
        this.carryLen = 0;
        return this.dropSkipped(chunk, pos);
      }
      // Readers ask for exact unit sizes, but stay correct if one consumed less.
      this.carry.copyWithin(0, used, this.carryLen);
      this.carryLen -= used;
      this.offset += used;
    }
    return pos;
  }

  private ensureCarry(size: number): void {
    if (this.carry.length >= size) return;
    const next = new Uint8Array(Math.max(size, this.carry.length * 2, 4096));
    next.set(this.carry.subarray(0, this.carryLen));
    this.carry = next;
  }
}
