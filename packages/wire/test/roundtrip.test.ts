/** Every message type survives encode → decode with edge values, and the bytes follow the documented layout. */
import { describe, expect, it } from 'vitest';
import {
  decodeEdgeWatermark,
  decodeEventBatch,
  decodeHeadBatch,
  decodeMemberHeartbeat,
  decodeVerdictBatch,
  encodeEdgeWatermark,
  encodeEventBatch,
  encodeHeadBatch,
  encodeMemberHeartbeat,
  encodeVerdictBatch,
  MAX_EVENT_EDGES,
  MAX_PAYLOAD,
  MAX_SEGMENTS_PER_BATCH,
  MAX_VERDICTS_PER_BATCH,
  MessageType,
  messageTypeOf,
  type HeadBatch,
  type VerdictBatch,
  type EventBatch,
} from '@l7mesh/wire';
import { assemble, eventBatchFields, headBatchFields, heartbeatFields, message, verdictBatchFields, watermarkFields } from './raw.js';
import { EVENT_BATCH, HEAD_BATCH, HEARTBEAT, KEY4, KEY6, NAME64, segment, TEXT255, verdict, VERDICT_BATCH, WATERMARK } from './samples.js';

describe('round trips', () => {
  it('head batch: IPv4 and IPv6 keys, extreme values, empty and 300-byte payloads', () => {
    const bytes = encodeHeadBatch(HEAD_BATCH);
    expect(bytes).toEqual(message(assemble(headBatchFields(HEAD_BATCH))));
    expect(messageTypeOf(bytes)).toBe(MessageType.HeadBatch);
    const back = decodeHeadBatch(bytes);
    expect(back).toEqual(HEAD_BATCH);
    expect(Object.keys(back)).toEqual(['edge', 'partition', 'batchSeq', 'watermarkSec', 'watermarkNsec', 'segments']);
    expect(Object.keys(back.segments[0]!)).toEqual(Object.keys(HEAD_BATCH.segments[0]!));
  });

  it('head batch: a max-size payload, partition 65535, batchSeq 2^32-1, a 64-char edge', () => {
    const batch: HeadBatch = {
      edge: NAME64,
      partition: 65535,
      batchSeq: 0xffffffff,
      watermarkSec: 0xffffffff,
      watermarkNsec: 0,
      segments: [segment({ payload: Uint8Array.from({ length: MAX_PAYLOAD }, (_, i) => i & 0xff) })],
    };
    const back = decodeHeadBatch(encodeHeadBatch(batch));
    // Deep equality walks a 64 KiB array element by element (slow): compare the payload as a Buffer.
    expect(Buffer.from(back.segments[0]!.payload).equals(batch.segments[0]!.payload)).toBe(true);
    expect({ ...back, segments: [{ ...back.segments[0], payload: null }] }).toEqual({ ...batch, segments: [{ ...batch.segments[0], payload: null }] });
  });

  it(`head batch: ${MAX_SEGMENTS_PER_BATCH} segments, and an empty batch`, () => {
    const segments = Array.from({ length: MAX_SEGMENTS_PER_BATCH }, (_, i) =>
      segment({ key: i % 2 ? KEY4 : KEY6, counter: (i % 65535) + 1, payload: new Uint8Array(0) }),
    );
    const full: HeadBatch = { edge: 'e', partition: 0, batchSeq: 0, watermarkSec: 0, watermarkNsec: 0, segments };
    expect(decodeHeadBatch(encodeHeadBatch(full))).toEqual(full);
    const empty: HeadBatch = { edge: 'e', partition: 0, batchSeq: 1, watermarkSec: 5, watermarkNsec: 6, segments: [] };
    expect(decodeHeadBatch(encodeHeadBatch(empty))).toEqual(empty);
  });

  it('head batch payloads are views into the message, keys are strings of byte chars', () => {
    const bytes = encodeHeadBatch(HEAD_BATCH);
    const back = decodeHeadBatch(bytes);
    expect(back.segments[2]!.payload.buffer).toBe(bytes.buffer);
    expect(back.segments[1]!.key).toBe(KEY6);
    expect(back.segments[1]!.key.length).toBe(37);
    expect(back.segments[0]!.key.length).toBe(13);
  });

  it('decodes a message that sits at an offset inside a larger buffer', () => {
    const bytes = encodeHeadBatch(HEAD_BATCH);
    const big = new Uint8Array(bytes.length + 20);
    big.set(bytes, 7);
    expect(decodeHeadBatch(big.subarray(7, 7 + bytes.length))).toEqual(HEAD_BATCH);
    const hb = encodeMemberHeartbeat(HEARTBEAT);
    const big2 = new Uint8Array(hb.length + 3);
    big2.set(hb, 3); // an odd offset: float64 reads must not need alignment
    expect(decodeMemberHeartbeat(big2.subarray(3))).toEqual(HEARTBEAT);
  });

  it('verdict batch: extreme values, 255-char texts, final, recalled and opener false/true, with and without a start', () => {
    const bytes = encodeVerdictBatch(VERDICT_BATCH);
    expect(bytes).toEqual(message(assemble(verdictBatchFields(VERDICT_BATCH))));
    expect(messageTypeOf(bytes)).toBe(MessageType.VerdictBatch);
    const back = decodeVerdictBatch(bytes);
    expect(back).toEqual(VERDICT_BATCH);
    expect(Object.keys(back.verdicts[0]!)).toEqual(Object.keys(VERDICT_BATCH.verdicts[0]!));
  });

  it(`verdict batch: ${MAX_VERDICTS_PER_BATCH} verdicts, and none`, () => {
    const full: VerdictBatch = { worker: NAME64, verdicts: Array.from({ length: MAX_VERDICTS_PER_BATCH }, (_, i) => verdict({ generation: i, key: i % 3 ? KEY4 : KEY6 })) };
    expect(decodeVerdictBatch(encodeVerdictBatch(full))).toEqual(full);
    const empty: VerdictBatch = { worker: 'w', verdicts: [] };
    expect(decodeVerdictBatch(encodeVerdictBatch(empty))).toEqual(empty);
  });

  it('member heartbeat: 64-char id, fractional ms, decided = MAX_SAFE_INTEGER, both roles', () => {
    const bytes = encodeMemberHeartbeat(HEARTBEAT);
    expect(bytes).toEqual(message(assemble(heartbeatFields(HEARTBEAT))));
    expect(messageTypeOf(bytes)).toBe(MessageType.MemberHeartbeat);
    expect(decodeMemberHeartbeat(bytes)).toEqual(HEARTBEAT);
    const edge = { ...HEARTBEAT, role: 2 as const, timeMs: Number.MAX_VALUE, decided: 0 };
    expect(decodeMemberHeartbeat(encodeMemberHeartbeat(edge))).toEqual(edge);
  });

  it('edge watermark: tsSec 2^32-1, tsNsec 999999999, done both ways', () => {
    const bytes = encodeEdgeWatermark(WATERMARK);
    expect(bytes).toEqual(message(assemble(watermarkFields(WATERMARK))));
    expect(messageTypeOf(bytes)).toBe(MessageType.EdgeWatermark);
    expect(decodeEdgeWatermark(bytes)).toEqual(WATERMARK);
    const zero = { edge: NAME64, tsSec: 0, tsNsec: 0, done: false };
    expect(decodeEdgeWatermark(encodeEdgeWatermark(zero))).toEqual(zero);
  });

  it('event batch: IPv4 and IPv6 keys, no edges and 32 edges of 64 chars', () => {
    const bytes = encodeEventBatch(EVENT_BATCH);
    expect(bytes).toEqual(message(assemble(eventBatchFields(EVENT_BATCH))));
    expect(messageTypeOf(bytes)).toBe(MessageType.EventBatch);
    const back = decodeEventBatch(bytes);
    expect(back).toEqual(EVENT_BATCH);
    expect(Object.keys(back.events[0]!)).toEqual(Object.keys(EVENT_BATCH.events[0]!));
    const many: EventBatch = {
      worker: 'w',
      batchSeq: 0,
      events: [{ ...EVENT_BATCH.events[0]!, l7: TEXT255, edges: Array.from({ length: MAX_EVENT_EDGES }, (_, i) => `${i}`.padEnd(64, 'x')) }],
    };
    expect(decodeEventBatch(encodeEventBatch(many))).toEqual(many);
  });

  it('decoders hand out fresh objects', () => {
    const bytes = encodeVerdictBatch(VERDICT_BATCH);
    const a = decodeVerdictBatch(bytes);
    const b = decodeVerdictBatch(bytes);
    expect(a).not.toBe(b);
    expect(a.verdicts[0]).not.toBe(b.verdicts[0]);
    a.verdicts[0]!.mark = 99;
    expect(b.verdicts[0]!.mark).toBe(VERDICT_BATCH.verdicts[0]!.mark);
  });
});
