import { describe, expect, it } from 'vitest';
import { DEFAULT_PARTITIONS, partitionOf } from '@l7mesh/wire';

const v4Key = (proto: number, a: number[], ap: number, b: number[], bp: number) => String.fromCharCode(proto, ...a, ap >> 8, ap & 0xff, ...b, bp >> 8, bp & 0xff);

describe('partitionOf', () => {
  it('puts every connection between two hosts in one partition (an FTP data connection finds its control connection)', () => {
    const control = v4Key(6, [198, 18, 0, 1], 40000, [198, 18, 0, 2], 21);
    const data = v4Key(6, [198, 18, 0, 1], 40001, [198, 18, 0, 2], 30004);
    const udp = v4Key(17, [198, 18, 0, 1], 5353, [198, 18, 0, 2], 53);
    const p = partitionOf(0, control, DEFAULT_PARTITIONS);
    expect(partitionOf(0, data, DEFAULT_PARTITIONS)).toBe(p);
    expect(partitionOf(0, udp, DEFAULT_PARTITIONS)).toBe(p);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(DEFAULT_PARTITIONS);
  });

  it('keeps zones apart and spreads address pairs evenly', () => {
    const key = v4Key(6, [10, 0, 0, 1], 1, [10, 0, 0, 2], 2);
    const zones = new Set(Array.from({ length: 64 }, (_, zone) => partitionOf(zone, key, DEFAULT_PARTITIONS)));
    expect(zones.size).toBeGreaterThan(50);
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) counts[partitionOf(0, v4Key(6, [100, 64, (i >> 8) & 0xff, i & 0xff], 1000, [198, 18, i % 7, 1], 443), 64)]!++;
    for (const n of counts) {
      expect(n).toBeGreaterThan(800);
      expect(n).toBeLessThan(1200);
    }
  });

  it('takes IPv6 keys', () => {
    const a = Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 1 ? 0x01 : i === 2 ? 0x0d : i === 3 ? 0xb8 : i));
    const b = [...a.slice(0, 15), 0xff];
    const key = String.fromCharCode(6, ...a, 0, 80, ...b, 0x9c, 0x40);
    expect(key).toHaveLength(37);
    const p = partitionOf(3, key, 1024);
    expect(partitionOf(3, String.fromCharCode(17, ...a, 0, 53, ...b, 0x9c, 0x41), 1024)).toBe(p);
  });
});
