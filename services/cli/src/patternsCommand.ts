import Table from 'cli-table3';
import { loadPatternDirs } from '@l7mesh/patterns';
import { loadPatternSet, PROJECT_PATTERNS_DIR } from './patternSource.js';

/**
 * `l7mesh patterns check DIR...`: load, translate, compile; non-zero on any
 * error. Every file is proven, unknown.pat and unset.pat too (classification
 * leaves them out).
 */
export function runPatternsCheck(dirs: string[]): number {
  const { set, problems } = loadPatternSet(dirs, [], { keepVerdictPatterns: true });
  for (const p of problems) process.stderr.write(`${p}\n`);
  process.stdout.write(`${set.patterns.length} patterns compiled, ${problems.length} errors\n`);
  return problems.length === 0 ? 0 : 1;
}

/** `l7mesh patterns list`: the loaded patterns with their metadata. */
export function runPatternsList(dirs: string[] | undefined): number {
  const { patterns, errors } = loadPatternDirs(dirs && dirs.length > 0 ? dirs : [PROJECT_PATTERNS_DIR]);
  const table = new Table({ head: ['name', 'quality', 'groups', 'attributes', 'file'], style: { head: [], border: [] } });
  for (const p of patterns) table.push([p.name, p.quality ?? '', p.groups.join(' '), p.attributes.join(' '), p.file]);
  process.stdout.write(`${table.toString()}\n`);
  for (const e of errors) process.stderr.write(`${e.message}\n`);
  return errors.length === 0 ? 0 : 1;
}
