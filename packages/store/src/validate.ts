/**
 * Field checks shared by the writers and the queries. Each throws a
 * STORE_BAD_PARAMETER naming the field; none touches the database.
 */
import { isIP, SocketAddress } from 'node:net';
import { badParameter } from './errors.js';

/** Names (edges, interfaces, protocols, node ids): 1-64 characters, no control characters. */
export const MAX_NAME_LENGTH = 64;

const NAME_RULE = `must be a name of 1-${MAX_NAME_LENGTH} characters without control characters`;

export function checkName(value: unknown, field: string): string {
  if (!isName(value)) throw badParameter(field, NAME_RULE);
  return value;
}

/** Every item of `list` a name; a bad one named as `field[i]`. */
export function checkNames(list: readonly unknown[], field: string): void {
  for (let i = 0; i < list.length; i++) if (!isName(list[i])) throw badParameter(`${field}[${i}]`, NAME_RULE);
}

function isName(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) return false;
  // A loop, not a regular expression: the writers check two names a record.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

export function checkText(value: unknown, field: string, maxLength: number, minLength = 0): string {
  if (typeof value !== 'string' || value.length < minLength || value.length > maxLength) {
    throw badParameter(field, `must be a string of ${minLength}-${maxLength} characters`);
  }
  return value;
}

export function checkInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badParameter(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A counter: a non-negative integer, as a safe JS number or a bigint below 2^63 (a bigint column takes either). */
export function checkCounter(value: unknown, field: string): number | bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'bigint' && value >= 0n && value < 2n ** 63n) return value;
  throw badParameter(field, 'must be a non-negative integer (a safe number or a bigint below 2^63)');
}

export function checkDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw badParameter(field, 'must be a valid Date');
  return value;
}

/**
 * A host address, IPv4 or IPv6, without a prefix length; returned in its
 * canonical text (`2001:db8::1`), so that two spellings of one address are
 * one flow identity before PostgreSQL sees them.
 */
export function checkAddress(value: unknown, field: string): string {
  if (typeof value === 'string' && isDottedQuad(value)) return value;
  const family = typeof value === 'string' ? isIP(value) : 0;
  // isIP takes an IPv6 zone ('fe80::1%eth0'), which PostgreSQL's inet does not.
  if (family === 0 || (value as string).includes('%')) throw badParameter(field, 'must be an IPv4 or IPv6 address');
  // A dotted quad isIP takes is canonical already (it refuses leading zeros); only IPv6 has spellings to fold.
  if (family === 4) return value as string;
  return new SocketAddress({ address: value as string, family: 'ipv6' }).address;
}

/**
 * Is `s` a dotted quad as isIP takes it: four decimals of 0-255 without
 * leading zeros, and so canonical? A loop instead of isIP's regular
 * expression, as the writers check two addresses a record; what it does
 * not take goes to isIP.
 */
function isDottedQuad(s: string): boolean {
  if (s.length < 7 || s.length > 15) return false;
  let dots = 0;
  let digits = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return false;
      digits = 0;
      part = 0;
      continue;
    }
    const d = c - 0x30;
    // A digit after a leading 0 is a leading zero; past 255 is also past three digits.
    if (d < 0 || d > 9 || (digits > 0 && part === 0)) return false;
    part = part * 10 + d;
    if (part > 255) return false;
    digits++;
  }
  return dots === 3 && digits > 0;
}

/** An address or a prefix (`198.18.0.0/15`, `2001:db8::/32`). */
export function checkAddressOrPrefix(value: unknown, field: string): string {
  if (typeof value !== 'string') throw badParameter(field, 'must be an address or a prefix');
  const slash = value.indexOf('/');
  const address = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(address);
  if (family === 0 || address.includes('%')) throw badParameter(field, 'must be an IPv4 or IPv6 address or prefix');
  if (slash >= 0) {
    const bits = value.slice(slash + 1);
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw badParameter(field, `prefix length must be 0-${max}`);
  }
  return value;
}

export function checkOneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw badParameter(field, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function checkBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw badParameter(field, 'must be true or false');
  return value;
}
