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
