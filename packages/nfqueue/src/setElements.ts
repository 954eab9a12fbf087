// The elements of an nftables 5-tuple flow set, dumped from the kernel over
// nfnetlink on a worker thread (native/setdump.cc): which flows are still
// live and their counters, without nft's userspace evaluation of the set.
import { NfqueueError } from './errors.js';
import { addon } from './native.js';

/** One element of a `ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service` set (or the ipv6 variant). */
export interface SetElement {
  family: 'ipv4' | 'ipv6';
  protocol: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** The element's counter (`counter` on the set); 0 when the set has none. */
  packets: number;
  bytes: number;
  /** Milliseconds until the element times out; undefined without a timeout. */
  expiresMs: number | undefined;
}

export interface SetElementsOptions {
  /** Family of the table; default 'inet'. */
  family?: 'inet' | 'ip' | 'ip6';
}

// NFPROTO_* (linux/netfilter.h).
const NFPROTO: Readonly<Record<NonNullable<SetElementsOptions['family']>, number>> = { inet: 1, ip: 2, ip6: 10 };

// The native result: 7 numbers per element (see native/setdump.cc).
const NUMS = 7;

// Elements turned into objects per turn of the event loop. Building 100k
// objects at once held the loop 80-300 ms (on a loaded 2-vCPU VM); 4096 at
// a time keeps a turn to a few ms, so packets keep flowing while a large set
// is read. V8's scavenges of the new objects still pause it 10-50 ms.
const SLICE = 4096;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Reads every element of set (or map) `set` of table `table`, in the network
 * namespace of the calling thread, without blocking the event loop: the
 * dump runs on a libuv pool thread, and the objects are built here in
 * slices of SLICE elements, one slice per turn of the loop. The set's key
 * must be the 5-tuple
 * `ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service` or its
 * ipv6_addr variant, and its flows tcp or udp.
 *
 * Rejects with NfqueueError `NFT_DUMP` (with `errno`) when the table or set
 * does not exist (ENOENT, the message says which), the set is not such a set
 * (or is an interval set), an element has another protocol, or the set kept
 * changing through 5 dumps (EINTR: commits to it, or the kernel reordering
 * its hash table) — never with a list it knows to be partial.
 *
 * The kernel's dump is not a snapshot: an element removed WITHOUT a commit
 * while the set is read (timeout garbage collection above all) can make
 * another, live element missing from the answer, with no sign of it. So a
 * flow absent from one dump has not necessarily expired (README:
 * "nftSetElements").
 */
export async function nftSetElements(table: string, set: string, options: SetElementsOptions = {}): Promise<SetElement[]> {
  const family = options.family ?? 'inet';
  const nfproto = Object.hasOwn(NFPROTO, family) ? NFPROTO[family] : undefined;
  if (nfproto === undefined) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `nftSetElements: family must be 'inet', 'ip' or 'ip6', got ${String(family)}`);
  }
  const { count, nums, addrs: bytes, offsets } = await addon.nftSetElements(table, set, nfproto);
  const addrs = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a copy
  const out = new Array<SetElement>(count);
  for (let start = 0; start < count; start += SLICE) {
    if (start > 0) await nextTurn();
    const end = Math.min(count, start + SLICE);
    for (let i = start, n = start * NUMS; i < end; i++, n += NUMS) {
      const expires = nums[n + 6]!;
      out[i] = {
        family: nums[n] === 6 ? 'ipv6' : 'ipv4',
        protocol: nums[n + 1] === 6 ? 'tcp' : 'udp',
        src: addrs.toString('latin1', offsets[2 * i]!, offsets[2 * i + 1]!),
        sport: nums[n + 2]!,
        dst: addrs.toString('latin1', offsets[2 * i + 1]!, offsets[2 * i + 2]!),
        dport: nums[n + 3]!,
        packets: nums[n + 4]!,
        bytes: nums[n + 5]!,
        expiresMs: expires < 0 ? undefined : expires,
      };
    }
  }
  return out;
}
