import { Database, HsFlag, HyperscanError, type PatternSpec } from '@l7mesh/hyperscan';
import { PatternSyntaxError, translateL7Regex, type PatternFile, type TranslatedPattern } from '@l7mesh/patterns';
import type { DatabaseCache } from './databaseCache.js';
import { EngineError } from './errors.js';
import { orderPatterns } from './patternOrder.js';

/** A pattern as the engines use it; `index` is its place in the order. */
export interface ClassifierPattern {
  index: number;
  name: string;
  file: string;
  regexLine: number;
  translated: TranslatedPattern;
}

/** A pattern that could not join the set, with `file:line: reason` as message. */
export interface PatternSetError {
  file: string;
  line: number;
  message: string;
}

/** The ordered, compiled patterns shared by both engines, so they judge alike. */
export interface PatternSet {
  patterns: ClassifierPattern[];
  errors: PatternSetError[];
  /** Hyperscan stream database of the patterns without `$`; ids are order indexes. */
  database: Database;
  /**
   * The patterns that use `$`, apart: their end of data must be checked after
   * every packet by copying the stream, and a copy of this small database's
   * state is far cheaper than one of the whole set's.
   */
  endDatabase: Database | undefined;
}

function hsSpec(p: ClassifierPattern): PatternSpec {
  // DOTALL: Spencer's `.` matches any byte. SINGLEMATCH: a pattern either
  // matched a flow or not; later matches carry no news.
  const flags = HsFlag.DOTALL | HsFlag.SINGLEMATCH | (p.translated.matchesEmpty ? HsFlag.ALLOWEMPTY : 0);
  return { id: p.index, expression: p.translated.hyperscan, flags };
}

/** l7 data never holds a NUL byte, so this never matches; the id is never reported. */
const NEVER_MATCHES: PatternSpec = { id: 0x7fffffff, expression: '\\x00', flags: 0 };

export interface CompilePatternSetOptions {
  /** Compiled databases on disk: used when an entry fits, written after a compile. */
  cache?: DatabaseCache;
}

type Candidate = Omit<ClassifierPattern, 'index'>;

/** The two stream databases of the candidates, and which candidates libhs rejected. */
interface Compiled {
  /** Undefined when libhs rejected every candidate. */
  database: Database | undefined;
  endDatabase: Database | undefined;
  rejected: { candidate: number; reason: string }[];
}

const specsOf = (patterns: readonly ClassifierPattern[]): PatternSpec[] => patterns.map(hsSpec);

/** What is compiled for a list of surviving candidates: plain and `$` databases. */
function databaseSpecs(patterns: readonly ClassifierPattern[]): { plain: PatternSpec[]; anchored: PatternSpec[] } {
  // libhs refuses an empty database: a set of only `$` patterns gets a never-matching one.
  const plain = specsOf(patterns.filter((p) => !p.translated.usesEndAnchor));
  return { plain: plain.length > 0 ? plain : [NEVER_MATCHES], anchored: specsOf(patterns.filter((p) => p.translated.usesEndAnchor)) };
}

const numbered = (candidates: readonly Candidate[]): ClassifierPattern[] => candidates.map((c, index) => ({ ...c, index }));

function compileCandidates(candidates: readonly Candidate[]): Compiled {
  const rejected: Compiled['rejected'] = [];
  // Candidate indexes still in: libhs names the first expression it rejects, which is dropped before a retry.
  let alive = candidates.map((_, i) => i);
  for (;;) {
    if (alive.length === 0) return { database: undefined, endDatabase: undefined, rejected };
    const patterns = numbered(alive.map((i) => candidates[i]!));
    try {
      const { plain, anchored } = databaseSpecs(patterns);
      const database = Database.compile(plain, 'stream');
      const endDatabase = anchored.length > 0 ? Database.compile(anchored, 'stream') : undefined;
      return { database, endDatabase, rejected };
    } catch (err) {
      if (!(err instanceof HyperscanError) || err.code !== 'HS_COMPILE' || err.patternId === undefined) throw err;
      rejected.push({ candidate: alive[err.patternId]!, reason: err.message });
      alive = alive.filter((_, i) => i !== err.patternId);
    }
  }
}

/** The candidates' expressions and flags as the cache keys them: the databases tried first. */
function cacheKeyOf(cache: DatabaseCache, candidates: readonly Candidate[]): string {
  const { plain, anchored } = databaseSpecs(numbered(candidates));
  const spec = (list: PatternSpec[]) => ({ expressions: list.map((p) => p.expression as string), flags: list.map((p) => p.flags) });
  return cache.keyOf([spec(plain), spec(anchored)]);
}

/** A stored entry names each rejected candidate once, and has a `$` database exactly when a survivor uses `$`. */
function fitsCandidates(rejected: readonly { candidate: number }[], hasEnd: boolean, candidates: readonly Candidate[]): boolean {
  const dropped = new Set(rejected.map((r) => r.candidate));
  if (dropped.size !== rejected.length || rejected.some((r) => r.candidate >= candidates.length)) return false;
  if (dropped.size === candidates.length) return false;
  return hasEnd === candidates.some((c, i) => !dropped.has(i) && c.translated.usesEndAnchor);
}

function compileWithCache(candidates: readonly Candidate[], cache: DatabaseCache | undefined): Compiled {
  if (!cache) return compileCandidates(candidates);
  const key = cacheKeyOf(cache, candidates);
  // Two databases are stored, or one when no surviving pattern uses `$`.
  const stored = cache.load(key);
  if (stored) {
    const [database, endDatabase] = stored.databases;
    if (fitsCandidates(stored.rejected, endDatabase !== undefined, candidates)) return { database: database!, endDatabase, rejected: stored.rejected };
    for (const db of stored.databases) db.close();
  }
  const compiled = compileCandidates(candidates);
  if (compiled.database) {
    cache.store(key, { databases: compiled.endDatabase ? [compiled.database, compiled.endDatabase] : [compiled.database], rejected: compiled.rejected });
  }
  return compiled;
}

/**
 * Translates, orders and compiles pattern files. A pattern that cannot be
 * translated or that Hyperscan rejects is reported and left out; the rest
 * still form the set. With a cache, a set compiled before on this host is
 * loaded instead of compiled.
 */
export function compilePatternSet(files: readonly PatternFile[], order: readonly string[] = [], options: CompilePatternSetOptions = {}): PatternSet {
  const errors: PatternSetError[] = [];
  const candidates: Candidate[] = [];
  for (const f of orderPatterns(files, order)) {
    try {
      candidates.push({ name: f.name, file: f.file, regexLine: f.regexLine, translated: translateL7Regex(f.regex) });
    } catch (err) {
      if (!(err instanceof PatternSyntaxError)) throw err;
      errors.push({ file: f.file, line: f.regexLine, message: `${f.file}:${f.regexLine}: column ${err.column}: ${err.message}` });
    }
  }
  const noPatterns = () => new EngineError('ENGINE_NO_PATTERNS', 'no usable pattern: nothing to classify with', errors.map((e) => e.message));
  if (candidates.length === 0) throw noPatterns();
  const { database, endDatabase, rejected } = compileWithCache(candidates, options.cache);
  const dropped = new Set<number>();
  for (const r of rejected) {
    const bad = candidates[r.candidate]!;
    dropped.add(r.candidate);
    errors.push({ file: bad.file, line: bad.regexLine, message: `${bad.file}:${bad.regexLine}: Hyperscan rejects the pattern: ${r.reason}` });
  }
  if (!database) throw noPatterns();
  const patterns = numbered(candidates.filter((_, i) => !dropped.has(i)));
  return { patterns, errors, database, endDatabase };
}
