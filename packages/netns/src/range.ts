/**
 * True when `addr` (a.b.c.d or a.b.c.d/len) lies in 198.18.0.0/15, the
 * benchmarking range (RFC 2544): the only addresses the lab may use.
 */
export function inBenchmarkRange(addr: string): boolean {
  const m = /^198\.(18|19)\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/.exec(addr);
  if (m === null || Number(m[2]) > 255 || Number(m[3]) > 255) return false;
  return m[5] === undefined || (Number(m[5]) >= 15 && Number(m[5]) <= 32);
}
