/** COPY's binary rows without a database: framed as CopyData messages, values as PostgreSQL's recv functions read them. */
import { describe, expect, it } from 'vitest';
import { CopyBinaryRows } from '../src/copyBinary.js';

/** The COPY data of `chunks` (each must be one whole CopyData message), as one buffer. */
function payload(chunks: readonly Buffer[]): Buffer {
  for (const c of chunks) {
    expect(c[0]).toBe(0x64);
    expect(c.readInt32BE(1)).toBe(c.length - 1);
  }
  return Buffer.concat(chunks.map((c) => c.subarray(5)));
}

describe('CopyBinaryRows', () => {
  it('frames its chunks as CopyData messages (rows run on across them, a long value gets one its size) and writes each type as PostgreSQL reads it', () => {
    const rows = new CopyBinaryRows();
    const long = 'x'.repeat(100_000);
    const at = Date.UTC(1999, 11, 31, 23, 59, 59, 999);
    for (let i = 0; i < 6000; i++) {
      rows.row(8);
      rows.int2(6);
      rows.int4(40_000 + i);
      rows.int8(i === 0 ? 5_000_000_123 : i);
      rows.int8(i === 0 ? -(2 ** 40) - 7 : 2n ** 62n);
      rows.timestamptz(new Date(at));
      rows.text(i === 3000 ? long : 'ünï');
      rows.textArray(['edge-a', 'é']);
      rows.text('');
    }
    const chunks = rows.finish();
    expect(chunks.length).toBeGreaterThan(3);
    const b = payload(chunks);
    expect(b.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
    expect(b.readInt32BE(11)).toBe(0);
    expect(b.readInt32BE(15)).toBe(0);
    let p = 19;
    const field = (): Buffer => {
      const n = b.readInt32BE(p);
      const v = b.subarray(p + 4, p + 4 + n);
      p += 4 + n;
      return v;
    };
    for (let i = 0; i < 6000; i++) {
      expect(b.readInt16BE(p)).toBe(8);
      p += 2;
      expect(field().readInt16BE(0)).toBe(6);
      expect(field().readInt32BE(0)).toBe(40_000 + i);
      expect(field().readBigInt64BE(0)).toBe(BigInt(i === 0 ? 5_000_000_123 : i));
      expect(field().readBigInt64BE(0)).toBe(i === 0 ? -(2n ** 40n) - 7n : 2n ** 62n);
      expect(field().readBigInt64BE(0)).toBe(BigInt(at - Date.UTC(2000, 0, 1)) * 1000n);
      expect(field().toString('utf8')).toBe(i === 3000 ? long : 'ünï');
      const array = field();
      expect([0, 4, 8, 12, 16].map((o) => array.readInt32BE(o))).toEqual([1, 0, 25, 2, 1]);
      expect(array.subarray(20)).toEqual(Buffer.concat([Buffer.from([0, 0, 0, 6]), Buffer.from('edge-a'), Buffer.from([0, 0, 0, 2]), Buffer.from('é')]));
      expect(field().length).toBe(0);
    }
    expect(b.readInt16BE(p)).toBe(-1);
    expect(p + 2).toBe(b.length);
  });
});
