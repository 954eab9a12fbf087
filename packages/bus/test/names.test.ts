/** Names: every subject, stream and bucket from one prefix; KV keys for cached verdicts. */
import { describe, expect, it } from 'vitest';
import { BusError, busNames, verdictCacheKey } from '@l7mesh/bus';

describe('busNames', () => {
  it('makes the default l7 names', () => {
    const n = busNames();
    expect(n.prefix).toBe('l7');
    expect(n.head(3)).toBe('l7.head.3');
    expect(n.headWildcard).toBe('l7.head.*');
    expect(n.verdict('edge-a')).toBe('l7.verdict.edge-a');
    expect(n.verdictWildcard).toBe('l7.verdict.>');
    expect(n.edgeWatermark('edge-a')).toBe('l7.edge.edge-a');
    expect(n.edgeWatermarkWildcard).toBe('l7.edge.*');
    expect(n.eventsSubject).toBe('l7.events.verdict');
    expect(n.eventsStream).toBe('L7_EVENTS');
    expect(n.membersBucket).toBe('l7_members');
    expect(n.verdictsBucket).toBe('l7_verdicts');
  });

  it('takes a custom prefix', () => {
    const n = busNames('t_42');
    expect(n.head(0)).toBe('t_42.head.0');
    expect(n.eventsStream).toBe('T_42_EVENTS');
    expect(n.verdictsBucket).toBe('t_42_verdicts');
    expect(busNames('a'.repeat(32)).prefix).toHaveLength(32);
  });

  it('rejects a bad prefix, partition or edge with BUS_BAD_OPTION', () => {
    for (const bad of ['', 'L7', 'l7.x', 'l7-x', 'l7*', 'a'.repeat(33), ' l7']) {
      expect(() => busNames(bad), bad).toThrow(expect.objectContaining({ code: 'BUS_BAD_OPTION', field: 'prefix' }));
    }
    const n = busNames();
    expect(() => n.head(-1)).toThrow(BusError);
    expect(() => n.head(1.5)).toThrow(BusError);
    for (const bad of ['', 'a.b', 'a*', '>', 'a b']) expect(() => n.verdict(bad), bad).toThrow(expect.objectContaining({ code: 'BUS_BAD_OPTION', field: 'edge' }));
  });
});

describe('verdictCacheKey', () => {
  it('makes a valid KV key from a zone and a byte string', () => {
    const key = '\x00\x01\xff\x7f.*> ' + String.fromCharCode(200);
    const k = verdictCacheKey(7, key);
    expect(k).toBe('7.0001ff7f2e2a3e20c8');
    expect(k).toMatch(/^[A-Za-z0-9_=.-]+$/);
    expect(verdictCacheKey(0, 'A')).toBe('0.41');
  });

  it('rejects chars above 255, an empty key and a bad zone', () => {
    expect(() => verdictCacheKey(1, 'ā')).toThrow(expect.objectContaining({ code: 'BUS_BAD_OPTION', field: 'key' }));
    expect(() => verdictCacheKey(1, '')).toThrow(expect.objectContaining({ code: 'BUS_BAD_OPTION', field: 'key' }));
    expect(() => verdictCacheKey(-1, 'a')).toThrow(expect.objectContaining({ code: 'BUS_BAD_OPTION', field: 'zone' }));
  });
});
