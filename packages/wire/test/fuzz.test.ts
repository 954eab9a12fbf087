/**
 * Mutated and random inputs: every decoder either returns or throws a
 * WireError, and whatever it accepts re-encodes to the same bytes (the
 * format has one encoding per value) and decodes to an equal object.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeAccountingBatch,
  decodeEdgeWatermark,
  decodeEventBatch,
  decodeFlowRecordBatch,
  decodeHeadBatch,
  decodeMemberHeartbeat,
  decodeVerdictBatch,
  encodeAccountingBatch,
  encodeEdgeWatermark,
  encodeEventBatch,
  encodeFlowRecordBatch,
  encodeHeadBatch,
  encodeMemberHeartbeat,
  encodeVerdictBatch,
  WireError,
} from '@l7mesh/wire';
import { EVENT_BATCH, HEAD_BATCH, HEARTBEAT, KEY4, KEY6, segment, verdict, VERDICT_BATCH, WATERMARK } from './samples.js';

/** xorshift32: a seeded, reproducible stream of integers. */
function xorshift(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

interface Codec {
  name: string;
  decode(bytes: Uint8Array): unknown;
  encode(value: unknown): Uint8Array;
}
const codec = <T>(name: string, decode: (b: Uint8Array) => T, encode: (v: T) => Uint8Array): Codec => ({
  name,
  decode,
  encode: (v) => encode(v as T),
});
const CODECS: Codec[] = [
  codec('head batch', decodeHeadBatch, encodeHeadBatch),
  codec('verdict batch', decodeVerdictBatch, encodeVerdictBatch),
  codec('member heartbeat', decodeMemberHeartbeat, encodeMemberHeartbeat),
  codec('edge watermark', decodeEdgeWatermark, encodeEdgeWatermark),
  codec('event batch', decodeEventBatch, encodeEventBatch),
  codec('flow record batch', decodeFlowRecordBatch, encodeFlowRecordBatch),
  codec('accounting batch', decodeAccountingBatch, encodeAccountingBatch),
];

/** Valid messages of every type; small ones too, so that mutations reach every field often. */
const SEEDS: Uint8Array[] = [
  encodeHeadBatch(HEAD_BATCH),
  encodeHeadBatch({ edge: 'e', partition: 1, batchSeq: 2, watermarkSec: 3, watermarkNsec: 4, segments: [segment({ payload: Uint8Array.of(1, 2) }), segment({ key: KEY6, direction: 1, flags: 1 })] }),
  encodeVerdictBatch(VERDICT_BATCH),
  encodeVerdictBatch({ worker: 'w', verdicts: [verdict({ l7: 'ssh', decidedBy: 'ssh.pat' })] }),
  // A verdict for an edge that joined a flow another edge opened, and one without a start (recalled from the store).
  encodeVerdictBatch({ worker: 'w', verdicts: [verdict({ opener: false, recalled: true, start: { origIsLow: false, firstSec: 5, firstNsec: 6 } }), verdict({ opener: false, start: undefined })] }),
  encodeMemberHeartbeat(HEARTBEAT),
  encodeMemberHeartbeat({ ...HEARTBEAT, id: 'edge-2', role: 2, timeMs: 1, decided: 12 }),
  encodeEdgeWatermark(WATERMARK),
  encodeEventBatch(EVENT_BATCH),
  encodeEventBatch({ worker: 'w', batchSeq: 1, events: [{ ...EVENT_BATCH.events[0]!, edges: ['a'] }] }),
  encodeFlowRecordBatch({
    edge: 'e',
    epochMs: 1,
    records: [
      { seq: 1, zone: 2, key: KEY4, origIsLow: true, state: 'live', firstSec: 3, firstNsec: 4, lastSec: 5, lastNsec: 6, origPackets: 7, origBytes: 8, replyPackets: 9, replyBytes: 10, l7: 'http', decidedBy: 'http.pat', mark: 11, ruleSetVersion: 12, iface: 'eth0' },
      { seq: 2, zone: 0, key: KEY6, origIsLow: false, state: 'ended', firstSec: 3, firstNsec: 4, lastSec: 3, lastNsec: 4, origPackets: 0, origBytes: 0, replyPackets: 0, replyBytes: 0, l7: 'unset', decidedBy: '', mark: 0, ruleSetVersion: 0, iface: 'x' },
    ],
  }),
  encodeAccountingBatch({ edge: 'e', epochMs: 1, deltas: [{ seq: 1, startSec: 60, iface: 'eth0', l7: 'dns', direction: 'out', flows: 1, packets: 2, bytes: 3 }] }),
];

/** Bytes a mutation likes to write: boundaries and the values that mean something here. */
const INTERESTING = [0, 1, 2, 3, 6, 13, 17, 37, 0x20, 0x2e, 0x7e, 0x7f, 0x80, 0xfe, 0xff];

function mutate(src: Uint8Array, rnd: (n: number) => number): Uint8Array {
  let b = src.slice();
  const steps = 1 + rnd(3);
  for (let s = 0; s < steps; s++) {
    const at = b.length === 0 ? 0 : rnd(b.length);
    switch (rnd(6)) {
      case 0: // bit flip
        if (b.length > 0) b[at]! ^= 1 << rnd(8);
        break;
      case 1: // byte overwrite
        if (b.length > 0) b[at] = rnd(256);
        break;
      case 2: // meaningful byte
        if (b.length > 0) b[at] = INTERESTING[rnd(INTERESTING.length)]!;
        break;
      case 3: // truncation
        b = b.slice(0, rnd(b.length + 1));
        break;
      case 4: {
        // insertion
        const extra = Uint8Array.from({ length: 1 + rnd(8) }, () => rnd(256));
        const next = new Uint8Array(b.length + extra.length);
        next.set(b.subarray(0, at));
        next.set(extra, at);
        next.set(b.subarray(at), at + extra.length);
        b = next;
        break;
      }
      default: {
        // deletion
        const end = Math.min(b.length, at + 1 + rnd(8));
        const next = new Uint8Array(b.length - (end - at));
        next.set(b.subarray(0, at));
        next.set(b.subarray(end), at);
        b = next;
        break;
      }
    }
  }
  return b;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

interface Tally {
  accepted: number;
  rejected: number;
  problems: string[];
  /** One accepted value per codec, compared with a full deep equality at the end. */
  samples: [Codec, Uint8Array, unknown][];
}

/** Runs every decoder on `bytes` and checks the contract; returns nothing, tallies into `t`. */
function probe(bytes: Uint8Array, t: Tally, label: string): void {
  for (const c of CODECS) {
    let value: unknown;
    try {
      value = c.decode(bytes);
    } catch (err) {
      if (err instanceof WireError) t.rejected++;
      else t.problems.push(`${label}: ${c.name} threw ${String(err)}`);
      continue;
    }
    t.accepted++;
    let again: Uint8Array;
    try {
      again = c.encode(value);
    } catch (err) {
      t.problems.push(`${label}: ${c.name} re-encode threw ${String(err)}`);
      continue;
    }
    if (!sameBytes(again, bytes)) t.problems.push(`${label}: ${c.name} re-encodes to other bytes`);
    if (t.samples.length < 200) t.samples.push([c, again, value]);
  }
}

describe('fuzz', () => {
  it('20k mutations of valid messages of every type', () => {
    const rnd = xorshift(0x5eed);
    const t: Tally = { accepted: 0, rejected: 0, problems: [], samples: [] };
    for (let i = 0; i < 20_000; i++) {
      const seed = SEEDS[i % SEEDS.length]!;
      probe(mutate(seed, rnd), t, `mutation ${i}`);
    }
    expect(t.problems.slice(0, 10)).toEqual([]);
    for (const [c, bytes, value] of t.samples) expect(c.decode(bytes)).toEqual(value);
    // Both paths must be exercised, or the test proves nothing.
    expect(t.accepted).toBeGreaterThan(2000);
    expect(t.rejected).toBeGreaterThan(20_000);
  });

  it('5k random buffers, half of them behind a valid header', () => {
    const rnd = xorshift(42);
    const t: Tally = { accepted: 0, rejected: 0, problems: [], samples: [] };
    for (let i = 0; i < 5000; i++) {
      const b = Uint8Array.from({ length: rnd(300) }, () => rnd(256));
      if (i % 2 === 0 && b.length >= 4) b.set([0x4c, 0x37, 1, 1 + rnd(5)]);
      probe(b, t, `random ${i}`);
    }
    expect(t.problems.slice(0, 10)).toEqual([]);
    for (const [c, bytes, value] of t.samples) expect(c.decode(bytes)).toEqual(value);
    expect(t.rejected).toBeGreaterThan(20_000);
  });
});
