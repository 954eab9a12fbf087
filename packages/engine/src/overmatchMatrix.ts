import type { PatternFile } from '@l7mesh/patterns';
import { classifyClaimedFlows, type ClassifierLimits, type PreparedCapture } from './claimedFlows.js';
import { compilePatternSet } from './patternSet.js';

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

export async function buildOvermatchMatrix(
  files: readonly PatternFile[],
  prepared: readonly PreparedCapture[],
  limits: ClassifierLimits = {},
): Promise<OvermatchMatrix> {
  const single = prepared.filter((p) => p.capture.protocol !== undefined);
  const protocols = [...new Set(single.map((p) => p.capture.protocol!))].sort();
  const matrix: OvermatchMatrix = { patterns: files.map((f) => f.name), protocols, cells: {} };
  for (const file of files) {
    // X first, then the rest in default order: X wins exactly where it would
    // match no later than the pattern that wins today.
    const set = compilePatternSet(files, [file.name]);
    for (const p of single) {
      const protocol = p.capture.protocol!;
      if (protocol === file.name) continue;
      const { claimed } = await classifyClaimedFlows(p, set, limits);
      const won = claimed.filter((r) => r.l7 === file.name).length;
      if (won === 0) continue;
      const row = (matrix.cells[file.name] ??= {});
      row[protocol] = (row[protocol] ?? 0) + won;
    }
  }
  return matrix;
}
