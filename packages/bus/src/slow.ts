/**
 * Slow consumers: what nats.js 3.4 and nats-server 2.9 do, and how a worker
 * that must never be cut off subscribes. (Read from the nats.js sources in
 * node_modules and measured against nats-server 2.9.10; see
 * test/server.test.ts and test/connect.test.ts.)
 *
 * Server. It keeps an outbound buffer per client connection. Once the bytes
 * pending to a subscriber pass a threshold (half of `max_pending` in the
 * server sources of the 2.9 era, 3/4 in later ones), the server stalls the
 * connections that publish to it: each delivery to the stuck subscriber
 * makes the publisher's read loop wait (100 ms..1 s per wait in 2.9; a few
 * ms in recent servers, which also have `no_fast_producer_stall`). In our
 * test the publisher's flush took seconds and the server warned
 * "Readloop processing time: 2s" for it: one stuck worker holds back every
 * edge that publishes to its subjects, on all of that edge's subjects. When
 * the pending bytes exceed `max_pending` (default 64 MiB) or one write to
 * the subscriber blocks longer than `write_deadline` (default 10 s; both
 * defaults read from /varz of 2.9.10), the server closes the subscriber's
 * connection and logs "Slow Consumer Detected: MaxPending of N Exceeded" or
 * "... WriteDeadline of 10s exceeded". With a reader that stopped reading
 * the deadline is usually what fires, i.e. the stall lasts up to
 * write_deadline. No error reaches the client: it sees a plain disconnect,
 * reconnects (BusOptions reconnects forever) and re-subscribes; every
 * core-NATS message in between is gone (flow heads are never stored). Route
 * connections between the servers of a cluster have the write deadline too.
 *
 * Client. nats.js has no pending limits, never drops a message, and never
 * pushes back on the server: the Node transport takes every 'data' event of
 * the socket and queues it; a subscription read as an async iterator queues
 * its messages without bound (the process grows instead). A subscription
 * with a `callback` runs the callback synchronously inside the socket's data
 * handler, so a slow callback stops the reading itself. The subscription
 * option `slow: N` (iterators only; marked experimental) makes the
 * connection report a status `{ type: 'slowConsumer', sub, pending }`
 * (BusOptions.onStatus) once more than N messages wait in that subscription;
 * it is a notification, not a limit, and comes again only after the queue
 * fell back to N. Publishing is not bounded either: while the server stalls
 * a publisher, its publish() calls keep buffering in its process.
 *
 * So the server cuts a Node client off only when the client's event loop is
 * not reading its socket for long: long synchronous work (a big batch
 * scanned in one go, a huge JSON), long GC pauses, or a link slower than
 * what is published to it. A worker avoids it by:
 * - consuming head subjects with an iterator subscription made with
 *   `noCutoffSubscription()` (never a callback), and keeping each
 *   synchronous step short (yield, e.g. `await setImmediate()`, every few ms
 *   of scanning) so the socket keeps being read;
 * - watching `sub.getPending()` or the 'slowConsumer' status and shedding load
 *   (giving partitions up) when the queue keeps growing, rather than growing
 *   without bound;
 * - running nats-server with a larger max_pending for head traffic
 *   (NatsServerOptions.maxPendingBytes / writeDeadlineSec, or the site's
 *   server config): RECOMMENDED_MAX_PENDING_BYTES absorbs bursts
 *   before producers are stalled (it bounds server memory per client);
 *   keep write_deadline at its 10 s (RECOMMENDED_WRITE_DEADLINE_SEC): longer
 *   holds publishers back longer behind a stuck worker, shorter cuts workers
 *   off during ordinary pauses.
 */
import type { SubscriptionOptions } from '@nats-io/transport-node';

/** nats-server's default per-client outbound buffer limit (max_pending). */
export const SERVER_DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** nats-server's default write deadline (write_deadline), seconds. */
export const SERVER_DEFAULT_WRITE_DEADLINE_SEC = 10;
/** max_pending for servers carrying flow heads: a few seconds of a busy site's head traffic. */
export const RECOMMENDED_MAX_PENDING_BYTES = 256 * 1024 * 1024;
/** write_deadline for servers carrying flow heads: the default; see above. */
export const RECOMMENDED_WRITE_DEADLINE_SEC = 10;
/** Default queue length (messages) after which a subscription reports 'slowConsumer'. */
export const SLOW_PENDING_MSGS = 20_000;

/**
 * Subscription options for a consumer that must never be cut off as a slow
 * consumer: an iterator subscription (no callback, so reading the socket never
 * waits for the handler) that reports a 'slowConsumer' status through
 * BusOptions.onStatus when more than `slowPendingMsgs` messages wait.
 * Use: `for await (const m of bus.nc.subscribe(subject, noCutoffSubscription({ queue })))`.
 */
export function noCutoffSubscription(opts: { queue?: string; slowPendingMsgs?: number } = {}): SubscriptionOptions {
  const o: SubscriptionOptions = { slow: opts.slowPendingMsgs ?? SLOW_PENDING_MSGS };
  if (opts.queue !== undefined) o.queue = opts.queue;
  return o;
}
