import { loadPatternDirs, type PatternFile } from '@l7mesh/patterns';
import { DatabaseCache } from './databaseCache.js';
import { EngineError } from './errors.js';
import { compilePatternSet, type PatternSet } from './patternSet.js';

/**
 * Protocol names that are verdicts, not patterns. l7-protocols ships
 * unknown.pat and unset.pat (regex `.`) so that iptables rules can name them;
 * the kernel never matched them by regex. Loaded as patterns, `.` would call
 * every flow that nothing earlier matched `unknown` (or `unset`) at its first
 * payload packet.
 */
const VERDICT_NAMES: ReadonlyMap<string, string> = new Map([
  ['unknown', '"unknown" is the verdict for flows past the limits, as in the kernel, not a pattern'],
  ['unset', '"unset" is the state of flows still being tested, as in the kernel, not a pattern'],
]);

export interface LoadPatternSetOptions {
  /**
   * Compiled databases on disk: the default is {@link DatabaseCache.fromEnvironment}
   * (`$L7MESH_CACHE_DIR`, `$XDG_CACHE_HOME/l7mesh` or `~/.cache/l7mesh`); false for none.
   */
  cache?: DatabaseCache | false;
  /** Keep unknown.pat and unset.pat as patterns (`patterns check`, which only proves files). */
  keepVerdictPatterns?: boolean;
}

export interface LoadedPatternSet {
  set: PatternSet;
  /** Every file or pattern that could not be used, as `file:line: reason`; the set holds the rest. */
  problems: string[];
  /** Files left out on purpose, as `file: ignored: why`. */
  notices: string[];
}

/**
 * Loads, translates and compiles pattern directories for classification,
 * the one way classify, the edge and the classifier workers do it. Bad files
 * are problems, not fatal; unknown.pat and unset.pat are left out with a
 * notice, as the kernel never matched them. Throws an EngineError when no
 * pattern is usable or `order` names a protocol no file defines; its details
 * then list every problem.
 */
export function loadPatternSet(dirs: readonly string[], order: readonly string[] = [], options: LoadPatternSetOptions = {}): LoadedPatternSet {
  const loaded = loadPatternDirs([...dirs]);
  const problems = loaded.errors.map((e) => e.message);
  const notices: string[] = [];
  let files: PatternFile[] = loaded.patterns;
  if (!options.keepVerdictPatterns) {
    files = files.filter((f) => {
      const why = VERDICT_NAMES.get(f.name);
      if (why !== undefined) notices.push(`${f.file}: ignored: ${why}`);
      return why === undefined;
    });
  }
  const cache = options.cache === false ? undefined : (options.cache ?? DatabaseCache.fromEnvironment());
  try {
    const set = compilePatternSet(files, order, { cache });
    return { set, problems: [...problems, ...set.errors.map((e) => e.message)], notices };
  } catch (err) {
    // Nothing usable, or a bad order: say why for every file, not only what went wrong last.
    if (err instanceof EngineError && (err.code === 'ENGINE_NO_PATTERNS' || err.code === 'ENGINE_UNKNOWN_PATTERN')) {
      throw new EngineError(err.code, err.message, [...notices, ...problems, ...err.details]);
    }
    throw err;
  }
}
