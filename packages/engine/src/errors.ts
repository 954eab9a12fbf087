/** Error codes of the classification engine. */
export type EngineErrorCode = 'ENGINE_NO_PATTERNS' | 'ENGINE_BAD_OPTION' | 'ENGINE_UNKNOWN_PATTERN' | 'ENGINE_BAD_TRUTH';

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** Further lines, e.g. each pattern that could not be used and why. */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
