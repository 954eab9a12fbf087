// Adds and deletes of 5-tuple flow set elements in one nfnetlink batch,
// written by the addon with libmnl/libnftnl (native/setwrite.cc): the
// stateless edge's per-batch element updates without libnftables' fixed
// cost per call.
import { NfqueueError } from './errors.js';
import { addon } from './native.js';

/** One element to add to, or remove from, a set keyed on the 5-tuple. */
export type ElementWrite = TupleWrite | PackedTupleWrite;

/** The element's 5-tuple as fields. */
export interface TupleWrite {
  /**
   * `add`: the element exists afterwards (adding one that exists is no error);
   * `delete`: removes it, ENOENT when it is not there (expired, say);
   * `destroy`: removes it if it is there (kernel 6.3+).
   */
  op: 'add' | 'delete' | 'destroy';
  set: string;
  family: 'ipv4' | 'ipv6';
  protocol: 'tcp' | 'udp';
  /** 4 bytes (ipv4) or 16 (ipv6), network order. */
  src: Uint8Array;
  sport: number;
  dst: Uint8Array;
  dport: number;
  /**
   * add only: the element expires this many milliseconds from now (1 to
   * 2^32 - 1; the set needs `flags timeout`). An element that exists gets this
   * timeout and a fresh expiry, its counter kept. Without it a new element
   * takes the set's own `timeout`, if any, and an existing one is left as is
   * unless it has a timeout, which is then reset to the set's (0: never expires).
   */
  timeoutMs?: number;
}

/**
 * The element's 5-tuple packed in a string, one char per byte (as
 * @l7mesh/flow's canonical flow keys are): the protocol, then one
 * endpoint's address and port (big-endian), then the other's; 13 chars for
 * IPv4, 37 for IPv6. The first endpoint is the source unless `reverse`.
 * Made for a caller that holds such keys: no address bytes to allocate.
 */
export interface PackedTupleWrite {
  op: TupleWrite['op'];
  set: string;
  tuple: string;
  reverse?: boolean;
  timeoutMs?: number;
}

export interface ApplyElementsOptions {
  /** Family of the table; default 'inet'. */
  family?: 'inet' | 'ip' | 'ip6';
}

// NFPROTO_* (linux/netfilter.h).
const NFPROTO: Readonly<Record<NonNullable<ApplyElementsOptions['family']>, number>> = { inet: 1, ip: 2, ip6: 10 };

// One op as native/setwrite.cc reads it (kRecordBytes there):
//   0 verb   1 address length   2 l4 protocol   3 flags (1: timeout)   4-5 set index (LE)
//   6-7 sport, 8-9 dport (network order)   12-15 timeout ms (LE)   16-31 src   32-47 dst
const RECORD_BYTES = 48;
const VERB: Readonly<Record<ElementWrite['op'], number>> = { add: 0, delete: 1, destroy: 2 };
const IPPROTO: Readonly<Record<TupleWrite['protocol'], number>> = { tcp: 6, udp: 17 };
const ADDRESS_BYTES: Readonly<Record<TupleWrite['family'], number>> = { ipv4: 4, ipv6: 16 };
const MAX_OPS = 1 << 20; // the addon's bound (native/setwrite.cc)
const MAX_TIMEOUT_MS = 0xffff_ffff;
const NAME_MAX = 255; // NFT_NAME_MAXLEN less the NUL

// Records are written into one reused buffer: the call is synchronous, so
// the addon is done with it when the next call starts. Above this size a
// call gets a buffer of its own, so one huge call does not pin memory.
const KEEP_BYTES = 1 << 20;
let scratch = Buffer.allocUnsafe(256 * RECORD_BYTES);

/** table[key] for a key the caller typed, which may be anything at run time. */
function lookup(table: Readonly<Record<string, number>>, key: unknown): number | undefined {
  return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
}

function invalid(index: number, field: string, why: string): NfqueueError {
  return new NfqueueError('NFQ_INVALID_ARGUMENT', `nftApplyElements: ops[${index}].${field} ${why}`, { index });
}

function checkName(name: unknown, what: string, index?: number): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > NAME_MAX || Buffer.byteLength(name) > NAME_MAX || name.includes('\0')) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `nftApplyElements: ${what} must be 1..${NAME_MAX} bytes without NUL, got ${JSON.stringify(name)}`, { index });
  }
}

function checkPort(value: unknown, index: number, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw invalid(index, field, `must be a port (an integer 0..65535), got ${String(value)}`);
  }
  return value;
}

function writeAddress(rec: Buffer, at: number, value: unknown, len: number, index: number, field: string, family: string): void {
  if (!(value instanceof Uint8Array) || value.length !== len) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw invalid(index, field, `must be a Uint8Array of ${len} bytes (${family}), got ${got}`);
  }
  for (let b = 0; b < len; b++) rec[at + b] = value[b]!;
}

/**
 * Applies `ops` to sets of table `table` (family `options.family`, default
 * 'inet') as ONE nf_tables transaction, in the network namespace this
 * thread was in at its first call. The sets' keys are
 * `ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service` or the
 * ipv6_addr variant. Ops run in order: consecutive ops on the same set and
 * verb go out as one netlink message.
 *
 * All or nothing: when the kernel refuses any op the transaction is aborted
 * and this throws NfqueueError `NFT_WRITE` with `errno` and `index`, the op
 * at fault (ENOENT: `delete` of an element that is not there; ENOENT for a
 * missing table or set, with `index` the first op of the message for that
 * set; ENFILE: the set is full; EINVAL: e.g. an ipv4 op on an ipv6 set, or a
 * timeout on a set without `flags timeout`). Retrying without that op may
 * meet the next bad one: the kernel reports only the first of each message.
 * Bad arguments throw `NFQ_INVALID_ARGUMENT` (with `index`) before anything
 * is sent.
 */
