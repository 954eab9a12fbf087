import { afterAll, describe, expect, it } from 'vitest';
import { Database, HsFlag, StreamSet } from '../src/index.js';
import { bytes, expectHsError } from './helpers.js';

const db = Database.compile(
  [
    { id: 1, expression: 'hello world', flags: 0 },
    { id: 2, expression: '^foo', flags: 0 },
    { id: 3, expression: 'foo\\z', flags: 0 },
    { id: 4, expression: 'ping', flags: HsFlag.CASELESS },
  ],
  'stream',
);
afterAll(() => db.close());

describe('StreamSet basics', () => {
  it('finds a match split across two scans, once per chunk', () => {
    const set = new StreamSet(db);
    const s = set.open();
    expect(set.scan(s, bytes('say hello wo'))).toEqual([]);
    expect(set.scan(s, bytes('rld!'))).toEqual([1]);
    expect(set.scan(s, bytes('PING ping Ping'))).toEqual([4]); // duplicates removed
    expect(set.openCount).toBe(1);
    set.close(s);
    expect(set.openCount).toBe(0);
  });

  it('anchors ^ at stream start only, and reset restarts the stream', () => {
    const set = new StreamSet(db);
    const s = set.open();
    expect(set.scan(s, bytes('foo'))).toEqual([2]);
    expect(set.scan(s, bytes('foo'))).toEqual([]); // offset 3 now: ^ cannot match
    const late = set.open();
    expect(set.scan(late, bytes('x'))).toEqual([]);
    expect(set.scan(late, bytes('foo'))).toEqual([]);
    // reset reports end-of-data matches (foo\z) then starts over at offset 0.
    expect(set.reset(late)).toEqual([3]);
    expect(set.scan(late, bytes('foo'))).toEqual([2]);
    // restart starts over too, with no end-of-data pass: nothing reported, foo\z not matched later either.
    expect(set.scan(late, bytes('xx foo'))).toEqual([]);
    expect(set.scan(s, bytes('xx'))).toEqual([]);
    expect(set.restart(Uint32Array.of(late, s))).toBeUndefined();
    expect(set.scan(late, bytes('foo'))).toEqual([2]);
    expect(set.reset(late)).toEqual([3]);
    expect(set.scan(s, bytes('foo'))).toEqual([2]);
    set.closeAll();
    expect(set.openCount).toBe(0);
  });

  it('close reports end-of-data matches', () => {
    const set = new StreamSet(db);
    const a = set.open();
    set.scan(a, bytes('xx foo'));
    expect(set.close(a)).toEqual([3]);
    const b = set.open();
    set.scan(b, bytes('foo'));
    set.scan(b, bytes('bar'));
    expect(set.close(b)).toEqual([]);
  });

  it('reuses closed slots', () => {
    const set = new StreamSet(db);
    const [a, b, c] = [set.open(), set.open(), set.open()];
    expect([a, b, c]).toEqual([0, 1, 2]);
    set.close(b);
    expect(set.open()).toBe(b);
    expect(set.open()).toBe(3);
    set.closeAll();
    expect(set.open()).toBe(0); // closeAll empties the table
  });

  it('keeps working after its Database is closed (the set holds a reference)', () => {
    const own = Database.compile([{ id: 5, expression: 'abc', flags: 0 }], 'stream');
    const set = new StreamSet(own);
    const s = set.open();
    own.close();
    expect(set.scan(s, bytes('ab'))).toEqual([]);
    expect(set.scan(s, bytes('c'))).toEqual([5]);
    expect(set.open()).toBe(1);
    set.closeAll();
  });
});

