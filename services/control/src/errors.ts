/**
 * Error codes of the control package; callers branch on `code`.
 *
 * - CONTROL_BAD_OPTION: an option is wrong (a missing DATABASE_URL, a bad
 *   port, a retention shorter than the records stream keeps); `field` names it.
 * - CONTROL_PG_START: the embedded PostgreSQL could not be set up or did
 *   not get ready (initdb or postgres failed, or exited); `log` holds the
 *   last lines of its output.
 * - CONTROL_PG_NO_BINARY: initdb or postgres is not installed where looked for.
 */
export type ControlErrorCode = 'CONTROL_BAD_OPTION' | 'CONTROL_PG_START' | 'CONTROL_PG_NO_BINARY';

export class ControlError extends Error {
  readonly field: string | undefined;
  readonly log: string | undefined;

  constructor(
    readonly code: ControlErrorCode,
    message: string,
    details: { field?: string; log?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ControlError';
    this.field = details.field;
    this.log = details.log;
  }
}

export function badOption(field: string, message: string): ControlError {
  return new ControlError('CONTROL_BAD_OPTION', `${field}: ${message}`, { field });
}
