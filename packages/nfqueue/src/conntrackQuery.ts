// Reading conntrack: one entry's reply tuple (native/ctquery.cc, on the JS
// thread: microseconds) and the whole table with counters (a pool thread).
import type { ConntrackTuple } from './conntrack.js';
import { conntrackAddresses, decodeConntrackEntries, type ConntrackEntry } from './conntrackEntry.js';
import { NfqueueError } from './errors.js';
import { addon } from './native.js';

/**
 * The reply tuple of the conntrack entry whose ORIGINAL tuple is `tuple`,
 * or undefined when there is none (ENOENT). For a source-NATed connection
 * that is the tuple the far side sees: `reply.dst`/`reply.dport` are the
 * external address and port. Without NAT it is `tuple` reversed.
 *
 * Strictly by the original tuple: the kernel's lookup also finds an entry
 * whose reply tuple equals the query, and that answers undefined too (ask
 * again with the tuple reversed for the other direction).
 *
 * Synchronous (one ctnetlink GET; a few microseconds). Reads the network
 * namespace the calling thread was in at its first call. Throws
 * NfqueueError `CT_QUERY` naming the tuple for any other kernel answer
 * (EPERM without CAP_NET_ADMIN, ...), `CT_SOCKET` when no ctnetlink socket
 * can be opened, `NFQ_INVALID_ARGUMENT` for a malformed tuple.
 */
export function conntrackReply(tuple: ConntrackTuple): ConntrackTuple | undefined {
  return addon.conntrackReply(tuple);
}

export interface ConntrackDumpOptions {
  /** Only this family (default both). */
  family?: 4 | 6;
  /** Only these IP protocols, e.g. [6, 17] (default all). Filtered while parsing, on the pool thread. */
  protocols?: readonly number[];
}

// Entries turned into objects per turn of the event loop (as nftSetElements does).
const SLICE = 4096;
// conntrackDumpEach: smaller, since the consumer's own work per entry comes on top.
const EACH_SLICE = 1024;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Every conntrack entry of the calling thread's network namespace, with
 * its counters, read and parsed on a libuv pool thread; the objects are
 * built here SLICE per turn of the event loop.
 *
 * The counters are read, never reset: the request is IPCTNL_MSG_CT_GET,
 * never IPCTNL_MSG_CT_GET_CTRZERO (`conntrack -L -z`), because connbytes
 * rules (the edge's queue budget) read the same counters.
 *
 * Not a snapshot: the kernel walks its hash table in chunks, so entries
 * created or deleted during the dump may be missing, and an entry can be
 * absent from a dump although it lives on. Rejects with NfqueueError
 * `CT_DUMP` (with errno) when the kernel refuses or stops answering.
 */
export async function conntrackDump(options: ConntrackDumpOptions = {}): Promise<ConntrackEntry[]> {
  const cols = await dumpColumns(options);
  const names = conntrackAddresses(cols);
  const out: ConntrackEntry[] = [];
  for (let start = 0; start < cols.count; start += SLICE) {
    if (start > 0) await nextTurn();
    decodeConntrackEntries(cols, names, start, Math.min(cols.count, start + SLICE), out);
  }
  return out;
}

/**
 * conntrackDump for a table too large to hold as objects: the same dump,
 * handed to `onEntries` EACH_SLICE entries at a time, one slice per turn of
 * the event loop. Entries that are not kept die young, so a dump of 100k
 * entries costs the event loop short slices instead of the long garbage
 * collections that 100k live objects bring (measured: pauses of 100-400 ms
 * for conntrackDump's array of 10k-100k entries). Resolves with the number
 * of entries; rejects with what conntrackDump rejects with, or what
 * onEntries threw (no further slice is delivered then).
 */
export async function conntrackDumpEach(onEntries: (entries: ConntrackEntry[]) => void, options: ConntrackDumpOptions = {}): Promise<number> {
  const cols = await dumpColumns(options);
  const names = conntrackAddresses(cols);
  for (let start = 0; start < cols.count; start += EACH_SLICE) {
    if (start > 0) await nextTurn();
    const slice: ConntrackEntry[] = [];
    decodeConntrackEntries(cols, names, start, Math.min(cols.count, start + EACH_SLICE), slice);
    onEntries(slice);
  }
  return cols.count;
}

function dumpColumns(options: ConntrackDumpOptions) {
  const family = options.family ?? 0;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `conntrackDump: family must be 4 or 6, got ${String(family)}`);
  }
  return addon.conntrackDump(family, options.protocols ? [...options.protocols] : undefined);
}
