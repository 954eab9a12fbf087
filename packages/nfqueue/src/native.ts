// Loads the compiled addon and describes its (internal) shape. The relative
// path resolves to packages/nfqueue/build from both src/ and dist/.
import { createRequire } from 'node:module';
import type { PacketBatch } from './batch.js';
import type { ConntrackTuple } from './conntrack.js';
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
    onBatch: (batch: PacketBatch) => void,
    onError: (err: NfqueueError) => void,
  ) => NativeQueue;
  setConntrackMarks(entries: ConntrackTuple[], marks: Uint32Array, masks: Uint32Array): Int32Array;
  nftRun(commands: string, json: boolean): string;
  /** 7 numbers per element in `nums`; address k is the ASCII text `addrs[offsets[k], offsets[k + 1])`, src and dst in turn (native/setdump.cc). */
  nftSetElements(table: string, set: string, nfproto: number): Promise<NativeSetDump>;
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
