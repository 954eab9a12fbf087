import { compilePatternSet, EngineError, type PatternSet } from '@l7mesh/engine';
import { loadPatternDirs } from '@l7mesh/patterns';
import type { EdgeConfig } from './config.js';

export interface EdgePatterns {
  set: PatternSet;
  /** Every problem as `file:line: reason`, and marks for protocols no pattern defines. */
  warnings: string[];
}

/** Loads and compiles the configured pattern directories; bad files are warnings, not fatal. */
export function loadEdgePatterns(config: Pick<EdgeConfig, 'classification' | 'marks' | 'file'>, markedProtocols: readonly string[] = []): EdgePatterns {
  const { patterns, errors } = loadPatternDirs([...config.classification.patterns]);
  const warnings = errors.map((e) => e.message);
  let set: PatternSet;
  try {
    set = compilePatternSet(patterns, config.classification.order);
  } catch (err) {
    if (err instanceof EngineError && (err.code === 'ENGINE_NO_PATTERNS' || err.code === 'ENGINE_UNKNOWN_PATTERN')) {
      throw new EngineError(err.code, `${config.file}: classification: ${err.message.replace('--order', 'classification.order')}`, [...warnings, ...err.details]);
    }
    throw err;
  }
  warnings.push(...set.errors.map((e) => e.message));
  const known = new Set(set.patterns.map((p) => p.name));
  for (const proto of markedProtocols) {
    if (!known.has(proto)) warnings.push(`${config.file}: marks: no loaded pattern defines "${proto}", so its mark is never set`);
  }
  return { set, warnings };
}
