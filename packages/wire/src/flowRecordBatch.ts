/**
 * Flow record batch (type 6): an edge's flow records for the records stream.
 *
 *   header(4) | edge: u8 len + bytes | epochMs f64 (integer) | count u16 (≤ 8192) | record × count
 *   record:   seq f64 (integer) | zone u32 | key: u8 len (13|37) + bytes
 *             | flags u8 (bit 0: origIsLow, bit 1: ended, bit 2: decidedBy follows)
 *             | firstSec u32 | firstNsec u32 (< 1e9) | lastSec u32 | lastNsec u32 (< 1e9; last ≥ first)
 *             | origPackets f64 | origBytes f64 | replyPackets f64 | replyBytes f64 (safe integers)
 *             | l7: u8 len + ASCII | [decidedBy: u8 len + ASCII, when bit 2] | mark u32
 *             | ruleSetVersion u32 | iface: u8 len (1..64) + ASCII
 *
 * Counters are float64 integers: a flow's bytes pass 2^32 (a 4 GiB
 * download), and 2^53 is far beyond any flow. An unset flow has no
 * decidedBy; the texts of the wire never are empty, hence the flag.
 */
import { Encoder } from './encoder.js';
import { wireError } from './errors.js';
import { MAX_RECORDS_PER_BATCH, MessageType, NSEC_MAX } from './format.js';
import { Reader } from './reader.js';
import type { FlowRecordBatch, WireFlowRecord } from './recordTypes.js';
import { checkIfaceLength } from './recordFields.js';

const WHAT = 'flow record batch';
const ORIG_IS_LOW = 1;
const ENDED = 2;
const HAS_DECIDED_BY = 4;
const FLAG_BITS = ORIG_IS_LOW | ENDED | HAS_DECIDED_BY;

export function encodeFlowRecordBatch(batch: FlowRecordBatch): Uint8Array {
  const e = new Encoder(WHAT, 4096);
  e.object(batch);
  e.header(MessageType.FlowRecordBatch);
  e.name('edge', batch.edge);
  e.f64('epochMs', batch.epochMs, true);
  const records = batch.records;
  e.count('records', records, MAX_RECORDS_PER_BATCH);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    e.item('records', i);
    e.object(r);
    e.f64('seq', r.seq, true);
    e.u32('zone', r.zone);
    e.key('key', r.key);
    if (typeof r.origIsLow !== 'boolean') e.bool('origIsLow', r.origIsLow);
    if (r.state !== 'live' && r.state !== 'ended') {
      throw wireError('WIRE_BAD_FIELD', WHAT, `records[${i}].state`, undefined, `${JSON.stringify(r.state)} is neither "live" nor "ended"`);
    }
    if (typeof r.decidedBy !== 'string') e.text('decidedBy', r.decidedBy);
    const hasDecidedBy = r.decidedBy.length > 0;
    e.flags('flags', (r.origIsLow ? ORIG_IS_LOW : 0) | (r.state === 'ended' ? ENDED : 0) | (hasDecidedBy ? HAS_DECIDED_BY : 0), FLAG_BITS);
    e.u32('firstSec', r.firstSec);
    e.u32('firstNsec', r.firstNsec, 0, NSEC_MAX);
    e.u32('lastSec', r.lastSec, r.firstSec);
    e.u32('lastNsec', r.lastNsec, r.lastSec === r.firstSec ? r.firstNsec : 0, NSEC_MAX);
    e.f64('origPackets', r.origPackets, true);
    e.f64('origBytes', r.origBytes, true);
    e.f64('replyPackets', r.replyPackets, true);
    e.f64('replyBytes', r.replyBytes, true);
    e.text('l7', r.l7);
    if (hasDecidedBy) e.text('decidedBy', r.decidedBy);
    e.u32('mark', r.mark);
    e.u32('ruleSetVersion', r.ruleSetVersion);
    checkIfaceLength(WHAT, `records[${i}].iface`, r.iface, undefined);
    e.text('iface', r.iface);
    if ((i & 63) === 63) e.checkSize(`records[${i}]`);
  }
  return e.finish();
}

export function decodeFlowRecordBatch(bytes: Uint8Array): FlowRecordBatch {
  const r = new Reader(bytes, MessageType.FlowRecordBatch);
  const edge = r.name('edge');
  const epochMs = r.f64('epochMs', true);
  const n = r.count('records', MAX_RECORDS_PER_BATCH);
  const records: WireFlowRecord[] = [];
  for (let i = 0; i < n; i++) {
    r.item('records', i);
    const seq = r.f64('seq', true);
    const zone = r.u32('zone');
    const key = r.key('key');
    const flags = r.flags('flags', FLAG_BITS);
    const firstSec = r.u32('firstSec');
    const firstNsec = r.u32('firstNsec', 0, NSEC_MAX);
    const lastSec = r.u32('lastSec', firstSec);
    const lastNsec = r.u32('lastNsec', lastSec === firstSec ? firstNsec : 0, NSEC_MAX);
    const origPackets = r.f64('origPackets', true);
    const origBytes = r.f64('origBytes', true);
    const replyPackets = r.f64('replyPackets', true);
    const replyBytes = r.f64('replyBytes', true);
    const l7 = r.text('l7');
    const decidedBy = flags & HAS_DECIDED_BY ? r.text('decidedBy') : '';
    const mark = r.u32('mark');
    const ruleSetVersion = r.u32('ruleSetVersion');
    const iface = r.text('iface');
    checkIfaceLength(WHAT, `records[${i}].iface`, iface, undefined);
    records.push({
      seq,
      zone,
      key,
      origIsLow: (flags & ORIG_IS_LOW) !== 0,
      state: flags & ENDED ? 'ended' : 'live',
      firstSec,
      firstNsec,
      lastSec,
      lastNsec,
      origPackets,
      origBytes,
      replyPackets,
      replyBytes,
      l7,
      decidedBy,
      mark,
      ruleSetVersion,
      iface,
    });
  }
  r.finish();
  return { edge, epochMs, records };
}


