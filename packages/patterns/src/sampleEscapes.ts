/** Where a sample's escape went wrong: 0-based offset in the value, and why. */
export interface SampleEscapeProblem {
  offset: number;
  reason: string;
}

const isHexDigit = (c: string) => /^[0-9a-fA-F]$/.test(c);

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
    const simple: Record<string, number> = { r: 0x0d, n: 0x0a, t: 0x09, '\\': 0x5c };
    if (Object.hasOwn(simple, next)) {
      out.push(simple[next]!);
      i++;
    } else if (next === 'x' && isHexDigit(value[i + 2] ?? '') && isHexDigit(value[i + 3] ?? '')) {
      out.push(parseInt(value.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      return { offset: i, reason: `unknown escape \\${next} in sample (use \\r \\n \\t \\\\ or \\xHH)` };
    }
  }
  return Uint8Array.from(out);
}
