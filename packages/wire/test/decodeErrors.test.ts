/** Decoders reject every kind of bad message as a whole, naming the field and the offset. */
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
  MAX_MESSAGE_BYTES,
  messageTypeOf,
  WireError,
  type WireErrorCode,
} from '@l7mesh/wire';
import { expectWireError } from './expectWireError.js';
import {
  assemble,
  eventBatchFields,
  eventFields,
  f64,
  headBatchFields,
  header,
  heartbeatFields,
  message,
  segmentFields,
  str,
  u16,
  u32,
  u8,
  verdictBatchFields,
  verdictFields,
  watermarkFields,
  type Part,
} from './raw.js';
import { EVENT_BATCH, HEAD_BATCH, HEARTBEAT, KEY4, segment, VERDICT_BATCH, WATERMARK } from './samples.js';

type Decoder = (bytes: Uint8Array) => unknown;

const CODECS: [string, Decoder, Uint8Array][] = [
  ['head batch', decodeHeadBatch, encodeHeadBatch(HEAD_BATCH)],
  ['verdict batch', decodeVerdictBatch, encodeVerdictBatch(VERDICT_BATCH)],
  ['member heartbeat', decodeMemberHeartbeat, encodeMemberHeartbeat(HEARTBEAT)],
  ['edge watermark', decodeEdgeWatermark, encodeEdgeWatermark(WATERMARK)],
  ['event batch', decodeEventBatch, encodeEventBatch(EVENT_BATCH)],
];

/** A head batch whose segment `index` has `over` applied (raw bytes by field name). */
function headWith(over: Record<string, Part>, index = 0): Uint8Array {
  const segments = HEAD_BATCH.segments.map((s, i) => assemble(segmentFields(s), i === index ? over : {}));
  return message(assemble(headBatchFields(HEAD_BATCH, segments)));
}
function verdictsWith(over: Record<string, Part>, index = 0): Uint8Array {
  const verdicts = VERDICT_BATCH.verdicts.map((v, i) => assemble(verdictFields(v), i === index ? over : {}));
  return message(assemble(verdictBatchFields(VERDICT_BATCH, verdicts)));
}
function eventsWith(over: Record<string, Part>, index = 0): Uint8Array {
  const events = EVENT_BATCH.events.map((e, i) => assemble(eventFields(e), i === index ? over : {}));
  return message(assemble(eventBatchFields(EVENT_BATCH, events)));
}

describe('header', () => {
  it('rejects a short, foreign, future or unknown message', () => {
    for (const [, decode] of CODECS) {
      expectWireError(() => decode(new Uint8Array(0)), 'WIRE_TRUNCATED', 'header');
      expectWireError(() => decode(Uint8Array.of(0x4c, 0x37, 1)), 'WIRE_TRUNCATED', 'header');
      expectWireError(() => decode(Uint8Array.of(0x4c, 0x38, 1, 1, 0, 0)), 'WIRE_BAD_MAGIC', 'magic');
      expectWireError(() => decode(message(str('{"json":1}'))), 'WIRE_BAD_MAGIC', 'magic');
      expectWireError(() => decode(Uint8Array.of(0x4c, 0x37, 2, 1)), 'WIRE_BAD_VERSION', 'version');
      expectWireError(() => decode(Uint8Array.of(0x4c, 0x37, 0, 1)), 'WIRE_BAD_VERSION', 'version');
      for (const type of [0, 8, 255]) expectWireError(() => decode(Uint8Array.of(0x4c, 0x37, 1, type)), 'WIRE_BAD_TYPE', 'type');
    }
  });

  it('each decoder rejects the other types', () => {
    for (const [name, decode] of CODECS) {
      for (const [other, , bytes] of CODECS) {
        if (other === name) continue;
        const err = expectWireError(() => decode(bytes), 'WIRE_BAD_TYPE', 'type');
        expect(err.message).toContain(other);
      }
    }
  });

  it('messageTypeOf checks magic, version and type', () => {
    CODECS.forEach(([, , bytes], i) => expect(messageTypeOf(bytes)).toBe(i + 1));
    expectWireError(() => messageTypeOf(new Uint8Array(2)), 'WIRE_TRUNCATED');
    expectWireError(() => messageTypeOf(Uint8Array.of(0, 0x37, 1, 1)), 'WIRE_BAD_MAGIC');
    expectWireError(() => messageTypeOf(Uint8Array.of(0x4c, 0x37, 9, 1)), 'WIRE_BAD_VERSION');
    expectWireError(() => messageTypeOf(Uint8Array.of(0x4c, 0x37, 1, 8)), 'WIRE_BAD_TYPE');
  });

  it('rejects input that is not a Uint8Array with a WireError', () => {
    for (const [, decode] of CODECS) {
      for (const junk of [undefined, null, 'L7', [0x4c, 0x37, 1, 1], new ArrayBuffer(8)]) {
        expectWireError(() => decode(junk as unknown as Uint8Array), 'WIRE_BAD_FIELD');
      }
    }
    expectWireError(() => messageTypeOf(null as unknown as Uint8Array), 'WIRE_BAD_FIELD');
  });
});

