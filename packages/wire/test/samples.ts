/** Sample keys and messages with edge values, shared by the wire tests. */
import type { EdgeWatermark, EventBatch, HeadBatch, HeadSegment, MemberHeartbeat, Verdict, VerdictBatch } from '@l7mesh/wire';

/** A canonical IPv4 key, built like the flow package builds it. */
export function ipv4Key(protocol: number, a: number[], ap: number, b: number[], bp: number): string {
  return String.fromCharCode(protocol, ...a, ap >>> 8, ap & 0xff, ...b, bp >>> 8, bp & 0xff);
}

export function ipv6Key(protocol: number, a: number[], ap: number, b: number[], bp: number): string {
  return String.fromCharCode(protocol, ...a, ap >>> 8, ap & 0xff, ...b, bp >>> 8, bp & 0xff);
}

export const KEY4 = ipv4Key(6, [10, 0, 0, 1], 43512, [198, 18, 0, 255], 443);
export const KEY6 = ipv6Key(
  17,
  [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  53,
  [0xfe, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  65535,
);

export const NAME64 = 'A-z_9'.repeat(13).slice(0, 64);
/** 255 printable chars covering the whole 0x21..0x7e range. */
export const TEXT255 = Array.from({ length: 255 }, (_, i) => String.fromCharCode(0x21 + (i % 94))).join('');

export function segment(over: Partial<HeadSegment> = {}): HeadSegment {
  return {
    zone: 7,
    key: KEY4,
    direction: 0,
    generation: 1,
    counter: 1,
    flags: 0,
    tcpFlags: 0x02,
    seq: 1000,
    ack: 0,
    tsSec: 1_700_000_000,
    tsNsec: 123_456_789,
    ipLength: 60,
    payload: new Uint8Array([0x16, 0x03, 0x01]),
    ...over,
  };
}

export const HEAD_BATCH: HeadBatch = {
  edge: 'edge-1',
  partition: 3,
  batchSeq: 42,
  watermarkSec: 1_700_000_001,
  watermarkNsec: 999_999_999,
  segments: [
    segment(),
    segment({ zone: 0xffffffff, key: KEY6, direction: 1, generation: 0xffffffff, counter: 65535, flags: 3, tcpFlags: 0xff, seq: 0xffffffff, ack: 0xffffffff, tsSec: 0xffffffff, tsNsec: 999_999_999, ipLength: 65535, payload: new Uint8Array(0) }),
    segment({ zone: 0, generation: 0, tsSec: 0, tsNsec: 0, ipLength: 0, payload: Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff) }),
  ],
};

export function verdict(over: Partial<Verdict> = {}): Verdict {
  return {
    zone: 7,
    key: KEY4,
    generation: 1,
    l7: 'http',
    decidedBy: 'http.pat',
    decidedAtPacket: 4,
    mark: 0x0100,
    ruleSetVersion: 12,
    epoch: 3,
    final: true,
    recalled: false,
    opener: true,
    start: { origIsLow: true, firstSec: 1_700_000_000, firstNsec: 123_456_789 },
    ...over,
  };
}

export const VERDICT_BATCH: VerdictBatch = {
  worker: 'worker_0',
  verdicts: [
    verdict(),
    verdict({ zone: 0xffffffff, key: KEY6, generation: 0xffffffff, l7: TEXT255, decidedBy: 'packet-limit', decidedAtPacket: 0xffffffff, mark: 0xffffffff, ruleSetVersion: 0xffffffff, epoch: 0xffffffff, final: false, recalled: true, opener: false, start: { origIsLow: false, firstSec: 0xffffffff, firstNsec: 999_999_999 } }),
    // No start: a verdict recalled from the store.
    verdict({ l7: 'unset', decidedBy: 'x', decidedAtPacket: 0, mark: 0, ruleSetVersion: 0, epoch: 0, opener: false, start: undefined }),
  ],
};

export const HEARTBEAT: MemberHeartbeat = {
  id: NAME64,
  role: 1,
  timeMs: 1_700_000_000_123.5,
  startedMs: 0,
  ruleSetVersion: 0xffffffff,
  partitions: 64,
  flowsInProgress: 0,
  decided: Number.MAX_SAFE_INTEGER,
  latencyP50Us: 0,
  latencyP99Us: 0xffffffff,
};

export const WATERMARK: EdgeWatermark = { edge: 'e', tsSec: 0xffffffff, tsNsec: 999_999_999, done: true };

export const EVENT_BATCH: EventBatch = {
  worker: 'w-1',
  batchSeq: 0xffffffff,
  events: [
    {
      zone: 1,
      key: KEY4,
      origIsLow: true,
      l7: 'tls',
      decidedBy: 'ssl.pat',
      decidedAtPacket: 3,
      ruleSetVersion: 5,
      firstSec: 1_700_000_000,
      firstNsec: 999_999_999,
      edges: ['edge-1', 'edge-2'],
    },
    {
      zone: 0xffffffff,
      key: KEY6,
      origIsLow: false,
      l7: 'unknown',
      decidedBy: TEXT255,
      decidedAtPacket: 0,
      ruleSetVersion: 0,
      firstSec: 0,
      firstNsec: 0,
      edges: [],
    },
  ],
};
