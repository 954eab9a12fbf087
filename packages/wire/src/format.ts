/**
 * The constants of the wire format. Every message starts with a 4-byte
 * header: 'L7' (0x4c 0x37), the format version, the message type. Integers
 * are big-endian.
 */

export const WIRE_VERSION = 1;
export const MAGIC_0 = 0x4c;
export const MAGIC_1 = 0x37;
export const HEADER_BYTES = 4;

export const MessageType = {
  HeadBatch: 1,
  VerdictBatch: 2,
  MemberHeartbeat: 3,
  EdgeWatermark: 4,
  EventBatch: 5,
  FlowRecordBatch: 6,
  AccountingBatch: 7,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** How error messages name each message type (index: the type byte). */
export const MESSAGE_NAMES: readonly string[] = ['', 'head batch', 'verdict batch', 'member heartbeat', 'edge watermark', 'event batch', 'flow record batch', 'accounting batch'];

export const MAX_SEGMENTS_PER_BATCH = 4096;
/** Verdicts per verdict batch: the same bound as segments, one verdict per flow at most. */
export const MAX_VERDICTS_PER_BATCH = MAX_SEGMENTS_PER_BATCH;
/** A payload's length is a u16. */
export const MAX_PAYLOAD = 65535;
/** NATS' default max_payload: a bigger message would not be delivered. */
export const MAX_MESSAGE_BYTES = 1 << 20;
/** Edge and worker ids become NATS subject tokens. */
export const MAX_NAME_LENGTH = 64;
/** l7 protocol names and decidedBy strings (u8 length). */
export const MAX_TEXT_LENGTH = 255;
export const MAX_EVENT_EDGES = 32;
/** Flow records or accounting deltas per record batch (MAX_MESSAGE_BYTES bounds a batch first: about 9000 IPv4 records). */
export const MAX_RECORDS_PER_BATCH = 8192;

export const U16_MAX = 0xffff;
export const U32_MAX = 0xffffffff;
export const NSEC_MAX = 999_999_999;

/** Canonical flow key lengths: protocol + 2 × (address + port). */
export const IPV4_KEY_LENGTH = 13;
export const IPV6_KEY_LENGTH = 37;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
