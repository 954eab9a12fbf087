/** What went wrong, machine-readable; the message says it for humans. */
export type HyperscanErrorCode =
  | 'HS_COMPILE'
  | 'HS_SCAN'
  | 'HS_DESERIALIZE'
  | 'HS_STREAM_CLOSED'
  | 'HS_INVALID_ARGUMENT'
  | 'HS_NOMEM';

/**
 * Every failure of this package, native or not. Native code builds these
 * through a factory registered in native.ts, so `instanceof` holds everywhere.
 */
export class HyperscanError extends Error {
  override readonly name = 'HyperscanError';
  readonly code: HyperscanErrorCode;
  /** HS_COMPILE: index of the failing expression in the list given to compile(). */
  readonly expressionIndex?: number;
  /** HS_COMPILE: id of the failing pattern. */
  readonly patternId?: number;

  constructor(
    code: HyperscanErrorCode,
    message: string,
    where?: { expressionIndex?: number | undefined; patternId?: number | undefined },
  ) {
    super(message);
    this.code = code;
    if (where?.expressionIndex !== undefined) this.expressionIndex = where.expressionIndex;
    if (where?.patternId !== undefined) this.patternId = where.patternId;
  }
}
