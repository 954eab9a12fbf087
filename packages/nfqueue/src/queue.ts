// NfQueue: the typed face of the native queue (one netlink socket bound to one
// queue or a --queue-balance range, drained in batches from libuv).
import { batchOf, type PacketBatch } from './batch.js';
import { NO_MARK, Verdict, type VerdictValue } from './constants.js';
import { NfqueueError } from './errors.js';
import { addon, type NativeQueue, type NativeStats } from './native.js';
import { readQueueProcStats, type QueueProcStats } from './procstats.js';

export interface NfQueueOptions {
  /** One queue number, or an inclusive range [first, last] as in `--queue-balance first:last`. */
  queues: number | readonly [number, number];
  /** Bytes of each packet copied to userspace (1..65535, default 65535). */
  copyRange?: number;
  /** Kernel queue length limit (NFQA_CFG_QUEUE_MAXLEN, default 1024). */
  maxLen?: number;
  /** NFQA_CFG_F_FAIL_OPEN: the kernel accepts packets it cannot queue (default true). */
  failOpen?: boolean;
  /** NFQA_CFG_F_GSO: queue GSO packets whole instead of segmenting them (default true). */
  gso?: boolean;
  /** Most packets per onBatch call (default 1024); the rest wait for the next loop turn. */
  maxBatch?: number;
  /** Socket receive buffer, set with SO_RCVBUFFORCE (default 8 MiB; 0 keeps the system default). */
  rcvBufBytes?: number;
  /**
   * Every batch's arrays are views of the same buffers, overwritten by the
   * next batch: valid only until onBatch returns (default false: each batch
   * has its own copies). Saves thirteen copies, and their allocations, a batch.
   */
  reuseBatch?: boolean;
  /** Do not keep the event loop alive (default false). */
  unref?: boolean;
  /** On close, ACCEPT every packet still waiting for a verdict instead of letting the unbind drop it (default true). */
  acceptPendingOnClose?: boolean;
  /**
   * Called once per drained batch. Throwing is caught: the batch is ACCEPTed
   * (fail-open) and the error goes to onError as NFQ_CALLBACK.
   */
  onBatch: (batch: PacketBatch, queue: NfQueue) => void;
  /**
   * Asynchronous failures: kernel-rejected verdicts (NFQ_VERDICT), socket
   * errors (NFQ_SOCKET), onBatch exceptions (NFQ_CALLBACK). Default: a process warning.
   */
  onError?: (err: NfqueueError) => void;
}

export interface NfQueueStats extends NativeStats {
  queues: number[];
  closed: boolean;
}

const MAX_QUEUES = 1024;

