/**
 * What `l7mesh patterns test` finds wrong with a pattern library. Each
 * problem is an error (the command exits 1); the code says which check
 * found it, the subject names the pattern or capture, the message says it
 * for humans.
 */
export type LibraryProblemCode =
  /** A pattern file that does not load, translate or compile. */
  | 'PATTERN_INVALID'
  /** No capture of real programs in `<captures>/<name>/` proves the pattern. */
  | 'PATTERN_NO_CAPTURE'
  /** The pattern alone claims more random flows than its threshold allows. */
  | 'PATTERN_FP_EXCEEDED'
  /** `# FP-threshold:` is not a fraction from 0 to 1. */
  | 'PATTERN_BAD_THRESHOLD'
  /** A flow with payload in a capture of P is not classified P. */
  | 'CAPTURE_MISCLASSIFIED'
  /** A capture without any flow carrying payload proves nothing. */
  | 'CAPTURE_NO_PAYLOAD'
  /** A capture that cannot be read to its end. */
  | 'CAPTURE_UNREADABLE'
  /** A capture folder that names no loaded pattern. */
  | 'CAPTURE_UNKNOWN_PROTOCOL'
  /** The Hyperscan and reference engines gave different verdicts. */
  | 'ENGINES_DISAGREE';

export interface LibraryProblem {
  code: LibraryProblemCode;
  /** A pattern name, or a capture as `<folder>/<file>`. */
  subject: string;
  message: string;
}

/** Codes of failures that stop the library test itself (bad input, not a bad pattern). */
export type PatternLibraryErrorCode = 'LIBRARY_BAD_CAPTURES_DIR' | 'LIBRARY_BAD_OPTION';

export class PatternLibraryError extends Error {
  override readonly name = 'PatternLibraryError';
  constructor(
    readonly code: PatternLibraryErrorCode,
    message: string,
  ) {
    super(message);
  }
}
