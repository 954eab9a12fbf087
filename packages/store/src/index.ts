/**
 * PostgreSQL in one place: the schema's migrations, the partitioned flow
 * table and accounting buckets with their rollups and retention, the
 * idempotent batched writers that ingestion uses, and the bounded queries
 * behind the CLI and the HTTP API. Every statement is parameterised; table
 * and column names only ever come from constants. docs/store.md describes
 * the schema column by column.
 */
export { StoreError, type StoreErrorCode, type StoreErrorDetails } from './errors.js';
export { withClient, inTransaction, type Db } from './db.js';
export {
  migrate,
  readMigrations,
  MIGRATIONS_DIR,
  MIGRATION_LOCK_KEY,
  type MigrateOptions,
  type MigrateResult,
  type MigrationFile,
} from './migrate.js';
export {
  ensurePartitions,
  applyRetention,
  indexClosedPartitions,
  listPartitions,
  type PartitionedTable,
  type PartitionInfo,
  type RetentionOptions,
  type RetentionResult,
} from './partitions.js';
export { upsertNode, listNodes, type NodeKind, type NodeInfo, type NodeSighting } from './nodes.js';
export { MAX_BATCH, type WriteResult } from './ingest.js';
export { writeFlowRecords, UNSET, type FlowRecord, type FlowState } from './flowWriter.js';
export { writeAccountingDeltas, TRAFFIC_DIRECTIONS, type AccountingDelta, type TrafficDirection } from './accountingWriter.js';
export { rollupAccounting, rollupHosts } from './rollup.js';
export { STORE_LIMITS, type Resolution } from './queryBounds.js';
export { topTalkers, type TopBy, type TopTalker, type TopTalkersQuery } from './topTalkers.js';
export { listFlows, type FlowRow, type ListFlowsQuery } from './listFlows.js';
export {
  accountingSeries,
  type AccountingSeries,
  type AccountingSeriesQuery,
  type SeriesDimension,
  type SeriesPoint,
} from './accountingSeries.js';
export { lookupVerdict, type StoredVerdict, type VerdictLookup } from './lookupVerdict.js';
