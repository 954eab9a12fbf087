/**
 * Head batch (type 1): the first packets of undecided flows, from one edge
 * for one partition, with the edge's watermark for that partition.
 *
 *   header(4) | edge: u8 len + bytes | partition u16 | batchSeq u32
 *             | watermarkSec u32 | watermarkNsec u32 (< 1e9) | count u16 | segment × count
 *   segment:  zone u32 | key: u8 len (13|37) + bytes | direction u8 (0|1) | generation u32
 *             | counter u16 (≥ 1) | flags u8 (SegmentFlag bits) | tcpFlags u8 | seq u32 | ack u32
 *             | tsSec u32 | tsNsec u32 (< 1e9) | ipLength u16 | payload: u16 len + bytes
 */
import { Encoder } from './encoder.js';
import { wireError } from './errors.js';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_KEY_LENGTH,
  IPV6_KEY_LENGTH,
  MAX_MESSAGE_BYTES,
  MAX_PAYLOAD,
  MAX_SEGMENTS_PER_BATCH,
  MessageType,
  NSEC_MAX,
} from './format.js';
import { Reader } from './reader.js';
import { SegmentFlag, type Direction, type HeadBatch, type HeadSegment } from './types.js';

const SEGMENT_FLAG_BITS = SegmentFlag.Resent | SegmentFlag.EdgeSawBoth | SegmentFlag.Watched | SegmentFlag.Pickup;
const WHAT = 'head batch';
/** A segment's bytes besides the key's and the payload's. */
const SEGMENT_FIXED_BYTES = 34;
/**
 * An edge keeps one writer per partition (1024 by default), so writers
 * start small and double only where the traffic needs it.
 */
const INITIAL_CAPACITY = 1024;

/**
 * Builds head batches on the edge's hot path: segments are written straight
 * into one reused buffer (no object per segment), and the batch's fixed
 * prefix (header, edge, partition) is written once.
 */
export class HeadBatchWriter {
  private readonly enc: Encoder;
  /** Where batchSeq, the watermark and the segment count go once the batch is finished. */
  private readonly batchSeqAt: number;
  private readonly watermarkAt: number;
  private readonly countAt: number;
  /** Length of the fixed prefix: an empty batch. */
  private readonly prefixLength: number;
  private segments = 0;

  constructor(
    readonly edge: string,
    readonly partition: number,
  ) {
    const enc = new Encoder(WHAT, INITIAL_CAPACITY);
    enc.header(MessageType.HeadBatch);
    enc.name('edge', edge);
    enc.u16('partition', partition);
    this.batchSeqAt = enc.length;
    enc.u32('batchSeq', 0);
    this.watermarkAt = enc.length;
    enc.u32('watermarkSec', 0);
    enc.u32('watermarkNsec', 0);
    this.countAt = enc.length;
    enc.u16('segments', 0);
    this.prefixLength = enc.length;
    this.enc = enc;
  }

  /** Segments added since the last finish or reset. */
  get count(): number {
    return this.segments;
  }

  /** Bytes the finished message would have. */
  get byteLength(): number {
    return this.enc.length;
  }

