/** Flow records and accounting deltas for the tests, addresses from 198.18.0.0/15 and 2001:db8::/32. */
import type { AccountingDelta, FlowRecord } from '@l7mesh/store';

/** A fixed UTC day well inside the past, so tests do not depend on today's date. */
export const DAY0 = Date.UTC(2024, 2, 10);
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export const at = (ms: number) => new Date(ms);

export function flowRecord(overrides: Partial<FlowRecord> = {}): FlowRecord {
  return {
    eventId: 'ev-1',
    zone: 0,
    protocol: 6,
    src: '198.18.0.10',
    srcPort: 40000,
    dst: '198.19.0.80',
    dstPort: 80,
    firstSeen: at(DAY0 + 10 * HOUR),
    lastSeen: at(DAY0 + 10 * HOUR + 200),
    state: 'live',
    origPackets: 4,
    origBytes: 400,
    replyPackets: 3,
    replyBytes: 1500,
    l7: 'http',
    decidedBy: 'http.pat',
    mark: 0x10,
    ruleSetVersion: 3,
    edges: ['edge-a'],
    ...overrides,
  };
}

export function delta(overrides: Partial<AccountingDelta> = {}): AccountingDelta {
  return {
    eventId: 'acct-1',
    minute: at(DAY0 + 10 * HOUR),
    edge: 'edge-a',
    iface: 'eth1',
    l7: 'http',
    direction: 'in',
    flows: 1,
    packets: 10,
    bytes: 1000,
    ...overrides,
  };
}

/** A small deterministic generator (mulberry32), so "random" batches are the same every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
