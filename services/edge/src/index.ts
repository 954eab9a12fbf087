// The package's only door.
export {
  DEFAULT_EDGE_TCP_OPEN_TIMEOUT,
  DEFAULT_MASK,
  DEFAULT_METRICS_PORT,
  EdgeConfigError,
  hex,
  hex32,
  loadEdgeConfig,
  parseEdgeConfig,
  PROJECT_PATTERNS_DIR,
  DEFAULT_NATS_URL,
  type AccountingConfig,
  type ClusterConfig,
  type EdgeConfig,
  type RecordsConfig,
  type IpFamily,
} from './config.js';
export { EdgeCore, flowView, type EdgeCoreOptions, type FlowPipeline, type EdgeCounters, type EdgeFlow, type FlowView, type MarkState, type ProtocolCounters } from './core.js';
export { MarkPolicy } from './markPolicy.js';
export { createEdgeMetrics } from './metrics.js';
export { loadEdgePatterns, type EdgePatterns } from './patterns.js';
export { replayCapture, replayCaptures, REPLAY_BATCH, type ReplayOptions, type ReplayRecord, type ReplayResult } from './replay.js';
export { edgeRulesConfig, renderRulesReport } from './rules.js';
export { statelessRulesConfig } from './stateless.js';
export { LOOPBACK, startEdgeServer, type EdgeServer, type EdgeServerSources } from './server.js';
export { edgeStats, type EdgeStats, type ProtocolStats, type StatsContext } from './stats.js';
export type { ConntrackMarker, ConntrackTuple, PacketVerdict, QueuedPacket } from './types.js';
export { startEdge, type RunningEdge, type StartEdgeOptions } from './live.js';
export { ClusterLink, type ClusterLinkOptions, type LinkCounters } from './clusterLink.js';
export { connectRemoteEdge, type RemoteEdge } from './remote.js';
export { RemoteClassifier, type RemoteClassifierOptions, type RemoteCounters, type SegmentSink } from './remoteClassifier.js';
export { CustomerSide } from './customerSide.js';
export {
  accountingInterfaceName,
  EdgeRecords,
  startLiveRecords,
  type CounterSource,
  type EdgeRecordsCounters,
  type EdgeRecordsOptions,
  type KernelCounters,
  type KernelCountersOptions,
  type RecordSink,
} from './records.js';