export function nftApplyElements(table: string, ops: readonly ElementWrite[], options: ApplyElementsOptions = {}): void {
  checkName(table, 'table');
  const family = options.family ?? 'inet';
  const nfproto = lookup(NFPROTO, family);
  if (nfproto === undefined) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `nftApplyElements: family must be 'inet', 'ip' or 'ip6', got ${String(family)}`);
  }
  if (!Array.isArray(ops)) throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'nftApplyElements: ops must be an array');
  const count = ops.length;
  if (count === 0) return;
  if (count > MAX_OPS) throw new NfqueueError('NFQ_INVALID_ARGUMENT', `nftApplyElements: at most ${MAX_OPS} ops per call, got ${count}`);

  const bytes = count * RECORD_BYTES;
  let rec = scratch;
  if (bytes > scratch.length) {
    rec = Buffer.allocUnsafe(bytes);
    if (bytes <= KEEP_BYTES) scratch = rec;
  }
  const sets: string[] = [];
  const setIndex = new Map<string, number>();
  for (let i = 0, o = 0; i < count; i++, o += RECORD_BYTES) {
    const op = ops[i];
    if (typeof op !== 'object' || op === null) {
      throw new NfqueueError('NFQ_INVALID_ARGUMENT', `nftApplyElements: ops[${i}] must be an object`, { index: i });
    }
    const verb = lookup(VERB, op.op);
    if (verb === undefined) throw invalid(i, 'op', `must be 'add', 'delete' or 'destroy', got ${JSON.stringify(op.op)}`);
    let s = setIndex.get(op.set);
    if (s === undefined) {
      checkName(op.set, `ops[${i}].set`, i);
      if (sets.length === 0xffff) throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'nftApplyElements: at most 65535 distinct sets per call', { index: i });
      s = sets.length;
      sets.push(op.set);
      setIndex.set(op.set, s);
    }
    const packed = 'tuple' in op ? op.tuple : undefined;
    let alen: number | undefined;
    let proto: number | undefined;
    let sport: number;
    let dport: number;
    if (packed !== undefined) {
      if (typeof packed !== 'string' || (packed.length !== 13 && packed.length !== 37)) throw invalid(i, 'tuple', `must be a packed 5-tuple of 13 (IPv4) or 37 (IPv6) chars`);
      alen = packed.length === 13 ? 4 : 16;
      proto = packed.charCodeAt(0);
      if (proto !== 6 && proto !== 17) throw invalid(i, 'tuple', `has protocol ${proto}, not tcp (6) or udp (17)`);
      const a = (packed.charCodeAt(alen + 1) << 8) | packed.charCodeAt(alen + 2);
      const b = (packed.charCodeAt(2 * alen + 3) << 8) | packed.charCodeAt(2 * alen + 4);
      [sport, dport] = (op as PackedTupleWrite).reverse ? [b, a] : [a, b];
    } else {
      const t = op as TupleWrite;
      alen = lookup(ADDRESS_BYTES, t.family);
      if (alen === undefined) throw invalid(i, 'family', `must be 'ipv4' or 'ipv6', got ${JSON.stringify(t.family)}`);
      proto = lookup(IPPROTO, t.protocol);
      if (proto === undefined) throw invalid(i, 'protocol', `must be 'tcp' or 'udp', got ${JSON.stringify(t.protocol)}`);
      sport = checkPort(t.sport, i, 'sport');
      dport = checkPort(t.dport, i, 'dport');
    }
    const timeout = op.timeoutMs;
    if (timeout !== undefined) {
      if (verb !== VERB.add) throw invalid(i, 'timeoutMs', `is for 'add' only, not '${op.op}'`);
      if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMEOUT_MS) {
        throw invalid(i, 'timeoutMs', `must be an integer 1..${MAX_TIMEOUT_MS} (milliseconds), got ${String(timeout)}`);
      }
    }
    rec[o] = verb;
    rec[o + 1] = alen;
    rec[o + 2] = proto;
    rec[o + 3] = timeout === undefined ? 0 : 1;
    rec[o + 4] = s & 0xff;
    rec[o + 5] = s >>> 8;
    rec[o + 6] = sport >>> 8;
    rec[o + 7] = sport & 0xff;
    rec[o + 8] = dport >>> 8;
    rec[o + 9] = dport & 0xff;
    rec[o + 10] = 0;
    rec[o + 11] = 0;
    const t = timeout ?? 0;
    rec[o + 12] = t & 0xff;
    rec[o + 13] = (t >>> 8) & 0xff;
    rec[o + 14] = (t >>> 16) & 0xff;
    rec[o + 15] = t >>> 24;
    if (packed !== undefined) {
      // Chars 1.. and alen+3.. are the two addresses; the source first unless reversed.
      const [src, dst] = (op as PackedTupleWrite).reverse ? [alen + 3, 1] : [1, alen + 3];
      for (let b = 0; b < alen; b++) {
        rec[o + 16 + b] = packed.charCodeAt(src + b);
        rec[o + 32 + b] = packed.charCodeAt(dst + b);
      }
    } else {
      const t = op as TupleWrite;
      writeAddress(rec, o + 16, t.src, alen, i, 'src', t.family);
      writeAddress(rec, o + 32, t.dst, alen, i, 'dst', t.family);
    }
  }
  addon.nftApplyElements(table, nfproto, sets, rec, count);
}
