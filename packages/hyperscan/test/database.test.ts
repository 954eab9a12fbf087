import { describe, expect, it } from 'vitest';
import { Database, HsFlag, hyperscanIdentity, StreamSet } from '../src/index.js';
import { bytes, expectHsError } from './helpers.js';

describe('Database.compile and block scan', () => {
  it('reports ids and end offsets in order', () => {
    const db = Database.compile(
      [
        { id: 10, expression: 'foo', flags: 0 },
        { id: 20, expression: 'ba[rz]', flags: 0 },
      ],
      'block',
    );
    expect(db.mode).toBe('block');
    expect(db.size).toBeGreaterThan(0);
    expect(db.info()).toMatch(/Mode: BLOCK/);
    expect(db.scan(bytes('xfoo bar foo'))).toEqual([
      { id: 10, to: 4 },
      { id: 20, to: 8 },
      { id: 10, to: 12 },
    ]);
    expect(db.scan(bytes('nothing here'))).toEqual([]);
    db.close();
  });

  it('honours CASELESS, DOTALL and SINGLEMATCH', () => {
    const db = Database.compile(
      [
        { id: 1, expression: 'foo', flags: HsFlag.CASELESS },
        { id: 2, expression: 'a.b', flags: 0 },
        { id: 3, expression: 'c.d', flags: HsFlag.DOTALL },
        { id: 4, expression: 'xy', flags: HsFlag.SINGLEMATCH },
        { id: 5, expression: 'zz', flags: 0 },
      ],
      'block',
    );
    expect(db.scan(bytes('FoO'))).toEqual([{ id: 1, to: 3 }]);
    expect(db.scan(bytes('a\nb c\nd'))).toEqual([{ id: 3, to: 7 }]); // `.` skips \n without DOTALL
    expect(db.scan(bytes('axb'))).toEqual([{ id: 2, to: 3 }]);
    expect(db.scan(bytes('xy xy xy')).map((m) => m.id)).toEqual([4]);
    expect(db.scan(bytes('zz zz zz')).map((m) => m.id)).toEqual([5, 5, 5]);
    db.close();
  });

  it('passes expression bytes as-is: latin1 strings and raw UTF-8', () => {
    const db = Database.compile(
      [
        { id: 1, expression: '\xe9t\xe9', flags: 0 }, // latin1 "été": bytes E9 74 E9
        { id: 2, expression: Buffer.from('ü+', 'utf8'), flags: HsFlag.UTF8 },
        { id: 3, expression: '\\x01\\x02', flags: 0 }, // escapes are libhs' business
      ],
      'block',
    );
    expect(db.scan(Buffer.from([0xe9, 0x74, 0xe9])).map((m) => m.id)).toEqual([1]);
    expect(db.scan(Buffer.from('üü', 'utf8')).map((m) => m.id)).toContain(2);
    expect(db.scan(Buffer.from([1, 2])).map((m) => m.id)).toEqual([3]);
    db.close();
  });

  it('names the failing expression and libhs reason on compile errors', () => {
    const err = expectHsError(
      () =>
        Database.compile(
          [
            { id: 7, expression: 'good', flags: 0 },
            { id: 8, expression: 'also good', flags: 0 },
            { id: 42, expression: 'a(', flags: 0 },
          ],
          'stream',
        ),
      'HS_COMPILE',
    );
    expect(err.expressionIndex).toBe(2);
    expect(err.patternId).toBe(42);
    expect(err.message).toContain('pattern id 42');
    expect(err.message).toContain('Missing close parenthesis'); // libhs' own reason
  });

  it('round-trips through serialize/deserialize', () => {
    const patterns = [
      { id: 1, expression: 'hello', flags: 0 },
      { id: 2, expression: 'wor.d', flags: HsFlag.CASELESS },
    ];
    for (const mode of ['block', 'stream'] as const) {
      const db = Database.compile(patterns, mode);
      const copy = Database.deserialize(db.serialize());
      expect(copy.mode).toBe(mode);
      expect(copy.size).toBe(db.size);
      expect(copy.info()).toBe(db.info());
      if (mode === 'block') {
        const input = bytes('hello WORLD hello');
        expect(copy.scan(input)).toEqual(db.scan(input));
        expect(copy.scan(input).map((m) => m.id)).toEqual([1, 2, 1]);
      } else {
        const set = new StreamSet(copy);
        const s = set.open();
        expect(set.scan(s, bytes('hel'))).toEqual([]);
        expect(set.scan(s, bytes('lo WoR'))).toEqual([1]);
        expect(set.scan(s, bytes('LD'))).toEqual([2]);
        set.closeAll();
      }
      db.close();
      copy.close();
    }
  });

  it('rejects bad serialized bytes with HS_DESERIALIZE', () => {
    const good = Database.compile([{ id: 1, expression: 'abc', flags: 0 }], 'block').serialize();
    expectHsError(() => Database.deserialize(new Uint8Array(0)), 'HS_DESERIALIZE');
    expectHsError(() => Database.deserialize(bytes('not a database at all')), 'HS_DESERIALIZE');
    expectHsError(() => Database.deserialize(good.subarray(0, good.length - 1)), 'HS_DESERIALIZE');
    const corrupt = Buffer.from(good);
    corrupt[64] = (corrupt[64] ?? 0) ^ 0xff; // inside the CRC-checked bytecode
    expectHsError(() => Database.deserialize(corrupt), 'HS_DESERIALIZE');
  });
});

