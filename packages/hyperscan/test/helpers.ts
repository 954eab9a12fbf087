// Shared test helpers (not a test file itself).
import { expect } from 'vitest';
import { HyperscanError, type HyperscanErrorCode } from '../src/index.js';

export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Asserts fn throws a HyperscanError with this code; returns it for more checks. */
export function expectHsError(fn: () => unknown, code: HyperscanErrorCode): HyperscanError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(HyperscanError);
  const err = caught as HyperscanError;
  expect(err.code).toBe(code);
  expect(err.message.length).toBeGreaterThan(0);
  return err;
}
