/**
 * Accounting batch (type 7): an edge's per-interval accounting deltas for the records stream.
 *
 *   header(4) | edge: u8 len + bytes | epochMs f64 (integer) | count u16 (≤ 8192) | delta × count
 *   delta:    seq f64 (integer) | startSec u32 | iface: u8 len (1..64) + ASCII | l7: u8 len + ASCII
 *             | direction u8 (0 in, 1 out) | flows f64 | packets f64 | bytes f64 (safe integers)
 */
import { Encoder } from './encoder.js';
import { wireError } from './errors.js';
import { MAX_RECORDS_PER_BATCH, MessageType } from './format.js';
import { Reader } from './reader.js';
import { checkIfaceLength } from './recordFields.js';
import type { AccountingBatch, AccountingDirection, WireAccountingDelta } from './recordTypes.js';

const WHAT = 'accounting batch';
const DIRECTIONS: readonly AccountingDirection[] = ['in', 'out'];

export function encodeAccountingBatch(batch: AccountingBatch): Uint8Array {
  const e = new Encoder(WHAT, 1024);
  e.object(batch);
  e.header(MessageType.AccountingBatch);
  e.name('edge', batch.edge);
  e.f64('epochMs', batch.epochMs, true);
  const deltas = batch.deltas;
  e.count('deltas', deltas, MAX_RECORDS_PER_BATCH);
  for (let i = 0; i < deltas.length; i++) {
    const d = deltas[i]!;
    e.item('deltas', i);
    e.object(d);
    e.f64('seq', d.seq, true);
    e.u32('startSec', d.startSec);
    checkIfaceLength(WHAT, `deltas[${i}].iface`, d.iface, undefined);
    e.text('iface', d.iface);
    e.text('l7', d.l7);
    const direction = DIRECTIONS.indexOf(d.direction);
    if (direction < 0) throw wireError('WIRE_BAD_FIELD', WHAT, `deltas[${i}].direction`, undefined, `${JSON.stringify(d.direction)} is neither "in" nor "out"`);
    e.u8('direction', direction, 0, 1);
    e.f64('flows', d.flows, true);
    e.f64('packets', d.packets, true);
    e.f64('bytes', d.bytes, true);
    if ((i & 63) === 63) e.checkSize(`deltas[${i}]`);
  }
  return e.finish();
}

export function decodeAccountingBatch(bytes: Uint8Array): AccountingBatch {
  const r = new Reader(bytes, MessageType.AccountingBatch);
  const edge = r.name('edge');
  const epochMs = r.f64('epochMs', true);
  const n = r.count('deltas', MAX_RECORDS_PER_BATCH);
  const deltas: WireAccountingDelta[] = [];
  for (let i = 0; i < n; i++) {
    r.item('deltas', i);
    const seq = r.f64('seq', true);
    const startSec = r.u32('startSec');
    const iface = r.text('iface');
    checkIfaceLength(WHAT, `deltas[${i}].iface`, iface, undefined);
    const l7 = r.text('l7');
    const direction = DIRECTIONS[r.u8('direction', 0, 1)]!;
    deltas.push({ seq, startSec, iface, l7, direction, flows: r.f64('flows', true), packets: r.f64('packets', true), bytes: r.f64('bytes', true) });
  }
  r.finish();
  return { edge, epochMs, deltas };
}
