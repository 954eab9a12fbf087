import { nanos } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamUpdateConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Bus } from './connect.js';
import { BusError, badOption, messageOf } from './errors.js';

export interface EventsStreamOptions {
  /** Copies of each message in a cluster (1..5, default 1; more than 1 needs a JetStream cluster). */
  replicas?: number;
  /** Events older than this are removed (default 86 400 s, one day). */
  maxAgeSec?: number;
  /** A second publish with the same Nats-Msg-Id within this window is stored once (default 120 s; at most maxAgeSec). */
  duplicateWindowSec?: number;
}

export interface BucketOptions {
  /** Copies of each entry in a cluster (1..5, default 1). */
  replicas?: number;
  /**
   * Entries older than this are removed by the server (stream max_age).
   * nats-server 2.9 removes them silently (a watcher sees no delete), and has
   * no per-key TTL (2.11+): readers must judge an entry's age themselves.
   */
  ttlSec?: number;
}

/** Defaults: members age out after 60 s, verdicts after 300 s. */
export const MEMBERS_TTL_SEC = 60;
export const VERDICTS_TTL_SEC = 300;
export const EVENTS_MAX_AGE_SEC = 86_400;
export const EVENTS_DUPLICATE_WINDOW_SEC = 120;

function replicasOf(v: number | undefined): number {
  const r = v ?? 1;
  if (!Number.isSafeInteger(r) || r < 1 || r > 5) throw badOption('replicas', `${v} must be an integer 1..5`);
  return r;
}

function secondsOf(field: string, v: number | undefined, dflt: number): number {
  const s = v ?? dflt;
  if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) throw badOption(field, `${v} must be a number of seconds > 0`);
  return s;
}

const ns = (sec: number) => nanos(Math.round(sec * 1000));

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * Creates the events stream if missing, or brings an existing one to these
 * settings (idempotent): subjects [names.eventsSubject], file storage, limits
 * retention, max age, replicas, duplicate window for Nats-Msg-Id dedupe.
 * BUS_STREAM when the server refuses (e.g. replicas > 1 without a cluster),
 * or when the existing stream has another storage or retention (those cannot
 * be changed: delete the stream).
 */
export async function ensureEventsStream(bus: Bus, opts: EventsStreamOptions = {}): Promise<void> {
  const replicas = replicasOf(opts.replicas);
  const maxAge = secondsOf('maxAgeSec', opts.maxAgeSec, EVENTS_MAX_AGE_SEC);
  const dup = secondsOf('duplicateWindowSec', opts.duplicateWindowSec, Math.min(EVENTS_DUPLICATE_WINDOW_SEC, maxAge));
  if (dup > maxAge) throw badOption('duplicateWindowSec', `${dup} s must not exceed maxAgeSec (${maxAge} s)`);
  const name = bus.names.eventsStream;
  const want: Partial<StreamUpdateConfig> = {
    subjects: [bus.names.eventsSubject],
    max_age: ns(maxAge),
    duplicate_window: ns(dup),
    num_replicas: replicas,
  };
  const fail = (what: string, err: unknown) =>
    new BusError('BUS_STREAM', `events stream ${name}: ${what}: ${messageOf(err)}`, { cause: err });

  let jsm: JetStreamManager;
  try {
    jsm = await bus.jetstreamManager();
  } catch (err) {
    throw err instanceof BusError ? err : fail('no JetStream', err);
  }
  let have: StreamConfig | undefined;
  try {
    have = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!isStreamNotFound(err)) throw fail('reading its info failed', err);
  }
  if (!have) {
    try {
      await whilePlacing(() => jsm.streams.add({ name, storage: 'file', retention: 'limits', discard: 'old', ...want }));
      return;
    } catch (err) {
      // Another member created it in between: fall through to the update.
      try {
        have = (await jsm.streams.info(name)).config;
      } catch {
        throw fail('creating it failed', err);
      }
    }
  }
  if (have.storage !== 'file' || have.retention !== 'limits') {
    throw new BusError(
      'BUS_STREAM',
      `events stream ${name} exists with storage ${have.storage} and retention ${have.retention}; it must be file/limits (delete the stream to recreate it)`,
    );
  }
  if (!differs(have, want)) return;
  try {
    await whilePlacing(() => jsm.streams.update(name, want));
  } catch (err) {
    throw fail('updating it failed', err);
  }
}

