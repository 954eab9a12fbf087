/** The batched writers on a real PostgreSQL: dedupe under redelivery, final counters, merging, bad records; node sightings. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  listFlows,
  listNodes,
  upsertNode,
  writeAccountingDeltas,
  writeFlowRecords,
  type AccountingDelta,
  type FlowRecord,
} from '@l7mesh/store';
import { expectStoreError } from './expectStoreError.js';
import { at, DAY0, delta, flowRecord, HOUR, MINUTE } from './samples.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE flows, accounting_1m, accounting_dirty_hours, ingested_events, edges, workers');
});

const window = { since: at(DAY0), until: at(DAY0 + 2 * 86_400_000), limit: 1000 };

async function minuteRows() {
  const { rows } = await db.pool.query(
    `SELECT bucket, edge, iface, l7_protocol, direction, flows::int, packets::int, bytes::int
       FROM accounting_1m ORDER BY bucket, edge, iface, l7_protocol, direction`,
  );
  return rows;
}

describe('writeFlowRecords', () => {
  it('takes the final counters when the flow ends (never adds them)', async () => {
    const verdict = flowRecord({ eventId: 'v1' });
    const end = flowRecord({
      eventId: 'e1',
      state: 'ended',
      lastSeen: at(DAY0 + 10 * HOUR + 90_000),
      origPackets: 1200,
      origBytes: 90_000,
      replyPackets: 3800,
      replyBytes: 5_200_000,
      edges: ['edge-b'],
    });
    expect(await writeFlowRecords(db.pool, [verdict])).toEqual({ events: 1, duplicates: 0, skipped: 0, rows: 1, expired: 0 });
    expect(await writeFlowRecords(db.pool, [end])).toEqual({ events: 1, duplicates: 0, skipped: 0, rows: 1, expired: 0 });
    const rows = await listFlows(db.pool, window);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual({
      zone: 0,
      family: 4,
      protocol: 6,
      src: '198.18.0.10',
      srcPort: 40000,
      dst: '198.19.0.80',
      dstPort: 80,
      firstSeen: verdict.firstSeen,
      lastSeen: end.lastSeen,
      state: 'ended',
      origPackets: 1200n,
      origBytes: 90_000n,
      replyPackets: 3800n,
      replyBytes: 5_200_000n,
      l7: 'http',
      decidedBy: 'http.pat',
      mark: 0x10,
      ruleSetVersion: 3,
      edges: ['edge-a', 'edge-b'],
      eventId: 'e1',
    });
  });

  it('writes a redelivered batch once: same rows, the second time all duplicates', async () => {
    const batch = [
      flowRecord({ eventId: 'b1', srcPort: 1000 }),
      flowRecord({ eventId: 'b1', srcPort: 1001, src: '2001:db8::10', dst: '2001:db8:1::80' }),
      flowRecord({ eventId: 'b2', srcPort: 1002, state: 'ended', lastSeen: at(DAY0 + 11 * HOUR) }),
    ];
    expect(await writeFlowRecords(db.pool, batch)).toEqual({ events: 2, duplicates: 0, skipped: 0, rows: 3, expired: 0 });
    const first = await listFlows(db.pool, window);
    expect(await writeFlowRecords(db.pool, batch)).toEqual({ events: 0, duplicates: 2, skipped: 3, rows: 0, expired: 0 });
    expect(await listFlows(db.pool, window)).toEqual(first);
    expect(first.find((r) => r.srcPort === 1001)?.family).toBe(6);
  });

  it('writes the new events of a batch that mixes them with ones already written', async () => {
    await writeFlowRecords(db.pool, [flowRecord({ eventId: 'old', srcPort: 1000 })]);
    const batch = [
      flowRecord({ eventId: 'old', srcPort: 1000 }),
      flowRecord({ eventId: 'new', srcPort: 1001 }),
      flowRecord({ eventId: 'old', srcPort: 1002 }),
    ];
    expect(await writeFlowRecords(db.pool, batch)).toEqual({ events: 1, duplicates: 1, skipped: 2, rows: 1, expired: 0 });
    expect((await listFlows(db.pool, window)).map((r) => r.srcPort).sort()).toEqual([1000, 1001]);
    expect((await db.pool.query('SELECT event_id FROM ingested_events ORDER BY 1')).rows).toEqual([{ event_id: 'new' }, { event_id: 'old' }]);
  });

  it('stores any text exactly (the records go through COPY)', async () => {
    const odd = flowRecord({
      eventId: 'ev\\t\t"x"\n',
      decidedBy: 'a\tb\nc\\d\r"e"',
      l7: 'x{y},"z"\\',
      edges: ['edge "b"', 'edge,a', '{c}', 'back\\slash', 'ünï'],
    });
    await writeFlowRecords(db.pool, [odd]);
    const [row] = await listFlows(db.pool, window);
    expect(row).toMatchObject({ eventId: odd.eventId, decidedBy: odd.decidedBy, l7: odd.l7 });
    expect(row!.edges).toEqual([...odd.edges].sort());
  });

  it('keeps the final record when an earlier one arrives late, and never lets unset replace a verdict', async () => {
    const end = flowRecord({ eventId: 'e', state: 'ended', lastSeen: at(DAY0 + 10 * HOUR + 5000), origBytes: 7777, l7: 'unset', decidedBy: '' });
    const lateVerdict = flowRecord({ eventId: 'v', origBytes: 400, edges: ['edge-c'] });
    await writeFlowRecords(db.pool, [end]);
    await writeFlowRecords(db.pool, [lateVerdict]);
    const [row] = await listFlows(db.pool, window);
    expect(row).toMatchObject({ state: 'ended', origBytes: 7777n, lastSeen: end.lastSeen, l7: 'http', decidedBy: 'http.pat', eventId: 'e' });
    expect(row!.edges).toEqual(['edge-a', 'edge-c']);

    // A newer live record's larger counters are taken, but an 'unset' in it keeps the verdict.
    await db.pool.query('TRUNCATE flows, ingested_events');
    await writeFlowRecords(db.pool, [flowRecord({ eventId: 'x1', l7: 'ssh', decidedBy: 'ssh.pat' })]);
    await writeFlowRecords(db.pool, [flowRecord({ eventId: 'x2', l7: 'unset', decidedBy: '', lastSeen: at(DAY0 + 10 * HOUR + 900), origBytes: 999 })]);
    expect(await listFlows(db.pool, window)).toMatchObject([{ l7: 'ssh', decidedBy: 'ssh.pat', origBytes: 999n }]);
  });

  it('merges records of one flow within a batch as if written one by one', async () => {
    const verdict = flowRecord({ eventId: 'm1' });
    const end = flowRecord({ eventId: 'm2', state: 'ended', lastSeen: at(DAY0 + 10 * HOUR + 60_000), replyBytes: 4200, edges: ['edge-b'] });
    // The end first in the batch, the verdict after it: the end still wins.
    expect(await writeFlowRecords(db.pool, [end, verdict])).toEqual({ events: 2, duplicates: 0, skipped: 0, rows: 1, expired: 0 });
    const oneByOne = await listFlows(db.pool, window);
    expect(oneByOne).toMatchObject([{ state: 'ended', replyBytes: 4200n, edges: ['edge-a', 'edge-b'], eventId: 'm2' }]);
    // Two spellings of one IPv6 address are one flow.
    await db.pool.query('TRUNCATE flows, ingested_events');
    const v6 = { src: '2001:db8::10', dst: '2001:db8:1::80' };
    await writeFlowRecords(db.pool, [
      flowRecord({ ...v6, eventId: 's1' }),
      flowRecord({ ...v6, src: '2001:DB8:0:0:0:0:0:10', eventId: 's2', state: 'ended', lastSeen: at(DAY0 + 11 * HOUR) }),
    ]);
    expect(await listFlows(db.pool, window)).toMatchObject([{ src: '2001:db8::10', state: 'ended' }]);
    // Flows that start in the same millisecond stay apart, each merged with its own records.
    await db.pool.query('TRUNCATE flows, ingested_events');
    const ended = { state: 'ended' as const, lastSeen: at(DAY0 + 10 * HOUR + 5000) };
    await writeFlowRecords(db.pool, [
      flowRecord({ eventId: 'a1', srcPort: 1 }),
      flowRecord({ eventId: 'b1', srcPort: 2 }),
      flowRecord({ eventId: 'c1', srcPort: 3, zone: 9 }),
      flowRecord({ eventId: 'b2', srcPort: 2, ...ended, origBytes: 2200 }),
      flowRecord({ eventId: 'a2', srcPort: 1, ...ended, origBytes: 1100 }),
      flowRecord({ eventId: 'c2', srcPort: 3, zone: 9, ...ended, origBytes: 3300 }),
    ]);
    const rows = await listFlows(db.pool, window);
    expect(rows.map((r) => [r.zone, r.srcPort, r.state, r.origBytes, r.eventId]).sort()).toEqual([
      [0, 1, 'ended', 1100n, 'a2'],
      [0, 2, 'ended', 2200n, 'b2'],
      [9, 3, 'ended', 3300n, 'c2'],
    ]);
  });

  it('writes a batch of many flows, many of them starting in one millisecond, over several COPY messages: each merged with its own records', async () => {
    const start = (i: number) => DAY0 + 10 * HOUR + (i % 7);
    // Long edge names: the batch's rows take several CopyData messages.
    const edges = [`edge-${'x'.repeat(58)}`];
    const verdicts = Array.from({ length: 2000 }, (_, i) => flowRecord({ eventId: 'many-1', srcPort: 1000 + i, firstSeen: at(start(i)), lastSeen: at(start(i)), edges }));
    // An end record takes the verdict record's place, but for its smaller reply counter (every third flow): the larger stays.
    const ends = verdicts.map((v, i) => ({ ...v, eventId: 'many-2', state: 'ended' as const, lastSeen: at(start(i) + 1000), origBytes: 5000 + i, replyBytes: i % 3 === 0 ? 10 : 2000 }));
    expect(await writeFlowRecords(db.pool, [...verdicts, ...ends.reverse()])).toEqual({ events: 2, duplicates: 0, skipped: 0, rows: 2000, expired: 0 });
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'ended' AND event_id = 'many-2')::int AS ended, sum(orig_bytes)::text AS orig, sum(reply_bytes)::text AS reply FROM flows`,
    );
    const sum = (f: (i: number) => number) => String(Array.from({ length: 2000 }, (_, i) => f(i)).reduce((a, b) => a + b, 0));
    expect(rows[0]).toEqual({ n: 2000, ended: 2000, orig: sum((i) => 5000 + i), reply: sum((i) => (i % 3 === 0 ? 1500 : 2000)) });
  });

  it('holds a connection split over two edges whole: each direction\'s counters from the edge on its path, in one batch or two', async () => {
    // An asymmetric route: edge-a carries the requests, edge-b the replies; each edge's records show a little of the other direction.
    const a = flowRecord({ eventId: 'sa', state: 'ended', origPackets: 900, origBytes: 60_000, replyPackets: 0, replyBytes: 0 });
    const b = flowRecord({ eventId: 'sb', state: 'ended', origPackets: 1, origBytes: 60, replyPackets: 2500, replyBytes: 3_600_000, edges: ['edge-b'] });
    const whole = { origPackets: 900n, origBytes: 60_000n, replyPackets: 2500n, replyBytes: 3_600_000n, edges: ['edge-a', 'edge-b'] };
    await writeFlowRecords(db.pool, [a]);
    await writeFlowRecords(db.pool, [b]);
    expect(await listFlows(db.pool, window)).toMatchObject([whole]);
    await db.pool.query('TRUNCATE flows, ingested_events');
    await writeFlowRecords(db.pool, [b, a]);
    expect(await listFlows(db.pool, window)).toMatchObject([whole]);
  });

  it('counts a batch written by two connections at once only once', async () => {
    const batch = Array.from({ length: 200 }, (_, i) => flowRecord({ eventId: `c${i % 20}`, srcPort: 2000 + i }));
    const results = await Promise.all([writeFlowRecords(db.pool, batch), writeFlowRecords(db.pool, batch)]);
    expect(results.map((r) => r.events).sort()).toEqual([0, 20]);
    expect(results.map((r) => r.duplicates).sort()).toEqual([0, 20]);
    expect((await listFlows(db.pool, window)).length).toBe(200);
  });

  it('writes an event whole or not at all: a batch failing half-way in the database leaves no row and no key, and written again it counts once', async () => {
    // A message of four records and one of two, as control writes them: records of one message share its key.
    const batch = [
      ...[1, 2, 3, 4].map((i) => flowRecord({ eventId: 'msg-1', srcPort: 3000 + i })),
      ...[5, 6].map((i) => flowRecord({ eventId: 'msg-2', srcPort: 3000 + i })),
    ];
    // The upsert fails at the third row it writes, after the keys were claimed and two rows were written.
    await db.pool.query(`CREATE FUNCTION fail_at_3003() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.src_port = 3003 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`);
    await db.pool.query('CREATE TRIGGER fail_at_3003 BEFORE INSERT ON flows FOR EACH ROW EXECUTE FUNCTION fail_at_3003()');
    try {
      await expect(writeFlowRecords(db.pool, batch)).rejects.toThrow(/injected failure/);
    } finally {
      await db.pool.query('DROP TRIGGER fail_at_3003 ON flows; DROP FUNCTION fail_at_3003()');
    }
    expect((await db.pool.query('SELECT count(*)::int AS n FROM flows')).rows[0].n).toBe(0);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM ingested_events')).rows[0].n).toBe(0);
    // Delivered again: every record once; and once more: nothing.
    expect(await writeFlowRecords(db.pool, batch)).toEqual({ events: 2, duplicates: 0, skipped: 0, rows: 6, expired: 0 });
    expect(await writeFlowRecords(db.pool, batch)).toEqual({ events: 0, duplicates: 2, skipped: 6, rows: 0, expired: 0 });
    expect((await listFlows(db.pool, window)).map((r) => r.srcPort).sort()).toEqual([3001, 3002, 3003, 3004, 3005, 3006]);
  });

  it('stores values exactly (binary COPY): counters past 2^32 as numbers, times before 2000, milliseconds, non-ASCII text', async () => {
    const early = flowRecord({
      eventId: 'exact-1',
      firstSeen: at(Date.UTC(1999, 11, 31, 23, 59, 59, 999)),
      lastSeen: at(Date.UTC(2000, 0, 1, 0, 0, 0, 1)),
      origBytes: 5_000_000_123,
      replyPackets: 2 ** 53 - 1,
      mark: 0xffff_ffff,
      ruleSetVersion: 0xffff_fffe,
      zone: 0xffff_ffff,
      decidedBy: 'ünïcödé.pat',
      edges: ['edge-ä', 'edge-a'],
    });
    await writeFlowRecords(db.pool, [early]);
    const [row] = await listFlows(db.pool, { since: at(Date.UTC(1999, 11, 31)), until: at(Date.UTC(2000, 0, 2)) });
    expect(row).toMatchObject({
      firstSeen: early.firstSeen,
      lastSeen: early.lastSeen,
      origBytes: 5_000_000_123n,
      replyPackets: 2n ** 53n - 1n,
      mark: 0xffff_ffff,
      ruleSetVersion: 0xffff_fffe,
      zone: 0xffff_ffff,
      decidedBy: 'ünïcödé.pat',
      edges: ['edge-a', 'edge-ä'],
    });
  });

  it('rejects a batch with a bad record, naming the field, and writes none of it', async () => {
    const good = flowRecord({ eventId: 'g' });
    const bad: [Partial<FlowRecord> | Record<string, unknown>, string][] = [
      [{ srcPort: 70000 }, 'records[1].srcPort'],
      [{ src: '198.18.0.300' }, 'records[1].src'],
      [{ src: '198.18.0.0/24' }, 'records[1].src'],
      [{ dst: '2001:db8::1' }, 'records[1].dst'],
      [{ protocol: -1 }, 'records[1].protocol'],
      [{ state: 'closed' as never }, 'records[1].state'],
      [{ lastSeen: at(DAY0) }, 'records[1].lastSeen'],
      [{ firstSeen: new Date(NaN) }, 'records[1].firstSeen'],
      [{ origBytes: -5 }, 'records[1].origBytes'],
      [{ origBytes: 1.5 }, 'records[1].origBytes'],
      [{ replyBytes: 2n ** 63n }, 'records[1].replyBytes'],
      [{ edges: [] }, 'records[1].edges'],
      [{ edges: ['ok', ''] }, 'records[1].edges[1]'],
      [{ eventId: '' }, 'records[1].eventId'],
      [{ mark: 2 ** 32 }, 'records[1].mark'],
      [{ l7: 'x\u0000y' }, 'records[1].l7'],
    ];
    for (const [change, field] of bad) {
      await expectStoreError(() => writeFlowRecords(db.pool, [good, { ...flowRecord({ eventId: 'b' }), ...change } as FlowRecord]), 'STORE_BAD_PARAMETER', field);
    }
    expect((await db.pool.query('SELECT count(*)::int AS n FROM flows')).rows[0].n).toBe(0);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM ingested_events')).rows[0].n).toBe(0);
    // Big counters go in exactly as bigints.
    await writeFlowRecords(db.pool, [flowRecord({ eventId: 'big', replyBytes: 2n ** 62n })]);
    expect((await listFlows(db.pool, window))[0]!.replyBytes).toBe(2n ** 62n);
  });
});

describe('writeAccountingDeltas', () => {
  const m = (n: number) => at(DAY0 + 10 * HOUR + n * MINUTE);

  it('adds deltas to 1-minute buckets, and a redelivered batch adds nothing', async () => {
    const batch: AccountingDelta[] = [
      delta({ eventId: 'a1', minute: at(m(0).getTime() + 59_999), packets: 10, bytes: 1000 }),
      delta({ eventId: 'a1', minute: m(0), packets: 5, bytes: 500 }),
      delta({ eventId: 'a1', minute: m(0), direction: 'out', packets: 7, bytes: 70 }),
      delta({ eventId: 'a2', minute: m(1), l7: 'dns', iface: 'eth2', flows: 3, packets: 6, bytes: 600 }),
    ];
    expect(await writeAccountingDeltas(db.pool, batch)).toEqual({ events: 2, duplicates: 0, skipped: 0, rows: 3, expired: 0 });
    const once = await minuteRows();
    expect(once).toEqual([
      { bucket: m(0), edge: 'edge-a', iface: 'eth1', l7_protocol: 'http', direction: 'in', flows: 2, packets: 15, bytes: 1500 },
      { bucket: m(0), edge: 'edge-a', iface: 'eth1', l7_protocol: 'http', direction: 'out', flows: 1, packets: 7, bytes: 70 },
      { bucket: m(1), edge: 'edge-a', iface: 'eth2', l7_protocol: 'dns', direction: 'in', flows: 3, packets: 6, bytes: 600 },
    ]);
    expect(await writeAccountingDeltas(db.pool, batch)).toEqual({ events: 0, duplicates: 2, skipped: 4, rows: 0, expired: 0 });
    expect(await minuteRows()).toEqual(once);
    // A new event for the same bucket adds to it.
    await writeAccountingDeltas(db.pool, [delta({ eventId: 'a3', minute: m(0), packets: 1, bytes: 1 })]);
    expect((await minuteRows())[0]).toMatchObject({ flows: 3, packets: 16, bytes: 1501 });
    // The hour is marked for the rollup.
    const { rows } = await db.pool.query('SELECT bucket FROM accounting_dirty_hours');
    expect(rows).toEqual([{ bucket: at(DAY0 + 10 * HOUR) }]);
  });

  it('uses its own dedupe keys: a flow event with the same id does not hide a delta', async () => {
    await writeFlowRecords(db.pool, [flowRecord({ eventId: 'shared' })]);
    expect(await writeAccountingDeltas(db.pool, [delta({ eventId: 'shared' })])).toMatchObject({ events: 1, rows: 1 });
  });

  it('counts a batch written by two connections at once only once', async () => {
    const batch = Array.from({ length: 300 }, (_, i) => delta({ eventId: `k${i % 30}`, minute: m(i % 7), edge: `edge-${i % 3}` }));
    await Promise.all([writeAccountingDeltas(db.pool, batch), writeAccountingDeltas(db.pool, batch), writeAccountingDeltas(db.pool, batch)]);
    const { rows } = await db.pool.query('SELECT sum(packets)::int AS p, sum(bytes)::int AS b, sum(flows)::int AS f FROM accounting_1m');
    expect(rows[0]).toEqual({ p: 3000, b: 300_000, f: 300 });
  });

  it('rejects a bad delta naming the field', async () => {
    const cases: [Partial<AccountingDelta> | Record<string, unknown>, string][] = [
      [{ direction: 'sideways' as never }, 'deltas[0].direction'],
      [{ bytes: -1 }, 'deltas[0].bytes'],
      [{ minute: 'yesterday' as never }, 'deltas[0].minute'],
      [{ iface: '' }, 'deltas[0].iface'],
      [{ edge: 'e'.repeat(65) }, 'deltas[0].edge'],
    ];
    for (const [change, field] of cases) {
      await expectStoreError(() => writeAccountingDeltas(db.pool, [{ ...delta(), ...change } as AccountingDelta]), 'STORE_BAD_PARAMETER', field);
    }
    await expectStoreError(() => writeAccountingDeltas(db.pool, 'x' as never), 'STORE_BAD_PARAMETER', 'deltas');
    expect(await minuteRows()).toEqual([]);
  });
});

describe('upsertNode', () => {
  it('keeps the newest sighting\'s name and version, and first/last seen, whatever the order', async () => {
    await upsertNode(db.pool, { kind: 'edge', id: 'edge-a', name: 'router-1', version: '0.2.0', seenAt: at(DAY0 + 2000) });
    await upsertNode(db.pool, { kind: 'edge', id: 'edge-a', name: 'router-1-old', version: '0.1.0', seenAt: at(DAY0 + 1000) });
    await upsertNode(db.pool, { kind: 'worker', id: 'edge-a', name: 'w', version: '0.2.0', seenAt: at(DAY0) });
    expect(await listNodes(db.pool, 'edge')).toEqual([
      { kind: 'edge', id: 'edge-a', name: 'router-1', version: '0.2.0', firstSeen: at(DAY0 + 1000), lastSeen: at(DAY0 + 2000) },
    ]);
    expect(await listNodes(db.pool, 'worker')).toHaveLength(1);
    await expectStoreError(() => upsertNode(db.pool, { kind: 'router' as never, id: 'x', name: '', version: '', seenAt: at(0) }), 'STORE_BAD_PARAMETER', 'kind');
  });
});