  /**
   * Appends a segment; payload is copied. Throws WIRE_BAD_FIELD for a bad
   * value, WIRE_TOO_LARGE when the batch is full (MAX_SEGMENTS_PER_BATCH
   * segments or MAX_MESSAGE_BYTES); either way the writer is left as it was.
   */
  add(
    zone: number,
    key: string,
    direction: number,
    generation: number,
    counter: number,
    flags: number,
    tcpFlags: number,
    seq: number,
    ack: number,
    tsSec: number,
    tsNsec: number,
    ipLength: number,
    payload: Uint8Array,
  ): void {
    // The hot path: one combined check of every value (`(v >>> 0) === v`
    // holds exactly for u32 integers, `(v & m) === v` for the smaller
    // ranges), then plain byte stores. When the check fails, `explain`
    // re-validates field by field to name the culprit.
    const keyLength = typeof key === 'string' ? key.length : 0;
    const payloadLength = payload instanceof Uint8Array ? payload.length : MAX_PAYLOAD + 1;
    const valid =
      (zone >>> 0) === zone &&
      (keyLength === IPV4_KEY_LENGTH || keyLength === IPV6_KEY_LENGTH) &&
      (key.charCodeAt(0) === IPPROTO_TCP || key.charCodeAt(0) === IPPROTO_UDP) &&
      (direction === 0 || direction === 1) &&
      (generation >>> 0) === generation &&
      (counter & 0xffff) === counter &&
      counter !== 0 &&
      (flags & SEGMENT_FLAG_BITS) === flags &&
      (tcpFlags & 0xff) === tcpFlags &&
      (seq >>> 0) === seq &&
      (ack >>> 0) === ack &&
      (tsSec >>> 0) === tsSec &&
      (tsNsec >>> 0) === tsNsec &&
      tsNsec <= NSEC_MAX &&
      (ipLength & 0xffff) === ipLength &&
      payloadLength <= MAX_PAYLOAD;
    if (!valid) this.explain(zone, key, direction, generation, counter, flags, tcpFlags, seq, ack, tsSec, tsNsec, ipLength, payload);
    if (this.segments >= MAX_SEGMENTS_PER_BATCH) {
      throw wireError('WIRE_TOO_LARGE', WHAT, 'segments', undefined, `the batch already holds ${MAX_SEGMENTS_PER_BATCH} segments`);
    }
    const e = this.enc;
    const size = SEGMENT_FIXED_BYTES + keyLength + payloadLength;
    if (e.length + size > MAX_MESSAGE_BYTES) {
      throw wireError('WIRE_TOO_LARGE', WHAT, 'segments', undefined, `segment ${this.segments} would take the message past ${MAX_MESSAGE_BYTES} bytes`);
    }
    e.reserve(size);
    const b = e.bytes;
    let p = e.length;
    put32(b, p, zone);
    b[p + 4] = keyLength;
    p += 5;
    for (let i = 0; i < keyLength; i++) {
      const c = key.charCodeAt(i);
      // Nothing is committed until e.length moves, so throwing here leaves the batch as it was.
      if (c > 0xff) this.explain(zone, key, direction, generation, counter, flags, tcpFlags, seq, ack, tsSec, tsNsec, ipLength, payload);
      b[p + i] = c;
    }
    p += keyLength;
    b[p] = direction;
    put32(b, p + 1, generation);
    b[p + 5] = counter >>> 8;
    b[p + 6] = counter;
    b[p + 7] = flags;
    b[p + 8] = tcpFlags;
    put32(b, p + 9, seq);
    put32(b, p + 13, ack);
    put32(b, p + 17, tsSec);
    put32(b, p + 21, tsNsec);
    b[p + 25] = ipLength >>> 8;
    b[p + 26] = ipLength;
    b[p + 27] = payloadLength >>> 8;
    b[p + 28] = payloadLength;
    p += 29;
    // TypedArray.set has a fixed cost that dominates for the short payloads of a flow head.
    if (payloadLength > 64) b.set(payload, p);
    else for (let i = 0; i < payloadLength; i++) b[p + i] = payload[i]!;
    e.length = p + payloadLength;
    this.segments++;
  }

  /** The slow path of `add`: validates field by field and throws the WireError naming the first bad one. */
  private explain(
    zone: number,
    key: string,
    direction: number,
    generation: number,
    counter: number,
    flags: number,
    tcpFlags: number,
    seq: number,
    ack: number,
    tsSec: number,
    tsNsec: number,
    ipLength: number,
    payload: Uint8Array,
  ): never {
    const e = this.enc;
    const start = e.length;
    e.item('segments', this.segments);
    try {
      // Writes past e.length are scratch: the length is restored below.
      e.u32('zone', zone);
      e.key('key', key);
      e.u8('direction', direction, 0, 1);
      e.u32('generation', generation);
      e.u16('counter', counter, 1);
      e.flags('flags', flags, SEGMENT_FLAG_BITS);
      e.u8('tcpFlags', tcpFlags);
      e.u32('seq', seq);
      e.u32('ack', ack);
      e.u32('tsSec', tsSec);
      e.u32('tsNsec', tsNsec, 0, NSEC_MAX);
      e.u16('ipLength', ipLength);
      e.payload('payload', payload);
    } finally {
      e.length = start;
      e.topLevel();
    }
    // Unreachable while the fast check and the field checks agree.
    throw wireError('WIRE_BAD_FIELD', WHAT, `segments[${this.segments}]`, undefined, 'invalid segment');
  }

