/**
 * Checked reads of one message. Every read first checks that its bytes are
 * there and then that the value is in the field's domain, so a decoder is a
 * plain sequence of reads and a bad message throws a WireError naming the
 * field and the offset. The current list item (`segments[3]`) is held as a
 * name and an index and only turned into a path when an error is thrown,
 * so the hot loop builds no strings.
 */
import { keyLengthProblem, keyProtocolProblem, NAME_BYTE, TEXT_BYTE } from './charsets.js';
import { wireError, type WireError, type WireErrorCode } from './errors.js';
import { HEADER_BYTES, IPV4_KEY_LENGTH, MAX_MESSAGE_BYTES, MAX_NAME_LENGTH, MAX_TEXT_LENGTH, MESSAGE_NAMES, type MessageType, U16_MAX, U32_MAX } from './format.js';
import { expectHeader } from './header.js';

export class Reader {
  private readonly what: string;
  private readonly bytes: Uint8Array;
  private readonly end: number;
  private pos = HEADER_BYTES;
  private list: string | undefined = undefined;
  private index = 0;
  private view: DataView | undefined = undefined;
  /**
   * Texts read so far, by a hash of their bytes: the items of a batch repeat
   * a few texts (protocol names, interfaces), and handing out one string
   * for each spares the garbage collector a string per item.
   */
  private texts: Map<number, string> | undefined = undefined;

  /** Checks size and header of a message of `type`; reads start after the header. */
  constructor(bytes: Uint8Array, type: MessageType) {
    this.what = MESSAGE_NAMES[type]!;
    if (bytes instanceof Uint8Array && bytes.length > MAX_MESSAGE_BYTES) {
      throw wireError('WIRE_TOO_LARGE', this.what, undefined, 0, `${bytes.length} bytes exceed the limit of ${MAX_MESSAGE_BYTES}`);
    }
    expectHeader(bytes, type);
    this.bytes = bytes;
    this.end = bytes.length;
  }

  /** Following reads belong to item `index` of `list` (for error paths). */
  item(list: string, index: number): void {
    this.list = list;
    this.index = index;
  }

  /** Following reads are top-level fields again. */
  topLevel(): void {
    this.list = undefined;
  }

  u8(field: string, min = 0, max = 0xff): number {
    const p = this.need(1, field);
    const v = this.bytes[p]!;
    if (v < min || v > max) throw this.fail('WIRE_BAD_FIELD', field, p, `${v} is not in ${min}..${max}`);
    this.pos = p + 1;
    return v;
  }

  u16(field: string, min = 0, max = U16_MAX): number {
    const p = this.need(2, field);
    const b = this.bytes;
    const v = (b[p]! << 8) | b[p + 1]!;
    if (v < min || v > max) throw this.fail('WIRE_BAD_FIELD', field, p, `${v} is not in ${min}..${max}`);
    this.pos = p + 2;
    return v;
  }

  u32(field: string, min = 0, max = U32_MAX): number {
    const p = this.need(4, field);
    const b = this.bytes;
    const v = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    if (v < min || v > max) throw this.fail('WIRE_BAD_FIELD', field, p, `${v} is not in ${min}..${max}`);
    this.pos = p + 4;
    return v;
  }

  /** A float64 that must be finite and ≥ 0, and with `integer` a safe integer. */
  f64(field: string, integer: boolean): number {
    const p = this.need(8, field);
    this.view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    const v = this.view.getFloat64(p);
    const ok = integer ? Number.isSafeInteger(v) && v >= 0 : Number.isFinite(v) && v >= 0;
    if (!ok) throw this.fail('WIRE_BAD_FIELD', field, p, `${v} is not ${integer ? 'a safe integer' : 'a finite number'} ≥ 0`);
    this.pos = p + 8;
    return v;
  }

  /** A flags byte whose set bits must all be in `allowed`. */
  flags(field: string, allowed: number): number {
    const p = this.need(1, field);
    const v = this.bytes[p]!;
    if ((v & ~allowed) !== 0) throw this.fail('WIRE_BAD_FIELD', field, p, `undefined flag bits 0x${(v & ~allowed).toString(16)}`);
    this.pos = p + 1;
    return v;
  }

  /** A flags byte holding one boolean in bit 0. */
  bool(field: string): boolean {
    return this.flags(field, 1) === 1;
  }

  /** An item count (u16) of at most `max`. */
  count(field: string, max: number): number {
    const p = this.need(2, field);
    const v = (this.bytes[p]! << 8) | this.bytes[p + 1]!;
    if (v > max) throw this.fail('WIRE_BAD_FIELD', field, p, `count ${v} exceeds ${max}`);
    this.pos = p + 2;
    return v;
  }

  /** An edge or worker id: u8 length (1..64), bytes of [A-Za-z0-9_-]. */
  name(field: string): string {
    return this.ascii(field, NAME_BYTE, MAX_NAME_LENGTH, 'a character outside [A-Za-z0-9_-]');
  }

