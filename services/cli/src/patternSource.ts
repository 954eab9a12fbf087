import { fileURLToPath } from 'node:url';
import { compilePatternSet, EngineError, type PatternSet } from '@l7mesh/engine';
import { loadPatternDirs } from '@l7mesh/patterns';

/** The project's own pattern library, used when no --patterns is given. */
export const PROJECT_PATTERNS_DIR = fileURLToPath(new URL('../../../patterns/', import.meta.url));

export interface LoadedPatterns {
  set: PatternSet;
  /** Every problem as `file:line: reason`; the set holds everything else. */
  problems: string[];
}

/** Loads, translates and compiles pattern directories; bad files are reported, not fatal. */
export function loadPatternSet(dirs: readonly string[] | undefined, order: readonly string[] = []): LoadedPatterns {
  const { patterns, errors } = loadPatternDirs(dirs && dirs.length > 0 ? [...dirs] : [PROJECT_PATTERNS_DIR]);
  const loadProblems = errors.map((e) => e.message);
  try {
    const set = compilePatternSet(patterns, order);
    return { set, problems: [...loadProblems, ...set.errors.map((e) => e.message)] };
  } catch (err) {
    // Nothing usable: say why for every file, not only that the set is empty.
    if (err instanceof EngineError && err.code === 'ENGINE_NO_PATTERNS') {
      throw new EngineError(err.code, err.message, [...loadProblems, ...err.details]);
    }
    throw err;
  }
}
