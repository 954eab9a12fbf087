import { fileURLToPath } from 'node:url';
import { loadPatternSet as loadPatternDirsSet, type LoadedPatternSet, type LoadPatternSetOptions } from '@l7mesh/engine';

/** The project's own pattern library, used when no --patterns is given. */
export const PROJECT_PATTERNS_DIR = fileURLToPath(new URL('../../../patterns/', import.meta.url));

/**
 * Loads, translates and compiles pattern directories (the project's own when
 * none are given); bad files are reported, not fatal. unknown.pat and
 * unset.pat are notices, not patterns, unless `keepVerdictPatterns`.
 */
export function loadPatternSet(dirs: readonly string[] | undefined, order: readonly string[] = [], options: LoadPatternSetOptions = {}): LoadedPatternSet {
  return loadPatternDirsSet(dirs && dirs.length > 0 ? dirs : [PROJECT_PATTERNS_DIR], order, options);
}
