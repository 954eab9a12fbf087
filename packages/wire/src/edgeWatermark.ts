/**
 * Edge watermark (type 4).
 *
 *   header(4) | edge: u8 len + bytes | tsSec u32 | tsNsec u32 (< 1e9) | flags u8 (bit 0: done)
 */
import { Encoder } from './encoder.js';
import { MessageType, NSEC_MAX } from './format.js';
import { Reader } from './reader.js';
import type { EdgeWatermark } from './types.js';

export function encodeEdgeWatermark(w: EdgeWatermark): Uint8Array {
  const e = new Encoder('edge watermark', 96);
  e.object(w);
  e.header(MessageType.EdgeWatermark);
  e.name('edge', w.edge);
  e.u32('tsSec', w.tsSec);
  e.u32('tsNsec', w.tsNsec, 0, NSEC_MAX);
  e.bool('done', w.done);
  return e.finish();
}

export function decodeEdgeWatermark(bytes: Uint8Array): EdgeWatermark {
  const r = new Reader(bytes, MessageType.EdgeWatermark);
  const w: EdgeWatermark = {
    edge: r.name('edge'),
    tsSec: r.u32('tsSec'),
    tsNsec: r.u32('tsNsec', 0, NSEC_MAX),
    done: r.bool('done'),
  };
  r.finish();
  return w;
}
