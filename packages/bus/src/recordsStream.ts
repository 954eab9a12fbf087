/**
 * The records stream: flow records and accounting deltas from the edges,
 * for control to write into PostgreSQL. Its names come from the cluster's
 * prefix (as BusNames do), it is created idempotently (as the events
 * stream is), and control reads it through one durable pull consumer, so
 * that what it has not acknowledged is delivered again after a crash or
 * while PostgreSQL is down.
 */
import { nanos } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
  type StreamUpdateConfig,
} from '@nats-io/jetstream';
import type { Bus } from './connect.js';
import { BusError, badOption, messageOf } from './errors.js';
import type { BusNames } from './names.js';

export interface RecordNames {
  /** The subject one edge publishes its record batches on. */
  subject(edge: string): string;
  /** Every edge's record subjects (what the stream stores). */
  readonly wildcard: string;
  /** JetStream stream of records (uppercase prefix, `_RECORDS`). */
  readonly stream: string;
}

/** Default durable consumer name of control. */
export const RECORDS_CONSUMER = 'control';
/**
 * Records are kept this long by default (7 days): PostgreSQL may be down
 * that long before anything is lost. Keep it below the store's retention of
 * dedupe keys, or a record redelivered after its key was deleted would be
 * counted again.
 */
export const RECORDS_MAX_AGE_SEC = 7 * 86_400;
/** A second publish with the same Nats-Msg-Id within this window is stored once (default 10 min: the publisher retries through short outages). */
export const RECORDS_DUPLICATE_WINDOW_SEC = 600;

const TOKEN_RE = /^[^\s.*>]+$/;

/** The record subjects and stream of a cluster's names. */
export function recordNames(names: BusNames): RecordNames {
  const prefix = names.prefix;
  return Object.freeze({
    subject: (edge: string) => {
      if (typeof edge !== 'string' || !TOKEN_RE.test(edge)) {
        throw badOption('edge', `${JSON.stringify(edge)} must be one subject token (no '.', '*', '>' or whitespace)`);
      }
      return `${prefix}.records.${edge}`;
    },
    wildcard: `${prefix}.records.*`,
    stream: `${prefix.toUpperCase()}_RECORDS`,
  });
}

export interface RecordsStreamOptions {
  /** Copies of each message in a cluster (1..5, default 1). */
  replicas?: number;
  /** Records older than this are removed (default RECORDS_MAX_AGE_SEC). */
  maxAgeSec?: number;
  /** Nats-Msg-Id dedupe window (default RECORDS_DUPLICATE_WINDOW_SEC; at most maxAgeSec). */
  duplicateWindowSec?: number;
  /** Bytes kept at most (default: no limit but the age); past it new publishes are refused, so publishers keep (and bound) them. */
  maxBytes?: number;
}

function isNotFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

/**
 * Runs a stream or consumer change again while a cluster cannot place its
 * replicas yet (just started, or lost a server), about 15 s at most.
 */
