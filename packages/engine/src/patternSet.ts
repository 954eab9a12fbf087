import { Database, HsFlag, HyperscanError, type PatternSpec } from '@l7mesh/hyperscan';
import { PatternSyntaxError, translateL7Regex, type PatternFile, type TranslatedPattern } from '@l7mesh/patterns';
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

/**
 * Translates, orders and compiles pattern files. A pattern that cannot be
 * translated or that Hyperscan rejects is reported and left out; the rest
 * still form the set.
 */
export function compilePatternSet(files: readonly PatternFile[], order: readonly string[] = []): PatternSet {
  const errors: PatternSetError[] = [];
  let candidates: Omit<ClassifierPattern, 'index'>[] = [];
  for (const f of orderPatterns(files, order)) {
    try {
      candidates.push({ name: f.name, file: f.file, regexLine: f.regexLine, translated: translateL7Regex(f.regex) });
    } catch (err) {
      if (!(err instanceof PatternSyntaxError)) throw err;
      errors.push({ file: f.file, line: f.regexLine, message: `${f.file}:${f.regexLine}: column ${err.column}: ${err.message}` });
    }
  }
  for (;;) {
    if (candidates.length === 0) {
      throw new EngineError('ENGINE_NO_PATTERNS', 'no usable pattern: nothing to classify with', errors.map((e) => e.message));
    }
    const patterns = candidates.map((c, index) => ({ ...c, index }));
    try {
      const plain = patterns.filter((p) => !p.translated.usesEndAnchor);
      const anchored = patterns.filter((p) => p.translated.usesEndAnchor);
      // libhs refuses an empty database: a set of only `$` patterns gets a never-matching one.
      const database = Database.compile(plain.length > 0 ? plain.map(hsSpec) : [NEVER_MATCHES], 'stream');
      const endDatabase = anchored.length > 0 ? Database.compile(anchored.map(hsSpec), 'stream') : undefined;
      return { patterns, errors, database, endDatabase };
    } catch (err) {
      // hs_compile_multi names the first expression it rejects: drop it and retry.
      if (!(err instanceof HyperscanError) || err.code !== 'HS_COMPILE' || err.patternId === undefined) throw err;
      const bad = patterns[err.patternId]!;
      errors.push({ file: bad.file, line: bad.regexLine, message: `${bad.file}:${bad.regexLine}: Hyperscan rejects the pattern: ${err.message}` });
      candidates = candidates.filter((_, i) => i !== err.patternId);
    }
  }
}
