export {
  checkL7Mark,
  DEFAULT_L7_MASK,
  DEFAULT_PACKET_BUDGET,
  DEFAULT_QUEUE_NUM,
  parseMark,
  parseMask,
  resolveEdgeRules,
  type EdgeRulesConfig,
  type IpFamily,
  type MarkValue,
  type QueueHook,
  type QueueTarget,
  type ResolvedEdgeRules,
} from './config.js';
export type { NetfilterTarget } from './command.js';
export { ensureConntrackAccounting, type AccountingState } from './conntrackAccounting.js';
export { describeEdgeRules } from './describeRules.js';
export {
  applyEdgeRules,
  listInstalled,
  removeEdgeRules,
  type ApplyResult,
  type FamilyApplyResult,
  type FamilyRemoveResult,
  type ListOptions,
  type RemoveResult,
} from './edgeRules.js';
export { NetfilterError, type NetfilterErrorCode, type NetfilterErrorDetails } from './errors.js';
export { parseIptablesSave, type InstalledJump, type InstalledRules } from './installedRules.js';
export { renderEdgeRules, type RenderedEdgeRules } from './restoreInput.js';
export { CHAIN_PREFIX, HELPER_CHAIN, QUEUE_CHAIN, RESTORE_CHAIN, SAVE_CHAIN, type EdgeTable } from './ruleModel.js';
export { renderTcHtbExample, type TcGroup, type TcHtbExampleConfig } from './tcExample.js';
// Stateless edge mode (multi-homed routers): per target an nft set of 5-tuples.
export {
  DEFAULT_ELEMENT_TIMEOUT_SEC,
  DEFAULT_LIVE_TIMEOUT_SEC,
  DEFAULT_MAP_SIZE,
  DEFAULT_PER_SOURCE_RATE,
  DEFAULT_STATELESS_PRIORITY,
  DEFAULT_STATELESS_TABLE,
  resolveStatelessRules,
  statelessElementsRenew,
  STATELESS_HOLD_CHAIN,
  STATELESS_WATCH_CHAIN,
  statelessLiveSetName,
  statelessMarkChain,
  statelessTargetSet,
  type ElementTarget,
  type QueueVia,
  type ResolvedStatelessRules,
  type StatelessRulesConfig,
} from './statelessConfig.js';
export { renderStatelessRules, STATELESS_COUNTERS, statelessQueueRuleSpec } from './statelessRules.js';
export { applyStatelessRules, removeStatelessRules, type StatelessApplyResult, type StatelessRemoveResult } from './statelessApply.js';
export {
  renderElementBatch,
  renderElementOps,
  renderFlowKey,
  type ElementBatch,
  type ElementLine,
  type ElementOp,
  type FlowTuple,
} from './elementOps.js';
export { parseCounters, parseFlowSets, parseLiveSet, type CounterValue, type FlowSetEntry } from './nftJson.js';
