import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePatternSet, type PatternSet } from '@l7mesh/engine';
import { loadPatternDirs } from '@l7mesh/patterns';
import { generatePatterns } from './patternGen.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The benchmark's pattern set: the project's patterns, a real l7-protocols
 * directory when L7_PROTOCOLS_DIR names one, and generated patterns up to 110.
 */
export function benchPatternSet(): { set: PatternSet; sources: string } {
  const dirs = [join(REPO_ROOT, 'patterns'), ...(process.env.L7_PROTOCOLS_DIR ? [process.env.L7_PROTOCOLS_DIR] : [])];
  const loaded = loadPatternDirs(dirs).patterns;
  const generated = generatePatterns(Math.max(0, 110 - loaded.length));
  const set = compilePatternSet([...loaded, ...generated]);
  return { set, sources: `${loaded.length} from ${dirs.join(', ')} + ${generated.length} generated` };
}

/** Which pattern set a benchmark run uses. */
export type PatternChoice = 'bench' | 'library' | 'library10';

/**
 * 'bench': the 110-pattern set above; 'library': the project's own patterns
 * only; 'library10': the first ten of them by name, to show what the number of
 * patterns costs (with Hyperscan, close to nothing).
 */
export function choosePatternSet(choice: PatternChoice): { set: PatternSet; sources: string } {
  if (choice === 'bench') return benchPatternSet();
  const all = loadPatternDirs([join(REPO_ROOT, 'patterns')]).patterns;
  const files = choice === 'library' ? all : [...all].sort((a, b) => (a.name < b.name ? -1 : 1)).slice(0, 10);
  return { set: compilePatternSet(files), sources: `${files.length} of the project's patterns` };
}
