import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePatternFile, type PatternFile } from '@l7mesh/patterns';
import { compilePatternSet, DatabaseCache, type PatternSet } from '../src/index.js';
import { classify, conversation, ENGINES, HANDSHAKE } from './helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-hsdb-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let dirs = 0;
const freshCache = () => new DatabaseCache(join(scratch, `cache-${dirs++}`));

const file = (name: string, regex: string): PatternFile => parsePatternFile(`# ${name} - test pattern\n${name}\n${regex}\n`, `/test/${name}.pat`);
// Plain and `$` patterns, so an entry holds both databases.
const FILES = [file('hello', '^hello'), file('world', 'world'), file('tail', 'bye$')];

/** The entry with its JSON header changed (a valid header, the database bytes untouched). */
function withHeader(entry: Buffer, change: (header: Record<string, unknown>) => Record<string, unknown>): Buffer {
  const headerLength = entry.readUInt32LE(12);
  const header = JSON.parse(entry.toString('utf8', 16, 16 + headerLength)) as Record<string, unknown>;
  const other = Buffer.from(JSON.stringify(change(header)));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(other.length);
  return Buffer.concat([entry.subarray(0, 12), length, other, entry.subarray(16 + headerLength)]);
}

function entries(cache: DatabaseCache): string[] {
  return existsSync(cache.dir) ? readdirSync(cache.dir).map((n) => join(cache.dir, n)) : [];
}

/** The verdicts the set gives a few conversations, on both engines. */
function verdicts(set: PatternSet): string[] {
  const payloads = ['hello there', 'a world apart', 'say bye', 'bye now', 'nothing'];
  return ENGINES.flatMap((engine) => payloads.map((p) => classify(set, engine, conversation([...HANDSHAKE, { from: 'c', payload: p }]))[0]!.l7));
}

describe('DatabaseCache', () => {
  const expected = verdicts(compilePatternSet(FILES));

  it('stores a compiled set and loads it next time, with the same verdicts', () => {
    const cache = freshCache();
    const first = compilePatternSet(FILES, [], { cache });
    expect(cache.lastOutcome).toBe('miss');
    expect(entries(cache)).toHaveLength(1);
    expect(entries(cache)[0]).toMatch(/[0-9a-f]{64}\.hsdb$/);
    expect(verdicts(first)).toEqual(expected);
    const second = compilePatternSet(FILES, [], { cache });
    expect(cache.lastOutcome).toBe('hit');
    expect(second.patterns.map((p) => p.name)).toEqual(first.patterns.map((p) => p.name));
    expect(second.endDatabase).toBeDefined();
    expect(verdicts(second)).toEqual(expected);
  });

  it('keys by pattern content, flags and order', () => {
    const cache = freshCache();
    compilePatternSet(FILES, [], { cache });
    compilePatternSet(FILES, ['world'], { cache }); // another order: other ids
    compilePatternSet([...FILES.slice(0, 2), file('tail', 'bye')], [], { cache }); // another expression
    compilePatternSet([...FILES, file('empty', '(x|)')], [], { cache }); // ALLOWEMPTY joins the flags
    expect(new Set(entries(cache)).size).toBe(4);
    compilePatternSet(FILES, ['world'], { cache });
    expect(cache.lastOutcome).toBe('hit');
    // Where the files live is not part of the key: the same patterns elsewhere hit.
    compilePatternSet(FILES.map((f) => ({ ...f, file: `/elsewhere/${f.name}.pat` })), [], { cache });
    expect(cache.lastOutcome).toBe('hit');
  });

  it('never trusts a damaged entry: it is rebuilt, gives the same verdicts, and is rewritten', () => {
    const cache = freshCache();
    compilePatternSet(FILES, [], { cache });
    const [path] = entries(cache);
    const good = readFileSync(path!);
    const damages: Array<[string, Buffer]> = [
      ['a flipped byte in a database', Buffer.from(good.map((b, i) => (i === good.length - 100 ? b ^ 0xff : b)))],
      ['cut short', good.subarray(0, good.length - 10)],
      ['longer', Buffer.concat([good, Buffer.from('x')])],
      ['not an entry', Buffer.from('garbage')],
      ['empty', Buffer.alloc(0)],
      ['a header that is not an object', Buffer.concat([good.subarray(0, 12), Buffer.from([4, 0, 0, 0]), Buffer.from('null')])],
      ['a broken header', Buffer.from(good.map((b, i) => (i === 16 ? 0x78 : b)))],
      ['a header claiming a rejected pattern', withHeader(good, (h) => ({ ...h, rejected: [{ candidate: 0, reason: 'made up' }] }))],
      ['a header with other sizes', withHeader(good, (h) => ({ ...h, sizes: (h.sizes as number[]).map((n, i) => (i === 0 ? n - 8 : n + 8)) }))],
    ];
    for (const [what, bytes] of damages) {
      writeFileSync(path!, bytes);
      const set = compilePatternSet(FILES, [], { cache });
      expect(cache.lastOutcome, what).toBe('corrupt');
      expect(verdicts(set), what).toEqual(expected);
      expect(readFileSync(path!).equals(bytes), what).toBe(false);
      compilePatternSet(FILES, [], { cache });
      expect(cache.lastOutcome, what).toBe('hit');
    }
  });

  it('rebuilds an entry made by another libhs or for other CPU features (stale)', () => {
    const cache = freshCache();
    compilePatternSet(FILES, [], { cache });
    const [path] = entries(cache);
    writeFileSync(path!, withHeader(readFileSync(path!), (h) => ({ ...h, identity: 'Version: 0.0.1 Features: NONE' })));
    expect(verdicts(compilePatternSet(FILES, [], { cache }))).toEqual(expected);
    expect(cache.lastOutcome).toBe('stale');
    compilePatternSet(FILES, [], { cache });
    expect(cache.lastOutcome).toBe('hit');
  });

  it('an unwritable cache only costs the compile', () => {
    const blocker = join(scratch, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const cache = new DatabaseCache(join(blocker, 'cache'));
    expect(verdicts(compilePatternSet(FILES, [], { cache }))).toEqual(expected);
    expect(cache.lastOutcome).toBe('miss');
  });

  it('lives in $L7MESH_CACHE_DIR, else $XDG_CACHE_HOME/l7mesh, else ~/.cache/l7mesh; off turns it off', () => {
    expect(DatabaseCache.fromEnvironment({ L7MESH_CACHE_DIR: '/tmp/x', XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })?.dir).toBe('/tmp/x');
    expect(DatabaseCache.fromEnvironment({ L7MESH_CACHE_DIR: 'off', HOME: '/home/u' })).toBeUndefined();
    expect(DatabaseCache.fromEnvironment({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })?.dir).toBe('/xdg/l7mesh');
    expect(DatabaseCache.fromEnvironment({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })?.dir).toBe('/home/u/.cache/l7mesh');
    expect(DatabaseCache.fromEnvironment({ HOME: '/home/u' })?.dir).toBe('/home/u/.cache/l7mesh');
    expect(DatabaseCache.fromEnvironment({})?.dir).toBe(join(homedir(), '.cache', 'l7mesh'));
  });
});
