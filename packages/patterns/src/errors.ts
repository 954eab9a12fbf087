/** What went wrong with a `.pat` file, machine-readable; the message says it for humans. */
export type PatternFileErrorCode =
  | 'PAT_NO_NAME'
  | 'PAT_NO_REGEX'
  | 'PAT_NAME_MISMATCH'
  | 'PAT_SYNTAX'
  | 'PAT_IO'
  | 'PAT_DUPLICATE'
  | 'PAT_SAMPLE';

/**
 * A `.pat` file that cannot be used. The message is `file:line: reason`
 * (`file: reason` when no line applies, e.g. an unreadable directory: line 0).
 */
export class PatternFileError extends Error {
  override readonly name = 'PatternFileError';
  readonly code: PatternFileErrorCode;
  readonly file: string;
  /** 1-based line in the file; 0 when the problem is not on a line. */
  readonly line: number;
  /** 1-based column within that line, where known. */
  readonly column?: number;
  /** The reason alone, without the `file:line:` prefix. */
  readonly reason: string;

  constructor(code: PatternFileErrorCode, file: string, line: number, reason: string, column?: number) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
    this.code = code;
    this.file = file;
    this.line = line;
    this.reason = reason;
    if (column !== undefined) this.column = column;
  }
}

/**
 * A kernel regex that the l7-filter kernel module would not have compiled
 * (or that is not a latin1 string). The message is the reason alone;
 * `column` (1-based) points into the regex line as written.
 */
export class PatternSyntaxError extends Error {
  override readonly name = 'PatternSyntaxError';
  readonly code = 'PAT_SYNTAX' as const;
  readonly column: number;

  constructor(message: string, column: number) {
    super(message);
    this.column = column;
  }
}
