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
 * Copies `payload` into `target` at `offset` without its NUL bytes, at most
 * `room` bytes; returns how many were written. The first half of the l7
 * transform: a caller that lowercases elsewhere (the Hyperscan scanner folds
 * case in native code) uses this alone.
 */
export function copyHeadBytes(payload: Uint8Array, target: Uint8Array, offset: number, room: number): number {
  let written = 0;
  let from = 0;
  const n = payload.length;
  while (from < n && written < room) {
    let nul = findByte.call(payload, 0, from);
    if (nul < 0) nul = n;
    const take = Math.min(nul - from, room - written);
    if (take > 0) copyBytes.call(payload, target, offset + written, from, from + take);
    written += take;
    from = nul + 1;
  }
  return written;
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
export function appendHeadBytes(payload: Uint8Array, target: Uint8Array, offset: number, room: number): number {
  const written = copyHeadBytes(payload, target, offset, room);
  foldAsciiCase(target, offset, offset + written);
  return written;
}
