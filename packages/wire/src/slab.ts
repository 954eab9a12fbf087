/**
 * Where finished messages are copied to. A fresh ArrayBuffer costs about a
 * microsecond, more than encoding a small batch, so small messages are
 * carved out of a shared slab (as Node's Buffer pool does) and handed out
 * as plain Uint8Array views: mind `byteOffset` when looking at `.buffer`.
 * A kept message keeps its slab alive; messages are usually published and
 * dropped, so that costs little.
 */
const SLAB_BYTES = 64 * 1024;
/** Bigger messages get their own buffer (the allocation is then small next to the copy). */
const SLAB_MESSAGE_MAX = 4 * 1024;

let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/** A copy of bytes[0, length) that the caller may keep. */
export function copyOut(bytes: Uint8Array, length: number): Uint8Array {
  if (length > SLAB_MESSAGE_MAX) return bytes.slice(0, length);
  if (slabUsed + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, length);
  out.set(bytes.subarray(0, length));
  // 8-byte steps keep every message aligned, for readers that want a DataView or Float64Array over it.
  slabUsed += (length + 7) & ~7;
  return out;
}
