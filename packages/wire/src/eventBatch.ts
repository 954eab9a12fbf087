/**
 * Event batch (type 5): decided flows for the events stream.
 *
 *   header(4) | worker: u8 len + bytes | batchSeq u32 | count u16 | event × count
 *   event:    zone u32 | key: u8 len (13|37) + bytes | flags u8 (bit 0: origIsLow)
 *             | l7: u8 len + ASCII | decidedBy: u8 len + ASCII | decidedAtPacket u32
 *             | ruleSetVersion u32 | firstSec u32 | firstNsec u32 (< 1e9)
 *             | edges: u8 count (≤ 32) + (u8 len + bytes) × count
 *
 * The count has the u16 range; MAX_MESSAGE_BYTES bounds a batch in practice.
 */
import { Encoder } from './encoder.js';
import { MAX_EVENT_EDGES, MessageType, NSEC_MAX, U16_MAX } from './format.js';
import { Reader } from './reader.js';
import type { EventBatch, VerdictEvent } from './types.js';

export function encodeEventBatch(batch: EventBatch): Uint8Array {
  const e = new Encoder('event batch', 1024);
  e.object(batch);
  e.header(MessageType.EventBatch);
  e.name('worker', batch.worker);
  e.u32('batchSeq', batch.batchSeq);
  const events = batch.events;
  e.count('events', events, U16_MAX);
  for (let i = 0; i < events.length; i++) {
    const v = events[i]!;
    e.item('events', i);
    e.object(v);
    e.u32('zone', v.zone);
    e.key('key', v.key);
    e.bool('origIsLow', v.origIsLow);
    e.text('l7', v.l7);
    e.text('decidedBy', v.decidedBy);
    e.u32('decidedAtPacket', v.decidedAtPacket);
    e.u32('ruleSetVersion', v.ruleSetVersion);
    e.u32('firstSec', v.firstSec);
    e.u32('firstNsec', v.firstNsec, 0, NSEC_MAX);
    const edges = v.edges;
    e.smallCount('edges', edges, MAX_EVENT_EDGES);
    for (let j = 0; j < edges.length; j++) e.name(`edges[${j}]`, edges[j]!);
  }
  return e.finish();
}

export function decodeEventBatch(bytes: Uint8Array): EventBatch {
  const r = new Reader(bytes, MessageType.EventBatch);
  const worker = r.name('worker');
  const batchSeq = r.u32('batchSeq');
  const n = r.count('events', U16_MAX);
  const events: VerdictEvent[] = [];
  for (let i = 0; i < n; i++) {
    r.item('events', i);
    const zone = r.u32('zone');
    const key = r.key('key');
    const origIsLow = r.bool('origIsLow');
    const l7 = r.text('l7');
    const decidedBy = r.text('decidedBy');
    const decidedAtPacket = r.u32('decidedAtPacket');
    const ruleSetVersion = r.u32('ruleSetVersion');
    const firstSec = r.u32('firstSec');
    const firstNsec = r.u32('firstNsec', 0, NSEC_MAX);
    const edgeCount = r.u8('edges', 0, MAX_EVENT_EDGES);
    const edges: string[] = [];
    for (let j = 0; j < edgeCount; j++) edges.push(r.name(`edges[${j}]`));
    events.push({ zone, key, origIsLow, l7, decidedBy, decidedAtPacket, ruleSetVersion, firstSec, firstNsec, edges });
  }
  r.finish();
  return { worker, batchSeq, events };
}
