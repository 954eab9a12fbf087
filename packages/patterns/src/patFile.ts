import { basename } from 'node:path';
import { PatternFileError, PatternSyntaxError } from './errors.js';
import { parseHeaderComments, type PatternMetadata } from './patMetadata.js';
import { decodeSampleEscapes } from './sampleEscapes.js';
import { translateL7Regex } from './translate.js';

/** One l7-protocols `.pat` file: the protocol, its kernel regex and what the comments say. */
export interface PatternFile extends PatternMetadata {
  /** Protocol name: the first non-comment, non-blank line, up to its first space or tab. */
  name: string;
  /** Path as given. */
  file: string;
  /** 1-based line numbers of the name and the regex. */
  nameLine: number;
  regexLine: number;
  /**
   * The kernel regex line exactly as written, less a trailing CR. Trailing
   * spaces stay: iptables kept them and some patterns (finger) end in one.
   */
  regex: string;
  /** `userspace pattern=...` (l7-filter-userspace's GNU regex; not used by the kernel). */
  userspacePattern?: string;
  /** `userspace flags=...`, e.g. "REG_NOSUB REG_EXTENDED". */
  userspaceFlags?: string;
  /** `# Sample-match:` / `# Sample-nomatch:` values, C escapes decoded, raw payload bytes. */
  samples: { match: Uint8Array[]; nomatch: Uint8Array[] };
}

const SAMPLE_LINE = /^#\s*sample-(match|nomatch)\s*:\s*/i;
/** l7-filter-userspace's lines (`userspace pattern=`, `userspace flags=`); the kernel never saw them. */
const USERSPACE_LINE = /^userspace ([a-z]+)=/;

/** The protocol name a file must define: its base name without `.pat`. */
export function expectedProtocolName(file: string): string {
  return basename(file).replace(/\.pat$/, '');
}

/**
 * Parses a `.pat` file's text (latin1: one char per byte) the way iptables'
 * layer7 extension read it: `#` lines and blank lines are skipped anywhere;
 * the first other line names the protocol and must equal the file's base
 * name; the next line that is not a `userspace ...` line is the regex; later
 * lines are ignored. Also checks that the kernel would compile the regex.
 * Throws PatternFileError.
 */
export function parsePatternFile(text: string, file: string): PatternFile {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const header: string[] = [];
  const samples: PatternFile['samples'] = { match: [], nomatch: [] };
  let name: string | undefined;
  let nameLine = 0;
  let regex: string | undefined;
  let regexLine = 0;
  let userspacePattern: string | undefined;
  let userspaceFlags: string | undefined;

  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (line.startsWith('#')) {
      if (name === undefined) header.push(line);
      const sample = SAMPLE_LINE.exec(line);
      if (sample) samples[sample[1]!.toLowerCase() === 'match' ? 'match' : 'nomatch'].push(sampleBytes(line, sample[0].length, file, lineNo));
      return;
    }
    if (line.trim() === '') return;
    if (name === undefined) {
      // iptables cut the name line at its first space or tab ("http I am so cool" names http).
      name = line.split(/[ \t]/)[0]!;
      nameLine = lineNo;
      const expected = expectedProtocolName(file);
      if (name !== expected) {
        throw new PatternFileError(
          'PAT_NAME_MISMATCH',
          file,
          lineNo,
          `protocol name "${name}" does not match the file name: ${basename(file)} must define "${expected}"`,
          1,
        );
      }
      return;
    }
    const userspace = USERSPACE_LINE.exec(line);
    if (userspace) {
      const value = line.slice(userspace[0].length);
      if (userspace[1] === 'pattern') userspacePattern ??= value;
      else if (userspace[1] === 'flags') userspaceFlags ??= value.trim();
      return;
    }
    if (regex === undefined) {
      regex = line;
      regexLine = lineNo;
    }
  });

  if (name === undefined) {
    throw new PatternFileError('PAT_NO_NAME', file, Math.max(1, lines.length), 'no protocol name: the file has only comments and blank lines');
  }
  if (regex === undefined) {
    throw new PatternFileError('PAT_NO_REGEX', file, nameLine, `protocol "${name}" has no regex line after its name`);
  }
  try {
    translateL7Regex(regex);
  } catch (err) {
    if (!(err instanceof PatternSyntaxError)) throw err;
    throw new PatternFileError('PAT_SYNTAX', file, regexLine, `column ${err.column}: ${err.message}`, err.column);
  }
  return {
    name,
    file,
    nameLine,
    regexLine,
    regex,
    ...(userspacePattern !== undefined ? { userspacePattern } : {}),
    ...(userspaceFlags !== undefined ? { userspaceFlags } : {}),
    ...parseHeaderComments(header),
    samples,
  };
}

/** A sample's value (leading and trailing blanks dropped; write \x20 to keep one) as bytes. */
function sampleBytes(line: string, valueStart: number, file: string, lineNo: number): Uint8Array {
  const value = line.slice(valueStart).trimEnd();
  const decoded = decodeSampleEscapes(value);
  if (decoded instanceof Uint8Array) return decoded;
  const column = valueStart + decoded.offset + 1;
  throw new PatternFileError('PAT_SAMPLE', file, lineNo, `column ${column}: ${decoded.reason}`, column);
}
