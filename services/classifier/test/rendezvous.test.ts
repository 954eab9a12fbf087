import { describe, expect, it } from 'vitest';
import { assignPartitions, membershipEpoch } from '../src/index.js';

const count = (owners: string[]) => owners.reduce((m, o) => m.set(o, (m.get(o) ?? 0) + 1), new Map<string, number>());

describe('rendezvous partition ownership', () => {
  it('is the same whatever order the members are listed in, and every partition has one owner', () => {
    const a = assignPartitions(['w1', 'w2', 'w3'], 1024);
    expect(a).toHaveLength(1024);
    expect(assignPartitions(['w3', 'w1', 'w2'], 1024)).toEqual(a);
    expect(new Set(a)).toEqual(new Set(['w1', 'w2', 'w3']));
    expect(assignPartitions([], 1024)).toEqual([]);
  });

  it('shares the partitions out evenly', () => {
    for (const [n, p] of [[2, 1024], [3, 1024], [8, 1024]] as const) {
      const members = Array.from({ length: n }, (_, i) => `worker-${i}`);
      for (const share of count(assignPartitions(members, p)).values()) {
        expect(share).toBeGreaterThan((p / n) * 0.7);
        expect(share).toBeLessThan((p / n) * 1.3);
      }
    }
  });

  it('moves only the partitions of a member that leaves, and a joining member takes its share from everyone', () => {
    const before = assignPartitions(['w1', 'w2', 'w3'], 1024);
    const after = assignPartitions(['w1', 'w3'], 1024);
    before.forEach((owner, p) => {
      if (owner !== 'w2') expect(after[p]).toBe(owner);
      else expect(['w1', 'w3']).toContain(after[p]);
    });
    const joined = assignPartitions(['w1', 'w2', 'w3', 'w4'], 1024);
    const moved = joined.filter((owner, p) => owner !== before[p]);
    expect(new Set(moved)).toEqual(new Set(['w4']));
  });

  it('gives every member list its own epoch, the same on every worker', () => {
    expect(membershipEpoch(['w2', 'w1'])).toBe(membershipEpoch(['w1', 'w2']));
    expect(membershipEpoch(['w1', 'w2'])).not.toBe(membershipEpoch(['w1', 'w3']));
  });
});
