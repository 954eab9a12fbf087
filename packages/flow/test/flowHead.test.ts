import { describe, expect, it } from 'vitest';
import { appendHeadBytes, copyHeadBytes } from '../src/flowHead.js';
import { ExpectationTable } from '../src/ftpHelper.js';
import { seededRandom } from '../src/synth.js';

/** The l7 copy written the obvious way: every non-NUL byte, up to `room`. */
function modelCopy(bytes: Uint8Array, room: number): number[] {
  return [...bytes].filter((b) => b !== 0).slice(0, room);
}

describe('copyHeadBytes', () => {
  const rand = seededRandom(3);
  const payload = (length: number, nulShare: number) => Uint8Array.from({ length }, () => (rand() < nulShare ? 0 : 1 + Math.floor(rand() * 255)));

  it('drops NULs and stops at room, short or long, with or without NULs (loop, four-byte steps and native paths)', () => {
    for (const length of [0, 1, 2, 3, 4, 5, 7, 8, 57, 255, 256, 300, 1400, 4000]) {
      for (const nulShare of [0, 0.01, 0.3, 0.8]) {
        for (const room of [0, 1, 100, 2047]) {
          const p = payload(length, nulShare);
          const target = new Uint8Array(room + 16).fill(0xee);
          const n = copyHeadBytes(p, target, 16, room);
          const want = modelCopy(p, room);
          expect(n).toBe(want.length);
          expect([...target.subarray(16, 16 + n)]).toEqual(want);
          expect([...target.subarray(0, 16)]).toEqual(Array(16).fill(0xee)); // nothing before offset
          if (16 + n < target.length) expect(target[16 + n]).toBe(0xee); // nothing past what it wrote
        }
      }
    }
  });

  it('reads a range of a larger buffer as that payload alone (a packet in its capture chunk)', () => {
    for (const [length, nulShare, fill] of [[40, 0.2, 0x41], [600, 0, 0x41], [600, 0.05, 0x41], [600, 0, 0], [40, 0, 0]] as const) {
      const p = payload(length, nulShare);
      // No NUL around the range (a search must not take one past its end for
      // the payload's), or NULs right before and after it (nor those).
      const chunk = new Uint8Array(length + 64).fill(fill);
      chunk.set(p, 32);
      const a = new Uint8Array(2047);
      const b = new Uint8Array(2047);
      const n = copyHeadBytes(chunk, a, 0, 2047, 32, 32 + length);
      expect(n).toBe(copyHeadBytes(p, b, 0, 2047));
      expect(a).toEqual(b);
      const c = new Uint8Array(2047);
      expect(appendHeadBytes(chunk, c, 0, 2047, 32, 32 + length)).toBe(n);
      expect([...c.subarray(0, n)]).toEqual(modelCopy(p, 2047).map((x) => (x >= 0x41 && x <= 0x5a ? x | 0x20 : x)));
    }
  });
});

describe('ExpectationTable', () => {
  it('knows which ports are expected, through claims, replacements and evictions', () => {
    const t = new ExpectationTable(2);
    expect(t.expecting(2000)).toBe(false);
    t.expect('198.18.0.1', 2000, 'parent-a', 10);
    t.expect('198.18.0.2', 2000, 'parent-b', 10);
    expect(t.expecting(2000)).toBe(true);
    expect(t.claim('198.18.0.1', 2001, 11)).toBeUndefined();
    expect(t.claim('198.18.0.1', 2000, 11)).toBe('parent-a');
    expect(t.expecting(2000)).toBe(true); // 198.18.0.2's is left
    t.expect('198.18.0.2', 2000, 'parent-c', 12); // replaces it
    expect(t.size).toBe(1);
    t.expect('198.18.0.3', 3000, 'parent-d', 12);
    t.expect('198.18.0.4', 4000, 'parent-e', 12); // full: 198.18.0.2's goes
    expect(t.expecting(2000)).toBe(false);
    expect(t.claim('198.18.0.2', 2000, 13)).toBeUndefined();
    expect([t.expecting(3000), t.expecting(4000)]).toEqual([true, true]);
    expect(t.claim('198.18.0.4', 4000, 13)).toBe('parent-e');
    expect(t.expecting(4000)).toBe(false);
  });
});