describe('sizes', () => {
  it('rejects every proper prefix of every message type as truncated', () => {
    for (const [name, decode, bytes] of CODECS) {
      for (let n = 0; n < bytes.length; n++) {
        let caught: unknown;
        try {
          decode(bytes.subarray(0, n));
        } catch (err) {
          caught = err;
        }
        expect(caught, `${name} prefix ${n}`).toBeInstanceOf(WireError);
        expect((caught as WireError).code, `${name} prefix ${n}`).toBe('WIRE_TRUNCATED');
      }
    }
  });

  it('rejects trailing bytes', () => {
    for (const [, decode, bytes] of CODECS) {
      for (const extra of [1, 7]) {
        const longer = new Uint8Array(bytes.length + extra);
        longer.set(bytes);
        const err = expectWireError(() => decode(longer), 'WIRE_TRAILING_BYTES', undefined);
        expect(err.field).toBeUndefined();
        expect(err.offset).toBe(bytes.length);
      }
    }
  });

  it('rejects input over MAX_MESSAGE_BYTES before looking at it', () => {
    const big = new Uint8Array(MAX_MESSAGE_BYTES + 1);
    for (const [, decode, bytes] of CODECS) {
      big.set(bytes);
      expectWireError(() => decode(big), 'WIRE_TOO_LARGE');
    }
  });

  it('names the field, the length and the offset of a length that runs past the end', () => {
    const left = 300;
    const bytes = headWith({ payload: [...u16(900), ...new Array<number>(left).fill(0)] }, 2);
    const err = expectWireError(() => decodeHeadBatch(bytes), 'WIRE_TRUNCATED', 'segments[2].payload');
    expect(err.offset).toBe(bytes.length - left);
    expect(err.message).toBe(`head batch: segments[2].payload: length 900 exceeds the ${left} bytes left at offset ${bytes.length - left}`);
  });

  it("rejects a verdict whose flags say a start follows when the message ends there", () => {
    const bytes = verdictsWith({ flags: u8(8) }, 2);
    const err = expectWireError(() => decodeVerdictBatch(bytes), 'WIRE_TRUNCATED', 'verdicts[2].start.origIsLow');
    expect(err.offset).toBe(bytes.length);
  });

  it('rejects a count larger than the items that follow', () => {
    const bytes = message(assemble(headBatchFields(HEAD_BATCH), { count: u16(4) }));
    expectWireError(() => decodeHeadBatch(bytes), 'WIRE_TRUNCATED', 'segments[3].zone');
  });
});