  /** An l7 name or decidedBy: u8 length (1..255), printable ASCII. */
  text(field: string): string {
    return this.ascii(field, TEXT_BYTE, MAX_TEXT_LENGTH, 'a character outside printable ASCII (0x21..0x7e)');
  }

  /** A flow key: u8 length (13 or 37), then protocol (6 or 17) and address/port bytes, one char per byte. */
  key(field: string): string {
    const p = this.need(1, field);
    const b = this.bytes;
    const length = b[p]!;
    const lengthProblem = keyLengthProblem(length);
    if (lengthProblem !== undefined) throw this.fail('WIRE_BAD_FIELD', field, p, lengthProblem);
    const start = this.bytesAfterLength(field, p, length);
    const protocolProblem = keyProtocolProblem(b[start]!);
    if (protocolProblem !== undefined) throw this.fail('WIRE_BAD_FIELD', field, start, protocolProblem);
    this.pos = start + length;
    // One fromCharCode call gives a flat string, like the flow package's keys (fast as a Map key).
    if (length === IPV4_KEY_LENGTH) {
      const s = start;
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!);
    }
    return ipv6KeyString(b, start);
  }

  /** A payload: u16 length, bytes. Returned as a view into the message, not a copy. */
  payload(field: string): Uint8Array {
    const p = this.need(2, field);
    const length = (this.bytes[p]! << 8) | this.bytes[p + 1]!;
    const start = this.bytesAfterLength(field, p + 1, length);
    this.pos = start + length;
    return this.bytes.subarray(start, start + length);
  }

  /** The message must end here. */
  finish(): void {
    this.topLevel();
    if (this.pos !== this.end) {
      throw this.fail('WIRE_TRAILING_BYTES', undefined, this.pos, `${this.end - this.pos} bytes after the last field`);
    }
  }

  private ascii(field: string, allowed: Uint8Array, maxLength: number, charProblem: string): string {
    const p = this.need(1, field);
    const b = this.bytes;
    const length = b[p]!;
    if (length < 1 || length > maxLength) throw this.fail('WIRE_BAD_FIELD', field, p, `length ${length} is not in 1..${maxLength}`);
    const start = this.bytesAfterLength(field, p, length);
    const end = start + length;
    let hash = length;
    for (let i = start; i < end; i++) {
      if (allowed[b[i]!] !== 1) throw this.fail('WIRE_BAD_FIELD', field, i, `${charProblem} (byte 0x${b[i]!.toString(16)})`);
      hash = (Math.imul(hash, 31) + b[i]!) | 0;
    }
    this.pos = end;
    const seen = this.texts?.get(hash);
    if (seen !== undefined && sameChars(seen, b, start, end)) return seen;
    const text = String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
    if (seen === undefined && (this.texts ??= new Map()).size < MAX_TEXTS) this.texts.set(hash, text);
    return text;
  }

  /** Checks that `length` bytes follow the length field ending at `lengthEnd` (its last byte); returns where they start. */
  private bytesAfterLength(field: string, lengthEnd: number, length: number): number {
    const start = lengthEnd + 1;
    const left = this.end - start;
    if (length > left) throw this.fail('WIRE_TRUNCATED', field, start, `length ${length} exceeds the ${left} bytes left`);
    return start;
  }

  /** Checks that `n` bytes are left and returns the current offset. */
  private need(n: number, field: string): number {
    const p = this.pos;
    if (this.end - p < n) throw this.fail('WIRE_TRUNCATED', field, p, `needs ${n} bytes, ${this.end - p} left`);
    return p;
  }

  private fail(code: WireErrorCode, field: string | undefined, offset: number, detail: string): WireError {
    const path = field === undefined || this.list === undefined ? field : `${this.list}[${this.index}].${field}`;
    return wireError(code, this.what, path, offset, detail);
  }
}

/** Texts a Reader remembers at most (a message of many different texts should not grow a large map). */
const MAX_TEXTS = 64;

function sameChars(text: string, b: Uint8Array, start: number, end: number): boolean {
  if (text.length !== end - start) return false;
  for (let i = start; i < end; i++) if (text.charCodeAt(i - start) !== b[i]) return false;
  return true;
}

/** The 37 bytes of an IPv6 key as one flat string (spelled out: `apply` on a subarray costs twice as much). */
function ipv6KeyString(b: Uint8Array, s: number): string {
  // prettier-ignore
  return String.fromCharCode(
    b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!, b[s + 12]!,
    b[s + 13]!, b[s + 14]!, b[s + 15]!, b[s + 16]!, b[s + 17]!, b[s + 18]!, b[s + 19]!, b[s + 20]!, b[s + 21]!, b[s + 22]!, b[s + 23]!, b[s + 24]!,
    b[s + 25]!, b[s + 26]!, b[s + 27]!, b[s + 28]!, b[s + 29]!, b[s + 30]!, b[s + 31]!, b[s + 32]!, b[s + 33]!, b[s + 34]!, b[s + 35]!, b[s + 36]!,
  );
}
