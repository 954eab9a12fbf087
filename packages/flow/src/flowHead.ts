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

/**
 * Appends `payload` to a head buffer at `offset` with l7 semantics, writing at
 * most `room` bytes. Returns how many bytes were written (0 means the packet
 * added nothing, so l7-filter would not test it).
 */
export function appendHeadBytes(payload: Uint8Array, target: Uint8Array, offset: number, room: number): number {
  let written = 0;
  const n = payload.length;
  for (let i = 0; i < n && written < room; i++) {
    const byte = payload[i]!;
    if (byte === 0) continue;
    target[offset + written++] = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
  }
  return written;
}
