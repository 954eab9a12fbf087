// ConntrackEvents: the entries conntrack deletes, with their final counters,
// as ctnetlink DESTROY events. A native thread reads and parses them
// (native/ctevents.cc says why a thread); this side takes them in chunks,
// one chunk per turn of the event loop.
import { conntrackAddresses, decodeConntrackEntries, type ConntrackEntry, type NativeConntrackColumns } from './conntrackEntry.js';
import { NfqueueError } from './errors.js';
import { addon } from './native.js';

export interface ConntrackEventsOptions {
  /** Ended connections, at most maxBatch per call, in the order the kernel sent them. */
  onDestroy: (entries: ConntrackEntry[], events: ConntrackEvents) => void;
  /**
   * CT_EVENTS_LOST (events were lost: the message says how; a dump catches
   * up the connections still open), CT_EVENTS (the socket failed and
   * reading stopped, or onDestroy threw). Default: a process warning.
   */
  onError?: (err: NfqueueError) => void;
  /** Only these IP protocols, e.g. [6, 17] (default all); the others are counted as `filtered`. */
  protocols?: readonly number[];
  /** Most entries per onDestroy call (default 4096). */
  maxBatch?: number;
  /** Entries read but not yet taken by JS, at most (default 131072, about 200 bytes each); past it events are dropped and counted. */
  maxBuffered?: number;
  /** Socket receive buffer, SO_RCVBUFFORCE (default 8 MiB; 0 keeps the system default). */
  rcvBufBytes?: number;
  /**
   * NETLINK_BROADCAST_ERROR: the kernel keeps and resends a DESTROY it
   * cannot queue, and a full queue stops the reader instead of dropping.
   * Nothing is lost, but entries waiting for redelivery still count against
   * nf_conntrack_max: a stopped reader can fill the table (default false).
   */
  reliable?: boolean;
  /** Do not keep the event loop alive (default false). */
  unref?: boolean;
}

export interface ConntrackEventsStats {
  /** Netlink messages read. */
  messages: number;
  /** DESTROY entries parsed (of the protocols asked for). */
  events: number;
  /** Entries of other protocols, skipped. */
  filtered: number;
  /** Entries handed to onDestroy (or waiting for the next turn). */
  delivered: number;
  /** Entries read and not taken yet; the most there were. */
  pending: number;
  maxPending: number;
  /** Receive-buffer overruns: the kernel dropped events (how many is unknown). */
  enobufs: number;
  /** Events dropped because maxBuffered entries were waiting. */
  dropped: number;
  truncated: number;
  parseErrors: number;
  foreignMessages: number;
  recvCalls: number;
  wakeups: number;
  /** The receive buffer as the kernel set it (twice the request), and whether SO_RCVBUFFORCE worked. */
  rcvBufBytes: number;
  rcvBufForced: boolean;
  reliable: boolean;
  portId: number;
  closed: boolean;
  /** When the subscription started (ms since the epoch). */
  subscribedAtMs: number;
}

export interface NativeConntrackEventsOptions {
  rcvBufBytes: number;
  maxBuffered: number;
  maxBatch: number;
  protocols: number[] | undefined;
  reliable: boolean;
  unref: boolean;
}

export interface NativeConntrackTake extends NativeConntrackColumns {
  enobufs: number;
  dropped: number;
  truncated: number;
  more: boolean;
  error?: NfqueueError;
}

export interface NativeConntrackEvents {
  take(): NativeConntrackTake | undefined;
  stats(): Omit<ConntrackEventsStats, 'closed' | 'subscribedAtMs'>;
  close(): void;
  ref(): void;
  unref(): void;
  isClosed(): boolean;
}

const ENOBUFS = 105;

/**
 * A subscription to conntrack DESTROY events (NFNLGRP_CONNTRACK_DESTROY) in
 * the calling thread's network namespace. Every entry comes with its
 * original and reply tuples, mark, and (when the entry has them) counters
 * and timestamps.
 *
 * Two kernel facts decide what arrives:
 * - counters only for entries created while net.netfilter.nf_conntrack_acct
 *   was 1 (0 in a new namespace);
 * - with the default net.netfilter.nf_conntrack_events=2, only entries
 *   created while some listener was subscribed send a DESTROY: the
 *   connections already open at open() end silently. Dump after open() to
 *   catch them.
 */
