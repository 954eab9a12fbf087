/**
 * NATS in one place: subject, stream and bucket names, connections,
 * the events stream and KV buckets, and a launcher for nats-server.
 */
export { BusError, type BusErrorCode, type BusErrorDetails } from './errors.js';
export { busNames, verdictCacheKey, DEFAULT_PREFIX, type BusNames } from './names.js';
export { connectBus, type Bus, type BusOptions, type BusStatus } from './connect.js';
export { Membership, memberKey, type MembershipOptions } from './membership.js';
export {
  ensureEventsStream,
  openMembersBucket,
  openVerdictsBucket,
  EVENTS_DUPLICATE_WINDOW_SEC,
  EVENTS_MAX_AGE_SEC,
  MEMBERS_TTL_SEC,
  VERDICTS_TTL_SEC,
  type BucketOptions,
  type EventsStreamOptions,
} from './streams.js';
export {
  noCutoffSubscription,
  RECOMMENDED_MAX_PENDING_BYTES,
  RECOMMENDED_WRITE_DEADLINE_SEC,
  SERVER_DEFAULT_MAX_PENDING_BYTES,
  SERVER_DEFAULT_WRITE_DEADLINE_SEC,
  SLOW_PENDING_MSGS,
} from './slow.js';
export {
  freePort,
  resolveServerBinary,
  startNatsCluster,
  startNatsServer,
  type NatsCluster,
  type NatsClusterOptions,
  type NatsServerOptions,
  type NatsServerProcess,
} from './server.js';
export type { NatsConnection, Msg, Subscription, SubscriptionOptions } from '@nats-io/transport-node';
export type { JetStreamClient, JetStreamManager, PubAck } from '@nats-io/jetstream';
export type { KV, KvEntry } from '@nats-io/kv';
