import { expect } from 'vitest';
import { WireError, type WireErrorCode } from '@l7mesh/wire';

/** Runs `f`, which must throw a WireError with `code` (and `field`, when given); returns it. */
export function expectWireError(f: () => unknown, code: WireErrorCode, field?: string): WireError {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a WireError').toBeInstanceOf(WireError);
  const err = caught as WireError;
  expect({ code: err.code, field: err.field }).toEqual({ code, field: field === undefined ? err.field : field });
  expect(err.name).toBe('WireError');
  return err;
}
