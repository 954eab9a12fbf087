import type { PatternSet } from '@l7mesh/engine';

/**
 * A 32-bit identity of a pattern set: its patterns' names and translated
 * expressions in order. Workers and edges that loaded the same files in the
 * same order agree on it; verdicts and heartbeats carry it, so a worker on
 * another rule set shows up in `cluster status`. (Versioned rule sets in the
 * store replace this with their own numbers.)
 */
export function ruleSetVersionOf(set: PatternSet): number {
  let h = 0x811c9dc5;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x0a, 0x01000193);
  };
  for (const p of set.patterns) {
    mix(p.name);
    mix(p.translated.hyperscan);
  }
  return h >>> 0;
}
