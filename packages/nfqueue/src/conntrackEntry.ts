// A conntrack entry as the dump and the DESTROY events report it, and the
// decoding of the native column-wise form (native/ctnetlink.h) into objects.
import type { ConntrackTuple } from './conntrack.js';

/** Conntrack's per-direction counters (CTA_COUNTERS_ORIG / CTA_COUNTERS_REPLY). Bytes are IP lengths: headers included, link layer not. */
export interface ConntrackAcct {
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
}

/** One conntrack entry. */
export interface ConntrackEntry {
  /** The original direction: the first packet's tuple (before NAT). */
  original: ConntrackTuple;
  /** The reply direction as the kernel expects it (after NAT: a source-NATed entry's `reply.dst` is the external address). */
  reply: ConntrackTuple;
  mark: number;
  /** The kernel's id of the entry (CTA_ID): tells two connections on one tuple apart. */
  id: number;
  /** IPS_* status bits (linux/netfilter/nf_conntrack_common.h): 0x2 SEEN_REPLY, 0x4 ASSURED, 0x10 SRC_NAT, 0x20 DST_NAT, ... */
  status: number;
  /**
   * Undefined when the entry has no counters: it was created while
   * net.netfilter.nf_conntrack_acct was 0 (the default in every new network
   * namespace). Setting it later does not give existing entries counters.
   */
  counters: ConntrackAcct | undefined;
  /** Creation time (ms since the epoch), with net.netfilter.nf_conntrack_timestamp=1 at creation. */
  startMs: number | undefined;
  /** DESTROY events with timestamps: when the entry was deleted, or when its timeout expired if the garbage collector found it later. */
  stopMs: number | undefined;
  /** Seconds until the entry expires (dumps; not in DESTROY events). */
  timeoutSec: number | undefined;
}

/** The native form: kCtNums numbers and four address indices per entry; the distinct addresses as text (native/ctnetlink.h). */
export interface NativeConntrackColumns {
  count: number;
  nums: Float64Array;
  addrIdx: Uint32Array;
  addrs: Uint8Array;
  offsets: Uint32Array;
}

// Indices into an entry's numbers: the order of CtNum in native/ctnetlink.h.
const FAMILY = 0;
const PROTO = 1;
const ORIG_SPORT = 2;
const ORIG_DPORT = 3;
const REPL_SPORT = 4;
const REPL_DPORT = 5;
const ZONE = 6;
const MARK = 7;
const ORIG_PACKETS = 8;
const ORIG_BYTES = 9;
const REPL_PACKETS = 10;
const REPL_BYTES = 11;
const START_MS = 12;
const STOP_MS = 13;
const ID = 14;
const STATUS = 15;
const TIMEOUT = 16;
const NUMS = 17;

/** The distinct addresses of `c`, as strings (once each; pass them to every decodeConntrackEntries of `c`). */
export function conntrackAddresses(c: NativeConntrackColumns): string[] {
  const bytes = Buffer.from(c.addrs.buffer, c.addrs.byteOffset, c.addrs.byteLength); // a view, not a copy
  const { offsets } = c;
  const out = new Array<string>(Math.max(0, offsets.length - 1));
  for (let k = 0; k < out.length; k++) out[k] = bytes.toString('latin1', offsets[k]!, offsets[k + 1]!);
  return out;
}

/** Entries [start, end) of `c`, appended to `out`; `names` from conntrackAddresses(c). */
export function decodeConntrackEntries(c: NativeConntrackColumns, names: readonly string[], start: number, end: number, out: ConntrackEntry[]): void {
  const { nums, addrIdx } = c;
  const opt = (v: number) => (v < 0 ? undefined : v);
  for (let i = start; i < end; i++) {
    const n = i * NUMS;
    const a = 4 * i;
    const family = nums[n + FAMILY] === 6 ? 6 : 4;
    const protocol = nums[n + PROTO]!;
    const zone = nums[n + ZONE]!;
    const original: ConntrackTuple = { family, protocol, src: names[addrIdx[a]!]!, dst: names[addrIdx[a + 1]!]!, sport: nums[n + ORIG_SPORT]!, dport: nums[n + ORIG_DPORT]! };
    const reply: ConntrackTuple = { family, protocol, src: names[addrIdx[a + 2]!]!, dst: names[addrIdx[a + 3]!]!, sport: nums[n + REPL_SPORT]!, dport: nums[n + REPL_DPORT]! };
    if (zone >= 0) {
      original.zone = zone;
      reply.zone = zone;
    }
    const op = nums[n + ORIG_PACKETS]!;
    out.push({
      original,
      reply,
      mark: nums[n + MARK]!,
      id: nums[n + ID]!,
      status: nums[n + STATUS]!,
      counters: op < 0 ? undefined : { origPackets: op, origBytes: nums[n + ORIG_BYTES]!, replyPackets: nums[n + REPL_PACKETS]!, replyBytes: nums[n + REPL_BYTES]! },
      startMs: opt(nums[n + START_MS]!),
      stopMs: opt(nums[n + STOP_MS]!),
      timeoutSec: opt(nums[n + TIMEOUT]!),
    });
  }
}
