/** Encoders validate their input: a message they produce is one the decoders accept. */
import { describe, expect, it } from 'vitest';
import {
  encodeEdgeWatermark,
  encodeEventBatch,
  encodeHeadBatch,
  encodeMemberHeartbeat,
  encodeVerdictBatch,
  MAX_PAYLOAD,
  MAX_SEGMENTS_PER_BATCH,
  MAX_VERDICTS_PER_BATCH,
  type EventBatch,
  type HeadBatch,
  type HeadSegment,
  type Verdict,
  type VerdictEvent,
  type WireErrorCode,
} from '@l7mesh/wire';
import { expectWireError } from './expectWireError.js';
import { EVENT_BATCH, HEAD_BATCH, HEARTBEAT, KEY4, KEY6, segment, TEXT255, verdict, VERDICT_BATCH, WATERMARK } from './samples.js';

/** Loosens the types: the encoders must also catch what TypeScript would. */
const any = <T>(v: unknown): T => v as T;

const head = (s: Partial<HeadSegment>): HeadBatch => ({ ...HEAD_BATCH, segments: [segment(s)] });
const verdicts = (v: Partial<Verdict>): typeof VERDICT_BATCH => ({ ...VERDICT_BATCH, verdicts: [verdict(v)] });
const events = (e: Partial<VerdictEvent>): EventBatch => ({ ...EVENT_BATCH, events: [{ ...EVENT_BATCH.events[0]!, ...e }] });

