/**
 * Endian-aware integer reads straight from a Uint8Array. Capture files carry
 * their own byte order, and a record may sit at any alignment inside a chunk,
 * so these avoid creating a DataView per chunk or per record.
 */

export function rd16(b: Uint8Array, o: number, le: boolean): number {
  return le ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
}

export function rd32(b: Uint8Array, o: number, le: boolean): number {
  return le
    ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
    : ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Records are padded to 32-bit boundaries in pcapng. */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}
