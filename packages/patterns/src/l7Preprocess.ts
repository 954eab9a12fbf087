import { PatternSyntaxError } from './errors.js';

/** iptables' layer7 extension refused pattern lines this long or longer (MAX_PATTERN_LEN). */
export const MAX_PATTERN_LENGTH = 8192;

/** The regex as the kernel's regcomp() received it: bytes, each with the column it came from. */
export interface PreprocessedRegex {
  bytes: number[];
  /** 1-based column in the line as written, per byte (a `\xHH` byte maps to its backslash). */
  columns: number[];
  /** Column just past the end of the line as written, for errors at the end. */
  endColumn: number;
}

const isHexDigit = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const hexValue = (c: number) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10);
/** C-locale tolower(): only A-Z change, bytes >= 0x80 stay as they are. */
const toLower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c);

/**
 * Does what happened to a pattern before the kernel's regex compiler saw it.
 *
 * 1. The iptables extension (libxt_layer7's pre_process) replaced every
 *    backslash-x-hex-hex with the raw byte, in one left-to-right pass that
 *    ignores what precedes it. So `\x2e` reaches the compiler as `.` and is a
 *    metacharacter there, `\x5c` becomes a backslash that escapes the next
 *    character, and `\\x41` becomes `\A`, i.e. a literal `a`.
 * 2. The result was a C string: a `\x00` (or a raw NUL) ends the pattern.
 * 3. The same pass lowercased everything with tolower() in the C locale
 *    (A-Z only), including bytes that came from `\xHH`, because the regex
 *    library has no case-insensitive mode; the kernel lowercases the data
 *    the same way (only where isascii()), so matching is ASCII-caseless.
 */
export function preprocessL7Regex(regex: string): PreprocessedRegex {
  if (regex.length >= MAX_PATTERN_LENGTH) {
    throw new PatternSyntaxError(
      `pattern too long: ${regex.length} bytes (iptables' layer7 limit is ${MAX_PATTERN_LENGTH - 1})`,
      MAX_PATTERN_LENGTH,
    );
  }
  const bytes: number[] = [];
  const columns: number[] = [];
  for (let i = 0; i < regex.length; i++) {
    const c = regex.charCodeAt(i);
    if (c > 0xff) {
      throw new PatternSyntaxError(
        `character U+${c.toString(16).toUpperCase().padStart(4, '0')} is not a byte: pattern text must be latin1 (one char per byte)`,
        i + 1,
      );
    }
    let byte = c;
    const column = i + 1;
    if (
      c === 0x5c &&
      i + 3 < regex.length &&
      regex.charCodeAt(i + 1) === 0x78 &&
      isHexDigit(regex.charCodeAt(i + 2)) &&
      isHexDigit(regex.charCodeAt(i + 3))
    ) {
      byte = hexValue(regex.charCodeAt(i + 2)) * 16 + hexValue(regex.charCodeAt(i + 3));
      i += 3;
    }
    if (byte === 0) break;
    bytes.push(toLower(byte));
    columns.push(column);
  }
  return { bytes, columns, endColumn: regex.length + 1 };
}