describe('bad fields', () => {
  const KEY14 = KEY4 + 'x';
  const cases: [string, Decoder, Uint8Array, WireErrorCode, string][] = [
    // head batch
    ['empty edge id', decodeHeadBatch, message(assemble(headBatchFields(HEAD_BATCH), { edge: [0] })), 'WIRE_BAD_FIELD', 'edge'],
    ['65-char edge id', decodeHeadBatch, message(assemble(headBatchFields(HEAD_BATCH), { edge: str('e'.repeat(65)) })), 'WIRE_BAD_FIELD', 'edge'],
    ['edge id with a dot', decodeHeadBatch, message(assemble(headBatchFields(HEAD_BATCH), { edge: str('edge.1') })), 'WIRE_BAD_FIELD', 'edge'],
    ['4097 segments', decodeHeadBatch, message(assemble(headBatchFields(HEAD_BATCH), { count: u16(4097) })), 'WIRE_BAD_FIELD', 'segments'],
    ['watermarkNsec 1e9', decodeHeadBatch, message(assemble(headBatchFields(HEAD_BATCH), { watermarkNsec: u32(1e9) })), 'WIRE_BAD_FIELD', 'watermarkNsec'],
    ['key length 14', decodeHeadBatch, headWith({ key: str(KEY14) }), 'WIRE_BAD_FIELD', 'segments[0].key'],
    ['key length 0', decodeHeadBatch, headWith({ key: [0] }), 'WIRE_BAD_FIELD', 'segments[0].key'],
    ['key protocol 1 (ICMP)', decodeHeadBatch, headWith({ key: str(String.fromCharCode(1) + KEY4.slice(1)) }), 'WIRE_BAD_FIELD', 'segments[0].key'],
    ['direction 2', decodeHeadBatch, headWith({ direction: u8(2) }, 1), 'WIRE_BAD_FIELD', 'segments[1].direction'],
    ['counter 0', decodeHeadBatch, headWith({ counter: u16(0) }), 'WIRE_BAD_FIELD', 'segments[0].counter'],
    ['undefined segment flag', decodeHeadBatch, headWith({ flags: u8(16) }), 'WIRE_BAD_FIELD', 'segments[0].flags'],
    ['tsNsec 1e9', decodeHeadBatch, headWith({ tsNsec: u32(1e9) }, 2), 'WIRE_BAD_FIELD', 'segments[2].tsNsec'],
    // verdict batch
    ['worker id with a space', decodeVerdictBatch, message(assemble(verdictBatchFields(VERDICT_BATCH), { worker: str('w 1') })), 'WIRE_BAD_FIELD', 'worker'],
    ['4097 verdicts', decodeVerdictBatch, message(assemble(verdictBatchFields(VERDICT_BATCH), { count: u16(4097) })), 'WIRE_BAD_FIELD', 'verdicts'],
    ['verdict key length 38', decodeVerdictBatch, verdictsWith({ key: str(KEY14.repeat(3).slice(0, 38)) }), 'WIRE_BAD_FIELD', 'verdicts[0].key'],
    ['l7 with a space', decodeVerdictBatch, verdictsWith({ l7: str('a b') }, 1), 'WIRE_BAD_FIELD', 'verdicts[1].l7'],
    ['l7 with DEL', decodeVerdictBatch, verdictsWith({ l7: str('http\x7f') }), 'WIRE_BAD_FIELD', 'verdicts[0].l7'],
    ['l7 with a byte over 0x7f', decodeVerdictBatch, verdictsWith({ l7: str('caf\xe9') }), 'WIRE_BAD_FIELD', 'verdicts[0].l7'],
    ['empty decidedBy', decodeVerdictBatch, verdictsWith({ decidedBy: [0] }), 'WIRE_BAD_FIELD', 'verdicts[0].decidedBy'],
    ['verdict flags 16', decodeVerdictBatch, verdictsWith({ flags: u8(16) }, 2), 'WIRE_BAD_FIELD', 'verdicts[2].flags'],
    ['start origIsLow 2', decodeVerdictBatch, verdictsWith({ startOrigIsLow: u8(2) }), 'WIRE_BAD_FIELD', 'verdicts[0].start.origIsLow'],
    ['start firstNsec 1e9', decodeVerdictBatch, verdictsWith({ startFirstNsec: u32(1e9) }, 1), 'WIRE_BAD_FIELD', 'verdicts[1].start.firstNsec'],
    ['verdict flags 0x81', decodeVerdictBatch, verdictsWith({ flags: u8(0x81) }), 'WIRE_BAD_FIELD', 'verdicts[0].flags'],
    // member heartbeat
    ['id with a star', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { id: str('w*') })), 'WIRE_BAD_FIELD', 'id'],
    ['role 0', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { role: u8(0) })), 'WIRE_BAD_FIELD', 'role'],
    ['role 3', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { role: u8(3) })), 'WIRE_BAD_FIELD', 'role'],
    ['timeMs NaN', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { timeMs: f64(NaN) })), 'WIRE_BAD_FIELD', 'timeMs'],
    ['timeMs Infinity', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { timeMs: f64(Infinity) })), 'WIRE_BAD_FIELD', 'timeMs'],
    ['startedMs negative', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { startedMs: f64(-1) })), 'WIRE_BAD_FIELD', 'startedMs'],
    ['decided fractional', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { decided: f64(1.5) })), 'WIRE_BAD_FIELD', 'decided'],
    ['decided 2^53', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { decided: f64(2 ** 53) })), 'WIRE_BAD_FIELD', 'decided'],
    ['decided negative', decodeMemberHeartbeat, message(assemble(heartbeatFields(HEARTBEAT), { decided: f64(-3) })), 'WIRE_BAD_FIELD', 'decided'],
    // edge watermark
    ['watermark tsNsec 1e9', decodeEdgeWatermark, message(assemble(watermarkFields(WATERMARK), { tsNsec: u32(1e9) })), 'WIRE_BAD_FIELD', 'tsNsec'],
    ['watermark tsNsec 2^32-1', decodeEdgeWatermark, message(assemble(watermarkFields(WATERMARK), { tsNsec: u32(0xffffffff) })), 'WIRE_BAD_FIELD', 'tsNsec'],
    ['done flags 2', decodeEdgeWatermark, message(assemble(watermarkFields(WATERMARK), { done: u8(2) })), 'WIRE_BAD_FIELD', 'done'],
    ['watermark edge with a gt', decodeEdgeWatermark, message(assemble(watermarkFields(WATERMARK), { edge: str('a>') })), 'WIRE_BAD_FIELD', 'edge'],
    // event batch
    ['event worker empty', decodeEventBatch, message(assemble(eventBatchFields(EVENT_BATCH), { worker: [0] })), 'WIRE_BAD_FIELD', 'worker'],
    ['origIsLow flags 4', decodeEventBatch, eventsWith({ origIsLow: u8(4) }), 'WIRE_BAD_FIELD', 'events[0].origIsLow'],
    ['event key protocol 0', decodeEventBatch, eventsWith({ key: str('\0' + KEY4.slice(1)) }), 'WIRE_BAD_FIELD', 'events[0].key'],
    ['event l7 with a tab', decodeEventBatch, eventsWith({ l7: str('a\tb') }, 1), 'WIRE_BAD_FIELD', 'events[1].l7'],
    ['firstNsec 1e9', decodeEventBatch, eventsWith({ firstNsec: u32(1e9) }), 'WIRE_BAD_FIELD', 'events[0].firstNsec'],
    ['33 edges', decodeEventBatch, eventsWith({ edgeCount: u8(33) }), 'WIRE_BAD_FIELD', 'events[0].edges'],
    ['an edge name with a dot', decodeEventBatch, eventsWith({ edges: [...str('edge-1'), ...str('edge.2')] }), 'WIRE_BAD_FIELD', 'events[0].edges[1]'],
    ['an empty edge name', decodeEventBatch, eventsWith({ edges: [...str('edge-1'), 0] }), 'WIRE_BAD_FIELD', 'events[0].edges[1]'],
  ];

  it.each(cases)('%s', (_, decode, bytes, code, field) => {
    const err = expectWireError(() => decode(bytes), code, field);
    expect(err.offset).toBeGreaterThanOrEqual(4);
    expect(err.offset).toBeLessThan(bytes.length);
    expect(err.message.startsWith(`${err.message.split(':')[0]}: ${field}: `)).toBe(true);
  });

  it('points the offset at the offending byte', () => {
    // header 4 + edge (1 + 6) + partition 2 + batchSeq 4 + watermark 8 + count 2 = 27: segment 0's zone; its key length byte at 31.
    expect(expectWireError(() => decodeHeadBatch(headWith({ key: str(KEY14) })), 'WIRE_BAD_FIELD').offset).toBe(31);
    expect(expectWireError(() => decodeHeadBatch(headWith({ key: str('\x02' + KEY4.slice(1)) })), 'WIRE_BAD_FIELD').offset).toBe(32);
    // The '.' of 'edge.1' is byte 4 of the name, after the header and the length byte.
    expect(expectWireError(() => decodeHeadBatch(message(assemble(headBatchFields(HEAD_BATCH), { edge: str('edge.1') }))), 'WIRE_BAD_FIELD').offset).toBe(9);
  });

  it('still accepts the unmodified raw messages (the cases differ in one field only)', () => {
    expect(decodeHeadBatch(headWith({}))).toEqual(HEAD_BATCH);
    expect(decodeVerdictBatch(verdictsWith({}))).toEqual(VERDICT_BATCH);
    expect(decodeEventBatch(eventsWith({}))).toEqual(EVENT_BATCH);
    expect(decodeHeadBatch(headWith({ flags: u8(3), direction: u8(1), counter: u16(65535) }))).toEqual({
      ...HEAD_BATCH,
      segments: [segment({ flags: 3, direction: 1, counter: 65535 }), ...HEAD_BATCH.segments.slice(1)],
    });
    expect(header(1)).toEqual([0x4c, 0x37, 1, 1]);
  });
});