describe('StreamSet.scanBatch', () => {
  const batchDb = Database.compile(
    [
      { id: 5, expression: 'hello', flags: 0 },
      { id: 3, expression: 'world', flags: 0 },
      { id: 7, expression: 'bar\\z', flags: 0 },
      { id: 9, expression: 'GET /', flags: 0 },
    ],
    'stream',
  );
  afterAll(() => batchDb.close());

  /** Packs (slot, text) pairs into the four scanBatch arrays. */
  function pack(pairs: Array<[number, string]>) {
    const data = bytes(pairs.map(([, t]) => t).join(''));
    const slots = new Uint32Array(pairs.length);
    const starts = new Uint32Array(pairs.length);
    const ends = new Uint32Array(pairs.length);
    let at = 0;
    pairs.forEach(([slot, text], i) => {
      slots[i] = slot;
      starts[i] = at;
      at += text.length;
      ends[i] = at;
    });
    return [slots, data, starts, ends] as const;
  }

  it('scans interleaved streams in order, smallest id per chunk', () => {
    const set = new StreamSet(batchDb);
    const [a, b, c] = [set.open(), set.open(), set.open()];
    const out = set.scanBatch(
      ...pack([
        [a, 'hel'],
        [b, 'GET /x'],
        [a, 'lo world'], // completes hello (5) and world (3): smallest is 3
        [c, 'nothing'],
        [c, 'hel'],
        [b, 'foo bar'], // bar\z only counts with eodCheck
        [a, ''],
      ]),
    );
    expect(out).toBeInstanceOf(Int32Array);
    expect(Array.from(out)).toEqual([-1, 9, 3, -1, -1, -1, -1]);
    // c's partial "hel" carries over into the next batch.
    expect(Array.from(set.scanBatch(...pack([[c, 'lo']])))).toEqual([5]);
    set.closeAll();
  });

  it('with eodCheck reports `\\z` for the chunk ending the data so far, not later ones', () => {
    const set = new StreamSet(batchDb, { eodCheck: true });
    const [a, b] = [set.open(), set.open()];
    const out = set.scanBatch(
      ...pack([
        [a, 'foo ba'],
        [b, 'hello bar'], // hello (5) and, at this end, bar\z (7): smallest 5
        [a, 'r'], // "bar" ends here: 7
        [a, 'baz'], // data went on: no \z match for this chunk
        [b, 'x'],
      ]),
    );
    expect(Array.from(out)).toEqual([-1, 5, 7, -1, -1]);
    // The real streams were not disturbed by the end-of-data checks: a's
    // state continues ("...bazbar" ends in bar) and its offsets keep counting.
    expect(Array.from(set.scanBatch(...pack([[a, 'bar']])))).toEqual([7]);
    expect(set.scan(a, bytes(' world'))).toEqual([3]);
    expect(set.close(a)).toEqual([]); // ends in "world", not "bar"
    expect(set.close(b)).toEqual([]); // ends in "x"
  });

  it('with count and out, scans the first count pairs of longer arrays into the caller\'s array (kept arrays, no new ones)', () => {
    const set = new StreamSet(batchDb);
    const [a, b] = [set.open(), set.open()];
    // Room for four pairs, three filled; the fourth names a closed slot and an out-of-range chunk: not read.
    const [slots, data, starts, ends] = pack([
      [a, 'hello'],
      [b, 'GET /'],
      [a, ' world'],
    ]);
    const slots4 = Uint32Array.of(...slots, 999);
    const starts4 = Uint32Array.of(...starts, 5);
    const ends4 = Uint32Array.of(...ends, 999);
    const out = new Int32Array(5).fill(42);
    expect(set.scanBatch(slots4, data, starts4, ends4, 3, out)).toBe(out);
    expect(Array.from(out)).toEqual([5, 9, 3, 42, 42]);
    // count 0 scans nothing; out too short, count past an array, or out not an Int32Array: refused before any scan.
    expect(Array.from(set.scanBatch(slots4, data, starts4, ends4, 0))).toEqual([]);
    expectHsError(() => set.scanBatch(slots4, data, starts4, ends4, 3, new Int32Array(2)), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(slots, data, starts, ends, 4), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(slots, data, starts, ends, 1.5), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(slots, data, starts, ends, 3, new Uint32Array(3) as never), 'HS_INVALID_ARGUMENT');
    // restart with a count: only the first slot starts over, the second keeps its state ("hel" + "lo").
    set.scanBatch(...pack([[a, 'hel'], [b, 'hel']]));
    set.restart(Uint32Array.of(a, b), 1);
    expect(Array.from(set.scanBatch(...pack([[a, 'lo'], [b, 'lo']])))).toEqual([-1, 5]);
    expectHsError(() => set.restart(Uint32Array.of(a), 2), 'HS_INVALID_ARGUMENT');
    set.closeAll();
  });

  it('without eodCheck, \\z is only reported when the stream really ends', () => {
    const set = new StreamSet(batchDb);
    const a = set.open();
    expect(Array.from(set.scanBatch(...pack([[a, 'bar']])))).toEqual([-1]);
    expect(set.close(a)).toEqual([7]);
  });
});

