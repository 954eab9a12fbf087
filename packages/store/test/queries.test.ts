/** The queries on a real PostgreSQL: exact answers from each table, bounds, typed errors, inert injection strings. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accountingSeries,
  listFlows,
  rollupAccounting,
  STORE_LIMITS,
  topTalkers,
  writeAccountingDeltas,
  writeFlowRecords,
  type AccountingDelta,
  type FlowRecord,
} from '@l7mesh/store';
import { expectStoreError } from './expectStoreError.js';
import { at, DAY, DAY0, delta, flowRecord, HOUR, MINUTE } from './samples.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

let db: TestDatabase;

const H0 = DAY0 + 10 * HOUR;
const H1 = DAY0 + 11 * HOUR;

// Accounting, per minute of H0: edge-a/eth1 http in 1000 B and out 100 B,
// edge-b/eth2 dns in 50 B; edge-b/eth2 http in 10 B in minutes 0-29 only.
// At H1: edge-a/eth1 ssh out 5000 B once. On DAY0+1: edge-c/eth9 http in 7 B.
function accountingData(): AccountingDelta[] {
  const out: AccountingDelta[] = [];
  for (let i = 0; i < 60; i++) {
    const minute = at(H0 + i * MINUTE);
    const eventId = `m${i}`;
    out.push(delta({ eventId, minute, packets: 10, bytes: 1000 }));
    out.push(delta({ eventId, minute, direction: 'out', packets: 1, bytes: 100 }));
    out.push(delta({ eventId, minute, edge: 'edge-b', iface: 'eth2', l7: 'dns', packets: 1, bytes: 50 }));
    if (i < 30) out.push(delta({ eventId, minute, edge: 'edge-b', iface: 'eth2', packets: 1, bytes: 10 }));
  }
  out.push(delta({ eventId: 'ssh', minute: at(H1), l7: 'ssh', direction: 'out', flows: 2, packets: 4, bytes: 5000 }));
  out.push(delta({ eventId: 'next-day', minute: at(DAY0 + DAY), edge: 'edge-c', iface: 'eth9', packets: 1, bytes: 7 }));
  return out;
}

const flows: Record<string, FlowRecord> = {
  f1: flowRecord({ eventId: 'f1', src: '198.18.0.1', srcPort: 40001, dst: '198.19.0.80', dstPort: 80, firstSeen: at(H0), lastSeen: at(H0 + 10 * MINUTE), state: 'ended', origBytes: 1000, replyBytes: 9000, origPackets: 10, replyPackets: 12, edges: ['edge-a'] }),
  f2: flowRecord({ eventId: 'f2', protocol: 17, src: '198.18.0.1', srcPort: 40002, dst: '198.19.0.53', dstPort: 53, firstSeen: at(H0 + MINUTE), lastSeen: at(H0 + 20 * MINUTE), l7: 'dns', decidedBy: 'dns.pat', origBytes: 100, replyBytes: 200, origPackets: 1, replyPackets: 1, edges: ['edge-b'] }),
  f3: flowRecord({ eventId: 'f3', src: '198.18.0.2', srcPort: 40003, dst: '198.19.0.80', dstPort: 80, firstSeen: at(H0 + 2 * MINUTE), lastSeen: at(H0 + 30 * MINUTE), origBytes: 50, replyBytes: 50, origPackets: 2, replyPackets: 2, edges: ['edge-a', 'edge-b'] }),
  f4: flowRecord({ eventId: 'f4', src: '2001:db8::1', srcPort: 50000, dst: '2001:db8:1::443', dstPort: 443, firstSeen: at(H1), lastSeen: at(H1 + MINUTE), state: 'ended', l7: 'tls', decidedBy: 'ssl.pat', origBytes: 500, replyBytes: 500, origPackets: 5, replyPackets: 5, edges: ['edge-c'] }),
  f5: flowRecord({ eventId: 'f5', zone: 7, src: '198.18.0.1', srcPort: 40001, dst: '198.19.0.80', dstPort: 80, firstSeen: at(H0), lastSeen: at(H0 + 5 * MINUTE), state: 'ended', origBytes: 1, replyBytes: 1, origPackets: 1, replyPackets: 1, edges: ['edge-z'] }),
  f6: flowRecord({ eventId: 'f6', src: '198.18.0.9', srcPort: 1, firstSeen: at(DAY0 - DAY), lastSeen: at(DAY0 - DAY + 1000), state: 'ended', origBytes: 1, replyBytes: 1, edges: ['edge-a'] }),
};

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  await writeAccountingDeltas(db.pool, accountingData());
  await rollupAccounting(db.pool);
  await writeFlowRecords(db.pool, Object.values(flows));
});
afterAll(async () => {
  await db?.drop();
});

const day = { since: at(DAY0), until: at(DAY0 + DAY) };
const plain = (rows: { key: string; zone?: number; flows: bigint; packets: bigint; bytes: bigint }[]) =>
  rows.map((r) => [r.key, ...(r.zone === undefined ? [] : [r.zone]), Number(r.flows), Number(r.packets), Number(r.bytes)]);

describe('topTalkers', () => {
  it('by protocol, from the hourly rollup, the daily rollup and the minutes', async () => {
    const hours = await topTalkers(db.pool, { by: 'protocol', since: at(H0), until: at(H0 + 2 * HOUR) });
    expect(plain(hours)).toEqual([
      ['http', 150, 690, 66_300],
      ['ssh', 2, 4, 5000],
      ['dns', 60, 60, 3000],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'protocol', ...day }))).toEqual(plain(hours));
    // Half an hour in: the minutes 30-59 of H0 and H1's minute.
    const minutes = await topTalkers(db.pool, { by: 'protocol', since: at(H0 + 30 * MINUTE), until: at(H1 + 1) });
    expect(plain(minutes)).toEqual([
      ['http', 60, 330, 33_000],
      ['ssh', 2, 4, 5000],
      ['dns', 30, 30, 1500],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'protocol', ...day, limit: 1 }))).toEqual([['http', 150, 690, 66_300]]);
  });

  it('by edge, with edge, protocol and interface filters', async () => {
    expect(plain(await topTalkers(db.pool, { by: 'edge', since: at(DAY0), until: at(DAY0 + 2 * DAY) }))).toEqual([
      ['edge-a', 122, 664, 71_000],
      ['edge-b', 90, 90, 3300],
      ['edge-c', 1, 1, 7],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'protocol', ...day, edge: 'edge-b' }))).toEqual([
      ['dns', 60, 60, 3000],
      ['http', 30, 30, 300],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'edge', ...day, proto: 'http' }))).toEqual([
      ['edge-a', 120, 660, 66_000],
      ['edge-b', 30, 30, 300],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'protocol', ...day, interface: 'eth1' }))).toEqual([
      ['http', 120, 660, 66_000],
      ['ssh', 2, 4, 5000],
    ]);
  });

  it('by source and destination host, per zone, from the flows that started in the range', async () => {
    expect(plain(await topTalkers(db.pool, { by: 'src', ...day }))).toEqual([
      ['198.18.0.1', 0, 2, 24, 10_300],
      ['2001:db8::1', 0, 1, 10, 1000],
      ['198.18.0.2', 0, 1, 4, 100],
      ['198.18.0.1', 7, 1, 2, 2],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'dst', ...day }))).toEqual([
      ['198.19.0.80', 0, 2, 26, 10_100],
      ['2001:db8:1::443', 0, 1, 10, 1000],
      ['198.19.0.53', 0, 1, 2, 300],
      ['198.19.0.80', 7, 1, 2, 2],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'src', ...day, edge: 'edge-b' }))).toEqual([
      ['198.18.0.1', 0, 1, 2, 300],
      ['198.18.0.2', 0, 1, 4, 100],
    ]);
    expect(plain(await topTalkers(db.pool, { by: 'dst', ...day, proto: 'http', limit: 2 }))).toEqual([
      ['198.19.0.80', 0, 2, 26, 10_100],
      ['198.19.0.80', 7, 1, 2, 2],
    ]);
  });
});

describe('listFlows', () => {
  const ports = (rows: { srcPort: number; zone: number }[]) => rows.map((r) => `${r.zone}:${r.srcPort}`);

  it('lists live flows, newest activity first, with every field', async () => {
    const live = await listFlows(db.pool, { live: true });
    expect(ports(live)).toEqual(['0:40003', '0:40002']);
    expect(live[1]).toEqual({
      zone: 0,
      family: 4,
      protocol: 17,
      src: '198.18.0.1',
      srcPort: 40002,
      dst: '198.19.0.53',
      dstPort: 53,
      firstSeen: at(H0 + MINUTE),
      lastSeen: at(H0 + 20 * MINUTE),
      state: 'live',
      origPackets: 1n,
      origBytes: 100n,
      replyPackets: 1n,
      replyBytes: 200n,
      l7: 'dns',
      decidedBy: 'dns.pat',
      mark: 0x10,
      ruleSetVersion: 3,
      edges: ['edge-b'],
      eventId: 'f2',
    });
  });

  it('filters by prefix, address, protocol, edge, zone and the window on the flows\' start', async () => {
    expect(ports(await listFlows(db.pool, { ...day, src: '198.18.0.0/30' }))).toEqual(['0:40003', '0:40002', '0:40001', '7:40001']);
    expect(ports(await listFlows(db.pool, { ...day, src: '198.18.0.0/30', zone: 0 }))).toEqual(['0:40003', '0:40002', '0:40001']);
    expect(ports(await listFlows(db.pool, { ...day, dst: '2001:db8:1::/48' }))).toEqual(['0:50000']);
    expect(ports(await listFlows(db.pool, { ...day, dst: '198.19.0.53' }))).toEqual(['0:40002']);
    expect(ports(await listFlows(db.pool, { ...day, proto: 'dns' }))).toEqual(['0:40002']);
    expect(ports(await listFlows(db.pool, { ...day, edge: 'edge-a' }))).toEqual(['0:40003', '0:40001']);
    expect(ports(await listFlows(db.pool, { ...day, limit: 2 }))).toEqual(['0:50000', '0:40003']);
    expect(ports(await listFlows(db.pool, { since: at(DAY0 - DAY), until: at(DAY0) }))).toEqual(['0:1']);
    expect(ports(await listFlows(db.pool, { live: true, since: at(H0 + 2 * MINUTE), until: at(H1) }))).toEqual(['0:40003']);
    // No window given and not live: the last 24 hours, in which this data has nothing.
    expect(await listFlows(db.pool)).toEqual([]);
  });
});

describe('accountingSeries', () => {
  const rows = (points: { start: Date; bytes: bigint }[]) =>
    points.map(({ start, bytes, flows: _f, packets: _p, ...dims }: Record<string, unknown> & { start: Date; bytes: bigint }) => ({
      start: start.getTime(),
      ...dims,
      bytes: Number(bytes),
    }));

  it('groups by protocol per hour from the hourly rollup', async () => {
    const s = await accountingSeries(db.pool, { groupBy: ['proto'], windowSec: 3600, since: at(H0), until: at(H0 + 2 * HOUR) });
    expect(s.resolution).toBe('hour');
    expect(rows(s.points)).toEqual([
      { start: H0, proto: 'dns', bytes: 3000 },
      { start: H0, proto: 'http', bytes: 66_300 },
      { start: H1, proto: 'ssh', bytes: 5000 },
    ]);
    expect(s.points[0]).toEqual({ start: at(H0), proto: 'dns', flows: 60n, packets: 60n, bytes: 3000n });
  });

  it('groups by edge and direction in half hours from the minutes', async () => {
    const s = await accountingSeries(db.pool, { groupBy: ['edge', 'direction'], windowSec: 1800, since: at(H0), until: at(H1) });
    expect(s.resolution).toBe('minute');
    const half = H0 + 30 * MINUTE;
    expect(rows(s.points)).toEqual([
      { start: H0, edge: 'edge-a', direction: 'in', bytes: 30_000 },
      { start: H0, edge: 'edge-a', direction: 'out', bytes: 3000 },
      { start: H0, edge: 'edge-b', direction: 'in', bytes: 1800 },
      { start: half, edge: 'edge-a', direction: 'in', bytes: 30_000 },
      { start: half, edge: 'edge-a', direction: 'out', bytes: 3000 },
      { start: half, edge: 'edge-b', direction: 'in', bytes: 1500 },
    ]);
  });

  it('sums everything per day from the daily rollup, and partial windows from the minutes', async () => {
    const days = await accountingSeries(db.pool, { groupBy: [], windowSec: 86_400, since: at(DAY0), until: at(DAY0 + 2 * DAY) });
    expect(days.resolution).toBe('day');
    expect(rows(days.points)).toEqual([
      { start: DAY0, bytes: 74_300 },
      { start: DAY0 + DAY, bytes: 7 },
    ]);
    const partial = await accountingSeries(db.pool, { groupBy: [], windowSec: 3600, since: at(H0 + 15 * MINUTE), until: at(H0 + 45 * MINUTE) });
    expect(partial.resolution).toBe('minute');
    expect(rows(partial.points)).toEqual([{ start: H0, bytes: 34_650 }]);
  });

  it('filters by interface, protocol, edge and direction', async () => {
    const s = await accountingSeries(db.pool, {
      groupBy: ['interface'],
      windowSec: 7200,
      since: at(DAY0),
      until: at(DAY0 + DAY),
      interface: 'eth1',
      direction: 'out',
      proto: 'ssh',
      edge: 'edge-a',
    });
    expect(s.resolution).toBe('hour');
    expect(rows(s.points)).toEqual([{ start: H0, interface: 'eth1', bytes: 5000 }]);
  });

  it('refuses a series with more rows than maxRows', async () => {
    await expectStoreError(
      () => accountingSeries(db.pool, { groupBy: ['proto', 'edge', 'interface', 'direction'], windowSec: 60, since: at(H0), until: at(H1), maxRows: 5 }),
      'STORE_TOO_MANY_ROWS',
      'maxRows',
    );
  });
});

describe('views', () => {
  const q = async (sql: string, params: unknown[] = []) => (await db.pool.query(sql, params)).rows;

  it('protocol_share_hourly: each protocol\'s bytes and share of the hour', async () => {
    expect(await q('SELECT hour, l7_protocol, flows::int, packets::int, bytes::int, byte_share::text FROM protocol_share_hourly WHERE hour < $1 ORDER BY hour, bytes DESC', [at(DAY0 + DAY)])).toEqual([
      { hour: at(H0), l7_protocol: 'http', flows: 150, packets: 690, bytes: 66_300, byte_share: '0.956710' },
      { hour: at(H0), l7_protocol: 'dns', flows: 60, packets: 60, bytes: 3000, byte_share: '0.043290' },
      { hour: at(H1), l7_protocol: 'ssh', flows: 2, packets: 4, bytes: 5000, byte_share: '1.000000' },
    ]);
  });

  it('top_src_daily and top_dst_daily: hosts ranked by bytes per UTC day', async () => {
    expect(await q('SELECT zone::int, host(host) AS host, flows::int, bytes::int, rank::int FROM top_src_daily WHERE day = $1 ORDER BY rank, host', [at(DAY0)])).toEqual([
      { zone: 0, host: '198.18.0.1', flows: 2, bytes: 10_300, rank: 1 },
      { zone: 0, host: '2001:db8::1', flows: 1, bytes: 1000, rank: 2 },
      { zone: 0, host: '198.18.0.2', flows: 1, bytes: 100, rank: 3 },
      { zone: 7, host: '198.18.0.1', flows: 1, bytes: 2, rank: 4 },
    ]);
    expect(await q('SELECT host(host) AS host, bytes::int FROM top_dst_daily WHERE day = $1 AND rank = 1', [at(DAY0)])).toEqual([
      { host: '198.19.0.80', bytes: 10_100 },
    ]);
    expect(await q('SELECT host(host) AS host FROM top_src_daily WHERE day = $1', [at(DAY0 - DAY)])).toEqual([{ host: '198.18.0.9' }]);
  });

  it('live_flows: the flows not ended, newest activity first', async () => {
    expect(await q('SELECT transport, host(src_addr) AS src, src_port, l7_protocol, edges FROM live_flows')).toEqual([
      { transport: 'tcp', src: '198.18.0.2', src_port: 40003, l7_protocol: 'http', edges: ['edge-a', 'edge-b'] },
      { transport: 'udp', src: '198.18.0.1', src_port: 40002, l7_protocol: 'dns', edges: ['edge-b'] },
    ]);
  });

  it('edge_interface_traffic_hourly: in and out per edge and interface', async () => {
    expect(await q('SELECT hour, edge, iface, bytes_in::int, bytes_out::int, packets_in::int, packets_out::int, flows::int FROM edge_interface_traffic_hourly WHERE hour < $1 ORDER BY 1, 2, 3', [at(DAY0 + DAY)])).toEqual([
      { hour: at(H0), edge: 'edge-a', iface: 'eth1', bytes_in: 60_000, bytes_out: 6000, packets_in: 600, packets_out: 60, flows: 120 },
      { hour: at(H0), edge: 'edge-b', iface: 'eth2', bytes_in: 3300, bytes_out: 0, packets_in: 90, packets_out: 0, flows: 90 },
      { hour: at(H1), edge: 'edge-a', iface: 'eth1', bytes_in: 0, bytes_out: 5000, packets_in: 0, packets_out: 4, flows: 2 },
    ]);
  });
});

describe('bad parameters', () => {
  const since = at(H0);
  const until = at(H1);
  const cases: [string, () => Promise<unknown>, string, string][] = [
    ['unknown by', () => topTalkers(db.pool, { by: 'host' as never, since, until }), 'STORE_BAD_PARAMETER', 'by'],
    ['no since', () => topTalkers(db.pool, { by: 'protocol' } as never), 'STORE_BAD_PARAMETER', 'since'],
    ['until before since', () => topTalkers(db.pool, { by: 'protocol', since: until, until: since }), 'STORE_BAD_PARAMETER', 'until'],
    ['since not a date', () => topTalkers(db.pool, { by: 'src', since: '2024-03-10' as never }), 'STORE_BAD_PARAMETER', 'since'],
    ['limit 0', () => topTalkers(db.pool, { by: 'protocol', since, until, limit: 0 }), 'STORE_BAD_PARAMETER', 'limit'],
    ['limit too big', () => topTalkers(db.pool, { by: 'protocol', since, until, limit: STORE_LIMITS.maxTopLimit + 1 }), 'STORE_BAD_PARAMETER', 'limit'],
    ['misspelt filter', () => topTalkers(db.pool, { by: 'protocol', since, until, protocol: 'http' } as never), 'STORE_BAD_PARAMETER', 'protocol'],
    ['interface on hosts', () => topTalkers(db.pool, { by: 'src', since, until, interface: 'eth1' }), 'STORE_BAD_PARAMETER', 'interface'],
    ['empty edge', () => topTalkers(db.pool, { by: 'edge', since, until, edge: '' }), 'STORE_BAD_PARAMETER', 'edge'],
    ['hosts over 31 days', () => topTalkers(db.pool, { by: 'src', since: at(DAY0), until: at(DAY0 + 32 * DAY) }), 'STORE_RANGE_TOO_WIDE', 'since'],
    ['minutes over 31 days', () => topTalkers(db.pool, { by: 'protocol', since: at(DAY0 + 1), until: at(DAY0 + 32 * DAY) }), 'STORE_RANGE_TOO_WIDE', 'since'],
    ['hours over 400 days', () => topTalkers(db.pool, { by: 'protocol', since: at(H0), until: at(H0 + 401 * DAY) }), 'STORE_RANGE_TOO_WIDE', 'since'],
    ['src not an address', () => listFlows(db.pool, { src: '198.18.0.1; DROP TABLE flows' }), 'STORE_BAD_PARAMETER', 'src'],
    ['dst prefix too long', () => listFlows(db.pool, { dst: '198.18.0.0/33' }), 'STORE_BAD_PARAMETER', 'dst'],
    ['live not boolean', () => listFlows(db.pool, { live: 'yes' as never }), 'STORE_BAD_PARAMETER', 'live'],
    ['zone negative', () => listFlows(db.pool, { zone: -1 }), 'STORE_BAD_PARAMETER', 'zone'],
    ['flows over 31 days', () => listFlows(db.pool, { since: at(DAY0), until: at(DAY0 + 40 * DAY) }), 'STORE_RANGE_TOO_WIDE', 'since'],
    ['list limit', () => listFlows(db.pool, { limit: STORE_LIMITS.maxListLimit + 1 }), 'STORE_BAD_PARAMETER', 'limit'],
    ['unknown dimension', () => accountingSeries(db.pool, { groupBy: ['proto', 'host' as never], windowSec: 60, since, until }), 'STORE_BAD_PARAMETER', 'groupBy[1]'],
    ['repeated dimension', () => accountingSeries(db.pool, { groupBy: ['edge', 'edge'], windowSec: 60, since, until }), 'STORE_BAD_PARAMETER', 'groupBy[1]'],
    ['groupBy not a list', () => accountingSeries(db.pool, { groupBy: 'proto' as never, windowSec: 60, since, until }), 'STORE_BAD_PARAMETER', 'groupBy'],
    ['window not minutes', () => accountingSeries(db.pool, { groupBy: [], windowSec: 90, since, until }), 'STORE_BAD_PARAMETER', 'windowSec'],
    ['window too small', () => accountingSeries(db.pool, { groupBy: [], windowSec: 30, since, until }), 'STORE_BAD_PARAMETER', 'windowSec'],
    ['too many windows', () => accountingSeries(db.pool, { groupBy: [], windowSec: 60, since: at(DAY0), until: at(DAY0 + 30 * DAY) }), 'STORE_BAD_PARAMETER', 'windowSec'],
    ['bad direction', () => accountingSeries(db.pool, { groupBy: [], windowSec: 60, since, until, direction: 'up' as never }), 'STORE_BAD_PARAMETER', 'direction'],
    ['maxRows too big', () => accountingSeries(db.pool, { groupBy: [], windowSec: 60, since, until, maxRows: STORE_LIMITS.maxSeriesRows + 1 }), 'STORE_BAD_PARAMETER', 'maxRows'],
  ];
  it.each(cases)('%s', async (_name, run, code, field) => {
    await expectStoreError(run, code as never, field);
  });

  it('treats injection strings in every filter as plain values', async () => {
    const evil = ["http' OR '1'='1", 'x"; DROP TABLE flows; --', "edge-a') OR true --", '$1', '\\\'; SELECT pg_sleep(1); --'];
    for (const s of evil) {
      expect(await topTalkers(db.pool, { by: 'protocol', ...day, proto: s, edge: s, interface: s })).toEqual([]);
      expect(await topTalkers(db.pool, { by: 'src', ...day, proto: s })).toEqual([]);
      expect(await topTalkers(db.pool, { by: 'dst', ...day, edge: s })).toEqual([]);
      expect(await listFlows(db.pool, { ...day, proto: s })).toEqual([]);
      expect(await listFlows(db.pool, { ...day, edge: s })).toEqual([]);
      const series = await accountingSeries(db.pool, { groupBy: ['proto'], windowSec: 3600, ...day, proto: s, edge: s, interface: s });
      expect(series.points).toEqual([]);
    }
    expect(await listFlows(db.pool, day)).toHaveLength(5);
  });
});
