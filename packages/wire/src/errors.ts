/**
 * Error codes of the wire package; callers branch on `code`, never on the
 * message. Decoders reject a bad message as a whole: nothing of it is handed
 * out, and nothing but a WireError is ever thrown, whatever the input.
 *
 * - WIRE_TRUNCATED: the message ends inside a field (a fixed-size field, or
 *   a length that runs past the end). Also every proper prefix of a message.
 * - WIRE_BAD_MAGIC: the first two bytes are not 'L7'.
 * - WIRE_BAD_VERSION: a version this code does not speak.
 * - WIRE_BAD_TYPE: an unknown message type, or another type than the
 *   decoder's.
 * - WIRE_BAD_FIELD: a field holds a value outside its domain (decoding), or
 *   an encoder was given one; `field` names it as a path
 *   (`segments[3].key`, `events[0].edges[2]`).
 * - WIRE_TRAILING_BYTES: bytes left after the last field.
 * - WIRE_TOO_LARGE: the input exceeds MAX_MESSAGE_BYTES (decoding), or an
 *   encoder would produce more than MAX_MESSAGE_BYTES or more items than a
 *   batch may carry; the caller should split the batch.
 */
export type WireErrorCode =
  | 'WIRE_TRUNCATED'
  | 'WIRE_BAD_MAGIC'
  | 'WIRE_BAD_VERSION'
  | 'WIRE_BAD_TYPE'
  | 'WIRE_BAD_FIELD'
  | 'WIRE_TRAILING_BYTES'
  | 'WIRE_TOO_LARGE';

export class WireError extends Error {
  /** The field at fault as a path, when one is. */
  readonly field: string | undefined;
  /** Decoding: where in the message the fault is (relative to the input view). */
  readonly offset: number | undefined;

  constructor(
    readonly code: WireErrorCode,
    message: string,
    field?: string,
    offset?: number,
  ) {
    super(message);
    this.name = 'WireError';
    this.field = field;
    this.offset = offset;
  }
}

/**
 * Builds a WireError whose message names the message kind, the field and
 * (decoding) the offset: "head batch: segments[3].payload: length 900
 * exceeds the 12 bytes left at offset 211".
 */
export function wireError(
  code: WireErrorCode,
  what: string,
  field: string | undefined,
  offset: number | undefined,
  detail: string,
): WireError {
  const where = field === undefined ? '' : `${field}: `;
  const at = offset === undefined ? '' : ` at offset ${offset}`;
  return new WireError(code, `${what}: ${where}${detail}${at}`, field, offset);
}
