// Adds and deletes of 5-tuple flow set elements in one nfnetlink batch,
// written by the addon with libmnl/libnftnl (native/setwrite.cc): the
// stateless edge's per-batch element updates without libnftables' fixed
// cost per call. The ops are packed as setRecord.ts's records.
import { addon } from './native.js';
import { checkTable, invalidElement, lookup, packRecords, type PackedTuple, type TableFamily, type TupleFields } from './setRecord.js';

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
