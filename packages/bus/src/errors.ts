/**
 * Error codes of the bus package; callers branch on `code`, never on the
 * message.
 *
 * - BUS_BAD_OPTION: an argument is wrong (a name prefix, a port, a replica
 *   count, a key); `field` names it. Nothing was sent to a server.
 * - BUS_CONNECT: no connection could be made (refused, timed out, TLS or
 *   authentication failed); the message lists the servers tried.
 * - BUS_STREAM: creating, reading or updating a JetStream stream failed.
 * - BUS_KV: creating, opening or updating a KV bucket failed.
 * - BUS_NO_SERVER_BINARY: the nats-server executable is not there.
 * - BUS_SERVER_START: nats-server exited (or never became ready) while
 *   starting; `log` holds the last lines of its log.
 */
export type BusErrorCode =
  | 'BUS_BAD_OPTION'
  | 'BUS_CONNECT'
  | 'BUS_STREAM'
  | 'BUS_KV'
  | 'BUS_NO_SERVER_BINARY'
  | 'BUS_SERVER_START';

export interface BusErrorDetails {
  /** BUS_BAD_OPTION: the option at fault, as a path (e.g. `prefix`, `replicas`). */
  readonly field?: string;
  /** BUS_CONNECT: the servers that were tried. */
  readonly servers?: readonly string[];
  /** BUS_SERVER_START: the last lines of the server's log. */
  readonly log?: string;
  readonly cause?: unknown;
}

export class BusError extends Error {
  readonly field: string | undefined;
  readonly servers: readonly string[] | undefined;
  readonly log: string | undefined;

  constructor(
    readonly code: BusErrorCode,
    message: string,
    details: BusErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'BusError';
    this.field = details.field;
    this.servers = details.servers;
    this.log = details.log;
  }
}

/** Shorthand for a BUS_BAD_OPTION error whose message starts with the field. */
export function badOption(field: string, message: string): BusError {
  return new BusError('BUS_BAD_OPTION', `${field}: ${message}`, { field });
}

/** The message of anything thrown, for wrapping it into a BusError message. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
