/** The hourly and daily rollups on a real PostgreSQL: equal to the minutes' sums, idempotent, catching late deltas. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollupAccounting, writeAccountingDeltas, type AccountingDelta } from '@l7mesh/store';
import { at, DAY, DAY0, HOUR, MINUTE, seeded } from './samples.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
});
afterAll(async () => {
  await db?.drop();
});

const EPOCH = `timestamptz '1970-01-01 00:00:00+00'`;

/** The rollup tables as they are, and as they should be: summed straight from the minutes. */
async function rollupsAndMinuteSums() {
  const q = async (sql: string) => (await db.pool.query(sql)).rows;
  const cols = 'edge, iface, l7_protocol, direction';
  const order = 'ORDER BY 1, 2, 3, 4, 5';
  return {
    hours: await q(`SELECT bucket, ${cols}, flows::text, packets::text, bytes::text FROM accounting_1h ${order}`),
    hoursFromMinutes: await q(
      `SELECT date_bin('1 hour', bucket, ${EPOCH}) AS bucket, ${cols}, sum(flows)::text AS flows, sum(packets)::text AS packets, sum(bytes)::text AS bytes
         FROM accounting_1m GROUP BY 1, 2, 3, 4, 5 ${order}`,
    ),
    days: await q(`SELECT bucket, ${cols}, flows::text, packets::text, bytes::text FROM accounting_1d ${order}`),
    daysFromMinutes: await q(
      `SELECT date_bin('1 day', bucket, ${EPOCH}) AS bucket, ${cols}, sum(flows)::text AS flows, sum(packets)::text AS packets, sum(bytes)::text AS bytes
         FROM accounting_1m GROUP BY 1, 2, 3, 4, 5 ${order}`,
    ),
  };
}

/** `count` deltas spread over [start, start + spanMs), with every key dimension varied. */
function randomDeltas(seed: number, count: number, start: number, spanMs: number, eventPrefix: string): AccountingDelta[] {
  const rnd = seeded(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  return Array.from({ length: count }, (_, i) => ({
    eventId: `${eventPrefix}${Math.floor(i / 25)}`,
    minute: at(start + Math.floor(rnd() * spanMs)),
    edge: pick(['edge-a', 'edge-b', 'edge-c']),
    iface: pick(['eth1', 'eth2']),
    l7: pick(['http', 'dns', 'ssh', 'unknown']),
    direction: pick(['in', 'out'] as const),
    flows: Math.floor(rnd() * 3),
    packets: 1 + Math.floor(rnd() * 1000),
    bytes: 60 + Math.floor(rnd() * 1_000_000),
  }));
}

const sumBytes = (ds: AccountingDelta[]) => ds.reduce((s, d) => s + BigInt(d.bytes), 0n);

describe('rollupAccounting', () => {
  it('sums minutes into hours and hours into days, exactly, and gives the same rows when run again', async () => {
    // Three days and a bit, starting mid-day, in batches of 25 events, one batch delivered twice.
    const deltas = randomDeltas(11, 2000, DAY0 + 13 * HOUR + 17 * MINUTE, 3 * DAY + 5 * HOUR, 'r');
    for (let i = 0; i < deltas.length; i += 250) await writeAccountingDeltas(db.pool, deltas.slice(i, i + 250));
    await writeAccountingDeltas(db.pool, deltas.slice(250, 500));

    const hoursTouched = new Set(deltas.map((d) => Math.floor(d.minute.getTime() / HOUR))).size;
    expect(await rollupAccounting(db.pool)).toBe(hoursTouched);
    const first = await rollupsAndMinuteSums();
    expect(first.hours).toEqual(first.hoursFromMinutes);
    expect(first.days).toEqual(first.daysFromMinutes);
    expect(first.days.length).toBeGreaterThan(0);
    const total = (await db.pool.query('SELECT sum(bytes)::text AS b FROM accounting_1d')).rows[0].b;
    expect(BigInt(total)).toBe(sumBytes(deltas));

    // Nothing is dirty any more; a range rollup over everything, twice, changes nothing.
    expect(await rollupAccounting(db.pool)).toBe(0);
    const range = { since: at(DAY0), until: at(DAY0 + 5 * DAY) };
    expect(await rollupAccounting(db.pool, range)).toBe(5 * 24);
    expect(await rollupsAndMinuteSums()).toEqual(first);
    await rollupAccounting(db.pool, range);
    expect(await rollupsAndMinuteSums()).toEqual(first);
  });

  it('picks up a late delta for an hour rolled up long ago', async () => {
    const lateHour = DAY0 + 14 * HOUR;
    const before = (await db.pool.query('SELECT coalesce(sum(bytes), 0)::int AS b FROM accounting_1d WHERE bucket = $1', [at(DAY0)])).rows[0].b;
    await writeAccountingDeltas(db.pool, [
      { eventId: 'late-1', minute: at(lateHour + 5 * MINUTE), edge: 'edge-z', iface: 'eth9', l7: 'http', direction: 'in', flows: 1, packets: 3, bytes: 12_345 },
    ]);
    expect(await rollupAccounting(db.pool)).toBe(1);
    const after = await rollupsAndMinuteSums();
    expect(after.hours).toEqual(after.hoursFromMinutes);
    expect(after.days).toEqual(after.daysFromMinutes);
    const day = (await db.pool.query('SELECT sum(bytes)::int AS b FROM accounting_1d WHERE bucket = $1', [at(DAY0)])).rows[0].b;
    expect(day - before).toBe(12_345);
  });

  it('stays equal to the minutes when rollups run while deltas are being written', async () => {
    await db.pool.query('TRUNCATE accounting_1m, accounting_1h, accounting_1d, accounting_dirty_hours, ingested_events');
    const deltas = randomDeltas(29, 3000, DAY0 + 2 * HOUR, 3 * HOUR, 'w');
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < deltas.length; i += 100) await writeAccountingDeltas(db.pool, deltas.slice(i, i + 100));
      writing = false;
    })();
    const roller = (async () => {
      while (writing) await rollupAccounting(db.pool);
    })();
    await Promise.all([writer, roller]);
    await rollupAccounting(db.pool);
    const end = await rollupsAndMinuteSums();
    expect(end.hours).toEqual(end.hoursFromMinutes);
    expect(end.days).toEqual(end.daysFromMinutes);
    const total = (await db.pool.query('SELECT sum(bytes)::text AS b FROM accounting_1h')).rows[0].b;
    expect(BigInt(total)).toBe(sumBytes(deltas));
  });
});
