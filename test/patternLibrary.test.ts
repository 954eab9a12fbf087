import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PATTERN_README_COMMAND, renderPatternReadme, testPatternLibrary, type LibraryProblemCode, type PatternLibraryReport } from '@l7mesh/engine';
import { CAPTURES_DIR, PATTERNS_DIR } from './captureCorpus.js';

// The project's own pattern library, checked as `l7mesh patterns test` checks
// it (same library functions, not the CLI): every pattern proven by captures
// of real programs, no capture misclassified, false positives on random
// flows under each pattern's threshold, and patterns/README.md current.
let report: PatternLibraryReport;
beforeAll(async () => {
  report = await testPatternLibrary([PATTERNS_DIR], { capturesDir: CAPTURES_DIR });
});

const problems = (...codes: LibraryProblemCode[]) => report.problems.filter((p) => codes.includes(p.code)).map((p) => p.message);

describe('the project pattern library', () => {
  it('loads and compiles every pattern', () => {
    expect(problems('PATTERN_INVALID', 'PATTERN_BAD_THRESHOLD')).toEqual([]);
  });

  it('classifies every lab capture as its folder says', () => {
    expect(problems('CAPTURE_MISCLASSIFIED', 'CAPTURE_NO_PAYLOAD', 'CAPTURE_UNREADABLE', 'CAPTURE_UNKNOWN_PROTOCOL')).toEqual([]);
  });

  it('has a capture in test/captures/<name>/ proving every pattern', () => {
    const without = report.problems.filter((p) => p.code === 'PATTERN_NO_CAPTURE').map((p) => p.subject);
    expect(without, 'patterns without a capture of their own (record one with infra/lab/)').toEqual([]);
  });

  it('keeps every pattern under its false-positive threshold on random flows', () => {
    expect(problems('PATTERN_FP_EXCEEDED')).toEqual([]);
  });

  it('gets the same verdicts from the Hyperscan and reference engines', () => {
    expect(problems('ENGINES_DISAGREE')).toEqual([]);
  });

  it('has a current patterns/README.md', () => {
    const file = join(PATTERNS_DIR, 'README.md');
    const committed = existsSync(file) ? readFileSync(file, 'utf8') : '(patterns/README.md is missing)\n';
    expect(committed, `patterns/README.md is not current: run \`${PATTERN_README_COMMAND}\``).toBe(renderPatternReadme(report));
  });
});
