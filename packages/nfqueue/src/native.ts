// Loads the compiled addon and describes its (internal) shape. The relative
// path resolves to packages/nfqueue/build from both src/ and dist/.
import { createRequire } from 'node:module';
import type { ConntrackTuple } from './conntrack.js';
import type { NativeConntrackColumns } from './conntrackEntry.js';
import type { NativeConntrackEvents, NativeConntrackEventsOptions } from './conntrackEvents.js';
import { NfqueueError, type NfqueueErrorCode } from './errors.js';

export interface NativeQueueOptions {
  queues: number[];
  copyRange: number;
  maxLen: number;
  maxBatch: number;
  rcvBufBytes: number;
  failOpen: boolean;
  gso: boolean;
  unref: boolean;
  acceptPendingOnClose: boolean;
}

export interface NativeStats {
  packets: number;
  bytes: number;
  batches: number;
  largestBatch: number;
  recvCalls: number;
  enobufs: number;
  verdicts: number;
  verdictSends: number;
  /** Netlink verdict messages: one per packet, or one per run of a `whole` verdictBatch. */
  verdictMessages: number;
  verdictErrors: number;
  quietErrors: number;
  truncated: number;
  parseErrors: number;
  foreignMessages: number;
  socketErrors: number;
  errorsDropped: number;
  rcvBufBytes: number;
  rcvBufForced: boolean;
  portId: number;
}

export interface NativeQueue {
  verdict(queue: number, id: number, verdict: number, mark?: number): void;
  verdictBatch(
    queues: Uint16Array,
    ids: Uint32Array,
    verdicts: Uint8Array,
    marks?: Uint32Array,
    setMark?: Uint8Array,
    quiet?: boolean,
    whole?: boolean,
  ): number;
  verdictUpTo(queue: number, id: number, verdict: number, mark?: number): void;
  flush(): number;
  stats(): NativeStats;
  close(acceptPending?: boolean): void;
  ref(): void;
  unref(): void;
  isClosed(): boolean;
  portId(): number;
}

interface Addon {
  setErrorFactory(
    make: (code: NfqueueErrorCode, message: string, errno?: number, queue?: number, index?: number) => Error,
  ): void;
  NativeQueue: new (
    options: NativeQueueOptions,
    /** The batch in the addon's kept buffers (see batchOf in batch.ts). */
    onBatch: (count: number, meta: ArrayBuffer, capacity: number, data: ArrayBuffer, dataBytes: number) => void,
    onError: (err: NfqueueError) => void,
  ) => NativeQueue;
  setConntrackMarks(entries: ConntrackTuple[], marks: Uint32Array, masks: Uint32Array): Int32Array;
  /** The reply tuple of the entry with this original tuple; undefined: none (native/ctquery.cc). */
  conntrackReply(tuple: ConntrackTuple): ConntrackTuple | undefined;
  /** family 0: both. The entries column-wise (native/ctnetlink.h). */
  conntrackDump(family: 0 | 4 | 6, protocols: number[] | undefined): Promise<NativeConntrackColumns & { interrupted: boolean; unparsed: number }>;
  /** A DESTROY subscription read by a native thread; `notify` runs on the loop when take() has something (native/ctevents.cc). */
  NativeConntrackEvents: new (options: NativeConntrackEventsOptions, notify: () => void) => NativeConntrackEvents;
  nftRun(commands: string, json: boolean): string;
  /** 7 numbers per element in `nums`; address k is the ASCII text `addrs[offsets[k], offsets[k + 1])`, src and dst in turn (native/setdump.cc). */
  nftSetElements(table: string, set: string, nfproto: number): Promise<NativeSetDump>;
  /** `count` ops of 48 bytes each in `records`, naming sets by index into `sets` (native/setwrite.cc). */
  nftApplyElements(table: string, nfproto: number, sets: string[], records: Uint8Array, count: number): void;
  nftApplyElements(table: string, nfproto: number, sets: string[], records: Uint8Array, count: number, counted: true): Float64Array;
  /** `count` reads of 48 bytes each in `records` (the same layout); 4 numbers per read (native/setread.cc). */
  nftGetElements(table: string, nfproto: number, sets: string[], records: Uint8Array, count: number): Float64Array;
}

export interface NativeSetDump {
  count: number;
  nums: Float64Array;
  addrs: Uint8Array;
  offsets: Uint32Array;
  /** Dumps read; the last is the answer (1 unless the set changed during the first). */
  attempts: number;
  /** Keys of the answer's dump that came twice and were dropped (inserts during the dump). */
  duplicates: number;
}

export const addon = createRequire(import.meta.url)('../build/Release/l7nfq.node') as Addon;

addon.setErrorFactory((code, message, errno, queue, index) => new NfqueueError(code, message, { errno, queue, index }));
