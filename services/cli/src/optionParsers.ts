import { InvalidArgumentError } from 'commander';

/** An integer option within [min, max], or commander's usage error. */
export function integerIn(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

/** A repeatable option: every value, in order. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A comma-separated list. */
export const commaList = (value: string) => value.split(',').map((s) => s.trim()).filter(Boolean);
