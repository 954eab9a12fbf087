/** The edge's hot-path writer: reuse, sizes, atomic adds, batch limits. */
import { describe, expect, it } from 'vitest';
import { decodeHeadBatch, encodeHeadBatch, HeadBatchWriter, MAX_MESSAGE_BYTES, MAX_PAYLOAD, MAX_SEGMENTS_PER_BATCH, WireError, type HeadSegment } from '@l7mesh/wire';
import { HEAD_BATCH, KEY6, segment } from './samples.js';

function addAll(w: HeadBatchWriter, segments: HeadSegment[]): void {
  for (const s of segments) w.add(s.zone, s.key, s.direction, s.generation, s.counter, s.flags, s.tcpFlags, s.seq, s.ack, s.tsSec, s.tsNsec, s.ipLength, s.payload);
}

function thrown(f: () => unknown): WireError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(WireError);
    return err as WireError;
  }
  throw new Error('expected a WireError');
}

describe('HeadBatchWriter', () => {
  it('writes the same bytes as encodeHeadBatch, through add and addSegment', () => {
    const w = new HeadBatchWriter(HEAD_BATCH.edge, HEAD_BATCH.partition);
    expect(w.edge).toBe(HEAD_BATCH.edge);
    expect(w.partition).toBe(HEAD_BATCH.partition);
    addAll(w, HEAD_BATCH.segments.slice(0, 2));
    w.addSegment(HEAD_BATCH.segments[2]!);
    expect(w.count).toBe(3);
    expect(w.finish(HEAD_BATCH.batchSeq, HEAD_BATCH.watermarkSec, HEAD_BATCH.watermarkNsec)).toEqual(encodeHeadBatch(HEAD_BATCH));
  });

  it('byteLength is the finished length at every stage; finish empties the writer', () => {
    const w = new HeadBatchWriter('edge-1', 9);
    const emptyLength = w.byteLength;
    expect(w.finish(0, 0, 0).length).toBe(emptyLength);
    for (let n = 0; n < 5; n++) {
      addAll(w, HEAD_BATCH.segments.slice(0, n % 3 + 1));
      const expected = w.byteLength;
      const count = w.count;
      const bytes = w.finish(n, 0, 0);
      expect(bytes.length).toBe(expected);
      expect(decodeHeadBatch(bytes).segments.length).toBe(count);
      expect(w.count).toBe(0);
      expect(w.byteLength).toBe(emptyLength);
    }
  });

  it('gives independent messages when reused, and copies payloads on add', () => {
    const w = new HeadBatchWriter('edge-1', 1);
    const payload = new Uint8Array([1, 2, 3]);
    w.addSegment(segment({ payload }));
    payload[0] = 99;
    const first = w.finish(1, 0, 0);
    const firstCopy = first.slice();
    // Enough data to make the buffer grow: the first message must not change.
    for (let i = 0; i < 40; i++) w.addSegment(segment({ key: KEY6, counter: i + 1, payload: new Uint8Array(1000).fill(i) }));
    const second = w.finish(2, 0, 0);
    expect(first).toEqual(firstCopy);
    expect(decodeHeadBatch(first).segments[0]!.payload).toEqual(new Uint8Array([1, 2, 3]));
    expect(decodeHeadBatch(first).batchSeq).toBe(1);
    const back = decodeHeadBatch(second);
    expect(back.batchSeq).toBe(2);
    expect(back.segments.length).toBe(40);
    expect(back.segments[39]!.payload[999]).toBe(39);
  });

  it('reset drops the segments', () => {
    const w = new HeadBatchWriter('e', 0);
    addAll(w, HEAD_BATCH.segments);
    w.reset();
    expect(w.count).toBe(0);
    expect(decodeHeadBatch(w.finish(5, 6, 7))).toEqual({ edge: 'e', partition: 0, batchSeq: 5, watermarkSec: 6, watermarkNsec: 7, segments: [] });
  });

  it('leaves the writer unchanged when an add fails half-way', () => {
    const w = new HeadBatchWriter('e', 0);
    w.addSegment(segment());
    const length = w.byteLength;
    const err = thrown(() => w.addSegment(segment({ payload: new Uint8Array(MAX_PAYLOAD + 1) })));
    expect(err.code).toBe('WIRE_BAD_FIELD');
    expect(err.field).toBe('segments[1].payload');
    expect(thrown(() => w.addSegment(segment({ tsNsec: 1e9 }))).field).toBe('segments[1].tsNsec');
    expect(w.byteLength).toBe(length);
    expect(w.count).toBe(1);
    expect(decodeHeadBatch(w.finish(0, 0, 0)).segments).toEqual([segment()]);
  });

  it('a bad batchSeq or watermark leaves the batch intact', () => {
    const w = new HeadBatchWriter('e', 0);
    w.addSegment(segment());
    expect(thrown(() => w.finish(-1, 0, 0)).field).toBe('batchSeq');
    expect(thrown(() => w.finish(2 ** 32, 0, 0)).code).toBe('WIRE_BAD_FIELD');
    expect(thrown(() => w.finish(1, 1.5, 0)).field).toBe('watermarkSec');
    expect(thrown(() => w.finish(1, 0, 1e9)).field).toBe('watermarkNsec');
    const back = decodeHeadBatch(w.finish(3, 0xffffffff, 999_999_999));
    expect(back.segments.length).toBe(1);
    expect([back.batchSeq, back.watermarkSec, back.watermarkNsec]).toEqual([3, 0xffffffff, 999_999_999]);
  });

  it(`refuses segment ${MAX_SEGMENTS_PER_BATCH + 1} with WIRE_TOO_LARGE`, () => {
    const w = new HeadBatchWriter('e', 0);
    const s = segment({ payload: new Uint8Array(0) });
    for (let i = 0; i < MAX_SEGMENTS_PER_BATCH; i++) w.addSegment(s);
    const err = thrown(() => w.addSegment(s));
    expect(err.code).toBe('WIRE_TOO_LARGE');
    expect(err.field).toBe('segments');
    expect(decodeHeadBatch(w.finish(0, 0, 0)).segments.length).toBe(MAX_SEGMENTS_PER_BATCH);
  });

  it('refuses a segment that would take the message past MAX_MESSAGE_BYTES', () => {
    const w = new HeadBatchWriter('e', 0);
    const big = segment({ payload: new Uint8Array(MAX_PAYLOAD) });
    let added = 0;
    let err: WireError | undefined;
    for (;;) {
      const before = w.byteLength;
      try {
        w.addSegment(big);
        added++;
      } catch (e) {
        err = e as WireError;
        expect(w.byteLength).toBe(before);
        break;
      }
    }
    expect(err).toBeInstanceOf(WireError);
    expect(err!.code).toBe('WIRE_TOO_LARGE');
    expect(added).toBe(15);
    const bytes = w.finish(0, 0, 0);
    expect(bytes.length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(decodeHeadBatch(bytes).segments.length).toBe(15);
  });

  it('validates edge and partition on construction', () => {
    expect(thrown(() => new HeadBatchWriter('a.b', 0)).field).toBe('edge');
    expect(thrown(() => new HeadBatchWriter('', 0)).field).toBe('edge');
    expect(thrown(() => new HeadBatchWriter('x'.repeat(65), 0)).field).toBe('edge');
    expect(thrown(() => new HeadBatchWriter('e', 65536)).field).toBe('partition');
    expect(thrown(() => new HeadBatchWriter('e', 1.5)).code).toBe('WIRE_BAD_FIELD');
  });

});
