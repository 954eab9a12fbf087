import { EngineError, loadPatternSet, type PatternSet } from '@l7mesh/engine';
import type { EdgeConfig } from './config.js';

export interface EdgePatterns {
  set: PatternSet;
  /** Every problem as `file:line: reason`, and marks for protocols no pattern defines. */
  warnings: string[];
  /** Files left out on purpose (unknown.pat, unset.pat), as `file: ignored: why`. */
  notices: string[];
}

/** Loads and compiles the configured pattern directories; bad files are warnings, not fatal. */
export function loadEdgePatterns(config: Pick<EdgeConfig, 'classification' | 'marks' | 'file'>, markedProtocols: readonly string[] = []): EdgePatterns {
  let loaded: ReturnType<typeof loadPatternSet>;
  try {
    loaded = loadPatternSet(config.classification.patterns, config.classification.order);
  } catch (err) {
    if (err instanceof EngineError && (err.code === 'ENGINE_NO_PATTERNS' || err.code === 'ENGINE_UNKNOWN_PATTERN')) {
      throw new EngineError(err.code, `${config.file}: classification: ${err.message.replace('--order', 'classification.order')}`, err.details);
    }
    throw err;
  }
  const { set, problems, notices } = loaded;
  const warnings = [...problems];
  const known = new Set(set.patterns.map((p) => p.name));
  for (const proto of markedProtocols) {
    if (!known.has(proto)) warnings.push(`${config.file}: marks: no loaded pattern defines "${proto}", so its mark is never set`);
  }
  return { set, warnings, notices };
}
