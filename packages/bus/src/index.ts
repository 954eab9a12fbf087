/**
 * NATS in one place: subject, stream and bucket names, connections,
 * the events stream and KV buckets, the records stream (edges' flow records
 * and accounting for control) with its publisher and durable consumer, and
 * a launcher for nats-server.
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
export {
  ensureRecordsStream,
  openRecordsConsumer,
  recordNames,
  recordsBacklog,
  RECORDS_CONSUMER,
  RECORDS_DUPLICATE_WINDOW_SEC,
  RECORDS_MAX_AGE_SEC,
  type RecordNames,
  type RecordsConsumerOptions,
  type RecordsStreamOptions,
} from './recordsStream.js';
export {
  RecordPublisher,
  type AccountingDeltaInput,
  type FlowRecordInput,
  type RecordPublisherCounters,
  type RecordPublisherOptions,
} from './recordPublisher.js';
export type { Consumer, JetStreamClient, JetStreamManager, JsMsg, PubAck } from '@nats-io/jetstream';
export type { KV, KvEntry } from '@nats-io/kv';
