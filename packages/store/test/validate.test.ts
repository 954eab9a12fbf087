/** Field checks without a database: addresses as node:net's isIP takes them, the fast path for dotted quads included. */
import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { StoreError } from '@l7mesh/store';
import { checkAddress } from '../src/validate.js';
import { seeded } from './samples.js';

/** What checkAddress gives for `text`, or 'refused'. */
function checked(text: string): string {
  try {
    return checkAddress(text, 'src');
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).field).toBe('src');
    return 'refused';
  }
}

describe('checkAddress', () => {
  it('takes a dotted quad exactly when isIP does, as it is', () => {
    const cases = ['0.0.0.0', '255.255.255.255', '198.18.123.45', '1.2.3.4', '256.0.0.0', '1.2.3.256', '01.2.3.4', '1.2.3.04', '1.2.3.00', '1.2.3', '1.2.3.4.', '.1.2.3.4', '1..2.3', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.4.5', '1234.1.1.1', '1.2.3.4%eth0', '\u0661.2.3.4', '1.2.3.-4', '1.2.3.+4', '1.2.3.4/24', ''];
    // Quads of parts valid and not, a dot sometimes lost, doubled or moved: near misses as much as hits.
    const parts = ['0', '00', '01', '007', '9', '10', '99', '100', '199', '200', '249', '250', '255', '256', '299', '300', '1000', '', 'a', '-1', ' 1'];
    const rnd = seeded(7);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
    for (let i = 0; i < 50_000; i++) {
      let text = [pick(parts), pick(parts), pick(parts), pick(parts)].join('.');
      const at = Math.floor(rnd() * text.length);
      const change = rnd();
      if (change < 0.1) text = text.slice(0, at) + text.slice(at + 1);
      else if (change < 0.2) text = `${text.slice(0, at)}.${text.slice(at)}`;
      cases.push(text);
    }
    let taken = 0;
    for (const text of cases) {
      const family = isIP(text);
      if (family === 6) continue;
      const expected = family === 4 && !text.includes('%') ? text : 'refused';
      expect(checked(text), JSON.stringify(text)).toBe(expected);
      if (expected !== 'refused') taken++;
    }
    expect(taken).toBeGreaterThan(1_000);
  });

  it('gives IPv6 in its canonical text and refuses zones and non-strings', () => {
    expect(checked('2001:DB8:0:0:0:0:0:10')).toBe('2001:db8::10');
    expect(checked('2001:db8:0::1')).toBe('2001:db8::1');
    expect(checked('fe80::1%eth0')).toBe('refused');
    expect(() => checkAddress(16909060, 'dst')).toThrow(StoreError);
  });
});