const cases: [string, () => unknown, WireErrorCode, string | undefined][] = [
  // head batch
  ['edge id with a dot', () => encodeHeadBatch({ ...HEAD_BATCH, edge: 'edge.1' }), 'WIRE_BAD_FIELD', 'edge'],
  ['partition 65536', () => encodeHeadBatch({ ...HEAD_BATCH, partition: 65536 }), 'WIRE_BAD_FIELD', 'partition'],
  ['batchSeq 1.5', () => encodeHeadBatch({ ...HEAD_BATCH, batchSeq: 1.5 }), 'WIRE_BAD_FIELD', 'batchSeq'],
  ['watermarkSec -1', () => encodeHeadBatch({ ...HEAD_BATCH, watermarkSec: -1 }), 'WIRE_BAD_FIELD', 'watermarkSec'],
  ['watermarkNsec 1e9', () => encodeHeadBatch({ ...HEAD_BATCH, watermarkNsec: 1e9 }), 'WIRE_BAD_FIELD', 'watermarkNsec'],
  ['segments not an array', () => encodeHeadBatch({ ...HEAD_BATCH, segments: any({}) }), 'WIRE_BAD_FIELD', 'segments'],
  ['a null segment', () => encodeHeadBatch({ ...HEAD_BATCH, segments: [any(null)] }), 'WIRE_BAD_FIELD', 'segments[0]'],
  ['zone -1', () => encodeHeadBatch(head({ zone: -1 })), 'WIRE_BAD_FIELD', 'segments[0].zone'],
  ['zone 2^32', () => encodeHeadBatch(head({ zone: 2 ** 32 })), 'WIRE_BAD_FIELD', 'segments[0].zone'],
  ['zone as a string', () => encodeHeadBatch(head({ zone: any('7') })), 'WIRE_BAD_FIELD', 'segments[0].zone'],
  ['key length 14', () => encodeHeadBatch(head({ key: KEY4 + 'x' })), 'WIRE_BAD_FIELD', 'segments[0].key'],
  ['key with a char over 255', () => encodeHeadBatch(head({ key: KEY6.slice(0, 36) + '\u0100' })), 'WIRE_BAD_FIELD', 'segments[0].key'],
  ['key protocol 1', () => encodeHeadBatch(head({ key: '\x01' + KEY4.slice(1) })), 'WIRE_BAD_FIELD', 'segments[0].key'],
  ['key not a string', () => encodeHeadBatch(head({ key: any(123) })), 'WIRE_BAD_FIELD', 'segments[0].key'],
  ['direction 2', () => encodeHeadBatch(head({ direction: any(2) })), 'WIRE_BAD_FIELD', 'segments[0].direction'],
  ['generation NaN', () => encodeHeadBatch(head({ generation: NaN })), 'WIRE_BAD_FIELD', 'segments[0].generation'],
  ['counter 0', () => encodeHeadBatch(head({ counter: 0 })), 'WIRE_BAD_FIELD', 'segments[0].counter'],
  ['counter 65536', () => encodeHeadBatch(head({ counter: 65536 })), 'WIRE_BAD_FIELD', 'segments[0].counter'],
  ['flags 16', () => encodeHeadBatch(head({ flags: 16 })), 'WIRE_BAD_FIELD', 'segments[0].flags'],
  ['tcpFlags 256', () => encodeHeadBatch(head({ tcpFlags: 256 })), 'WIRE_BAD_FIELD', 'segments[0].tcpFlags'],
  ['seq 2^32', () => encodeHeadBatch(head({ seq: 2 ** 32 })), 'WIRE_BAD_FIELD', 'segments[0].seq'],
  ['ack -1', () => encodeHeadBatch(head({ ack: -1 })), 'WIRE_BAD_FIELD', 'segments[0].ack'],
  ['tsSec 1.5', () => encodeHeadBatch(head({ tsSec: 1.5 })), 'WIRE_BAD_FIELD', 'segments[0].tsSec'],
  ['tsNsec 1e9', () => encodeHeadBatch(head({ tsNsec: 1e9 })), 'WIRE_BAD_FIELD', 'segments[0].tsNsec'],
  ['ipLength 65536', () => encodeHeadBatch(head({ ipLength: 65536 })), 'WIRE_BAD_FIELD', 'segments[0].ipLength'],
  ['payload over 65535 bytes', () => encodeHeadBatch(head({ payload: new Uint8Array(MAX_PAYLOAD + 1) })), 'WIRE_BAD_FIELD', 'segments[0].payload'],
  ['payload as an array', () => encodeHeadBatch(head({ payload: any([1, 2]) })), 'WIRE_BAD_FIELD', 'segments[0].payload'],
  ['4097 segments', () => encodeHeadBatch({ ...HEAD_BATCH, segments: new Array<HeadSegment>(MAX_SEGMENTS_PER_BATCH + 1).fill(segment()) }), 'WIRE_TOO_LARGE', 'segments'],
  ['16 max payloads (over 1 MiB)', () => encodeHeadBatch({ ...HEAD_BATCH, segments: new Array<HeadSegment>(16).fill(segment({ payload: new Uint8Array(MAX_PAYLOAD) })) }), 'WIRE_TOO_LARGE', 'segments'],
  // verdict batch
  ['65-char worker id', () => encodeVerdictBatch({ ...VERDICT_BATCH, worker: 'w'.repeat(65) }), 'WIRE_BAD_FIELD', 'worker'],
  ['a null verdict', () => encodeVerdictBatch({ ...VERDICT_BATCH, verdicts: [verdict(), any(null)] }), 'WIRE_BAD_FIELD', 'verdicts[1]'],
  ['verdict key length 36', () => encodeVerdictBatch(verdicts({ key: KEY6.slice(0, 36) })), 'WIRE_BAD_FIELD', 'verdicts[0].key'],
  ['empty l7', () => encodeVerdictBatch(verdicts({ l7: '' })), 'WIRE_BAD_FIELD', 'verdicts[0].l7'],
  ['256-char l7', () => encodeVerdictBatch(verdicts({ l7: TEXT255 + 'x' })), 'WIRE_BAD_FIELD', 'verdicts[0].l7'],
  ['l7 with a space', () => encodeVerdictBatch(verdicts({ l7: 'bit torrent' })), 'WIRE_BAD_FIELD', 'verdicts[0].l7'],
  ['l7 with a non-ASCII char', () => encodeVerdictBatch(verdicts({ l7: 'caf\u00e9' })), 'WIRE_BAD_FIELD', 'verdicts[0].l7'],
  ['decidedBy with a newline', () => encodeVerdictBatch(verdicts({ decidedBy: 'a\n' })), 'WIRE_BAD_FIELD', 'verdicts[0].decidedBy'],
  ['decidedAtPacket -1', () => encodeVerdictBatch(verdicts({ decidedAtPacket: -1 })), 'WIRE_BAD_FIELD', 'verdicts[0].decidedAtPacket'],
  ['mark 2^32', () => encodeVerdictBatch(verdicts({ mark: 2 ** 32 })), 'WIRE_BAD_FIELD', 'verdicts[0].mark'],
  ['ruleSetVersion as a string', () => encodeVerdictBatch(verdicts({ ruleSetVersion: any('1') })), 'WIRE_BAD_FIELD', 'verdicts[0].ruleSetVersion'],
  ['epoch 1.5', () => encodeVerdictBatch(verdicts({ epoch: 1.5 })), 'WIRE_BAD_FIELD', 'verdicts[0].epoch'],
  ['final as a number', () => encodeVerdictBatch(verdicts({ final: any(1) })), 'WIRE_BAD_FIELD', 'verdicts[0].final'],
  ['recalled missing', () => encodeVerdictBatch(verdicts({ recalled: any(undefined) })), 'WIRE_BAD_FIELD', 'verdicts[0].recalled'],
  ['opener missing', () => encodeVerdictBatch(verdicts({ opener: any(undefined) })), 'WIRE_BAD_FIELD', 'verdicts[0].opener'],
  ['start null', () => encodeVerdictBatch(verdicts({ start: any(null) })), 'WIRE_BAD_FIELD', 'verdicts[0].start'],
  ['start.origIsLow as a number', () => encodeVerdictBatch(verdicts({ start: { origIsLow: any(1), firstSec: 1, firstNsec: 2 } })), 'WIRE_BAD_FIELD', 'verdicts[0].start.origIsLow'],
  ['start.firstSec -1', () => encodeVerdictBatch(verdicts({ start: { origIsLow: true, firstSec: -1, firstNsec: 2 } })), 'WIRE_BAD_FIELD', 'verdicts[0].start.firstSec'],
  ['start.firstNsec 1e9', () => encodeVerdictBatch(verdicts({ start: { origIsLow: true, firstSec: 1, firstNsec: 1e9 } })), 'WIRE_BAD_FIELD', 'verdicts[0].start.firstNsec'],
  ['4097 verdicts', () => encodeVerdictBatch({ worker: 'w', verdicts: new Array<Verdict>(MAX_VERDICTS_PER_BATCH + 1).fill(verdict()) }), 'WIRE_TOO_LARGE', 'verdicts'],
  ['4096 verdicts over 1 MiB', () => encodeVerdictBatch({ worker: 'w', verdicts: new Array<Verdict>(MAX_VERDICTS_PER_BATCH).fill(verdict({ l7: TEXT255, decidedBy: TEXT255 })) }), 'WIRE_TOO_LARGE', undefined],
  // member heartbeat
  ['empty id', () => encodeMemberHeartbeat({ ...HEARTBEAT, id: '' }), 'WIRE_BAD_FIELD', 'id'],
  ['role 3', () => encodeMemberHeartbeat({ ...HEARTBEAT, role: any(3) }), 'WIRE_BAD_FIELD', 'role'],
  ['timeMs NaN', () => encodeMemberHeartbeat({ ...HEARTBEAT, timeMs: NaN }), 'WIRE_BAD_FIELD', 'timeMs'],
  ['timeMs -1', () => encodeMemberHeartbeat({ ...HEARTBEAT, timeMs: -1 }), 'WIRE_BAD_FIELD', 'timeMs'],
  ['startedMs Infinity', () => encodeMemberHeartbeat({ ...HEARTBEAT, startedMs: Infinity }), 'WIRE_BAD_FIELD', 'startedMs'],
  ['partitions -1', () => encodeMemberHeartbeat({ ...HEARTBEAT, partitions: -1 }), 'WIRE_BAD_FIELD', 'partitions'],
  ['decided 1.5', () => encodeMemberHeartbeat({ ...HEARTBEAT, decided: 1.5 }), 'WIRE_BAD_FIELD', 'decided'],
  ['decided 2^53', () => encodeMemberHeartbeat({ ...HEARTBEAT, decided: 2 ** 53 }), 'WIRE_BAD_FIELD', 'decided'],
  ['latencyP99Us 2^32', () => encodeMemberHeartbeat({ ...HEARTBEAT, latencyP99Us: 2 ** 32 }), 'WIRE_BAD_FIELD', 'latencyP99Us'],
  // edge watermark
  ['watermark edge with a dot', () => encodeEdgeWatermark({ ...WATERMARK, edge: 'a.b' }), 'WIRE_BAD_FIELD', 'edge'],
  ['watermark tsNsec 1e9', () => encodeEdgeWatermark({ ...WATERMARK, tsNsec: 1e9 }), 'WIRE_BAD_FIELD', 'tsNsec'],
  ['done as a string', () => encodeEdgeWatermark({ ...WATERMARK, done: any('yes') }), 'WIRE_BAD_FIELD', 'done'],
  // event batch
  ['event batchSeq -1', () => encodeEventBatch({ ...EVENT_BATCH, batchSeq: -1 }), 'WIRE_BAD_FIELD', 'batchSeq'],
  ['events not an array', () => encodeEventBatch({ ...EVENT_BATCH, events: any('x') }), 'WIRE_BAD_FIELD', 'events'],
  ['origIsLow as a number', () => encodeEventBatch(events({ origIsLow: any(0) })), 'WIRE_BAD_FIELD', 'events[0].origIsLow'],
  ['event key protocol 58', () => encodeEventBatch(events({ key: '\x3a' + KEY6.slice(1) })), 'WIRE_BAD_FIELD', 'events[0].key'],
  ['firstNsec 1e9', () => encodeEventBatch(events({ firstNsec: 1e9 })), 'WIRE_BAD_FIELD', 'events[0].firstNsec'],
  ['33 edges', () => encodeEventBatch(events({ edges: Array.from({ length: 33 }, (_, i) => `e${i}`) })), 'WIRE_BAD_FIELD', 'events[0].edges'],
  ['an edge name with a dot', () => encodeEventBatch(events({ edges: ['ok', 'a.b'] })), 'WIRE_BAD_FIELD', 'events[0].edges[1]'],
  ['edges not an array', () => encodeEventBatch(events({ edges: any('edge-1') })), 'WIRE_BAD_FIELD', 'events[0].edges'],
  // not objects at all
  ['head batch null', () => encodeHeadBatch(any(null)), 'WIRE_BAD_FIELD', undefined],
  ['verdict batch undefined', () => encodeVerdictBatch(any(undefined)), 'WIRE_BAD_FIELD', undefined],
  ['heartbeat a number', () => encodeMemberHeartbeat(any(1)), 'WIRE_BAD_FIELD', undefined],
  ['watermark null', () => encodeEdgeWatermark(any(null)), 'WIRE_BAD_FIELD', undefined],
  ['event batch a string', () => encodeEventBatch(any('x')), 'WIRE_BAD_FIELD', undefined],
];

describe('encoders reject bad input', () => {
  it.each(cases)('%s', (_, encode, code, field) => {
    const err = expectWireError(encode, code, field);
    if (field === undefined) expect(err.field).toBeUndefined();
    expect(err.offset).toBeUndefined();
    if (field !== undefined) expect(err.message).toContain(`: ${field}: `);
  });

  it('names the message kind in the message', () => {
    const err = expectWireError(() => encodeHeadBatch(head({ zone: -1 })), 'WIRE_BAD_FIELD');
    expect(err.message).toBe('head batch: segments[0].zone: -1 is not an integer in 0..4294967295');
  });
});
