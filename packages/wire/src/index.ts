/**
 * Versioned binary messages of the l7mesh cluster: head segments from edges
 * to classifier workers, verdicts back, membership heartbeats, edge
 * watermarks and verdict events, and what edges report to control (flow
 * records, accounting deltas). Each codec module documents its layout;
 * decoders reject a bad message as a whole with a WireError and never throw
 * anything else.
 */
export {
  Direction,
  MemberRole,
  SegmentFlag,
  type EdgeWatermark,
  type EventBatch,
  type FlowStart,
  type HeadBatch,
  type HeadSegment,
  type MemberHeartbeat,
  type Verdict,
  type VerdictBatch,
  type VerdictEvent,
} from './types.js';
export { WireError, type WireErrorCode } from './errors.js';
export {
  MAX_EVENT_EDGES,
  MAX_MESSAGE_BYTES,
  MAX_NAME_LENGTH,
  MAX_PAYLOAD,
  MAX_RECORDS_PER_BATCH,
  MAX_SEGMENTS_PER_BATCH,
  MAX_TEXT_LENGTH,
  MAX_VERDICTS_PER_BATCH,
  MessageType,
  WIRE_VERSION,
} from './format.js';
export { messageTypeOf } from './header.js';
export { decodeHeadBatch, encodeHeadBatch, HeadBatchWriter } from './headBatch.js';
export { decodeVerdictBatch, encodeVerdictBatch } from './verdictBatch.js';
export { decodeMemberHeartbeat, encodeMemberHeartbeat } from './memberHeartbeat.js';
export { decodeEdgeWatermark, encodeEdgeWatermark } from './edgeWatermark.js';
export { decodeEventBatch, encodeEventBatch } from './eventBatch.js';
export { DEFAULT_PARTITIONS, partitionOf } from './flowSpace.js';
export {
  recordEventId,
  type AccountingBatch,
  type AccountingDirection,
  type FlowRecordBatch,
  type FlowRecordState,
  type WireAccountingDelta,
  type WireFlowRecord,
} from './recordTypes.js';
export { IFACE_MAX_LENGTH } from './recordFields.js';
export { decodeFlowRecordBatch, encodeFlowRecordBatch } from './flowRecordBatch.js';
export { decodeAccountingBatch, encodeAccountingBatch } from './accountingBatch.js';