export class ConntrackEvents {
  /** When the subscription started (ms since the epoch): entries created before it send no DESTROY (nf_conntrack_events=2). */
  readonly subscribedAtMs: number;
  readonly #native: NativeConntrackEvents;
  readonly #onDestroy: ConntrackEventsOptions['onDestroy'];
  readonly #report: (err: NfqueueError) => void;
  #scheduled: NodeJS.Immediate | undefined;
  #unref: boolean;

  private constructor(opts: ConntrackEventsOptions) {
    const { onDestroy, onError } = opts;
    this.#onDestroy = onDestroy;
    this.#report = (err) => (onError ? onError(err) : process.emitWarning(err));
    this.#unref = opts.unref ?? false;
    this.#native = new addon.NativeConntrackEvents(
      {
        rcvBufBytes: opts.rcvBufBytes ?? 8 << 20,
        maxBuffered: opts.maxBuffered ?? 131072,
        maxBatch: opts.maxBatch ?? 4096,
        protocols: opts.protocols ? [...opts.protocols] : undefined,
        reliable: opts.reliable ?? false,
        unref: this.#unref,
      },
      () => this.#drain(),
    );
    this.subscribedAtMs = Date.now();
  }

  /** Subscribes. Throws NfqueueError CT_SOCKET (EPERM without CAP_NET_ADMIN), NFQ_INVALID_ARGUMENT. */
  static open(opts: ConntrackEventsOptions): ConntrackEvents {
    if (opts === null || typeof opts !== 'object') throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'ConntrackEvents.open needs an options object');
    if (typeof opts.onDestroy !== 'function') throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'options.onDestroy must be a function');
    if (opts.onError !== undefined && typeof opts.onError !== 'function') throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'options.onError must be a function');
    return new ConntrackEvents(opts);
  }

  get closed(): boolean {
    return this.#native.isClosed();
  }

  stats(): ConntrackEventsStats {
    return { ...this.#native.stats(), closed: this.closed, subscribedAtMs: this.subscribedAtMs };
  }

  /**
   * Unsubscribes and stops the reader; the entries it had read already are
   * delivered before close() returns. Twice is harmless.
   */
  close(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    if (this.closed) return;
    this.#native.close();
    for (let t = this.#native.take(); t; t = this.#native.take()) this.#deliver(t);
  }

  /** Keep / stop keeping the event loop alive. */
  ref(): this {
    this.#unref = false;
    this.#native.ref();
    this.#scheduled?.ref();
    return this;
  }

  unref(): this {
    this.#unref = true;
    this.#native.unref();
    this.#scheduled?.unref();
    return this;
  }

  // One chunk now; the next on the next turn of the loop, so that a burst
  // of events never holds the loop longer than one chunk.
  #drain(): void {
    this.#scheduled = undefined;
    if (this.closed) return;
    const t = this.#native.take();
    if (!t) return;
    this.#deliver(t);
    if (t.more && !this.closed) {
      this.#scheduled = setImmediate(() => this.#drain());
      if (this.#unref) this.#scheduled.unref();
    }
  }

  #deliver(t: NativeConntrackTake): void {
    if (t.enobufs > 0 || t.dropped > 0 || t.truncated > 0) {
      const parts = [
        t.enobufs > 0 ? `the kernel could not queue events ${t.enobufs} time(s) (ENOBUFS: receive buffer full; how many is unknown)` : '',
        t.dropped > 0 ? `${t.dropped} dropped here (maxBuffered entries were waiting for onDestroy)` : '',
        t.truncated > 0 ? `${t.truncated} truncated` : '',
      ].filter(Boolean);
      this.#report(new NfqueueError('CT_EVENTS_LOST', `ConntrackEvents: DESTROY events lost: ${parts.join('; ')}. A conntrackDump() catches up the connections still open`, { errno: ENOBUFS }));
    }
    if (t.count > 0) {
      const entries: ConntrackEntry[] = [];
      decodeConntrackEntries(t, conntrackAddresses(t), 0, t.count, entries);
      try {
        this.#onDestroy(entries, this);
      } catch (e) {
        this.#report(new NfqueueError('CT_EVENTS', `ConntrackEvents: onDestroy threw on ${entries.length} entries: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      }
    }
    if (t.error) {
      this.#report(t.error);
      this.close();
    }
  }
}
