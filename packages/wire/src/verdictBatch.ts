/**
 * Verdict batch (type 2): a worker's verdicts for one edge.
 *
 *   header(4) | worker: u8 len + bytes | count u16 (≤ 4096) | verdict × count
 *   verdict:  zone u32 | key: u8 len (13|37) + bytes | generation u32 | l7: u8 len + ASCII
 *             | decidedBy: u8 len + ASCII | decidedAtPacket u32 | mark u32 | ruleSetVersion u32
 *             | epoch u32 | flags u8 (VerdictFlag bits: final, recalled, opener, start follows)
 *             | [start: origIsLow u8 (0|1) | firstSec u32 | firstNsec u32 (< 1e9), when its flag is set]
 */
import { Encoder } from './encoder.js';
import { MAX_VERDICTS_PER_BATCH, MessageType, NSEC_MAX } from './format.js';
import { Reader } from './reader.js';
import type { FlowStart, Verdict, VerdictBatch } from './types.js';

/** The bits of a verdict's flags byte. */
const VerdictFlag = { Final: 1, Recalled: 2, Opener: 4, HasStart: 8 } as const;
const VERDICT_FLAG_BITS = VerdictFlag.Final | VerdictFlag.Recalled | VerdictFlag.Opener | VerdictFlag.HasStart;

export function encodeVerdictBatch(batch: VerdictBatch): Uint8Array {
  const e = new Encoder('verdict batch', 1024);
  e.object(batch);
  e.header(MessageType.VerdictBatch);
  e.name('worker', batch.worker);
  const verdicts = batch.verdicts;
  e.count('verdicts', verdicts, MAX_VERDICTS_PER_BATCH);
  for (let i = 0; i < verdicts.length; i++) {
    const v = verdicts[i]!;
    e.item('verdicts', i);
    e.object(v);
    e.u32('zone', v.zone);
    e.key('key', v.key);
    e.u32('generation', v.generation);
    e.text('l7', v.l7);
    e.text('decidedBy', v.decidedBy);
    e.u32('decidedAtPacket', v.decidedAtPacket);
    e.u32('mark', v.mark);
    e.u32('ruleSetVersion', v.ruleSetVersion);
    e.u32('epoch', v.epoch);
    // A field that is not a boolean is refused by e.bool, with the field's name (a valid one is not written there).
    if (typeof v.final !== 'boolean') e.bool('final', v.final);
    if (typeof v.recalled !== 'boolean') e.bool('recalled', v.recalled);
    if (typeof v.opener !== 'boolean') e.bool('opener', v.opener);
    const start = v.start;
    if (start !== undefined) e.nested('start', start);
    e.flags(
      'flags',
      (v.final ? VerdictFlag.Final : 0) | (v.recalled ? VerdictFlag.Recalled : 0) | (v.opener ? VerdictFlag.Opener : 0) | (start !== undefined ? VerdictFlag.HasStart : 0),
      VERDICT_FLAG_BITS,
    );
    if (start !== undefined) {
      e.bool('start.origIsLow', start.origIsLow);
      e.u32('start.firstSec', start.firstSec);
      e.u32('start.firstNsec', start.firstNsec, 0, NSEC_MAX);
    }
  }
  return e.finish();
}

export function decodeVerdictBatch(bytes: Uint8Array): VerdictBatch {
  const r = new Reader(bytes, MessageType.VerdictBatch);
  const worker = r.name('worker');
  const n = r.count('verdicts', MAX_VERDICTS_PER_BATCH);
  const verdicts: Verdict[] = [];
  for (let i = 0; i < n; i++) {
    r.item('verdicts', i);
    const v: Verdict = {
      zone: r.u32('zone'),
      key: r.key('key'),
      generation: r.u32('generation'),
      l7: r.text('l7'),
      decidedBy: r.text('decidedBy'),
      decidedAtPacket: r.u32('decidedAtPacket'),
      mark: r.u32('mark'),
      ruleSetVersion: r.u32('ruleSetVersion'),
      epoch: r.u32('epoch'),
      final: false,
      recalled: false,
      opener: false,
    };
    const flags = r.flags('flags', VERDICT_FLAG_BITS);
    v.final = (flags & VerdictFlag.Final) !== 0;
    v.recalled = (flags & VerdictFlag.Recalled) !== 0;
    v.opener = (flags & VerdictFlag.Opener) !== 0;
    if (flags & VerdictFlag.HasStart) v.start = readStart(r);
    verdicts.push(v);
  }
  r.finish();
  return { worker, verdicts };
}

function readStart(r: Reader): FlowStart {
  return { origIsLow: r.bool('start.origIsLow'), firstSec: r.u32('start.firstSec'), firstNsec: r.u32('start.firstNsec', 0, NSEC_MAX) };
}
