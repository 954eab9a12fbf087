/**
 * What l7-filter matched on: payload bytes with NULs removed and A-Z
 * lowercased (ASCII only), here as a latin1 string (one char per byte).
 */
export function l7Data(payload: string | Uint8Array): string {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  let out = '';
  for (const b of bytes) {
    if (b === 0) continue;
    out += String.fromCharCode(b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
  }
  return out;
}

/** The same data as bytes, for Hyperscan. */
export const l7Bytes = (payload: string | Uint8Array): Buffer => Buffer.from(l7Data(payload), 'latin1');

/** Runs a translation's JS source the way the reference engine does. */
export const jsMatches = (javascript: string, payload: string | Uint8Array): boolean =>
  new RegExp(javascript, '').test(l7Data(payload));
