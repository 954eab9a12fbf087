import { isIPv6 } from 'node:net';

/**
 * True when `addr` (an address, or address/len) lies in the lab's ranges:
 * 198.18.0.0/15, the benchmarking range (RFC 2544), or 2001:db8::/32, the
 * documentation range (RFC 3849). The lab may use no other address.
 */
export function inBenchmarkRange(addr: string): boolean {
  const [address = '', len, ...rest] = addr.split('/');
  if (rest.length > 0 || (len !== undefined && !/^\d{1,3}$/.test(len))) return false;
  if (address.includes(':')) return isIPv6(address) && /^2001:0?db8:/i.test(address) && (len === undefined || (Number(len) >= 32 && Number(len) <= 128));
  const m = /^198\.(18|19)\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (m === null || Number(m[2]) > 255 || Number(m[3]) > 255) return false;
  return len === undefined || (Number(len) >= 15 && Number(len) <= 32);
}
