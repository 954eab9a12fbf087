/** Daily partitions and retention on a real PostgreSQL (sessions in a far-off time zone: days are UTC's). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accountingSeries,
  applyRetention,
  ensurePartitions,
  indexClosedPartitions,
  listFlows,
  listPartitions,
  rollupAccounting,
  writeAccountingDeltas,
  writeFlowRecords,
} from '@l7mesh/store';
import { expectStoreError } from './expectStoreError.js';
import { at, DAY, DAY0, delta, flowRecord, HOUR } from './samples.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
});
afterAll(async () => {
  await db?.drop();
});

const names = async (table: 'flows' | 'accounting_1m') => (await listPartitions(db.pool, table)).map((p) => p.name);

describe('ensurePartitions', () => {
  it('creates the UTC days overlapping the range for both tables, once', async () => {
    const created = await ensurePartitions(db.pool, { from: at(DAY0 + 12 * HOUR), to: at(DAY0 + 2 * DAY + 1) });
    expect(created.sort()).toEqual([
      'accounting_1m_p20240310',
      'accounting_1m_p20240311',
      'accounting_1m_p20240312',
      'flows_p20240310',
      'flows_p20240311',
      'flows_p20240312',
    ]);
    expect(await ensurePartitions(db.pool, { from: at(DAY0), to: at(DAY0 + 3 * DAY) })).toEqual([]);
    expect(await ensurePartitions(db.pool, { from: at(DAY0 + 3 * DAY), to: at(DAY0 + 3 * DAY), table: 'flows' })).toEqual([]);
    const info = await listPartitions(db.pool, 'flows');
    expect(info.map((p) => p.from)).toEqual([at(DAY0), at(DAY0 + DAY), at(DAY0 + 2 * DAY)]);
  });

  it('puts a row in the partition of its UTC day, whatever the session time zone', async () => {
    await writeFlowRecords(db.pool, [
      flowRecord({ eventId: 'edge-1', firstSeen: at(DAY0 + DAY - 1), lastSeen: at(DAY0 + DAY) }),
      flowRecord({ eventId: 'edge-2', firstSeen: at(DAY0 + DAY), lastSeen: at(DAY0 + DAY) }),
    ]);
    const { rows } = await db.pool.query(`SELECT tableoid::regclass::text AS part, first_seen FROM flows ORDER BY first_seen`);
    expect(rows).toEqual([
      { part: 'flows_p20240310', first_seen: at(DAY0 + DAY - 1) },
      { part: 'flows_p20240311', first_seen: at(DAY0 + DAY) },
    ]);
    expect((await db.pool.query('SHOW TimeZone')).rows[0].TimeZone).toBe('Pacific/Chatham');
  });

  it('is created by the writers for a day that has none', async () => {
    await writeAccountingDeltas(db.pool, [delta({ eventId: 'far', minute: at(DAY0 + 20 * DAY + 5) })]);
    expect(await names('accounting_1m')).toContain('accounting_1m_p20240330');
    expect(await names('flows')).not.toContain('flows_p20240330');
  });

  it('rejects a backwards or too long range', async () => {
    await expectStoreError(() => ensurePartitions(db.pool, { from: at(DAY0), to: at(DAY0 - 1) }), 'STORE_BAD_PARAMETER', 'to');
    await expectStoreError(() => ensurePartitions(db.pool, { from: at(DAY0), to: at(DAY0 + 401 * DAY) }), 'STORE_BAD_PARAMETER', 'to');
  });
});

describe('applyRetention', () => {
  it('drops whole partitions before the cutoff day and only those, and keeps the rollups', async () => {
    await db.pool.query('TRUNCATE flows, accounting_1m, accounting_1h, accounting_1d, accounting_dirty_hours, ingested_events');
    // Six days of flows and accounting, DAY0 .. DAY0+5.
    for (let d = 0; d < 6; d++) {
      const t = DAY0 + d * DAY;
      await writeFlowRecords(db.pool, [
        flowRecord({ eventId: `f${d}a`, firstSeen: at(t + HOUR), lastSeen: at(t + HOUR + 1000), srcPort: 1000 + d }),
        flowRecord({ eventId: `f${d}b`, firstSeen: at(t + 23 * HOUR), lastSeen: at(t + 23 * HOUR + 1000), srcPort: 2000 + d }),
      ]);
      await writeAccountingDeltas(db.pool, [
        delta({ eventId: `a${d}a`, minute: at(t + HOUR), bytes: 100 + d }),
        delta({ eventId: `a${d}b`, minute: at(t + 13 * HOUR + 30_000), bytes: 1000 + d, direction: 'out' }),
      ]);
    }
    await rollupAccounting(db.pool);
    const rollups = async () => ({
      hours: (await db.pool.query('SELECT * FROM accounting_1h ORDER BY 1, 2, 3, 4, 5')).rows,
      days: (await db.pool.query('SELECT * FROM accounting_1d ORDER BY 1, 2, 3, 4, 5')).rows,
    });
    const before = await rollups();
    expect(before.hours).toHaveLength(12);
    expect(before.days).toHaveLength(12);
    // One old dedupe key.
    await db.pool.query(`UPDATE ingested_events SET ingested_at = $1 WHERE event_id = 'f0a'`, [at(DAY0)]);

    // Now is DAY0+5 06:00; three days back is DAY0+2 06:00, so days DAY0 and DAY0+1 go, DAY0+2 stays.
    const now = at(DAY0 + 5 * DAY + 6 * HOUR);
    const result = await applyRetention(db.pool, 3, { now });
    expect(result.dropped.sort()).toEqual(['accounting_1m_p20240310', 'accounting_1m_p20240311', 'flows_p20240310', 'flows_p20240311']);
    expect(result.eventKeysDeleted).toBe(1);
    expect(result.horizons).toEqual({ flows: at(DAY0 + 2 * DAY), accounting_1m: at(DAY0 + 2 * DAY) });
    expect(await names('flows')).toEqual(['flows_p20240312', 'flows_p20240313', 'flows_p20240314', 'flows_p20240315']);

    const flows = await listFlows(db.pool, { since: at(DAY0 - DAY), until: at(DAY0 + 7 * DAY), limit: 100 });
    expect(flows.map((f) => f.srcPort).sort()).toEqual([1002, 1003, 1004, 1005, 2002, 2003, 2004, 2005]);
    expect(await rollups()).toEqual(before);
    // Rolling up the dropped range again leaves those hours as they were.
    await rollupAccounting(db.pool, { since: at(DAY0), until: at(DAY0 + 6 * DAY) });
    expect(await rollups()).toEqual(before);

    // Late records for dropped days are skipped, and do not bring their partitions back.
    expect(await writeFlowRecords(db.pool, [flowRecord({ eventId: 'late', firstSeen: at(DAY0 + HOUR), lastSeen: at(DAY0 + HOUR) })])).toEqual({
      events: 1,
      duplicates: 0,
      skipped: 0,
      rows: 0,
      expired: 1,
    });
    expect(await writeAccountingDeltas(db.pool, [delta({ eventId: 'late', minute: at(DAY0 + DAY) })])).toMatchObject({ expired: 1, rows: 0 });
    expect(await ensurePartitions(db.pool, { from: at(DAY0), to: at(DAY0 + 2 * DAY) })).toEqual([]);
    expect(await names('flows')).not.toContain('flows_p20240310');
    expect(await rollups()).toEqual(before);

    // The rollups still answer for the dropped days; the minutes do not.
    const series = await accountingSeries(db.pool, { groupBy: [], windowSec: 86_400, since: at(DAY0), until: at(DAY0 + 2 * DAY) });
    expect(series.resolution).toBe('day');
    expect(series.points.map((p) => p.bytes)).toEqual([1100n, 1102n]);
    await expectStoreError(
      () => accountingSeries(db.pool, { groupBy: [], windowSec: 60, since: at(DAY0 + 30 * 60_000), until: at(DAY0 + DAY) }),
      'STORE_OUT_OF_RETENTION',
      'since',
    );

    // Minutes may be kept for less time than flows.
    const shorter = await applyRetention(db.pool, 3, { now, minuteDays: 1 });
    expect(shorter.dropped.sort()).toEqual(['accounting_1m_p20240312', 'accounting_1m_p20240313']);
    expect(await names('accounting_1m')).toEqual(['accounting_1m_p20240314', 'accounting_1m_p20240315', 'accounting_1m_p20240330']);
    expect(await names('flows')).toHaveLength(4);
    expect(await rollups()).toEqual(before);
  });

  it('rejects a bad number of days', async () => {
    await expectStoreError(() => applyRetention(db.pool, 0), 'STORE_BAD_PARAMETER', 'days');
    await expectStoreError(() => applyRetention(db.pool, 1.5), 'STORE_BAD_PARAMETER', 'days');
    await expectStoreError(() => applyRetention(db.pool, 3, { minuteDays: -1 }), 'STORE_BAD_PARAMETER', 'minuteDays');
  });
});

describe('indexClosedPartitions', () => {
  it('indexes the hosts of the days that are over, once; rebuilds an index left invalid; host lookups use it and find what the current day holds too', async () => {
    const fresh = await createTestDatabase({ migrated: true });
    try {
      const hostIndexes = async () =>
        (await fresh.pool.query<{ name: string; valid: boolean }>(
          `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relname ~ '_(src|dst)_addr$' ORDER BY 1`,
        )).rows;
      await writeFlowRecords(fresh.pool, [
        flowRecord({ eventId: 'day0', src: '198.18.7.7', firstSeen: at(DAY0 + HOUR), lastSeen: at(DAY0 + HOUR) }),
        flowRecord({ eventId: 'day1', dst: '198.19.9.9', firstSeen: at(DAY0 + DAY + HOUR), lastSeen: at(DAY0 + DAY + HOUR) }),
        flowRecord({ eventId: 'day2', src: '198.18.7.7', firstSeen: at(DAY0 + 2 * DAY + HOUR), lastSeen: at(DAY0 + 2 * DAY + HOUR) }),
      ]);
      // No partition has host indexes of its own while its day lasts (nor a parent index that would give it one).
      expect(await hostIndexes()).toEqual([]);

      const now = at(DAY0 + 2 * DAY + 2 * HOUR);
      const days = ['flows_p20240310_dst_addr', 'flows_p20240310_src_addr', 'flows_p20240311_dst_addr', 'flows_p20240311_src_addr'];
      expect((await indexClosedPartitions(fresh.pool, { now })).sort()).toEqual(days);
      expect(await hostIndexes()).toEqual(days.map((name) => ({ name, valid: true })));
      expect(await indexClosedPartitions(fresh.pool, { now })).toEqual([]);

      // As a build interrupted half-way leaves it.
      await fresh.pool.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'flows_p20240310_src_addr'::regclass`);
      expect(await indexClosedPartitions(fresh.pool, { now })).toEqual(['flows_p20240310_src_addr']);
      expect(await hostIndexes()).toEqual(days.map((name) => ({ name, valid: true })));

      const found = await listFlows(fresh.pool, { src: '198.18.7.7', since: at(DAY0), until: now });
      expect(found.map((f) => f.firstSeen)).toEqual([at(DAY0 + 2 * DAY + HOUR), at(DAY0 + HOUR)]);
      const client = await fresh.pool.connect();
      try {
        await client.query('SET enable_seqscan = off');
        // A few rows: the planner takes an index only when told not to read the table.
        const plan = await client.query(`EXPLAIN SELECT * FROM flows WHERE src_addr <<= '198.18.7.7'`);
        expect(plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n')).toContain('flows_p20240310_src_addr');
      } finally {
        client.release();
      }
    } finally {
      await fresh.drop();
    }
  });
});
