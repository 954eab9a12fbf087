import type { FlowRecord } from '@l7mesh/engine';

/**
 * `classify --json`'s line for a flow, written as bytes straight into the
 * output buffer. The text is JSON.stringify's for the record (a test holds
 * them equal), without the string JSON.stringify makes and its UTF-8
 * encoding: those were a tenth of classify's time on the real-shape
 * benchmark, 130k flows of about 9 packets. Fields go in the order
 * flowRecordOf makes them. A record this does not write the way
 * JSON.stringify would (a string with a character to escape or beyond
 * ASCII, a number that is not a non-negative integer or a microsecond
 * timestamp) gets -1, and is left to JSON.stringify.
 */
export function writeFlowJson(buf: Uint8Array, at: number, r: FlowRecord, capture?: string): number {
  if (capture !== undefined) {
    at = literal(buf, at, CAPTURE);
    at = jsonString(buf, at, capture);
    if (at < 0) return -1;
    at = literal(buf, at, NEXT_PROTO);
  } else {
    at = literal(buf, at, FIRST_PROTO);
  }
  at = jsonString(buf, at, r.proto);
  if (at < 0) return -1;
  at = literal(buf, at, SRC);
  at = jsonString(buf, at, r.src);
  if (at < 0) return -1;
  at = literal(buf, at, SPORT);
  at = unsigned(buf, at, r.sport);
  if (at < 0) return -1;
  at = literal(buf, at, DST);
  at = jsonString(buf, at, r.dst);
  if (at < 0) return -1;
  at = literal(buf, at, DPORT);
  at = unsigned(buf, at, r.dport);
  if (at < 0) return -1;
  at = literal(buf, at, L7);
  at = jsonString(buf, at, r.l7);
  if (at < 0) return -1;
  at = literal(buf, at, PACKETS);
  at = unsigned(buf, at, r.packets);
  if (at < 0) return -1;
  at = literal(buf, at, BYTES);
  at = unsigned(buf, at, r.bytes);
  if (at < 0) return -1;
  at = literal(buf, at, PACKETS_ORIG);
  at = unsigned(buf, at, r.packets_orig);
  if (at < 0) return -1;
  at = literal(buf, at, PACKETS_REPLY);
  at = unsigned(buf, at, r.packets_reply);
  if (at < 0) return -1;
  at = literal(buf, at, BYTES_ORIG);
  at = unsigned(buf, at, r.bytes_orig);
  if (at < 0) return -1;
  at = literal(buf, at, BYTES_REPLY);
  at = unsigned(buf, at, r.bytes_reply);
  if (at < 0) return -1;
  at = literal(buf, at, FIRST_TS);
  at = microseconds(buf, at, r.first_ts);
  if (at < 0) return -1;
  at = literal(buf, at, LAST_TS);
  at = microseconds(buf, at, r.last_ts);
  if (at < 0) return -1;
  at = literal(buf, at, END);
  at = jsonString(buf, at, r.end);
  if (at < 0) return -1;
  const why = r.why;
  if (why !== undefined) {
    at = literal(buf, at, WHY_BY);
    at = jsonString(buf, at, why.by);
    if (at < 0) return -1;
    at = literal(buf, at, WHY_PACKET);
    at = unsigned(buf, at, why.packet);
    if (at < 0) return -1;
    if (why.parent !== undefined) {
      at = literal(buf, at, WHY_PARENT);
      at = jsonString(buf, at, why.parent);
      if (at < 0) return -1;
    }
    buf[at++] = 0x7d; // }
  }
  buf[at++] = 0x7d; // }
  return at;
}

/**
 * Bytes writeFlowJson may write for the record: the field names, fourteen
 * numbers of at most 17 characters (a safe integer has 16 digits, a
 * timestamp 10 + 1 + 6), and the strings, one byte a character (any other
 * string is not written).
 */
