/**
 * Checked writes into a growable buffer: every write validates its value
 * first and throws WIRE_BAD_FIELD naming the field, so the encoders never
 * produce a message the decoders would reject. The buffer doubles when
 * full and is reused by HeadBatchWriter across batches.
 */
import { keyLengthProblem, keyProtocolProblem, nameProblem, textProblem } from './charsets.js';
import { copyOut } from './slab.js';
import { wireError, type WireError, type WireErrorCode } from './errors.js';
import { MAGIC_0, MAGIC_1, MAX_MESSAGE_BYTES, MAX_PAYLOAD, type MessageType, U16_MAX, U32_MAX, WIRE_VERSION } from './format.js';

export class Encoder {
  /** The buffer; replaced by a bigger one when it fills up (so re-read it after `reserve`). */
  bytes: Uint8Array;
  private view: DataView | undefined = undefined;
  /** Bytes written so far. Set back to roll back a half-written item. */
  length = 0;
  private list: string | undefined = undefined;
  private index = 0;

  constructor(
    private readonly what: string,
    capacity = 256,
  ) {
    this.bytes = new Uint8Array(capacity);
  }

  header(type: MessageType): void {
    this.reserve(4);
    const b = this.bytes;
    const p = this.length;
    b[p] = MAGIC_0;
    b[p + 1] = MAGIC_1;
    b[p + 2] = WIRE_VERSION;
    b[p + 3] = type;
    this.length = p + 4;
  }

  /** Following writes belong to item `index` of `list` (for error paths). */
  item(list: string, index: number): void {
    this.list = list;
    this.index = index;
  }

  topLevel(): void {
    this.list = undefined;
  }

  u8(field: string, v: number, min = 0, max = 0xff): void {
    if (!Number.isInteger(v) || v < min || v > max) throw this.badInteger(field, v, min, max);
    this.reserve(1);
    this.bytes[this.length++] = v;
  }

  u16(field: string, v: number, min = 0, max = U16_MAX): void {
    if (!Number.isInteger(v) || v < min || v > max) throw this.badInteger(field, v, min, max);
    this.reserve(2);
    this.put16(this.length, v);
    this.length += 2;
  }

  u32(field: string, v: number, min = 0, max = U32_MAX): void {
    if (!Number.isInteger(v) || v < min || v > max) throw this.badInteger(field, v, min, max);
    this.reserve(4);
    this.put32(this.length, v);
    this.length += 4;
  }

  /** A float64 that must be finite and ≥ 0, and with `integer` a safe integer. */
  f64(field: string, v: number, integer: boolean): void {
    const ok = integer ? Number.isSafeInteger(v) && v >= 0 : typeof v === 'number' && Number.isFinite(v) && v >= 0;
    if (!ok) throw this.fail('WIRE_BAD_FIELD', field, `${String(v)} is not ${integer ? 'a safe integer' : 'a finite number'} ≥ 0`);
    this.reserve(8);
    this.view ??= new DataView(this.bytes.buffer);
    this.view.setFloat64(this.length, v);
    this.length += 8;
  }

