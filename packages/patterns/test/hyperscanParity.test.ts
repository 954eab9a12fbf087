import { beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@l7mesh/hyperscan';
import { translateL7Regex, type TranslatedPattern } from '../src/index.js';
import { l7Bytes, l7Data } from './support/l7Data.js';
import { Prng } from './support/prng.js';
import { randomData, randomRegex } from './support/regexGen.js';
import { SYNTHETIC } from './support/syntheticPatterns.js';

// Needs the built addon: `npm test` builds it first.
type Hyperscan = typeof import('@l7mesh/hyperscan');

describe('Hyperscan runs the translations as the JS RegExp does', () => {
  let hs: Hyperscan;
  beforeAll(async () => {
    hs = await import('@l7mesh/hyperscan');
  });

  const flagsOf = (t: TranslatedPattern) =>
    hs.HsFlag.DOTALL | hs.HsFlag.SINGLEMATCH | (t.matchesEmpty ? hs.HsFlag.ALLOWEMPTY : 0);
  const specs = (ts: readonly TranslatedPattern[]) => ts.map((t, id) => ({ id, expression: t.hyperscan, flags: flagsOf(t) }));

  /** Pattern ids matching `data`, block mode. */
  const blockIds = (db: Database, data: Buffer) => new Set(db.scan(data).map((m) => m.id));

  /** Pattern ids matching `data` fed as one stream in two chunks, end of data included. */
  function streamIds(db: Database, data: Buffer): Set<number> {
    const streams = new hs.StreamSet(db);
    const slot = streams.open();
    const cut = data.length >> 1;
    const ids = [...streams.scan(slot, data.subarray(0, cut)), ...streams.scan(slot, data.subarray(cut)), ...streams.close(slot)];
    return new Set(ids);
  }

  it('every synthetic translation compiles in stream mode, and block and stream verdicts equal JS', () => {
    const r = new Prng(99);
    for (const c of SYNTHETIC) {
      const t = translateL7Regex(c.regex);
      const spec = [{ id: 0, expression: t.hyperscan, flags: flagsOf(t) }];
      const stream = hs.Database.compile(spec, 'stream');
      const block = hs.Database.compile(spec, 'block');
      const js = new RegExp(t.javascript, '');
      const inputs = [...c.match, ...c.nomatch].map(l7Data);
      for (let k = 0; k < 20; k++) inputs.push(randomData(r, c.regex));
      for (const data of inputs.filter((d) => d.length > 0)) {
        const bytes = Buffer.from(data, 'latin1');
        const expected = js.test(data);
        expect(blockIds(block, bytes).has(0), `${c.what}: block on ${JSON.stringify(data)}`).toBe(expected);
        expect(streamIds(stream, bytes).has(0), `${c.what}: stream on ${JSON.stringify(data)}`).toBe(expected);
      }
      stream.close();
      block.close();
    }
  });

  it('the synthetic verdicts hold on Hyperscan for the payloads given', () => {
    const ts = SYNTHETIC.map((c) => translateL7Regex(c.regex));
    const db = hs.Database.compile(specs(ts), 'block');
    SYNTHETIC.forEach((c, id) => {
      for (const p of c.match.filter((x) => l7Data(x) !== '')) expect(blockIds(db, l7Bytes(p)).has(id), `${c.what}: ${JSON.stringify(p)}`).toBe(true);
      for (const p of c.nomatch.filter((x) => l7Data(x) !== '')) expect(blockIds(db, l7Bytes(p)).has(id), `${c.what}: ${JSON.stringify(p)}`).toBe(false);
    });
    db.close();
  });

  it('random valid patterns (anchors anywhere) all compile, and Hyperscan agrees with JS on random data', () => {
    const r = new Prng(0x5eed);
    const started = performance.now();
    let checked = 0;
    // Batches keep Hyperscan's compile time small; the loop stops at a time budget.
    while (checked < 600 && performance.now() - started < 20_000) {
      const regexes: string[] = [];
      const ts: TranslatedPattern[] = [];
      while (ts.length < 30) {
        const regex = randomRegex(r);
        try {
          ts.push(translateL7Regex(regex));
          regexes.push(regex);
        } catch {
          // invalid patterns are the fuzz test's business
        }
      }
      const compile = (mode: 'stream' | 'block') => {
        try {
          return hs.Database.compile(specs(ts), mode);
        } catch (err) {
          const id = (err as { patternId?: number }).patternId ?? -1;
          throw new Error(`Hyperscan rejects ${JSON.stringify(regexes[id])} -> ${JSON.stringify(ts[id]?.hyperscan)}: ${String(err)}`);
        }
      };
      const [block, stream] = [compile('block'), compile('stream')];
      const js = ts.map((t) => new RegExp(t.javascript, ''));
      for (let k = 0; k < 40; k++) {
        const data = randomData(r, r.pick(regexes));
        if (data === '') continue;
        const bytes = Buffer.from(data, 'latin1');
        const [b, s] = [blockIds(block, bytes), streamIds(stream, bytes)];
        js.forEach((re, id) => {
          const expected = re.test(data);
          const where = `${JSON.stringify(regexes[id])} -> ${ts[id]!.hyperscan} on ${JSON.stringify(data)}`;
          expect(b.has(id), `block: ${where}`).toBe(expected);
          expect(s.has(id), `stream: ${where}`).toBe(expected);
        });
      }
      block.close();
      stream.close();
      checked += ts.length;
    }
    expect(checked).toBeGreaterThanOrEqual(60);
  });
});
