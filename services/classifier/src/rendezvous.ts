/**
 * Partition ownership by rendezvous (highest random weight) hashing: every
 * member scores every partition, the highest score owns it. Each worker
 * computes the same assignment from the same member list, with no
 * coordination; when a member leaves, only its partitions move, spread
 * over the others, and when one joins it takes about 1/N from each.
 */

function mix32(x: number): number {
  // A 32-bit avalanche (murmur3's finaliser): small input changes flip half the bits.
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function seedOf(member: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < member.length; i++) h = Math.imul(h ^ member.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** The owner of every partition (index: partition) for these members (none: an empty list). */
export function assignPartitions(members: readonly string[], partitions: number): string[] {
  if (members.length === 0) return [];
  const sorted = [...members].sort();
  const seeds = sorted.map(seedOf);
  const owners = new Array<string>(partitions);
  for (let p = 0; p < partitions; p++) {
    let best = 0;
    let bestScore = -1;
    for (let m = 0; m < sorted.length; m++) {
      const score = mix32(seeds[m]! ^ Math.imul(p + 1, 0x9e3779b1));
      if (score > bestScore) {
        bestScore = score;
        best = m;
      }
    }
    owners[p] = sorted[best]!;
  }
  return owners;
}

/** An epoch for a member list: the same on every worker that sees the same members. */
export function membershipEpoch(members: readonly string[]): number {
  return seedOf([...members].sort().join('\n'));
}
