/** The 4-byte header every message starts with: 'L7', version, type. */
import { wireError } from './errors.js';
import { HEADER_BYTES, MAGIC_0, MAGIC_1, MESSAGE_NAMES, MessageType, WIRE_VERSION } from './format.js';

/**
 * Checks the header and returns the message type (one of MessageType).
 * `what` names the message in errors ('message' when the caller does not
 * know yet what it holds).
 */
export function readHeader(bytes: Uint8Array, what: string): MessageType {
  if (!(bytes instanceof Uint8Array)) throw wireError('WIRE_BAD_FIELD', what, undefined, undefined, 'the input is not a Uint8Array');
  if (bytes.length < HEADER_BYTES) {
    throw wireError('WIRE_TRUNCATED', what, 'header', 0, `needs ${HEADER_BYTES} bytes, ${bytes.length} left`);
  }
  if (bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1) {
    throw wireError('WIRE_BAD_MAGIC', what, 'magic', 0, `0x${hex2(bytes[0]!)}${hex2(bytes[1]!)} is not 'L7' (0x4c37)`);
  }
  if (bytes[2] !== WIRE_VERSION) {
    throw wireError('WIRE_BAD_VERSION', what, 'version', 2, `version ${bytes[2]} is not ${WIRE_VERSION}`);
  }
  const type = bytes[3]!;
  if (type < MessageType.HeadBatch || type > MessageType.AccountingBatch) {
    throw wireError('WIRE_BAD_TYPE', what, 'type', 3, `unknown message type ${type}`);
  }
  return type as MessageType;
}

/** The type of a message after checking magic, version and that the type is known; does not decode the rest. */
export function messageTypeOf(bytes: Uint8Array): MessageType {
  return readHeader(bytes, 'message');
}

/** Checks that `bytes` is a message of `type`; the decoders' first step. */
export function expectHeader(bytes: Uint8Array, type: MessageType): void {
  const what = MESSAGE_NAMES[type]!;
  const actual = readHeader(bytes, what);
  if (actual !== type) {
    throw wireError('WIRE_BAD_TYPE', what, 'type', 3, `message type ${actual} (${MESSAGE_NAMES[actual]}) is not ${type}`);
  }
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}
