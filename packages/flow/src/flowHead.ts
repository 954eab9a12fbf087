/**
 * The flow head with the kernel l7-filter's semantics: the payload of both
 * directions appended into one buffer in packet order, NUL bytes removed and
 * ASCII letters lowercased.
 *
 * Why: the kernel kept the head as a C string, so a NUL would have ended it
 * early; l7-filter dropped NULs instead. It lowercased the data so that the
 * (also lowercased) patterns match case-insensitively; it used isascii()
 * before tolower() because the kernel's tolower also folds Latin-1 letters,
 * which the patterns never expected.
 */

/** l7-filter's default maxdatalen: the kernel kept room for a terminating NUL. */
export const DEFAULT_MAX_DATA_LEN = 2048;
/** l7-filter capped maxdatalen at 64 KiB. */
export const MAX_DATA_LEN_LIMIT = 65536;
/** l7-filter's default packet budget (both directions, handshake included). */
export const DEFAULT_MAX_PACKETS = 10;

/** Bytes of head a flow can collect for a given maxdatalen (one is the kernel's NUL). */
export function headCapacity(maxDataLen: number): number {
  return maxDataLen - 1;
}

// Buffer's indexOf is a native byte search; TypedArray's is a slow generic loop.
const findByte = Buffer.prototype.indexOf as (this: Uint8Array, value: number, byteOffset: number) => number;
const copyBytes = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/**
 * Payloads at least this long are first searched for a NUL natively, and
 * copied natively when they have none. Shorter ones, and those with NULs
 * (most binary protocols have many), are copied by a JS loop: a native call
 * costs more than looping over a short payload. On the real-shape
 * benchmark's heads (median 57 bytes, 70% with a NUL) this takes 40% of the
 * time of a native search and copy per NUL-free run.
 */
const NATIVE_COPY_MIN = 256;

/**
 * Copies `payload` (or its bytes [start, end): a packet's payload in its
 * capture buffer, without a view made for it) into `target` at `offset`
 * without its NUL bytes, at most `room` bytes; returns how many were
 * written. The first half of the l7 transform: a caller that lowercases
 * elsewhere (the Hyperscan scanner folds case in native code) uses this alone.
 */
export function copyHeadBytes(payload: Uint8Array, target: Uint8Array, offset: number, room: number, start = 0, end = payload.length): number {
  const n = end - start;
  if (n >= NATIVE_COPY_MIN && !hasNul(payload, start, end)) {
    const take = n < room ? n : room;
    copyBytes.call(payload, target, offset, start, start + take);
    return take;
  }
  if (n <= room) return copyFitting(payload, target, offset, start, end);
  let to = offset;
  const last = offset + room;
  for (let i = start; i < end && to < last; i++) {
    const byte = payload[i]!;
    if (byte !== 0) target[to++] = byte;
  }
  return to - offset;
}

/**
 * copyHeadBytes when all of payload[start, end) fits: no room check, and
 * four bytes a step; a step with a NUL keeps the others one by one. About
 * half the time per byte of a loop over bytes with the room check. A
 * function of its own: inlined in copyHeadBytes, the same loop took twice
 * the time.
 */
function copyFitting(payload: Uint8Array, target: Uint8Array, offset: number, start: number, end: number): number {
  let to = offset;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const a = payload[i]!;
    const b = payload[i + 1]!;
    const c = payload[i + 2]!;
    const d = payload[i + 3]!;
    if (a !== 0 && b !== 0 && c !== 0 && d !== 0) {
      target[to] = a;
      target[to + 1] = b;
      target[to + 2] = c;
      target[to + 3] = d;
      to += 4;
    } else {
      if (a !== 0) target[to++] = a;
      if (b !== 0) target[to++] = b;
      if (c !== 0) target[to++] = c;
      if (d !== 0) target[to++] = d;
    }
  }
  for (; i < end; i++) {
    const byte = payload[i]!;
    if (byte !== 0) target[to++] = byte;
  }
  return to - offset;
}

/**
 * Whether bytes[start, end) hold a NUL, searched natively from `start` in
 * the whole of `bytes` (a view of the range would be garbage per packet):
 * the first NUL at or after `start` is in the range or beyond it. In a
 * capture chunk the search stops soon past the range, at the next record's
 * header (its length has a zero high byte).
 */
function hasNul(bytes: Uint8Array, start: number, end: number): boolean {
  const at = findByte.call(bytes, 0, start);
  return at >= 0 && at < end;
}

/** Lowercases the ASCII letters of target[start, end) in place. */
export function foldAsciiCase(target: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end; i++) {
    const byte = target[i]!;
    if (byte >= 0x41 && byte <= 0x5a) target[i] = byte | 0x20;
  }
}

/**
 * Appends `payload` to a head buffer at `offset` with l7 semantics, writing at
 * most `room` bytes. Returns how many bytes were written (0 means the packet
 * added nothing, so l7-filter would not test it).
 */
export function appendHeadBytes(payload: Uint8Array, target: Uint8Array, offset: number, room: number, start = 0, end = payload.length): number {
  const written = copyHeadBytes(payload, target, offset, room, start, end);
  foldAsciiCase(target, offset, offset + written);
  return written;
}