function queueList(q: unknown): number[] {
  const check = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
      throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${what} must be a queue number in 0..65535, got ${String(v)}`);
    }
    return v;
  };
  if (typeof q === 'number') return [check(q, 'options.queues')];
  if (!Array.isArray(q) || q.length !== 2) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'options.queues must be a queue number or a [first, last] range');
  }
  const first = check(q[0], 'options.queues[0]');
  const last = check(q[1], 'options.queues[1]');
  if (last < first) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `options.queues range [${first}, ${last}] is reversed`);
  }
  if (last - first + 1 > MAX_QUEUES) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `options.queues range [${first}, ${last}] spans more than ${MAX_QUEUES} queues`);
  }
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

export class NfQueue {
  /** Queue numbers bound by this instance. */
  readonly queues: readonly number[];
  readonly #native: NativeQueue;

  private constructor(native: NativeQueue, queues: number[]) {
    this.#native = native;
    this.queues = Object.freeze(queues);
  }

  /** Binds the queue(s) and starts delivering batches. Throws NfqueueError (NFQ_BIND, NFQ_SOCKET, NFQ_INVALID_ARGUMENT). */
  static open(opts: NfQueueOptions): NfQueue {
    if (opts === null || typeof opts !== 'object') {
      throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'NfQueue.open needs an options object');
    }
    const queues = queueList(opts.queues);
    const { onBatch, onError } = opts;
    if (typeof onBatch !== 'function') throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'options.onBatch must be a function');
    if (onError !== undefined && typeof onError !== 'function') {
      throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'options.onError must be a function');
    }
    const report = (err: NfqueueError): void => {
      if (onError) onError(err);
      else process.emitWarning(err);
    };
    let self: NfQueue | undefined;
    const copy = opts.reuseBatch !== true;
    const deliver = (count: number, meta: ArrayBuffer, capacity: number, data: ArrayBuffer, dataBytes: number): void => {
      const batch = batchOf(count, meta, capacity, data, dataBytes, copy);
      try {
        onBatch(batch, self!);
      } catch (e) {
        // Fail-open: nothing of this batch stays held. Already-verdicted ids are
        // rejected by the kernel quietly.
        try {
          if (!native.isClosed()) {
            const accept = new Uint8Array(batch.count).fill(Verdict.ACCEPT);
            native.verdictBatch(batch.queues, batch.ids, accept, undefined, undefined, true);
          }
        } catch (sendErr) {
          report(sendErr as NfqueueError);
        }
        const why = e instanceof Error ? e.message : String(e);
        report(
          new NfqueueError('NFQ_CALLBACK', `onBatch threw; the ${batch.count} packets of the batch were accepted: ${why}`, {
            cause: e,
          }),
        );
      }
    };
    const native = new addon.NativeQueue(
      {
        queues,
        copyRange: opts.copyRange ?? 0xffff,
        maxLen: opts.maxLen ?? 1024,
        maxBatch: opts.maxBatch ?? 1024,
        rcvBufBytes: opts.rcvBufBytes ?? 8 << 20,
        failOpen: opts.failOpen ?? true,
        gso: opts.gso ?? true,
        unref: opts.unref ?? false,
        acceptPendingOnClose: opts.acceptPendingOnClose ?? true,
      },
      deliver,
      report,
    );
    self = new NfQueue(native, queues);
    // Packets that arrived while the queues were being bound were parsed but
    // not delivered yet (no poll wake-up will announce them).
    const im = setImmediate(() => {
      if (!native.isClosed()) native.flush();
    });
    if (opts.unref) im.unref();
    return self;
  }

  /** Netlink port id of the socket (the portid column of /proc/net/netfilter/nfnetlink_queue). */
  get portId(): number {
    return this.#native.portId();
  }

  get closed(): boolean {
    return this.#native.isClosed();
  }

  /** One verdict; `mark` (optional) replaces the packet mark (skb->mark). */
  verdict(queue: number, id: number, verdict: VerdictValue, mark?: number): void {
    this.#native.verdict(queue, id, verdict, mark);
  }

  /**
   * Many verdicts in one sendto(). Arrays are parallel. Without `setMark`, a
   * mark of NO_MARK (0xffffffff) leaves that packet's mark alone; with it,
   * the mark is set exactly where setMark[i] != 0. All entries are validated
   * before anything is sent. Returns the number of verdicts sent.
   *
   * `whole`: the arrays hold, per queue, every packet this NfQueue delivered
   * and nothing verdicted yet, in delivery order (a whole batch, as onBatch
   * got it). Then each run of consecutive ids of one queue with the same
   * verdict and mark goes as one NFQNL_MSG_VERDICT_BATCH message instead of
   * one message per packet. Wrongly claimed, it would also release an older
   * packet held back for later.
   */
  verdictBatch(queues: Uint16Array, ids: Uint32Array, verdicts: Uint8Array, marks?: Uint32Array, setMark?: Uint8Array, options?: { whole?: boolean }): number {
    return this.#native.verdictBatch(queues, ids, verdicts, marks, setMark, false, options?.whole === true);
  }

  /** The same verdict (and optional mark) for every packet of a batch. */
  verdictAll(batch: PacketBatch, verdict: VerdictValue, mark?: number): number {
    const verdicts = new Uint8Array(batch.count).fill(verdict);
    if (mark === undefined) return this.#native.verdictBatch(batch.queues, batch.ids, verdicts);
    if (mark === NO_MARK) {
      throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'verdictAll: mark 0xffffffff needs verdictBatch with setMark');
    }
    return this.#native.verdictBatch(batch.queues, batch.ids, verdicts, new Uint32Array(batch.count).fill(mark));
  }

  /** NFQNL_MSG_VERDICT_BATCH: the verdict for every packet of `queue` with an id <= `id`. */
  verdictUpTo(queue: number, id: number, verdict: VerdictValue, mark?: number): void {
    this.#native.verdictUpTo(queue, id, verdict, mark);
  }

  stats(): NfQueueStats {
    return { ...this.#native.stats(), queues: [...this.queues], closed: this.closed };
  }

  /** The kernel's counters (/proc/net/netfilter/nfnetlink_queue) for this instance's queues. */
  procStats(): QueueProcStats[] {
    const mine = new Set(this.queues);
    return readQueueProcStats().filter((s) => mine.has(s.queue));
  }

  /** Keep / stop keeping the event loop alive. */
  ref(): this {
    this.#native.ref();
    return this;
  }

  unref(): this {
    this.#native.unref();
    return this;
  }

  /**
   * Stops polling, ACCEPTs every packet still waiting for a verdict (unless
   * acceptPending is false — default: options.acceptPendingOnClose — then the
   * unbind drops them), unbinds the queues and closes the socket. Closing
   * twice is harmless; verdict calls afterwards throw NFQ_CLOSED.
   */
  close(opts?: { acceptPending?: boolean }): void {
    if (this.#native.isClosed()) return;
    this.#native.close(opts?.acceptPending); // undefined: options.acceptPendingOnClose
  }
}
