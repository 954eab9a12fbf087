/**
 * The central plane: ingestion of the edges' flow records and accounting
 * from the records stream into PostgreSQL (idempotent, acknowledged after
 * the commit), the HTTP query API, and an embedded PostgreSQL for `l7mesh
 * up` and tests. docs/control.md is the operator's guide.
 */
export { ControlError, type ControlErrorCode } from './errors.js';
export { startControl, type ControlOptions, type RunningControl } from './control.js';
export { RecordIngest, type IngestCounters, type IngestOptions } from './ingest.js';
export { buildApi, startApi, type ApiOptions, type RunningApi } from './api.js';
export { accountingDeltasOf, flowRecordsOf } from './recordMapping.js';
export { parseInstant, parseWindow } from './timeSpec.js';
export {
  DEFAULT_POSTGRES_BIN_DIR,
  startPostgresServer,
  type PostgresServerOptions,
  type PostgresServerProcess,
} from './postgresServer.js';
