/** Quantiles of a list of values (milliseconds, mostly). */
export interface Quantiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function quantiles(values: readonly number[]): Quantiles {
  const v = Float64Array.from(values).sort();
  const q = (f: number) => (v.length === 0 ? 0 : v[Math.min(v.length - 1, Math.floor(v.length * f))]!);
  const mean = v.length === 0 ? 0 : v.reduce((a, b) => a + b, 0) / v.length;
  return { count: v.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: v.length > 0 ? v[v.length - 1]! : 0, mean };
}