/**
 * Runs a stream or bucket change again while the cluster cannot place its
 * replicas yet ("no suitable peers for placement"): a cluster that just
 * started, or lost a server, elects its meta leader before every peer has
 * registered. For at most about 15 s; then the error stands.
 */
async function whilePlacing<T>(change: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await change();
    } catch (err) {
      if (tries >= 30 || !/no suitable peers|insufficient resources/i.test(messageOf(err))) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function differs(have: Partial<StreamUpdateConfig>, want: Partial<StreamUpdateConfig>): boolean {
  for (const [k, v] of Object.entries(want) as [keyof StreamUpdateConfig, unknown][]) {
    if (JSON.stringify(have[k]) !== JSON.stringify(v)) return true;
  }
  return false;
}

/** The members bucket (heartbeats): history 1, memory storage, entries age out after ttlSec (default 60 s). */
export function openMembersBucket(bus: Bus, opts: BucketOptions = {}): Promise<KV> {
  return openBucket(bus, bus.names.membersBucket, opts, MEMBERS_TTL_SEC);
}

/** The verdict cache: history 1, memory storage, entries age out after ttlSec (default 300 s). */
export function openVerdictsBucket(bus: Bus, opts: BucketOptions = {}): Promise<KV> {
  return openBucket(bus, bus.names.verdictsBucket, opts, VERDICTS_TTL_SEC);
}

/**
 * Opens a KV bucket, creating it if missing, and brings an existing one to
 * these settings (Kvm.create alone only binds to an existing bucket and
 * ignores the options). BUS_KV on failure.
 */
async function openBucket(bus: Bus, bucket: string, opts: BucketOptions, defaultTtlSec: number): Promise<KV> {
  const replicas = replicasOf(opts.replicas);
  const ttl = secondsOf('ttlSec', opts.ttlSec, defaultTtlSec);
  const fail = (what: string, err: unknown) =>
    new BusError('BUS_KV', `KV bucket ${bucket}: ${what}: ${messageOf(err)}`, { cause: err });
  const kvm = new Kvm(bus.jetstream());
  const create = () => kvm.create(bucket, { history: 1, storage: 'memory', ttl: Math.round(ttl * 1000), replicas });
  let kv: KV;
  try {
    // A second try binds to the bucket when another member created it (with
    // other settings) between our look-up and our create.
    kv = await whilePlacing(() => create().catch(create));
  } catch (err) {
    throw fail('creating or opening it failed', err);
  }
  const stream = `KV_${bucket}`;
  try {
    const jsm = await bus.jetstreamManager();
    const have = (await jsm.streams.info(stream)).config;
    if (have.storage !== 'memory') {
      throw new BusError('BUS_KV', `KV bucket ${bucket} exists with storage ${have.storage}; it must be memory (delete the bucket to recreate it)`);
    }
    const maxAge = ns(ttl);
    const want: Partial<StreamUpdateConfig> = {
      max_age: maxAge,
      num_replicas: replicas,
      max_msgs_per_subject: 1,
      // The server refuses a duplicate window longer than max_age.
      duplicate_window: Math.min(have.duplicate_window || maxAge, maxAge),
    };
    if (differs(have, want)) await whilePlacing(() => jsm.streams.update(stream, want));
  } catch (err) {
    throw err instanceof BusError && err.code === 'BUS_KV' ? err : fail('updating it failed', err);
  }
  return kv;
}
