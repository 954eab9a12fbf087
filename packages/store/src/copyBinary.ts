/**
 * Rows in COPY's binary format: a signature and two int32s, then per row
 * an int16 field count and per field an int32 length and the value as the
 * column type's binary form (its `recv` function reads it), and an int16 -1
 * at the end. Binary, because then this process builds no strings (a
 * text row was a template string, two ISO dates and a UTF-8 copy, a good
 * part of the writer's time and garbage): the values go straight into
 * buffers. PostgreSQL in turn parses no timestamps, numbers or arrays.
 *
 * Every value is written as the type of its column, which the caller's
 * COPY statement fixes: a wrong one is refused by PostgreSQL ("incorrect
 * binary data format"), never stored wrongly.
 */

/**
 * Bytes of one chunk, which is one CopyData message: its 5-byte header
 * (type 'd', int32 length) is kept free at the start and filled when the
 * chunk is cut, so the chunks go to the socket as they are, not copied into
 * messages by node-pg (copyIn.ts). Message boundaries need not be row
 * boundaries (PostgreSQL reads the data as one stream).
 */
const CHUNK_BYTES = 1 << 18;
const MESSAGE_HEADER = 5;
const COPY_DATA = 0x64;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** PostgreSQL's timestamps count microseconds from 2000-01-01 00:00 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const TEXT_OID = 25;
const TWO_32 = 2 ** 32;

export class CopyBinaryRows {
  private readonly chunks: Buffer[] = [];
  private buf = Buffer.allocUnsafe(MESSAGE_HEADER + CHUNK_BYTES);
  private pos = MESSAGE_HEADER;

  constructor() {
    const b = this.buf;
    let p = MESSAGE_HEADER + SIGNATURE.copy(b, MESSAGE_HEADER);
    p = store32(b, p, 0); // flags: no OIDs
    this.pos = store32(b, p, 0); // no header extension
  }

  /** Starts a row of `fields` values; one call per value follows, in the COPY's column order. */
  row(fields: number): void {
    this.ensure(2);
    this.pos = store16(this.buf, this.pos, fields);
  }

  /** A smallint. */
  int2(v: number): void {
    this.ensure(6);
    this.pos = store16(this.buf, store32(this.buf, this.pos, 2), v);
  }

  /** An integer. */
  int4(v: number): void {
    this.ensure(8);
    this.pos = store32(this.buf, store32(this.buf, this.pos, 4), v);
  }

  /** A bigint: a safe integer or a bigint in range. */
  int8(v: number | bigint): void {
    this.ensure(12);
    const b = this.buf;
    const p = store32(b, this.pos, 8);
    if (typeof v === 'bigint') {
      this.pos = b.writeBigInt64BE(v, p);
      return;
    }
    // Most values (zones, marks, the counters of most flows) are below 2^32: no division for them.
    const high = v >= 0 && v < TWO_32 ? 0 : Math.floor(v / TWO_32);
    this.pos = store32(b, store32(b, p, high), v - high * TWO_32);
  }

  /** A timestamptz (to the millisecond, as a Date holds it). */
  timestamptz(d: Date): void {
    this.int8((d.getTime() - PG_EPOCH_MS) * 1000);
  }

  /** A text (UTF-8). */
  text(s: string): void {
    this.ensure(4 + 3 * s.length);
    this.pos = this.putText(this.pos, s);
  }

  /** A text[] of one dimension, without NULLs. */
  textArray(items: readonly string[]): void {
    let bytes = 20;
    for (let i = 0; i < items.length; i++) bytes += 4 + 3 * items[i]!.length;
    this.ensure(4 + bytes);
    const b = this.buf;
    const start = this.pos;
    let p = store32(b, start + 4, 1); // dimensions
    p = store32(b, p, 0); // no NULLs
    p = store32(b, p, TEXT_OID);
    p = store32(b, p, items.length);
    p = store32(b, p, 1); // lower bound
    for (let i = 0; i < items.length; i++) p = this.putText(p, items[i]!);
    store32(b, start, p - start - 4);
    this.pos = p;
  }

  /** The whole input, ended, as CopyData messages; nothing may be added after. */
  finish(): Buffer[] {
    this.ensure(2);
    this.pos = store16(this.buf, this.pos, 0xffff); // int16 -1
    this.cut();
    return this.chunks;
  }

  /** Room for `bytes` more in the current chunk: a new chunk when it is full (one as large as a long value needs). */
  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    this.cut();
    this.buf = Buffer.allocUnsafe(MESSAGE_HEADER + Math.max(CHUNK_BYTES, bytes));
    this.pos = MESSAGE_HEADER;
  }

  /**
   * `s` as UTF-8 after its int32 length, at `p` (room checked by the
   * caller); returns where it ends. ASCII by hand (names, protocols,
   * addresses), the rest by Buffer's encoder.
   */
  private putText(p: number, s: string): number {
    const b = this.buf;
    const start = p + 4;
    let end = start + s.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        end = start + b.write(s, start, 'utf8');
        break;
      }
      b[start + i] = c;
    }
    store32(b, p, end - start);
    return end;
  }

  /** Ends the current chunk's CopyData message (its length counts itself, not the type byte). */
  private cut(): void {
    if (this.pos === MESSAGE_HEADER) return;
    this.buf[0] = COPY_DATA;
    store32(this.buf, 1, this.pos - 1);
    this.chunks.push(this.buf.subarray(0, this.pos));
  }
}

// Byte stores by hand: Buffer's write methods check their arguments on every call, which costs more than the store. Each returns where it ends.
function store16(b: Buffer, p: number, v: number): number {
  b[p] = v >>> 8;
  b[p + 1] = v;
  return p + 2;
}

function store32(b: Buffer, p: number, v: number): number {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
  return p + 4;
}
