import { expect } from 'vitest';
import { StoreError, type StoreErrorCode } from '@l7mesh/store';

/** Awaits `f`, which must reject with a StoreError of `code` (and `field`, when given); returns it. */
export async function expectStoreError(f: () => Promise<unknown>, code: StoreErrorCode, field?: string): Promise<StoreError> {
  let caught: unknown;
  try {
    await f();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a StoreError').toBeInstanceOf(StoreError);
  const err = caught as StoreError;
  expect({ code: err.code, field: err.field }).toEqual({ code, field: field === undefined ? err.field : field });
  expect(err.name).toBe('StoreError');
  return err;
}
