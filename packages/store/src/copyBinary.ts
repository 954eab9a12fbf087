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

/** About one CopyData message each. Message boundaries need not be row boundaries: a value may span two chunks. */
const CHUNK_BYTES = 1 << 18;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** PostgreSQL's timestamps count microseconds from 2000-01-01 00:00 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const TEXT_OID = 25;
const TWO_32 = 2 ** 32;

export class CopyBinaryRows {
  private readonly chunks: Buffer[] = [];
  private buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private pos = 0;

  constructor() {
    SIGNATURE.copy(this.buf, 0);
    this.buf.writeInt32BE(0, 11); // flags: no OIDs
    this.buf.writeInt32BE(0, 15); // no header extension
    this.pos = 19;
  }

  /** Starts a row of `fields` values; one call per value follows, in the COPY's column order. */
  row(fields: number): void {
    this.ensure(2);
    this.put16(fields);
  }

  /** A smallint. */
  int2(v: number): void {
    this.ensure(6);
    this.put32(2);
    this.put16(v);
  }

  /** An integer. */
  int4(v: number): void {
    this.ensure(8);
    this.put32(4);
    this.put32(v);
  }

  /** A bigint: a safe integer or a bigint in range. */
  int8(v: number | bigint): void {
    this.ensure(12);
    this.put32(8);
    if (typeof v === 'bigint') {
      this.pos = this.buf.writeBigInt64BE(v, this.pos);
      return;
    }
    const high = Math.floor(v / TWO_32);
    this.put32(high);
    this.put32(v - high * TWO_32);
  }

  /** A timestamptz (to the millisecond, as a Date holds it). */
  timestamptz(d: Date): void {
    this.int8((d.getTime() - PG_EPOCH_MS) * 1000);
  }

  /** A text (UTF-8). */
  text(s: string): void {
    this.ensure(4 + 3 * s.length);
    const start = this.pos;
    this.pos += 4;
    this.putUtf8(s);
    this.buf.writeInt32BE(this.pos - start - 4, start);
  }

  /** A text[] of one dimension, without NULLs. */
  textArray(items: readonly string[]): void {
    let bytes = 20;
    for (let i = 0; i < items.length; i++) bytes += 4 + 3 * items[i]!.length;
    this.ensure(4 + bytes);
    const start = this.pos;
    this.pos += 4;
    this.put32(1); // dimensions
    this.put32(0); // no NULLs
    this.put32(TEXT_OID);
    this.put32(items.length);
    this.put32(1); // lower bound
    for (let i = 0; i < items.length; i++) {
      const at = this.pos;
      this.pos += 4;
      this.putUtf8(items[i]!);
      this.buf.writeInt32BE(this.pos - at - 4, at);
    }
    this.buf.writeInt32BE(this.pos - start - 4, start);
  }

  /** The whole input, ended, in chunks; nothing may be added after. */
  finish(): Buffer[] {
    this.ensure(2);
    this.pos = this.buf.writeInt16BE(-1, this.pos);
    this.cut();
    return this.chunks;
  }

  /** Room for `bytes` more in the current chunk: a new chunk when it is full (one as large as a long value needs). */
  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    this.cut();
    this.buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
    this.pos = 0;
  }

  // Byte stores by hand: Buffer's write methods check their arguments on every call, which costs more than the store.
  private put16(v: number): void {
    const b = this.buf;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v;
  }

  private put32(v: number): void {
    const b = this.buf;
    b[this.pos++] = v >>> 24;
    b[this.pos++] = v >>> 16;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v;
  }

  /** `s` as UTF-8 (room checked by the caller): ASCII by hand (names, protocols, keys), the rest by Buffer's encoder. */
  private putUtf8(s: string): void {
    const b = this.buf;
    const start = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos = start + b.write(s, start, 'utf8');
        return;
      }
      b[start + i] = c;
    }
    this.pos = start + s.length;
  }

  private cut(): void {
    if (this.pos > 0) this.chunks.push(this.buf.subarray(0, this.pos));
  }
}
