import { normalizeAnchors } from './anchorNormalize.js';
import { preprocessL7Regex } from './l7Preprocess.js';
import { contains, isDead, nullable } from './regexAst.js';
import { emitRegex } from './regexEmit.js';
import { parseSpencerRegex } from './spencerParser.js';

/** One kernel regex in the two engines' syntaxes, with what an engine must know to run it. */
export interface TranslatedPattern {
  /** For hs_compile with HS_FLAG_DOTALL: a latin1 string (one char per byte), no NULs. */
  hyperscan: string;
  /** RegExp source for `new RegExp(src, '')` (no i, m or s flag), run on a latin1 string. */
  javascript: string;
  /** Contains `$` (end of data): an engine must check end-of-data at packet boundaries. */
  usesEndAnchor: boolean;
  /** Can match the empty string: Hyperscan needs HS_FLAG_ALLOWEMPTY. */
  matchesEmpty: boolean;
}

export interface TranslateOptions {
  /**
   * Accept POSIX classes such as `[[:digit:]]` (C locale, ASCII). Default true.
   * The kernel's regex library had none (it reads `[[:digit:]]` as one of
   * `[ : d i g t` then `]`); false reproduces that exactly.
   */
  posixClasses?: boolean;
}

/**
 * Translates an l7-filter kernel regex (the line of a `.pat` file, as written)
 * into Hyperscan and JS syntax with the kernel's meaning: `\xHH` decoded first
 * (so `\x2e` is a metacharacter), cut at a NUL, lowercased, then parsed as
 * Henry Spencer's regexp (no `\w`/`\d`/`\n` escapes, no `{}` bounds, `^` and `$`
 * anywhere meaning start and end of data). Both outputs come from one tree, so
 * they agree. Throws PatternSyntaxError where the kernel would not compile it.
 *
 * The data to match is the flow's payload with NUL bytes removed and A-Z
 * lowercased (ASCII only), one char per byte on the JS side.
 */
export function translateL7Regex(regex: string, options: TranslateOptions = {}): TranslatedPattern {
  const posixClasses = options.posixClasses ?? true;
  // Loading a pattern file translates its regex to check it, and compiling
  // the set translates it again: the second time comes from here.
  const memo = posixClasses ? translatedWithPosix : translatedWithoutPosix;
  const known = memo.get(regex);
  if (known) return { ...known };
  const tree = parseSpencerRegex(preprocessL7Regex(regex), { posixClasses });
  const normalized = normalizeAnchors(tree);
  const translated: TranslatedPattern = {
    hyperscan: emitRegex(normalized, 'hyperscan'),
    javascript: emitRegex(normalized, 'javascript'),
    usesEndAnchor: contains(normalized, 'eol'),
    matchesEmpty: !isDead(normalized) && nullable(normalized),
  };
  if (memo.size >= MEMO_LIMIT) memo.delete(memo.keys().next().value!);
  memo.set(regex, translated);
  return { ...translated };
}

/** Translations of the last regexes (a library has a few hundred), per setting of posixClasses. */
const MEMO_LIMIT = 1024;
const translatedWithPosix = new Map<string, TranslatedPattern>();
const translatedWithoutPosix = new Map<string, TranslatedPattern>();
