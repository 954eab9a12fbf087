/**
 * Messages assembled byte by byte from the layout in the brief, without the
 * package's encoder: the tests check the encoders against them and corrupt
 * single fields of them.
 */
export type Part = number[];

export const u8 = (v: number): Part => [v & 0xff];
export const u16 = (v: number): Part => [(v >>> 8) & 0xff, v & 0xff];
export const u32 = (v: number): Part => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
export function f64(v: number): Part {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v);
  return [...b];
}
/** u8 length + one byte per char (also for keys). */
export const str = (s: string): Part => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
export const bytes16 = (b: ArrayLike<number>): Part => [...u16(b.length), ...Array.from(b)];
export const header = (type: number): Part => [0x4c, 0x37, 1, type];

/** Named fields in wire order; `over` replaces a field's bytes by name. */
export type Fields = [string, Part][];
export function assemble(fields: Fields, over: Record<string, Part> = {}): Part {
  for (const name of Object.keys(over)) {
    if (!fields.some(([n]) => n === name)) throw new Error(`no field ${name}`);
  }
  return fields.flatMap(([name, part]) => over[name] ?? part);
}

export const message = (...parts: Part[]): Uint8Array => Uint8Array.from(parts.flat());

import type { EdgeWatermark, EventBatch, HeadBatch, HeadSegment, MemberHeartbeat, Verdict, VerdictBatch, VerdictEvent } from '@l7mesh/wire';

export const segmentFields = (s: HeadSegment): Fields => [
  ['zone', u32(s.zone)],
  ['key', str(s.key)],
  ['direction', u8(s.direction)],
  ['generation', u32(s.generation)],
  ['counter', u16(s.counter)],
  ['flags', u8(s.flags)],
  ['tcpFlags', u8(s.tcpFlags)],
  ['seq', u32(s.seq)],
  ['ack', u32(s.ack)],
  ['tsSec', u32(s.tsSec)],
  ['tsNsec', u32(s.tsNsec)],
  ['ipLength', u16(s.ipLength)],
  ['payload', bytes16(s.payload)],
];

/** A head batch; `segments` are the segments' bytes (assembled, possibly corrupted). */
export const headBatchFields = (b: HeadBatch, segments: Part[] = b.segments.map((s) => assemble(segmentFields(s)))): Fields => [
  ['header', header(1)],
  ['edge', str(b.edge)],
  ['partition', u16(b.partition)],
  ['batchSeq', u32(b.batchSeq)],
  ['watermarkSec', u32(b.watermarkSec)],
  ['watermarkNsec', u32(b.watermarkNsec)],
  ['count', u16(segments.length)],
  ['segments', segments.flat()],
];

export const verdictFields = (v: Verdict): Fields => [
  ['zone', u32(v.zone)],
  ['key', str(v.key)],
  ['generation', u32(v.generation)],
  ['l7', str(v.l7)],
  ['decidedBy', str(v.decidedBy)],
  ['decidedAtPacket', u32(v.decidedAtPacket)],
  ['mark', u32(v.mark)],
  ['ruleSetVersion', u32(v.ruleSetVersion)],
  ['epoch', u32(v.epoch)],
  ['flags', u8((v.final ? 1 : 0) | (v.recalled ? 2 : 0) | (v.opener ? 4 : 0) | (v.start ? 8 : 0))],
  // The start, when flags bit 3 says it follows (else these fields are empty).
  ['startOrigIsLow', v.start ? u8(v.start.origIsLow ? 1 : 0) : []],
  ['startFirstSec', v.start ? u32(v.start.firstSec) : []],
  ['startFirstNsec', v.start ? u32(v.start.firstNsec) : []],
];

export const verdictBatchFields = (b: VerdictBatch, verdicts: Part[] = b.verdicts.map((v) => assemble(verdictFields(v)))): Fields => [
  ['header', header(2)],
  ['worker', str(b.worker)],
  ['count', u16(verdicts.length)],
  ['verdicts', verdicts.flat()],
];

export const heartbeatFields = (h: MemberHeartbeat): Fields => [
  ['header', header(3)],
  ['id', str(h.id)],
  ['role', u8(h.role)],
  ['timeMs', f64(h.timeMs)],
  ['startedMs', f64(h.startedMs)],
  ['ruleSetVersion', u32(h.ruleSetVersion)],
  ['partitions', u32(h.partitions)],
  ['flowsInProgress', u32(h.flowsInProgress)],
  ['decided', f64(h.decided)],
  ['latencyP50Us', u32(h.latencyP50Us)],
  ['latencyP99Us', u32(h.latencyP99Us)],
];

export const watermarkFields = (w: EdgeWatermark): Fields => [
  ['header', header(4)],
  ['edge', str(w.edge)],
  ['tsSec', u32(w.tsSec)],
  ['tsNsec', u32(w.tsNsec)],
  ['done', u8(w.done ? 1 : 0)],
];

export const eventFields = (e: VerdictEvent): Fields => [
  ['zone', u32(e.zone)],
  ['key', str(e.key)],
  ['origIsLow', u8(e.origIsLow ? 1 : 0)],
  ['l7', str(e.l7)],
  ['decidedBy', str(e.decidedBy)],
  ['decidedAtPacket', u32(e.decidedAtPacket)],
  ['ruleSetVersion', u32(e.ruleSetVersion)],
  ['firstSec', u32(e.firstSec)],
  ['firstNsec', u32(e.firstNsec)],
  ['edgeCount', u8(e.edges.length)],
  ['edges', e.edges.flatMap(str)],
];

export const eventBatchFields = (b: EventBatch, events: Part[] = b.events.map((e) => assemble(eventFields(e)))): Fields => [
  ['header', header(5)],
  ['worker', str(b.worker)],
  ['batchSeq', u32(b.batchSeq)],
  ['count', u16(events.length)],
  ['events', events.flat()],
];
