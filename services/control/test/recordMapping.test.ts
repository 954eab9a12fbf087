/** The wire's flow record batches as the store's records, through the wire's encoding as control gets them. */
import { describe, expect, it } from 'vitest';
import { flowRecordsOf } from '@l7mesh/control';
import { flowKeyOfEndpoints } from '@l7mesh/flow';
import type { FlowRecord } from '@l7mesh/store';
import { decodeFlowRecordBatch, encodeFlowRecordBatch, recordEventId, type WireFlowRecord } from '@l7mesh/wire';

const T0 = Date.UTC(2024, 2, 10, 10) / 1000;
const EPOCH_MS = T0 * 1000 - 60_000;

function wire(overrides: Partial<WireFlowRecord>): WireFlowRecord {
  return {
    seq: 0,
    zone: 0,
    key: flowKeyOfEndpoints({ protocol: 6, src: '198.18.0.10', sport: 40000, dst: '198.19.0.80', dport: 80 }),
    origIsLow: true,
    state: 'live',
    firstSec: T0,
    firstNsec: 0,
    lastSec: T0,
    lastNsec: 0,
    origPackets: 2,
    origBytes: 120,
    replyPackets: 1,
    replyBytes: 60,
    l7: 'http',
    decidedBy: 'http.pat',
    mark: 0x10,
    ruleSetVersion: 3,
    iface: 'eth1',
    ...overrides,
  };
}

const mapped = (records: WireFlowRecord[]): FlowRecord[] => flowRecordsOf(decodeFlowRecordBatch(encodeFlowRecordBatch({ edge: 'edge-a', epochMs: EPOCH_MS, records })));

describe('flowRecordsOf', () => {
  it('maps each record: the originator first, times to the millisecond, the batch\'s dedupe id and edge on all', () => {
    // 10.0.0.1:443 sorts first: the originator is the key's high endpoint.
    const v4 = flowKeyOfEndpoints({ protocol: 6, src: '198.18.123.45', sport: 40000, dst: '10.0.0.1', dport: 443 });
    const v6 = flowKeyOfEndpoints({ protocol: 17, src: '2001:db8::10', sport: 5353, dst: '2001:db8:1::80', dport: 53 });
    const records = mapped([
      wire({ seq: 7, key: v4, origIsLow: false, firstNsec: 123_456_789, lastNsec: 123_456_789 }),
      wire({ seq: 8, key: v6, state: 'ended', zone: 4, lastSec: T0 + 5, lastNsec: 999_999_999, l7: 'unset', decidedBy: '', mark: 0, origBytes: 2 ** 40 }),
      wire({ seq: 9, key: v4, origIsLow: false, state: 'ended', firstNsec: 123_456_789, lastSec: T0 + 1, origPackets: 9 }),
    ]);
    const common = { eventId: recordEventId('edge-a', EPOCH_MS, 7), edges: ['edge-a'], mark: 0x10, ruleSetVersion: 3, origPackets: 2, origBytes: 120, replyPackets: 1, replyBytes: 60, l7: 'http', decidedBy: 'http.pat', zone: 0 };
    const tcp = { protocol: 6, src: '198.18.123.45', srcPort: 40000, dst: '10.0.0.1', dstPort: 443 };
    expect(records).toEqual([
      { ...common, ...tcp, firstSeen: new Date(T0 * 1000 + 123), lastSeen: new Date(T0 * 1000 + 123), state: 'live' },
      {
        ...common,
        protocol: 17,
        src: '2001:db8::10',
        srcPort: 5353,
        dst: '2001:db8:1::80',
        dstPort: 53,
        zone: 4,
        firstSeen: new Date(T0 * 1000),
        lastSeen: new Date(T0 * 1000 + 5999),
        state: 'ended',
        l7: 'unset',
        decidedBy: '',
        mark: 0,
        origBytes: 2 ** 40,
      },
      { ...common, ...tcp, firstSeen: new Date(T0 * 1000 + 123), lastSeen: new Date(T0 * 1000 + 1000), state: 'ended', origPackets: 9 },
    ]);
  });

  it('keeps every time and address right over batches of many (the Dates and texts it shares between records)', () => {
    for (let batch = 0; batch < 3; batch++) {
      const expected: [number, number, string, string][] = [];
      const records = Array.from({ length: 8192 }, (_, i) => {
        const n = batch * 8192 + i;
        // Times a few ms apart (repeating across batches), addresses spread and repeating.
        const first = T0 * 1000 + ((n * 7919) % 100_000);
        const last = first + (n % 3) * 1500;
        const src = `10.${n % 200}.${(n >> 3) & 255}.${n & 7}`;
        const dst = `198.18.${(n * 31) & 255}.${(n * 17) & 255}`;
        expected.push([first, last, src, dst]);
        const key = flowKeyOfEndpoints({ protocol: 6, src, sport: 1024 + (n % 50_000), dst, dport: 443 });
        return wire({ seq: n, key, lastSec: Math.floor(last / 1000), lastNsec: (last % 1000) * 1e6 + 999, firstSec: Math.floor(first / 1000), firstNsec: (first % 1000) * 1e6 });
      });
      const got = mapped(records).map((r) => [r.firstSeen.getTime(), r.lastSeen.getTime(), r.src, r.dst]);
      expect(got).toEqual(expected);
    }
  });
});