async function retryPlacement<T>(change: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await change();
    } catch (err) {
      if (tries >= 30 || !/no suitable peers|insufficient resources/i.test(messageOf(err))) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function changed(have: object, want: object): boolean {
  const h = have as Record<string, unknown>;
  return Object.entries(want).some(([k, v]) => JSON.stringify(h[k]) !== JSON.stringify(v));
}

async function manager(bus: Bus): Promise<JetStreamManager> {
  return bus.jetstreamManager();
}

/**
 * Creates the records stream if missing, or brings an existing one to these
 * settings (idempotent; edges and control both call it). File storage,
 * limits retention: a message stays until its age, whatever control has
 * acknowledged, so a second reader (another consumer) can replay records.
 * With maxBytes the stream refuses new messages when full (discard new):
 * the publishers keep them and retry, rather than the stream dropping old
 * ones unread. BUS_STREAM when the server refuses.
 */
export async function ensureRecordsStream(bus: Bus, opts: RecordsStreamOptions = {}): Promise<void> {
  const replicas = opts.replicas ?? 1;
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > 5) throw badOption('replicas', `${opts.replicas} must be an integer 1..5`);
  const maxAge = opts.maxAgeSec ?? RECORDS_MAX_AGE_SEC;
  if (!(maxAge > 0)) throw badOption('maxAgeSec', `${opts.maxAgeSec} must be a number of seconds > 0`);
  const dup = opts.duplicateWindowSec ?? Math.min(RECORDS_DUPLICATE_WINDOW_SEC, maxAge);
  if (!(dup > 0) || dup > maxAge) throw badOption('duplicateWindowSec', `${opts.duplicateWindowSec} must be > 0 and at most maxAgeSec (${maxAge} s)`);
  const maxBytes = opts.maxBytes ?? -1;
  if (!Number.isSafeInteger(maxBytes) || (maxBytes !== -1 && maxBytes < 1)) throw badOption('maxBytes', `${opts.maxBytes} must be a positive integer`);
  const names = recordNames(bus.names);
  const name = names.stream;
  const want: Partial<StreamUpdateConfig> = {
    subjects: [names.wildcard],
    max_age: nanos(Math.round(maxAge * 1000)),
    duplicate_window: nanos(Math.round(dup * 1000)),
    num_replicas: replicas,
    max_bytes: maxBytes,
    discard: maxBytes === -1 ? ('old' as StreamConfig['discard']) : ('new' as StreamConfig['discard']),
  };
  const fail = (what: string, err: unknown) => new BusError('BUS_STREAM', `records stream ${name}: ${what}: ${messageOf(err)}`, { cause: err });
  const jsm = await manager(bus);
  let have: StreamConfig | undefined;
  try {
    have = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) throw fail('reading its info failed', err);
  }
  if (!have) {
    try {
      await retryPlacement(() => jsm.streams.add({ name, storage: 'file' as StreamConfig['storage'], retention: 'limits' as StreamConfig['retention'], ...want }));
      return;
    } catch (err) {
      try {
        have = (await jsm.streams.info(name)).config;
      } catch {
        throw fail('creating it failed', err);
      }
    }
  }
  if (have.storage !== 'file' || have.retention !== 'limits') {
    throw new BusError('BUS_STREAM', `records stream ${name} exists with storage ${have.storage} and retention ${have.retention}; it must be file/limits (delete the stream to recreate it)`);
  }
  if (!changed(have, want)) return;
  try {
    await retryPlacement(() => jsm.streams.update(name, want));
  } catch (err) {
    throw fail('updating it failed', err);
  }
}

export interface RecordsConsumerOptions {
  /** The durable consumer's name (default RECORDS_CONSUMER); several control processes sharing it share the work. */
  durable?: string;
  /** A delivered message not acknowledged within this long is delivered again (default 60 s; readers that keep working on it say so with `working()`). */
  ackWaitSec?: number;
  /** Messages delivered and not yet acknowledged at most (default 10 000). */
  maxAckPending?: number;
}

/**
 * The durable pull consumer of the records stream (created if missing,
 * its settings brought up to date otherwise): explicit acknowledgement of
 * every message, from the stream's first message, no delivery limit (a
 * record is never given up while PostgreSQL is down). BUS_STREAM on failure.
 */
export async function openRecordsConsumer(bus: Bus, opts: RecordsConsumerOptions = {}): Promise<Consumer> {
  const durable = opts.durable ?? RECORDS_CONSUMER;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(durable)) throw badOption('durable', `${JSON.stringify(durable)} must be 1-64 letters, digits, _ or -`);
  const ackWait = opts.ackWaitSec ?? 60;
  if (!(ackWait >= 1)) throw badOption('ackWaitSec', `${opts.ackWaitSec} must be at least 1`);
  const maxAckPending = opts.maxAckPending ?? 10_000;
  if (!Number.isSafeInteger(maxAckPending) || maxAckPending < 1) throw badOption('maxAckPending', `${opts.maxAckPending} must be an integer >= 1`);
  const names = recordNames(bus.names);
  const want: Partial<ConsumerConfig> = {
    ack_wait: nanos(Math.round(ackWait * 1000)),
    max_ack_pending: maxAckPending,
    max_deliver: -1,
  };
  const fail = (what: string, err: unknown) => new BusError('BUS_STREAM', `records consumer ${durable} on ${names.stream}: ${what}: ${messageOf(err)}`, { cause: err });
  const jsm = await manager(bus);
  try {
    let info;
    try {
      info = await jsm.consumers.info(names.stream, durable);
    } catch (err) {
      if (!isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    if (!info) {
      await retryPlacement(() =>
        jsm.consumers.add(names.stream, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: names.wildcard,
          ...want,
        }),
      );
    } else if (changed(info.config, want)) {
      await jsm.consumers.update(names.stream, durable, want);
    }
    return await bus.jetstream().consumers.get(names.stream, durable);
  } catch (err) {
    throw fail('opening it failed', err);
  }
}

/** Messages of the records stream the consumer has not had acknowledged yet: waiting for delivery, and delivered but unacknowledged. */
export async function recordsBacklog(bus: Bus, durable: string = RECORDS_CONSUMER): Promise<{ pending: number; unacknowledged: number }> {
  const jsm = await manager(bus);
  const info = await jsm.consumers.info(recordNames(bus.names).stream, durable);
  return { pending: info.num_pending, unacknowledged: info.num_ack_pending };
}
