/**
 * Error codes of the store package; callers branch on `code`, never on the
 * message. Errors that PostgreSQL or the connection raise while a statement
 * runs (server down, constraint violated, ...) pass through as pg's own
 * errors (their `code` is the SQLSTATE), so a consumer can tell "try again
 * later" from "this input is wrong".
 *
 * - STORE_BAD_PARAMETER: a query parameter or a record handed to a writer
 *   is outside its domain; `field` names it as a path (`since`,
 *   `groupBy[1]`, `records[3].srcPort`). Nothing was read or written.
 * - STORE_RANGE_TOO_WIDE: `since`..`until` spans more than the query allows
 *   (STORE_LIMITS); `field` is `since`.
 * - STORE_TOO_MANY_ROWS: a series would return more rows than `maxRows`;
 *   a wider window, fewer groups or a shorter range helps.
 * - STORE_OUT_OF_RETENTION: the query needs 1-minute data from before the
 *   retention horizon (those partitions were dropped); hour- or day-aligned
 *   bounds read the rollups instead. `field` is `since`.
 * - STORE_MIGRATION_BAD_FILE: a file in the migrations directory is not
 *   named `NNN_name.sql`, or two files share a number; `file` names it.
 * - STORE_MIGRATION_EDITED: an applied migration's file changed since it
 *   was applied (its checksum differs); `file` names it. Applied
 *   migrations are history: change the schema with a new file.
 * - STORE_MIGRATION_UNKNOWN: the database has a migration applied that this
 *   code does not have (a newer version of l7mesh migrated it, or a file was
 *   renamed); `file` names what the database recorded.
 * - STORE_MIGRATION_FAILED: a migration's SQL failed; it was rolled back,
 *   and the ones before it stay applied. `file` names it, the message gives
 *   the line and PostgreSQL's reason, `cause` is pg's error.
 */
export type StoreErrorCode =
  | 'STORE_BAD_PARAMETER'
  | 'STORE_RANGE_TOO_WIDE'
  | 'STORE_TOO_MANY_ROWS'
  | 'STORE_OUT_OF_RETENTION'
  | 'STORE_MIGRATION_BAD_FILE'
  | 'STORE_MIGRATION_EDITED'
  | 'STORE_MIGRATION_UNKNOWN'
  | 'STORE_MIGRATION_FAILED';

export interface StoreErrorDetails {
  /** The parameter or record field at fault, as a path. */
  readonly field?: string;
  /** Migrations: the file at fault (`002_flows.sql`). */
  readonly file?: string;
  readonly cause?: unknown;
}

export class StoreError extends Error {
  readonly field: string | undefined;
  readonly file: string | undefined;

  constructor(
    readonly code: StoreErrorCode,
    message: string,
    details: StoreErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'StoreError';
    this.field = details.field;
    this.file = details.file;
  }
}

/** A STORE_BAD_PARAMETER whose message starts with the field: "records[3].srcPort: must be ...". */
export function badParameter(field: string, detail: string): StoreError {
  return new StoreError('STORE_BAD_PARAMETER', `${field}: ${detail}`, { field });
}

/**
 * `err`, a STORE_BAD_PARAMETER of a field of one item of a list, named
 * under the item's path (`records[3]` + `srcPort`). The checks of an item
 * name its fields plainly, so that a path is built only for a bad one: a
 * writer checks a record every few microseconds.
 */
export function badParameterIn(path: string, err: StoreError): StoreError {
  return new StoreError('STORE_BAD_PARAMETER', `${path}.${err.message}`, { field: `${path}.${err.field ?? ''}` });
}