describe('hyperscanIdentity', () => {
  it('names the libhs version and CPU features, as every database compiled or loaded here reports them', () => {
    const id = hyperscanIdentity();
    expect(id).toMatch(/^Version: \d+\.\d+\.\d+ Features: \S*/);
    expect(id).not.toContain('Mode');
    expect(hyperscanIdentity()).toBe(id);
    const db = Database.compile([{ id: 1, expression: 'abc', flags: 0 }], 'stream');
    expect(db.info()).toBe(`${id} Mode: STREAM`);
    expect(db.identity()).toBe(id);
    expect(Database.deserialize(db.serialize()).identity()).toBe(id);
  });
});

describe('end-of-data anchors', () => {
  // The project translates l7-filter's `$` to `\z`. In libhs (as in PCRE) `$`
  // and `\Z` also match before a trailing "\n"; `\z` matches at end of data only.
  it('`\\z` matches only at the very end, `$` and `\\Z` also before a final newline', () => {
    const db = Database.compile(
      [
        { id: 1, expression: 'foo\\z', flags: 0 },
        { id: 2, expression: 'foo$', flags: 0 },
        { id: 3, expression: 'foo\\Z', flags: 0 },
      ],
      'block',
    );
    const ids = (s: string) => db.scan(bytes(s)).map((m) => m.id);
    expect(ids('foo')).toEqual([1, 2, 3]);
    expect(ids('foo\n')).toEqual([2, 3]); // \z does not match before the newline
    expect(ids('foo\n\n')).toEqual([]);
    expect(ids('foox')).toEqual([]);
    db.close();
  });

  it('in stream mode `\\z` fires only at end of stream', () => {
    const db = Database.compile(
      [
        { id: 1, expression: 'foo\\z', flags: 0 },
        { id: 2, expression: 'foo$', flags: 0 },
      ],
      'stream',
    );
    const set = new StreamSet(db);
    const a = set.open();
    expect(set.scan(a, bytes('foo\n'))).toEqual([]);
    expect(set.close(a)).toEqual([2]);
    const b = set.open();
    expect(set.scan(b, bytes('foo'))).toEqual([]);
    expect(set.close(b).sort()).toEqual([1, 2]);
    db.close();
  });
});

describe('Database argument checks', () => {
  it('rejects bad pattern lists with HS_INVALID_ARGUMENT', () => {
    const one = (p: object) => () => Database.compile([p as never], 'block');
    expectHsError(() => Database.compile([], 'block'), 'HS_INVALID_ARGUMENT');
    expectHsError(() => Database.compile([{ id: 1, expression: 'a', flags: 0 }], 'vectored' as never), 'HS_INVALID_ARGUMENT');
    expectHsError(one({ id: -1, expression: 'a', flags: 0 }), 'HS_INVALID_ARGUMENT');
    expectHsError(one({ id: 2 ** 31, expression: 'a', flags: 0 }), 'HS_INVALID_ARGUMENT');
    expectHsError(one({ id: 1.5, expression: 'a', flags: 0 }), 'HS_INVALID_ARGUMENT');
    expectHsError(one({ id: 1, expression: 'a', flags: -1 }), 'HS_INVALID_ARGUMENT');
    expectHsError(one({ id: 1, expression: 'caf\u20ac', flags: 0 }), 'HS_INVALID_ARGUMENT');
    expectHsError(one({ id: 1, expression: 'a\0b', flags: 0 }), 'HS_INVALID_ARGUMENT');
    expectHsError(one({ id: 1, expression: 42, flags: 0 }), 'HS_INVALID_ARGUMENT');
    expectHsError(() => Database.compile([null as never], 'block'), 'HS_INVALID_ARGUMENT');
    // Unknown flag bits are left to libhs, which names the expression.
    expect(expectHsError(one({ id: 9, expression: 'a', flags: 1 << 20 }), 'HS_COMPILE').patternId).toBe(9);
  });

  it('rejects mode mismatches, non-bytes and closed databases', () => {
    const block = Database.compile([{ id: 1, expression: 'a', flags: 0 }], 'block');
    const stream = Database.compile([{ id: 1, expression: 'a', flags: 0 }], 'stream');
    expectHsError(() => stream.scan(bytes('a')), 'HS_INVALID_ARGUMENT');
    expectHsError(() => new StreamSet(block), 'HS_INVALID_ARGUMENT');
    expectHsError(() => new StreamSet({} as never), 'HS_INVALID_ARGUMENT');
    expectHsError(() => block.scan('a' as never), 'HS_INVALID_ARGUMENT');
    expectHsError(() => block.scan(new Uint16Array(2) as never), 'HS_INVALID_ARGUMENT');
    expect(block.scan(new Uint8Array(0))).toEqual([]);
    block.close();
    block.close(); // idempotent
    expectHsError(() => block.scan(bytes('a')), 'HS_INVALID_ARGUMENT');
    expectHsError(() => block.serialize(), 'HS_INVALID_ARGUMENT');
    expect(block.mode).toBe('block');
    stream.close();
    expectHsError(() => new StreamSet(stream), 'HS_INVALID_ARGUMENT');
  });
});
