import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PatternFileError } from './errors.js';
import { parsePatternFile, type PatternFile } from './patFile.js';

export interface LoadResult {
  /** The files that loaded, in load order (by file name). */
  patterns: PatternFile[];
  /** One per file (or directory) that did not; its message is `file:line: reason`. */
  errors: PatternFileError[];
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The `.pat` files directly in `dir` and in its immediate subdirectories, as l7-filter looked. */
function patFilesOf(dir: string, errors: PatternFileError[]): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (err) {
    errors.push(new PatternFileError('PAT_IO', dir, 0, `cannot read pattern directory: ${reason(err)}`));
    return [];
  }
  const files: string[] = [];
  const subdirs: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry);
    if (isDirectory(path)) subdirs.push(path);
    else if (entry.endsWith('.pat')) files.push(path);
  }
  for (const sub of subdirs) {
    let inner: string[];
    try {
      inner = readdirSync(sub).sort();
    } catch (err) {
      errors.push(new PatternFileError('PAT_IO', sub, 0, `cannot read pattern directory: ${reason(err)}`));
      continue;
    }
    for (const entry of inner) {
      const path = join(sub, entry);
      if (entry.endsWith('.pat') && !isDirectory(path)) files.push(path);
    }
  }
  return files;
}

const byFileName = (a: string, b: string) => {
  const [x, y] = [basename(a), basename(b)];
  if (x !== y) return x < y ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
};

/**
 * Loads every `*.pat` file in each directory and its immediate
 * subdirectories (as l7-filter searched /etc/l7-protocols), sorted by file
 * name (then path). Files are read as latin1, so a regex keeps its exact
 * bytes. A bad file adds an error and the rest still load; a protocol name
 * defined twice is an error naming both files, and the first is kept.
 */
export function loadPatternDirs(dirs: string[]): LoadResult {
  const errors: PatternFileError[] = [];
  const files = dirs.flatMap((dir) => patFilesOf(dir, errors)).sort(byFileName);
  const patterns: PatternFile[] = [];
  const byName = new Map<string, PatternFile>();
  for (const file of [...new Set(files)]) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch (err) {
      errors.push(new PatternFileError('PAT_IO', file, 0, `cannot read pattern file: ${reason(err)}`));
      continue;
    }
    let pattern: PatternFile;
    try {
      pattern = parsePatternFile(text, file);
    } catch (err) {
      if (!(err instanceof PatternFileError)) throw err;
      errors.push(err);
      continue;
    }
    const first = byName.get(pattern.name);
    if (first) {
      errors.push(
        new PatternFileError(
          'PAT_DUPLICATE',
          file,
          pattern.nameLine,
          `protocol "${pattern.name}" is already defined by ${first.file}:${first.nameLine} (that one is kept)`,
        ),
      );
      continue;
    }
    byName.set(pattern.name, pattern);
    patterns.push(pattern);
  }
  return { patterns, errors };
}
