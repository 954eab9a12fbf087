// The element record shared by nftApplyElements (setWrite.ts) and
// nftGetElements (setRead.ts): one 5-tuple set element packed in 48 bytes
// of one reused Buffer, which the addon turns into the key the kernel
// stores (native/setelem.h), plus the checks of the arguments both take.
import { NfqueueError } from './errors.js';

/** The 5-tuple of an element as fields. */
export interface TupleFields {
  family: 'ipv4' | 'ipv6';
  protocol: 'tcp' | 'udp';
  /** 4 bytes (ipv4) or 16 (ipv6), network order. */
  src: Uint8Array;
  sport: number;
  dst: Uint8Array;
  dport: number;
}

/**
 * The 5-tuple of an element packed in a string, one char per byte (as
 * @l7mesh/flow's canonical flow keys are): the protocol, then one
 * endpoint's address and port (big-endian), then the other's; 13 chars for
 * IPv4, 37 for IPv6. The first endpoint is the source unless `reverse`.
 * Made for a caller that holds such keys: no address bytes to allocate.
 */
export interface PackedTuple {
  tuple: string;
  reverse?: boolean;
}

/** Family of a table. */
export type TableFamily = 'inet' | 'ip' | 'ip6';

// One element as native/setelem.h reads it (kRecordBytes there):
//   0 verb (writes)   1 address length   2 l4 protocol   3 flags (writes; 1: timeout)   4-5 set index (LE)
//   6-7 sport, 8-9 dport (network order)   10-11 zero   12-15 timeout ms (LE; writes)   16-31 src   32-47 dst
export const RECORD_BYTES = 48;

// NFPROTO_* (linux/netfilter.h).
const NFPROTO: Readonly<Record<TableFamily, number>> = { inet: 1, ip: 2, ip6: 10 };
const IPPROTO: Readonly<Record<TupleFields['protocol'], number>> = { tcp: 6, udp: 17 };
const ADDRESS_BYTES: Readonly<Record<TupleFields['family'], number>> = { ipv4: 4, ipv6: 16 };
const NAME_MAX = 255; // NFT_NAME_MAXLEN less the NUL

// Records are written into one reused buffer: the calls are synchronous, so
// the addon is done with it when the next call starts. Above this size a
// call gets a buffer of its own, so one huge call does not pin memory.
const KEEP_BYTES = 1 << 20;
let scratch = Buffer.allocUnsafe(256 * RECORD_BYTES);

/** A buffer for `count` records (the shared one when it is large enough). */
export function recordBuffer(count: number): Buffer {
  const bytes = count * RECORD_BYTES;
  if (bytes <= scratch.length) return scratch;
  const buf = Buffer.allocUnsafe(bytes);
  if (bytes <= KEEP_BYTES) scratch = buf;
  return buf;
}

/** table[key] for a key the caller typed, which may be anything at run time. */
export function lookup(table: Readonly<Record<string, number>>, key: unknown): number | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** `fn: list[index].field why`, with the index. */
export function invalidElement(fn: string, list: string, index: number, field: string, why: string): NfqueueError {
  return new NfqueueError('NFQ_INVALID_ARGUMENT', `${fn}: ${list}[${index}].${field} ${why}`, { index });
}

export function checkName(fn: string, name: unknown, what: string, index?: number): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > NAME_MAX || Buffer.byteLength(name) > NAME_MAX || name.includes('\0')) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${fn}: ${what} must be 1..${NAME_MAX} bytes without NUL, got ${JSON.stringify(name)}`, { index });
  }
}

/** The table's name and family checked; its NFPROTO_* number. */
export function checkTable(fn: string, table: unknown, family: unknown): number {
  checkName(fn, table, 'table');
  const nfproto = lookup(NFPROTO, family);
  if (nfproto === undefined) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${fn}: family must be 'inet', 'ip' or 'ip6', got ${String(family)}`);
  }
  return nfproto;
}

/** Set names numbered in the order they first come (the records' set index). */
export class SetNames {
  readonly names: string[] = [];
  readonly #index = new Map<string, number>();