describe('StreamSet argument checks', () => {
  const set = new StreamSet(db);
  const u32 = (...v: number[]) => Uint32Array.from(v);

  it('rejects bad and closed slots', () => {
    const s = set.open();
    expectHsError(() => set.scan(99, bytes('x')), 'HS_STREAM_CLOSED');
    expectHsError(() => set.scan(-1, bytes('x')), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scan(0.5, bytes('x')), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scan('0' as never, bytes('x')), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scan(2 ** 32, bytes('x')), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scan(s, 'x' as never), 'HS_INVALID_ARGUMENT');
    const open = set.open();
    expect(set.scan(open, bytes('foo'))).toEqual([2]);
    set.close(s);
    expectHsError(() => set.close(s), 'HS_STREAM_CLOSED');
    expectHsError(() => set.reset(s), 'HS_STREAM_CLOSED');
    // One closed slot: none of the streams is restarted.
    expectHsError(() => set.restart(Uint32Array.of(open, s)), 'HS_STREAM_CLOSED');
    expect(set.scan(open, bytes('foo'))).toEqual([]);
    expectHsError(() => set.restart([open] as never), 'HS_INVALID_ARGUMENT');
    set.close(open);
    expectHsError(() => set.scan(s, bytes('x')), 'HS_STREAM_CLOSED');
  });

  it('rejects bad scanBatch arrays before scanning any pair', () => {
    const s = set.open();
    const data = bytes('hello world');
    expectHsError(() => set.scanBatch(u32(s, s), data, u32(0), u32(1)), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(u32(s), data, u32(0, 1), u32(1)), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(u32(s), data, u32(0), u32(12)), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(u32(s), data, u32(5), u32(4)), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(u32(s + 1), data, u32(0), u32(1)), 'HS_STREAM_CLOSED');
    expectHsError(() => set.scanBatch(Int32Array.from([s]) as never, data, u32(0), u32(1)), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch([s] as never, data, u32(0), u32(1)), 'HS_INVALID_ARGUMENT');
    expectHsError(() => set.scanBatch(u32(s), 'hello' as never, u32(0), u32(1)), 'HS_INVALID_ARGUMENT');
    // Pair 0 is valid, pair 1 is not: nothing may have been scanned, so the
    // stream has not seen "hello wo" and "rld" alone does not match.
    expectHsError(() => set.scanBatch(u32(s, s), data, u32(0, 0), u32(8, 99)), 'HS_INVALID_ARGUMENT');
    expect(set.scan(s, bytes('rld'))).toEqual([]);
    expect(Array.from(set.scanBatch(u32(s, s), data, u32(0, 8), u32(8, 11)))).toEqual([-1, 1]);
    expect(Array.from(set.scanBatch(u32(), data, u32(), u32()))).toEqual([]);
    set.closeAll();
  });
});

describe('scanBatch with foldAsciiCase', () => {
  it('lowercases ASCII letters of the chunks in place before scanning, nothing else', () => {
    const db = Database.compile([{ id: 3, expression: 'hello world', flags: 0 }], 'stream');
    const folding = new StreamSet(db, { foldAsciiCase: true });
    const plain = new StreamSet(db);
    const data = Buffer.from('xxHELLO World\xc0Z', 'latin1');
    const slots = Uint32Array.of(folding.open());
    expect(Array.from(plain.scanBatch(Uint32Array.of(plain.open()), Buffer.from(data), Uint32Array.of(2), Uint32Array.of(13)))).toEqual([-1]);
    expect(Array.from(folding.scanBatch(slots, data, Uint32Array.of(2), Uint32Array.of(13)))).toEqual([3]);
    // Only the chunk changed, only A-Z were folded (0xc0 is not ASCII).
    expect(data.toString('latin1')).toBe('xxhello world\xc0Z');
  });

  it('folds every byte value at every position of a word, and only inside each chunk', () => {
    // The addon folds eight bytes at a time, then the tail byte by byte: each
    // value sits at each offset of a word, in chunks of every length mod 8.
    const db = Database.compile([{ id: 1, expression: 'never seen', flags: 0 }], 'stream');
    const folding = new StreamSet(db, { foldAsciiCase: true });
    const values = Array.from({ length: 256 }, (_, v) => v);
    // Value v lands at offset 7(v - k) mod 8 of a word in chunk k: k = 0..7 gives all eight.
    const lengths = [256, 257, 258, 259, 260, 261, 262, 263, 1, 5, 8, 15];
    const starts: number[] = [];
    const ends: number[] = [];
    const parts: number[] = [];
    for (const [k, length] of lengths.entries()) {
      parts.push(0x41); // a letter between the chunks, left as it is
      starts.push(parts.length);
      for (let i = 0; i < length; i++) parts.push(values[(i * 7 + k) % 256]!);
      ends.push(parts.length);
    }
    parts.push(0x5a);
    const data = Uint8Array.from(parts);
    const slots = Uint32Array.from(lengths.map(() => folding.open()));
    folding.scanBatch(slots, data, Uint32Array.from(starts), Uint32Array.from(ends));
    const inChunk = (i: number) => starts.some((s, k) => i >= s && i < ends[k]!);
    const expected = parts.map((b, i) => (inChunk(i) && b >= 0x41 && b <= 0x5a ? b | 0x20 : b));
    expect(Array.from(data)).toEqual(expected);
    expect(data.filter((b) => b >= 0x41 && b <= 0x5a).length).toBe(lengths.length + 1);
    folding.closeAll();
  });
});