  /** A flags byte: only the bits of `allowed` may be set. */
  flags(field: string, v: number, allowed: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff || (v & ~allowed) !== 0) {
      throw this.fail('WIRE_BAD_FIELD', field, `${String(v)} is not a flags byte of the bits 0x${allowed.toString(16)}`);
    }
    this.reserve(1);
    this.bytes[this.length++] = v;
  }

  /** A boolean as a flags byte (bit 0). */
  bool(field: string, v: boolean): void {
    if (typeof v !== 'boolean') throw this.fail('WIRE_BAD_FIELD', field, `${typeof v} is not a boolean`);
    this.reserve(1);
    this.bytes[this.length++] = v ? 1 : 0;
  }

  /**
   * An item count (u16): `items` must be an array of at most `max` items;
   * more is WIRE_TOO_LARGE (the caller splits the batch).
   */
  count(field: string, items: readonly unknown[], max: number): void {
    if (!Array.isArray(items)) throw this.fail('WIRE_BAD_FIELD', field, 'not an array');
    if (items.length > max) throw this.fail('WIRE_TOO_LARGE', field, `${items.length} items exceed the limit of ${max}`);
    this.reserve(2);
    this.put16(this.length, items.length);
    this.length += 2;
  }

  /**
   * A short list's count (u8): `items` must be an array of at most `max`
   * items; more is WIRE_BAD_FIELD (a property of one item, not of the batch).
   */
  smallCount(field: string, items: readonly unknown[], max: number): void {
    if (!Array.isArray(items)) throw this.fail('WIRE_BAD_FIELD', field, 'not an array');
    if (items.length > max) throw this.fail('WIRE_BAD_FIELD', field, `${items.length} items exceed the limit of ${max}`);
    this.reserve(1);
    this.bytes[this.length++] = items.length;
  }

  /** Checks that `value` (the current item, or the whole message) is an object before its fields are read. */
  object(value: unknown): void {
    if (typeof value !== 'object' || value === null) {
      const path = this.list === undefined ? undefined : `${this.list}[${this.index}]`;
      throw wireError('WIRE_BAD_FIELD', this.what, path, undefined, `${value === null ? 'null' : typeof value} is not an object`);
    }
  }

  /** Checks that the current item's field `field` holds an object before its fields are written. */
  nested(field: string, value: unknown): void {
    if (typeof value !== 'object' || value === null) throw this.fail('WIRE_BAD_FIELD', field, `${value === null ? 'null' : typeof value} is not an object`);
  }

  name(field: string, s: string): void {
    const problem = nameProblem(s);
    if (problem !== undefined) throw this.fail('WIRE_BAD_FIELD', field, problem);
    this.ascii(s);
  }

  text(field: string, s: string): void {
    const problem = textProblem(s);
    if (problem !== undefined) throw this.fail('WIRE_BAD_FIELD', field, problem);
    this.ascii(s);
  }

  /** A flow key: length byte, then one byte per char (each must be ≤ 255). */
  key(field: string, key: string): void {
    if (typeof key !== 'string') throw this.fail('WIRE_BAD_FIELD', field, `${typeof key} is not a string`);
    const n = key.length;
    const lengthProblem = keyLengthProblem(n);
    if (lengthProblem !== undefined) throw this.fail('WIRE_BAD_FIELD', field, lengthProblem);
    const protocolProblem = keyProtocolProblem(key.charCodeAt(0));
    if (protocolProblem !== undefined) throw this.fail('WIRE_BAD_FIELD', field, protocolProblem);
    this.reserve(1 + n);
    const b = this.bytes;
    const p = this.length;
    b[p] = n;
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i);
      if (c > 0xff) throw this.fail('WIRE_BAD_FIELD', field, `char ${i} (code ${c}) is not a byte`);
      b[p + 1 + i] = c;
    }
    this.length = p + 1 + n;
  }

  /** A payload: u16 length, bytes (copied). */
  payload(field: string, payload: Uint8Array): void {
    if (!(payload instanceof Uint8Array)) throw this.fail('WIRE_BAD_FIELD', field, 'not a Uint8Array');
    const n = payload.length;
    if (n > MAX_PAYLOAD) throw this.fail('WIRE_BAD_FIELD', field, `length ${n} exceeds ${MAX_PAYLOAD}`);
    this.reserve(2 + n);
    this.put16(this.length, n);
    this.bytes.set(payload, this.length + 2);
    this.length += 2 + n;
  }

  /** Writes a u32 into an already written place (a field only known at the end). */
  patch32(field: string, at: number, v: number, max = U32_MAX): void {
    if (!Number.isInteger(v) || v < 0 || v > max) throw this.badInteger(field, v, 0, max);
    this.put32(at, v);
  }

  /** Writes a u16 into an already written place; the caller has validated `v`. */
  patch16(at: number, v: number): void {
    this.put16(at, v);
  }

  /** Throws WIRE_TOO_LARGE when the message has grown past MAX_MESSAGE_BYTES. */
  checkSize(field: string | undefined): void {
    if (this.length > MAX_MESSAGE_BYTES) {
      throw this.fail('WIRE_TOO_LARGE', field, `the message would take ${this.length} bytes, more than the limit of ${MAX_MESSAGE_BYTES}`);
    }
  }

  /** A copy of the message so far that the caller may keep (the buffer itself is reused); see slab.ts. */
  copy(): Uint8Array {
    return copyOut(this.bytes, this.length);
  }

  /** The finished message: checks its size and returns a copy. */
  finish(): Uint8Array {
    this.topLevel();
    this.checkSize(undefined);
    return this.copy();
  }

  private ascii(s: string): void {
    const n = s.length;
    this.reserve(1 + n);
    const b = this.bytes;
    const p = this.length;
    b[p] = n;
    for (let i = 0; i < n; i++) b[p + 1 + i] = s.charCodeAt(i);
    this.length = p + 1 + n;
  }

  private put16(at: number, v: number): void {
    this.bytes[at] = v >>> 8;
    this.bytes[at + 1] = v;
  }

  private put32(at: number, v: number): void {
    const b = this.bytes;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
  }

  /** Makes room for `n` more bytes, doubling the buffer as often as needed. */
  reserve(n: number): void {
    const needed = this.length + n;
    if (needed <= this.bytes.length) return;
    let capacity = Math.max(this.bytes.length * 2, 64);
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = undefined;
  }

  private badInteger(field: string, v: number, min: number, max: number): WireError {
    return this.fail('WIRE_BAD_FIELD', field, `${typeof v === 'number' ? v : typeof v} is not an integer in ${min}..${max}`);
  }

  private fail(code: WireErrorCode, field: string | undefined, detail: string): WireError {
    const path = field === undefined || this.list === undefined ? field : `${this.list}[${this.index}].${field}`;
    return wireError(code, this.what, path, undefined, detail);
  }
}
