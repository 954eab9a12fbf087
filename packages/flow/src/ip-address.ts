/** Invalid textual IP address given to parseIpAddress. */
export class IpAddressError extends Error {
  override readonly name = 'IpAddressError';
  readonly code = 'IP_ADDRESS_INVALID';
  constructor(readonly text: string) {
    super(`invalid IP address: ${JSON.stringify(text)}`);
  }
}

function parseIpv4Into(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) return false;
    const n = Number(p);
    if (n > 255) return false;
    out[at + i] = n;
  }
  return true;
}

/** Parses dotted IPv4 (4 bytes) or RFC 4291 IPv6 text incl. '::' and an embedded IPv4 tail (16 bytes). */
export function parseIpAddress(text: string): Uint8Array {
  if (!text.includes(':')) {
    const out = new Uint8Array(4);
    if (!parseIpv4Into(text, out, 0)) throw new IpAddressError(text);
    return out;
  }
  const out = new Uint8Array(16);
  const halves = text.split('::');
  if (halves.length > 2) throw new IpAddressError(text);
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  // Expand a trailing dotted quad into two 16-bit groups.
  const all = halves.length === 2 ? tail : head;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    const q = new Uint8Array(4);
    if (!parseIpv4Into(last, q, 0)) throw new IpAddressError(text);
    all.splice(all.length - 1, 1, ((q[0]! << 8) | q[1]!).toString(16), ((q[2]! << 8) | q[3]!).toString(16));
  }
  const count = head.length + tail.length;
  if (halves.length === 2 ? count > 7 : count !== 8) throw new IpAddressError(text);
  const write = (list: string[], start: number): void => {
    list.forEach((g, i) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new IpAddressError(text);
      const v = parseInt(g, 16);
      out[(start + i) * 2] = v >> 8;
      out[(start + i) * 2 + 1] = v & 0xff;
    });
  };
  write(head, 0);
  write(tail, 8 - tail.length);
  return out;
}

/** Formats 4 or 16 address bytes: dotted IPv4, or RFC 5952 canonical IPv6 (IPv4-mapped as ::ffff:a.b.c.d). */
export function formatIpAddress(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  if (addr.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, got ${addr.length}`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((addr[i * 2]! << 8) | addr[i * 2 + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  }
  // Longest run of >= 2 zero groups (first one on a tie) becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((v) => v.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