  /** Appends a segment given as an object (resends, tests). */
  addSegment(s: HeadSegment): void {
    if (typeof s !== 'object' || s === null) {
      throw wireError('WIRE_BAD_FIELD', WHAT, `segments[${this.segments}]`, undefined, 'not an object');
    }
    this.add(s.zone, s.key, s.direction, s.generation, s.counter, s.flags, s.tcpFlags, s.seq, s.ack, s.tsSec, s.tsNsec, s.ipLength, s.payload);
  }

  /**
   * The finished message (a copy the caller may keep); the writer is empty
   * again. The watermark promises that every segment of this partition
   * stamped at or before it is in this batch or an earlier one. A bad
   * argument throws WIRE_BAD_FIELD and leaves the batch as it was.
   */
  finish(batchSeq: number, watermarkSec: number, watermarkNsec: number): Uint8Array {
    const e = this.enc;
    e.topLevel();
    // The prefix's placeholders are rewritten by every finish, so a throw half-way leaves nothing wrong behind.
    e.patch32('batchSeq', this.batchSeqAt, batchSeq);
    e.patch32('watermarkSec', this.watermarkAt, watermarkSec);
    e.patch32('watermarkNsec', this.watermarkAt + 4, watermarkNsec, NSEC_MAX);
    e.patch16(this.countAt, this.segments);
    const message = e.copy();
    this.reset();
    return message;
  }

  /** Drops the segments added so far. */
  reset(): void {
    this.enc.length = this.prefixLength;
    this.segments = 0;
  }
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

export function encodeHeadBatch(batch: HeadBatch): Uint8Array {
  if (typeof batch !== 'object' || batch === null) throw wireError('WIRE_BAD_FIELD', WHAT, undefined, undefined, 'not an object');
  const writer = new HeadBatchWriter(batch.edge, batch.partition);
  const segments = batch.segments;
  if (!Array.isArray(segments)) throw wireError('WIRE_BAD_FIELD', WHAT, 'segments', undefined, 'not an array');
  if (segments.length > MAX_SEGMENTS_PER_BATCH) {
    throw wireError('WIRE_TOO_LARGE', WHAT, 'segments', undefined, `${segments.length} segments exceed the limit of ${MAX_SEGMENTS_PER_BATCH}`);
  }
  for (const s of segments) writer.addSegment(s);
  return writer.finish(batch.batchSeq, batch.watermarkSec, batch.watermarkNsec);
}

/** Decodes a head batch; the payloads are views into `bytes` (no copy), valid as long as `bytes` is. */
export function decodeHeadBatch(bytes: Uint8Array): HeadBatch {
  const r = new Reader(bytes, MessageType.HeadBatch);
  const edge = r.name('edge');
  const partition = r.u16('partition');
  const batchSeq = r.u32('batchSeq');
  const watermarkSec = r.u32('watermarkSec');
  const watermarkNsec = r.u32('watermarkNsec', 0, NSEC_MAX);
  const n = r.count('segments', MAX_SEGMENTS_PER_BATCH);
  const segments: HeadSegment[] = [];
  for (let i = 0; i < n; i++) {
    r.item('segments', i);
    // Property order is evaluation order: the reads happen in wire order.
    segments.push({
      zone: r.u32('zone'),
      key: r.key('key'),
      direction: r.u8('direction', 0, 1) as Direction,
      generation: r.u32('generation'),
      counter: r.u16('counter', 1),
      flags: r.flags('flags', SEGMENT_FLAG_BITS),
      tcpFlags: r.u8('tcpFlags'),
      seq: r.u32('seq'),
      ack: r.u32('ack'),
      tsSec: r.u32('tsSec'),
      tsNsec: r.u32('tsNsec', 0, NSEC_MAX),
      ipLength: r.u16('ipLength'),
      payload: r.payload('payload'),
    });
  }
  r.finish();
  return { edge, partition, batchSeq, watermarkSec, watermarkNsec, segments };
}