  indexOf(fn: string, list: string, set: unknown, i: number): number {
    let s = this.#index.get(set as string);
    if (s === undefined) {
      checkName(fn, set, `${list}[${i}].set`, i);
      if (this.names.length === 0xffff) throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${fn}: at most 65535 distinct sets per call`, { index: i });
      s = this.names.length;
      this.names.push(set as string);
      this.#index.set(set as string, s);
    }
    return s;
  }
}

function checkPort(fn: string, list: string, value: unknown, index: number, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw invalidElement(fn, list, index, field, `must be a port (an integer 0..65535), got ${String(value)}`);
  }
  return value;
}

function checkAddress(fn: string, list: string, value: unknown, len: number, index: number, field: string, family: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== len) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw invalidElement(fn, list, index, field, `must be a Uint8Array of ${len} bytes (${family}), got ${got}`);
  }
  return value;
}

/**
 * Checks element `i` of `list` (a PackedTuple when it has `tuple`, else
 * TupleFields) and writes its 5-tuple into the record at `o`: bytes 1-2,
 * 6-9 and 16-47. The caller writes the rest.
 */
export function packTuple(fn: string, list: string, el: object, i: number, rec: Buffer, o: number): void {
  const packed = 'tuple' in el ? (el as PackedTuple).tuple : undefined;
  if (packed !== undefined) {
    if (typeof packed !== 'string' || (packed.length !== 13 && packed.length !== 37)) {
      throw invalidElement(fn, list, i, 'tuple', `must be a packed 5-tuple of 13 (IPv4) or 37 (IPv6) chars`);
    }
    const alen = packed.length === 13 ? 4 : 16;
    const proto = packed.charCodeAt(0);
    if (proto !== 6 && proto !== 17) throw invalidElement(fn, list, i, 'tuple', `has protocol ${proto}, not tcp (6) or udp (17)`);
    // Chars 1.. and alen+3.. are the two endpoints; the source first unless reversed.
    const [src, dst] = (el as PackedTuple).reverse ? [alen + 3, 1] : [1, alen + 3];
    rec[o + 1] = alen;
    rec[o + 2] = proto;
    rec[o + 6] = packed.charCodeAt(src + alen);
    rec[o + 7] = packed.charCodeAt(src + alen + 1);
    rec[o + 8] = packed.charCodeAt(dst + alen);
    rec[o + 9] = packed.charCodeAt(dst + alen + 1);
    for (let b = 0; b < alen; b++) {
      rec[o + 16 + b] = packed.charCodeAt(src + b);
      rec[o + 32 + b] = packed.charCodeAt(dst + b);
    }
    return;
  }
  const t = el as TupleFields;
  const alen = lookup(ADDRESS_BYTES, t.family);
  if (alen === undefined) throw invalidElement(fn, list, i, 'family', `must be 'ipv4' or 'ipv6', got ${JSON.stringify(t.family)}`);
  const proto = lookup(IPPROTO, t.protocol);
  if (proto === undefined) throw invalidElement(fn, list, i, 'protocol', `must be 'tcp' or 'udp', got ${JSON.stringify(t.protocol)}`);
  const sport = checkPort(fn, list, t.sport, i, 'sport');
  const dport = checkPort(fn, list, t.dport, i, 'dport');
  const src = checkAddress(fn, list, t.src, alen, i, 'src', t.family);
  const dst = checkAddress(fn, list, t.dst, alen, i, 'dst', t.family);
  rec[o + 1] = alen;
  rec[o + 2] = proto;
  rec[o + 6] = sport >>> 8;
  rec[o + 7] = sport & 0xff;
  rec[o + 8] = dport >>> 8;
  rec[o + 9] = dport & 0xff;
  for (let b = 0; b < alen; b++) {
    rec[o + 16 + b] = src[b]!;
    rec[o + 32 + b] = dst[b]!;
  }
}

/**
 * The `list` argument of `fn` (at most `max` items) packed into records:
 * each item must be an object; its set's index and 5-tuple are packed, and
 * `pack` writes the rest of its record (bytes 0, 3 and 10-15) at `o`.
 */
export function packRecords<T extends { set: string }>(
  fn: string,
  list: string,
  items: readonly T[],
  max: number,
  pack: (item: T, i: number, rec: Buffer, o: number) => void,
): { rec: Buffer; sets: SetNames; count: number } {
  if (!Array.isArray(items)) throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${fn}: ${list} must be an array`);
  const count = items.length;
  if (count > max) throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${fn}: at most ${max} ${list} per call, got ${count}`);
  const rec = recordBuffer(count);
  const sets = new SetNames();
  for (let i = 0, o = 0; i < count; i++, o += RECORD_BYTES) {
    const item = items[i];
    if (typeof item !== 'object' || item === null) {
      throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${fn}: ${list}[${i}] must be an object`, { index: i });
    }
    const s = sets.indexOf(fn, list, item.set, i);
    packTuple(fn, list, item, i, rec, o);
    rec[o + 4] = s & 0xff;
    rec[o + 5] = s >>> 8;
    pack(item, i, rec, o);
  }
  return { rec, sets, count };
}
