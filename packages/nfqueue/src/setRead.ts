// Reads of 5-tuple flow set elements by key, one NFT_MSG_GETSETELEM request
// each, by the addon with libmnl/libnftnl (native/setread.cc): which of the
// flows it knows the stateless edge still has in its sets, with their
// counters, at a cost per element that does not grow with the set — unlike
// a dump (nftSetElements), whose cost grows with the square of its size.
import { addon } from './native.js';
import { checkTable, packRecords, type PackedTuple, type TableFamily, type TupleFields } from './setRecord.js';

/** One element to read, by its key: the 5-tuple as fields or packed. */
export type ElementRead = TupleRead | PackedTupleRead;

/** The element's 5-tuple as fields (TupleWrite's, without op and timeout). */
export interface TupleRead extends TupleFields {
  set: string;
}

/**
 * The element's 5-tuple packed in a string, one char per byte (PackedTuple,
 * as PackedTupleWrite: the protocol, then one endpoint's address and port,
 * big-endian, then the other's; 13 chars for IPv4, 37 for IPv6; the source
 * first unless `reverse`).
 */
export interface PackedTupleRead extends PackedTuple {
  set: string;
}

export interface GetElementsOptions {
  /** Family of the table; default 'inet'. */
  family?: TableFamily;
}

/** Numbers per read in nftGetElements' result: [found (1|0), packets, bytes, expiresMs (-1: no timeout)]. */
export const ELEMENT_READ_FIELDS = 4;

const FN = 'nftGetElements';
const MAX_READS = 1 << 20; // the addon's bound (native/setread.cc)

/**
 * Reads the elements of `reads` by key from sets of table `table` (family
 * `options.family`, default 'inet'), in the network namespace this thread
 * was in at its first call of nftGetElements or nftApplyElements: one
 * GETSETELEM request each, sent many per sendto() (as many as the socket's
 * receive buffer has room for answers) and the answers drained. The sets'
 * keys are `ipv4_addr . inet_proto . inet_service . ipv4_addr .
 * inet_service` or the ipv6_addr variant. Synchronous: a few µs per read,
 * whatever the size of the sets.
 *
 * Returns a Float64Array of `reads.length * 4` numbers, in the order of
 * `reads`: [found (1|0), packets, bytes, expiresMs (-1: no timeout)] per
 * read. packets and bytes are the element's `counter` (0 when the set has
 * none); expiresMs the milliseconds until it times out. A missing element
 * (never added, deleted, or timed out) is found = 0 (and 0, 0, -1), not an
 * error.
 *
 * A missing table or set, or any other refusal of the kernel, throws
 * NfqueueError `NFT_READ` with `errno` and `index`, the read at fault
 * (ENOENT: no such table or set, the message says which; EINVAL: e.g. an
 * ipv4 read on an ipv6 set; EPERM, without `index`: no CAP_NET_ADMIN). Bad
 * arguments throw `NFQ_INVALID_ARGUMENT` (with `index`) before anything is
 * sent.
 */
export function nftGetElements(table: string, reads: readonly ElementRead[], options: GetElementsOptions = {}): Float64Array {
  const nfproto = checkTable(FN, table, options.family ?? 'inet');
  if (Array.isArray(reads) && reads.length === 0) return new Float64Array(0);
  const { rec, sets, count } = packRecords(FN, 'reads', reads, MAX_READS, (_read, _i, r, o) => {
    r[o] = 0;
    r[o + 3] = 0;
  });
  return addon.nftGetElements(table, nfproto, sets.names, rec, count);
}
