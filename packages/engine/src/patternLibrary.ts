import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { loadPatternDirs, type PatternFile } from '@l7mesh/patterns';
import { checkCaptures, type CaptureResult } from './captureCheck.js';
import { prepareCapture } from './claimedFlows.js';
import { fpThresholdOf, measureFalsePositives, type FalsePositiveOptions, type FalsePositiveReport } from './falsePositives.js';
import { listLabCaptures, type LabCapture } from './labCaptures.js';
import type { LibraryProblem } from './libraryProblems.js';
import { buildOvermatchMatrix, type OvermatchMatrix } from './overmatchMatrix.js';
import { compilePatternSet, type PatternSet } from './patternSet.js';
import { CORPUS_SCORE_FILE, type CorpusScoreRecord } from './scoreCaptures.js';

export interface PatternLibraryOptions extends FalsePositiveOptions {
  /** The lab's captures: `<dir>/<protocol>/<implementation>-<scenario>.pcap`. */
  capturesDir: string;
}

/** A pattern as the library's README and reports show it. */
export interface PatternSummary {
  name: string;
  file: string;
  description?: string;
  groups: string[];
  quality?: string;
  overmatch: boolean;
  fpThreshold: number;
  /** Captures in `<captures>/<name>/`. */
  captures: number;
  /** The programs those captures recorded, by name. */
  implementations: string[];
}

/** What can be said without classifying captures: the patterns, their captures on disk, false positives. */
export interface LibraryDescription {
  patterns: PatternSummary[];
  falsePositives: FalsePositiveReport;
  problems: LibraryProblem[];
  /** The development corpus's score, when the (first) pattern directory keeps one (`corpus-score.json`). */
  corpus?: CorpusScoreRecord;
}

export interface PatternLibraryReport extends LibraryDescription {
  captures: CaptureResult[];
  overmatch: OvermatchMatrix;
}

/** A directory as messages show it: relative to where the command runs when it lies below. */
function shownDir(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? dir : rel;
}

interface LoadedLibrary {
  /** The files that compiled, in load order. */
  files: PatternFile[];
  set: PatternSet;
  captures: LabCapture[];
  problems: LibraryProblem[];
  corpus?: CorpusScoreRecord;
}

/** The score `patterns score --record` kept in the first directory, if any. */
function loadCorpusScore(dirs: readonly string[], problems: LibraryProblem[]): CorpusScoreRecord | undefined {
  const file = dirs[0] === undefined ? undefined : join(dirs[0], CORPUS_SCORE_FILE);
  if (file === undefined || !existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CorpusScoreRecord;
  } catch (err) {
    problems.push({ code: 'PATTERN_INVALID', subject: file, message: `${file}: not a corpus score: ${(err as Error).message}` });
    return undefined;
  }
}

function loadLibrary(dirs: readonly string[], options: PatternLibraryOptions): LoadedLibrary {
  const loaded = loadPatternDirs([...dirs]);
  const problems: LibraryProblem[] = loaded.errors.map((e) => ({ code: 'PATTERN_INVALID', subject: e.file, message: e.message }));
  // The whole set in default order: what an operator runs, so what captures must pass.
  const set = compilePatternSet(loaded.patterns);
  for (const e of set.errors) problems.push({ code: 'PATTERN_INVALID', subject: e.file, message: e.message });
  const usable = new Set(set.patterns.map((p) => p.name));
  const corpus = loadCorpusScore(dirs, problems);
  return { files: loaded.patterns.filter((f) => usable.has(f.name)), set, captures: listLabCaptures(options.capturesDir), problems, ...(corpus ? { corpus } : {}) };
}

function describeLoaded(lib: LoadedLibrary, options: PatternLibraryOptions): LibraryDescription {
  const problems: LibraryProblem[] = [];
  const patterns = lib.files.map((f): PatternSummary => {
    const own = lib.captures.filter((c) => c.protocol === f.name);
    // Check 4: a pattern is only as trusted as the real programs it was seen to classify.
    if (own.length === 0) problems.push({ code: 'PATTERN_NO_CAPTURE', subject: f.name, message: `${f.name}: no capture in ${shownDir(options.capturesDir)}/${f.name}/` });
    return {
      name: f.name,
      file: f.file,
      ...(f.description !== undefined ? { description: f.description } : {}),
      groups: f.groups,
      ...(f.quality !== undefined ? { quality: f.quality } : {}),
      overmatch: f.overmatch,
      fpThreshold: fpThresholdOf(f).threshold,
      captures: own.length,
      implementations: [...new Set(own.map((c) => c.implementation))].sort(),
    };
  });
  const falsePositives = measureFalsePositives(lib.files, options);
  return { patterns, falsePositives, problems: [...problems, ...falsePositives.problems], ...(lib.corpus ? { corpus: lib.corpus } : {}) };
}

/** The patterns, their captures and false-positive rates: all that patterns/README.md shows. */
export function describePatternLibrary(dirs: readonly string[], options: PatternLibraryOptions): LibraryDescription {
  const lib = loadLibrary(dirs, options);
  const description = describeLoaded(lib, options);
  return { ...description, problems: [...lib.problems, ...description.problems] };
}

/**
 * `l7mesh patterns test`: every check on a pattern library. Problems are
 * errors; the tables (captures, overmatch matrix, false positives) are
 * reported either way, so a reviewer sees the overlaps too.
 */
export async function testPatternLibrary(dirs: readonly string[], options: PatternLibraryOptions): Promise<PatternLibraryReport> {
  const lib = loadLibrary(dirs, options);
  const limits = { maxPackets: options.maxPackets, maxDataLen: options.maxDataLen };
  const prepared = [];
  for (const capture of lib.captures) prepared.push(await prepareCapture(capture));
  const checked = await checkCaptures(prepared, lib.set, limits);
  const overmatch = buildOvermatchMatrix(lib.files, prepared, limits);
  const description = describeLoaded(lib, options);
  return {
    ...description,
    captures: checked.results,
    overmatch,
    problems: [...lib.problems, ...checked.problems, ...description.problems],
  };
}