export function flowJsonMaxBytes(r: FlowRecord, capture?: string): number {
  let n = 512 + r.proto.length + r.src.length + r.dst.length + r.l7.length + r.end.length;
  if (capture !== undefined) n += capture.length;
  const why = r.why;
  if (why !== undefined) n += why.by.length + (why.parent !== undefined ? why.parent.length : 0);
  return n;
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const CAPTURE = ascii('{"capture":');
const FIRST_PROTO = ascii('{"proto":');
const NEXT_PROTO = ascii(',"proto":');
const SRC = ascii(',"src":');
const SPORT = ascii(',"sport":');
const DST = ascii(',"dst":');
const DPORT = ascii(',"dport":');
const L7 = ascii(',"l7":');
const PACKETS = ascii(',"packets":');
const BYTES = ascii(',"bytes":');
const PACKETS_ORIG = ascii(',"packets_orig":');
const PACKETS_REPLY = ascii(',"packets_reply":');
const BYTES_ORIG = ascii(',"bytes_orig":');
const BYTES_REPLY = ascii(',"bytes_reply":');
const FIRST_TS = ascii(',"first_ts":');
const LAST_TS = ascii(',"last_ts":');
const END = ascii(',"end":');
const WHY_BY = ascii(',"why":{"by":');
const WHY_PACKET = ascii(',"packet":');
const WHY_PARENT = ascii(',"parent":');

/** A few bytes copied by a loop: a native set() costs more than the copy. */
function literal(buf: Uint8Array, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) buf[at + i] = bytes[i]!;
  return at + bytes.length;
}

/** `"text"` when every character is printable ASCII other than `"` and `\` (JSON.stringify leaves those as they are); else -1. */
function jsonString(buf: Uint8Array, at: number, text: string): number {
  buf[at++] = 0x22;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return -1;
    buf[at++] = c;
  }
  buf[at++] = 0x22;
  return at;
}

/** The decimal digits of a non-negative safe integer (as Number's toString writes them); else -1. */
function unsigned(buf: Uint8Array, at: number, n: number): number {
  if ((n | 0) === n && n >= 0) return smallUnsigned(buf, at, n);
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER) || Math.floor(n) !== n) return -1;
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const end = at + digits;
  for (let i = end - 1, rest = n; i >= at; i--) {
    const q = Math.floor(rest / 10);
    buf[i] = 0x30 + rest - q * 10;
    rest = q;
  }
  return end;
}

/** The digits of an integer from 0 to 2^31 - 1, in int32 arithmetic (the common case: ports, counters). */
function smallUnsigned(buf: Uint8Array, at: number, n: number): number {
  if (n < 10) {
    buf[at] = 0x30 + n;
    return at + 1;
  }
  const end = at + decimalDigits(n);
  for (let i = end - 1; i >= at; i--) {
    const q = (n / 10) | 0;
    buf[i] = 0x30 + n - q * 10;
    n = q;
  }
  return end;
}

function decimalDigits(n: number): number {
  if (n < 100_000) return n < 100 ? (n < 10 ? 1 : 2) : n < 1000 ? 3 : n < 10_000 ? 4 : 5;
  return n < 10_000_000 ? (n < 1_000_000 ? 6 : 7) : n < 100_000_000 ? 8 : n < 1_000_000_000 ? 9 : 10;
}

/**
 * A timestamp the way the records hold it (seconds rounded to the
 * microsecond, flowRecord.ts): the seconds, and the microseconds without
 * their trailing zeros. Below 2^31 s the spacing of doubles is under half a
 * microsecond, so no shorter decimal reads back as the same number and this
 * is exactly Number's toString. Anything else gets -1.
 */
function microseconds(buf: Uint8Array, at: number, seconds: number): number {
  if (!(seconds >= 0 && seconds < 2_147_483_648)) return -1;
  const micros = Math.round(seconds * 1e6);
  if (micros / 1e6 !== seconds) return -1;
  const whole = Math.floor(seconds);
  let fraction = micros - whole * 1e6; // an integer below 10^6
  at = smallUnsigned(buf, at, whole);
  if (fraction === 0) return at;
  buf[at++] = 0x2e; // .
  let digits = 6;
  for (let q = (fraction / 10) | 0; q * 10 === fraction; q = (fraction / 10) | 0) {
    fraction = q;
    digits--;
  }
  for (let i = at + digits - 1; i >= at; i--) {
    const q = (fraction / 10) | 0;
    buf[i] = 0x30 + fraction - q * 10;
    fraction = q;
  }
  return at + digits;
}
