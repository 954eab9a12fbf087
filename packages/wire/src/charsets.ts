/**
 * Which bytes names and texts may hold, as lookup tables (the decoder checks
 * every byte) and as checks of strings (the encoders).
 */
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_KEY_LENGTH, IPV6_KEY_LENGTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH } from './format.js';

function byteTable(allowed: (b: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = allowed(b) ? 1 : 0;
  return t;
}

/** [A-Za-z0-9_-]: names become NATS subject tokens, where '.', '*', '>' and blanks mean something. */
export const NAME_BYTE = byteTable(
  (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f,
);
/** Printable ASCII without blanks (0x21..0x7e), which includes '-', '_' and '.'. */
export const TEXT_BYTE = byteTable((b) => b >= 0x21 && b <= 0x7e);

const NAME = /^[A-Za-z0-9_-]+$/;
const TEXT = /^[\x21-\x7e]+$/;

/** Why `s` is not a valid name, or undefined when it is. */
export function nameProblem(s: unknown): string | undefined {
  if (typeof s !== 'string') return `${typeof s} is not a string`;
  if (s.length < 1 || s.length > MAX_NAME_LENGTH) return `length ${s.length} is not in 1..${MAX_NAME_LENGTH}`;
  if (!NAME.test(s)) return `${JSON.stringify(s)} has a character outside [A-Za-z0-9_-]`;
  return undefined;
}

/** Why `s` is not a valid l7 name / decidedBy text, or undefined when it is. */
export function textProblem(s: unknown): string | undefined {
  if (typeof s !== 'string') return `${typeof s} is not a string`;
  if (s.length < 1 || s.length > MAX_TEXT_LENGTH) return `length ${s.length} is not in 1..${MAX_TEXT_LENGTH}`;
  if (!TEXT.test(s)) return `${JSON.stringify(s)} has a character outside printable ASCII (0x21..0x7e)`;
  return undefined;
}

/** Why a key's length byte is wrong, or undefined when it is one of the two key lengths. */
export function keyLengthProblem(length: number): string | undefined {
  return length === IPV4_KEY_LENGTH || length === IPV6_KEY_LENGTH
    ? undefined
    : `length ${length} is neither ${IPV4_KEY_LENGTH} (IPv4) nor ${IPV6_KEY_LENGTH} (IPv6)`;
}

/** Why a key's first byte is not a transport protocol we track, or undefined. */
export function keyProtocolProblem(protocol: number): string | undefined {
  return protocol === IPPROTO_TCP || protocol === IPPROTO_UDP ? undefined : `protocol ${protocol} is neither TCP (6) nor UDP (17)`;
}
