import type { PatternFile } from '@l7mesh/patterns';
import { replayClaimedFlows, type ClassifierLimits, type PreparedCapture } from './claimedFlows.js';
import { createHeadScanner } from './classifyCapture.js';
import { compilePatternSet, type PatternSet } from './patternSet.js';

/**
 * Which patterns would take other protocols' traffic if they were tried
 * first. `cells[pattern][protocol]` counts the claimed flows of that
 * protocol's captures the pattern wins; patterns and protocols with no
 * overlap have no entry. Not an error by itself: the default order (and
 * `overmatch` patterns going last) is what must get captures right, and
 * check 1 tests that; the matrix shows reviewers where the order matters.
 */
export interface OvermatchMatrix {
  patterns: string[];
  /** Protocols that have captures (not `mixed`), by name. */
  protocols: string[];
  cells: Record<string, Record<string, number>>;
}

/** Claimed flows of each capture that `set` classifies as `name`, for captures with any. */
function wins(name: string, set: PatternSet, captures: readonly PreparedCapture[], limits: ClassifierLimits): Map<PreparedCapture, number> {
  const scanner = createHeadScanner('hyperscan', set, limits.maxDataLen);
  const won = new Map<PreparedCapture, number>();
  try {
    for (const p of captures) {
      const n = replayClaimedFlows(p, set, scanner, limits).claimed.filter((r) => r.l7 === name).length;
      if (n > 0) won.set(p, n);
    }
  } finally {
    scanner.close?.();
  }
  return won;
}

export function buildOvermatchMatrix(files: readonly PatternFile[], prepared: readonly PreparedCapture[], limits: ClassifierLimits = {}): OvermatchMatrix {
  const single = prepared.filter((p) => p.capture.protocol !== undefined);
  const protocols = [...new Set(single.map((p) => p.capture.protocol!))].sort();
  const matrix: OvermatchMatrix = { patterns: files.map((f) => f.name), protocols, cells: {} };
  for (const file of files) {
    const others = single.filter((p) => p.capture.protocol !== file.name);
    // X alone first: cheap (a one-pattern set), and X can only win a flow when
    // tried first if it matches that flow at all. Overlaps are rare, so the
    // whole set with X first is compiled only for the patterns that have some.
    const candidates = [...wins(file.name, compilePatternSet([file]), others, limits).keys()];
    if (candidates.length === 0) continue;
    // X first, then the rest in default order: X wins exactly where it
    // matches no later than the pattern that wins today.
    for (const [p, n] of wins(file.name, compilePatternSet(files, [file.name]), candidates, limits)) {
      const row = (matrix.cells[file.name] ??= {});
      row[p.capture.protocol!] = (row[p.capture.protocol!] ?? 0) + n;
    }
  }
  return matrix;
}
