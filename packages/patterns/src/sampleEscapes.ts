/** Where a sample's escape went wrong: 0-based offset in the value, and why. */
export interface SampleEscapeProblem {
  offset: number;
  reason: string;
}

const isHexDigit = (c: string | undefined) => c !== undefined && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
/** The one-letter escapes and their bytes. */
const SIMPLE_ESCAPES: ReadonlyMap<string, number> = new Map([
  ['r', 0x0d],
  ['n', 0x0a],
  ['t', 0x09],
  ['\\', 0x5c],
]);

/**
 * Decodes a `Sample-match:` value: the C escapes `\r \n \t \\ \xHH` become
 * their bytes, every other char is one byte (the text is latin1). Anything
 * else after a backslash is refused rather than guessed at.
 */
export function decodeSampleEscapes(value: string): Uint8Array | SampleEscapeProblem {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const code = value.charCodeAt(i);
    if (code > 0xff) return { offset: i, reason: `character U+${code.toString(16).toUpperCase()} is not a byte (samples are latin1)` };
    if (c !== '\\') {
      out.push(code);
      continue;
    }
    const next = value[i + 1];
    if (next === undefined) return { offset: i, reason: 'sample ends with a lone backslash' };
    const simple = SIMPLE_ESCAPES.get(next);
    if (simple !== undefined) {
      out.push(simple);
      i++;
    } else if (next === 'x' && isHexDigit(value[i + 2]) && isHexDigit(value[i + 3])) {
      out.push(parseInt(value.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      return { offset: i, reason: `unknown escape \\${next} in sample (use \\r \\n \\t \\\\ or \\xHH)` };
    }
  }
  return Uint8Array.from(out);
}
