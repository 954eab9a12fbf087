import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describePatternLibrary, renderPatternReadme, testPatternLibrary } from '@l7mesh/engine';
import { captureTable, falsePositiveTable, overmatchTable } from './patternLibraryTables.js';
import { PROJECT_PATTERNS_DIR } from './patternSource.js';

/** The lab's captures of real programs, which prove the project's patterns. */
export const PROJECT_CAPTURES_DIR = fileURLToPath(new URL('../../../test/captures/', import.meta.url));

export interface PatternsTestOptions {
  captures?: string;
  flows?: number;
  json?: boolean;
}

/** `l7mesh patterns test [DIR...]`: the three tables and every error; 1 when there is any error. */
export async function runPatternsTest(dirs: string[], opts: PatternsTestOptions): Promise<number> {
  const report = await testPatternLibrary(dirs.length > 0 ? dirs : [PROJECT_PATTERNS_DIR], {
    capturesDir: opts.captures ?? PROJECT_CAPTURES_DIR,
    ...(opts.flows !== undefined ? { flows: opts.flows } : {}),
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const fp = report.falsePositives;
    process.stdout.write(
      [
        'Captures: every flow with payload must be classified as the folder says (whole set, default order)',
        captureTable(report.captures),
        '',
        'Overmatch: flows of other protocols a pattern takes when it is tried first',
        overmatchTable(report.overmatch),
        '',
        `False positives: share of ${fp.flowsPerKind} random flows per kind a pattern claims alone (seed ${fp.seed})`,
        falsePositiveTable(fp),
        '',
        report.problems.length === 0 ? 'no errors' : `${report.problems.length} errors:`,
        ...report.problems.map((p) => `  ${p.code}: ${p.message}`),
        '',
      ].join('\n'),
    );
  }
  return report.problems.length === 0 ? 0 : 1;
}

/** `l7mesh patterns readme [DIR] [--write]`: the library's README, printed or written to DIR/README.md. */
export function runPatternsReadme(dir: string | undefined, opts: { write?: boolean }): number {
  const patternsDir = dir ?? PROJECT_PATTERNS_DIR;
  const text = renderPatternReadme(describePatternLibrary([patternsDir], { capturesDir: PROJECT_CAPTURES_DIR }));
  if (opts.write) {
    const file = join(patternsDir, 'README.md');
    writeFileSync(file, text);
    process.stderr.write(`wrote ${file}\n`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}
