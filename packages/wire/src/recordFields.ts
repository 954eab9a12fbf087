/** Checks the record batches share beyond what Encoder and Reader check. */
import { wireError } from './errors.js';

/** Interface names: printable ASCII (checked as text), at most this long (the store's names are 1-64 characters). */
export const IFACE_MAX_LENGTH = 64;

/** Throws WIRE_BAD_FIELD when `iface` (a string) is longer than IFACE_MAX_LENGTH; other problems are the text check's. */
export function checkIfaceLength(what: string, field: string, iface: unknown, offset: number | undefined): void {
  if (typeof iface === 'string' && iface.length > IFACE_MAX_LENGTH) {
    throw wireError('WIRE_BAD_FIELD', what, field, offset, `length ${iface.length} is not in 1..${IFACE_MAX_LENGTH}`);
  }
}
