// Adds and deletes of 5-tuple flow set elements in one nfnetlink batch,
// written by the addon with libmnl/libnftnl (native/setwrite.cc): the
// stateless edge's per-batch element updates without libnftables' fixed
// cost per call, and its removals of ended flows with what they counted.
// The ops are packed as setRecord.ts's records.
import { addon } from './native.js';
import { ELEMENT_READ_FIELDS, type ElementRead } from './setRead.js';
import { NfqueueError } from './errors.js';
import { checkTable, invalidElement, lookup, packRecords, RECORD_BYTES, type PackedTuple, type TableFamily, type TupleFields } from './setRecord.js';

/** One element to add to, or remove from, a set keyed on the 5-tuple. */
export type ElementWrite = TupleWrite | PackedTupleWrite;

/** The element's 5-tuple as fields. */
export interface TupleWrite extends TupleFields {
  /**
   * `add`: the element exists afterwards (adding one that exists is no error);
   * `delete`: removes it, ENOENT when it is not there (expired, say);
   * `destroy`: removes it if it is there (kernel 6.3+).
   */
  op: 'add' | 'delete' | 'destroy';
  set: string;
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
 * The element's 5-tuple packed in a string, one char per byte (PackedTuple:
 * the protocol, then one endpoint's address and port, big-endian, then the
 * other's; 13 chars for IPv4, 37 for IPv6; the source first unless `reverse`).
 */
export interface PackedTupleWrite extends PackedTuple {
  op: TupleWrite['op'];
  set: string;
  timeoutMs?: number;
}

export interface ApplyElementsOptions {
  /** Family of the table; default 'inet'. */
  family?: TableFamily;
}

const FN = 'nftApplyElements';
const REMOVE_FN = 'nftRemoveElements';
const VERB: Readonly<Record<ElementWrite['op'], number>> = { add: 0, delete: 1, destroy: 2 };
const MAX_OPS = 1 << 20; // the addon's bound (native/setwrite.cc)
const MAX_TIMEOUT_MS = 0xffff_ffff;

const invalid = (index: number, field: string, why: string) => invalidElement(FN, 'ops', index, field, why);

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
  const nfproto = checkTable(FN, table, options.family ?? 'inet');
  if (Array.isArray(ops) && ops.length === 0) return;
  const { rec, sets, count } = packRecords(FN, 'ops', ops, MAX_OPS, (op, i, r, o) => {
    const verb = lookup(VERB, op.op);
    if (verb === undefined) throw invalid(i, 'op', `must be 'add', 'delete' or 'destroy', got ${JSON.stringify(op.op)}`);
    const timeout = op.timeoutMs;
    if (timeout !== undefined) {
      if (verb !== VERB.add) throw invalid(i, 'timeoutMs', `is for 'add' only, not '${op.op}'`);
      if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMEOUT_MS) {
        throw invalid(i, 'timeoutMs', `must be an integer 1..${MAX_TIMEOUT_MS} (milliseconds), got ${String(timeout)}`);
      }
    }
    const t = timeout ?? 0;
    r[o] = verb;
    r[o + 3] = timeout === undefined ? 0 : 1;
    r[o + 10] = 0;
    r[o + 11] = 0;
    r[o + 12] = t & 0xff;
    r[o + 13] = (t >>> 8) & 0xff;
    r[o + 14] = (t >>> 16) & 0xff;
    r[o + 15] = t >>> 24;
  });
  addon.nftApplyElements(table, nfproto, sets.names, rec, count);
}

/** Removals per transaction of nftRemoveElements: their notices must fit the socket's receive buffer (native/setwrite.cc). */
const REMOVALS_PER_CALL = 1024;

/**
 * Removes the elements of `removals` (named as for nftGetElements) from
 * sets of table `table` where they are, and answers what each had counted
 * at its removal: a Float64Array of `removals.length * 4` numbers in their
 * order, [found (1|0), packets, bytes, -1] per removal (nftGetElements'
 * layout; found 0: it was not there, which is no error). The counts are
 * final: no packet can match an element after it (no read before the
 * delete, no packet lost in between). Kernel 6.3+ (NFT_MSG_DESTROYSETELEM,
 * with the kernel's notice of each removal echoed to the caller); older
 * kernels refuse it with NFT_WRITE errno EINVAL, and then nothing changes.
 *
 * One transaction per 1024 removals, in order: when the kernel refuses one
 * (no such table or set), the removals before it are done. Throws as
 * nftApplyElements does (`index`: the removal at fault), and NFT_WRITE
 * ENOBUFS when notices were lost.
 */
export function nftRemoveElements(table: string, removals: readonly ElementRead[], options: ApplyElementsOptions = {}): Float64Array {
  const nfproto = checkTable(REMOVE_FN, table, options.family ?? 'inet');
  const { rec, sets, count } = packRecords(REMOVE_FN, 'removals', removals, MAX_OPS, (_r, _i, r, o) => {
    r[o] = VERB.destroy;
    r[o + 3] = 0;
  });
  const out = new Float64Array(count * ELEMENT_READ_FIELDS);
  for (let at = 0; at < count; at += REMOVALS_PER_CALL) {
    const n = Math.min(REMOVALS_PER_CALL, count - at);
    let part: Float64Array;
    try {
      part = addon.nftApplyElements(table, nfproto, sets.names, rec.subarray(at * RECORD_BYTES), n, true);
    } catch (err) {
      if (at === 0 || !(err instanceof NfqueueError)) throw err;
      // The addon counted from this transaction's first removal.
      const index = err.index === undefined ? undefined : err.index + at;
      throw new NfqueueError(err.code, `${err.message} (in removals ${at}..${at + n - 1}; those before were removed)`, { errno: err.errno, index, cause: err });
    }
    out.set(part, at * ELEMENT_READ_FIELDS);
  }
  return out;
}
