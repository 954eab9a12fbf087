import { describe, expect, it } from 'vitest';
import { PatternFileError, PatternSyntaxError, parsePatternFile, translateL7Regex, type TranslatedPattern } from '../src/index.js';
import { Prng } from './support/prng.js';
import { randomData, randomRegex } from './support/regexGen.js';
import { spencerOracle } from './support/spencerOracle.js';
import { SYNTHETIC } from './support/syntheticPatterns.js';

/** Wall-clock budget per fuzz loop: stop early rather than slow the suite down. */
const BUDGET_MS = 8_000;

/** Translates; any throw other than PatternSyntaxError fails the test. Checks what a success must be. */
function translateChecked(regex: string): TranslatedPattern | undefined {
  let t: TranslatedPattern;
  try {
    t = translateL7Regex(regex);
  } catch (err) {
    if (!(err instanceof PatternSyntaxError)) throw new Error(`${JSON.stringify(regex)} threw ${String(err)}`);
    expect(err.column).toBeGreaterThanOrEqual(1);
    expect(err.column).toBeLessThanOrEqual(regex.length + 1);
    return undefined;
  }
  expect(() => new RegExp(t.javascript, ''), JSON.stringify(regex)).not.toThrow();
  expect(t.hyperscan).toMatch(/^[\x01-\xff]*$/);
  return t;
}

/** Runs loop(i) until count or the time budget is reached; returns how many ran. */
function bounded(count: number, loop: (i: number) => void): number {
  const start = performance.now();
  let i = 0;
  for (; i < count && performance.now() - start < BUDGET_MS; i++) loop(i);
  return i;
}

describe('fuzz: translateL7Regex', () => {
  it('random regex text: only PatternSyntaxError, and the JS agrees with an independent Spencer model', () => {
    const r = new Prng(0x17f11);
    let valid = 0;
    let compared = 0;
    const ran = bounded(4000, () => {
      const regex = randomRegex(r);
      const t = translateChecked(regex);
      if (!t) return;
      valid++;
      const js = new RegExp(t.javascript, '');
      const oracle = spencerOracle(regex);
      for (let k = 0; k < 12; k++) {
        const data = randomData(r, regex);
        const expected = oracle(data);
        if (expected === undefined) continue;
        compared++;
        expect(js.test(data), `${JSON.stringify(regex)} on ${JSON.stringify(data)} (js ${t.javascript})`).toBe(expected);
      }
    });
    expect(ran).toBeGreaterThan(200);
    expect(valid).toBeGreaterThan(ran / 10);
    expect(compared).toBeGreaterThan(valid);
  });

  it('mutated patterns: only PatternSyntaxError, and valid results still agree with the model', () => {
    const r = new Prng(0xbadc0de);
    const seeds = SYNTHETIC.map((c) => c.regex).filter((s) => s.length < 200);
    const alphabet = [...'()[]|*+?.^$\\-{}:xaA0 ', '\\x2e', '\\x5c', '\\x7c', '\\x00', '\\x5d', '[:alpha:]'];
    const ran = bounded(3000, () => {
      let s = r.pick(seeds);
      for (let m = 1 + r.int(3); m > 0; m--) {
        const at = r.int(s.length + 1);
        const op = r.int(3);
        if (op === 0) s = s.slice(0, at) + r.pick(alphabet) + s.slice(at);
        else if (op === 1) s = s.slice(0, at) + s.slice(at + 1 + r.int(3));
        else s = s.slice(0, at) + s.slice(r.int(s.length + 1));
      }
      const t = translateChecked(s);
      if (!t) return;
      const js = new RegExp(t.javascript, '');
      const oracle = spencerOracle(s);
      for (let k = 0; k < 6; k++) {
        const data = randomData(r, s);
        const expected = oracle(data);
        if (expected !== undefined) expect(js.test(data), `${JSON.stringify(s)} on ${JSON.stringify(data)}`).toBe(expected);
      }
    });
    expect(ran).toBeGreaterThan(200);
  });

  it('arbitrary byte strings: only PatternSyntaxError', () => {
    const r = new Prng(42);
    const ran = bounded(3000, () => {
      let s = '';
      for (let n = r.int(40); n > 0; n--) s += String.fromCharCode(r.chance(0.05) ? 0x100 + r.int(50) : r.int(256));
      translateChecked(s);
    });
    expect(ran).toBeGreaterThan(200);
  });

  it('long and deeply nested input stays fast', () => {
    const start = performance.now();
    translateChecked(`${'('.repeat(9)}a${')'.repeat(9)}`);
    translateChecked('(a|'.repeat(9) + ')'.repeat(9));
    translateChecked('a?'.repeat(400) + '^b$' + 'c?'.repeat(400));
    translateChecked('[\\x01-\\xff]'.repeat(125));
    translateChecked('x.?'.repeat(2700));
    expect(performance.now() - start).toBeLessThan(5_000);
  });
});

describe('fuzz: parsePatternFile', () => {
  const lineKinds = (r: Prng): string => {
    switch (r.int(11)) {
      case 0:
        return '# ' + r.pick(['Fuzz - a protocol', 'Pattern attributes: good fast', 'Protocol groups: a b', 'Wiki: x', 'Rule: x', '  continued']);
      case 1:
        return `# Sample-${r.pick(['match', 'nomatch'])}: ${r.pick(['ok', 'a\\r\\n', '\\x4', '\\q', 'x\\', '\\x41\\t\\\\', '\u0101'])}`;
      case 2:
        return '';
      case 3:
        return r.pick([' ', '\t', '  # not a comment']);
      case 4:
        return r.pick(['fuzz', 'fuzz extra words', 'other', 'fuzz\tx']);
      case 5:
        return `userspace ${r.pick(['pattern', 'flags'])}=${r.pick(['^x', 'REG_NOSUB', ''])}`;
      case 6:
      case 7:
        return randomRegex(r);
      case 8: {
        let s = '';
        for (let n = r.int(20); n > 0; n--) s += String.fromCharCode(r.int(256));
        return s.replace(/\n/g, '');
      }
      case 9:
        return '#';
      default:
        return r.pick(['^fuzz', 'a(b', '[x', '\\x00']);
    }
  };

  it('random files: a PatternFile or a PatternFileError with "file:line:", nothing else', () => {
    const r = new Prng(7);
    let loaded = 0;
    const ran = bounded(3000, () => {
      const lines = Array.from({ length: r.int(10) }, () => lineKinds(r));
      const text = lines.join(r.chance(0.2) ? '\r\n' : '\n') + (r.chance(0.5) ? '\n' : '');
      try {
        const p = parsePatternFile(text, 'dir/fuzz.pat');
        loaded++;
        expect(p.name).toBe('fuzz');
        expect(p.regexLine).toBeGreaterThan(p.nameLine);
        expect(translateChecked(p.regex)).toBeDefined();
      } catch (err) {
        if (!(err instanceof PatternFileError)) throw new Error(`${JSON.stringify(text)} threw ${String(err)}`);
        expect(err.message.startsWith(`dir/fuzz.pat:${err.line}: `)).toBe(true);
        expect(err.line).toBeGreaterThanOrEqual(1);
      }
    });
    expect(ran).toBeGreaterThan(200);
    expect(loaded).toBeGreaterThan(0);
  });
});
