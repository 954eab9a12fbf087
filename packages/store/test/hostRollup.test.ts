/**
 * The host rollup (top talkers by source and destination) on a real
 * PostgreSQL: exact per hour and day, idempotent, catching late records,
 * equal to the flows while records and rollups run at once, kept by
 * retention; and topTalkers reading it with the same answers as the flows.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRetention, migrate, MIGRATIONS_DIR, rollupHosts, topTalkers, writeFlowRecords, type FlowRecord } from '@l7mesh/store';
import { at, DAY, DAY0, flowRecord, HOUR, MINUTE, seeded } from './samples.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
});
afterAll(async () => {
  await db?.drop();
});

const H0 = DAY0 + 10 * HOUR;
const H1 = DAY0 + 11 * HOUR;
const NEXT = DAY0 + DAY + 3 * HOUR;

// Bytes and packets are both directions' (orig + reply).
const flows: Record<string, FlowRecord> = {
  f1: flowRecord({ eventId: 'f1', src: '198.18.0.1', srcPort: 40001, dst: '198.19.0.80', firstSeen: at(H0), lastSeen: at(H0 + 10 * MINUTE), state: 'ended', origBytes: 1000, replyBytes: 9000, origPackets: 10, replyPackets: 12 }),
  f2: flowRecord({ eventId: 'f2', protocol: 17, src: '198.18.0.1', srcPort: 40002, dst: '198.19.0.53', dstPort: 53, firstSeen: at(H0 + MINUTE), lastSeen: at(H0 + 20 * MINUTE), l7: 'dns', origBytes: 100, replyBytes: 200, origPackets: 1, replyPackets: 1 }),
  f3: flowRecord({ eventId: 'f3', src: '198.18.0.2', srcPort: 40003, dst: '198.19.0.80', firstSeen: at(H0 + 2 * MINUTE), lastSeen: at(H0 + 30 * MINUTE), origBytes: 50, replyBytes: 50, origPackets: 2, replyPackets: 2 }),
  f4: flowRecord({ eventId: 'f4', src: '2001:db8::1', srcPort: 50000, dst: '2001:db8:1::443', dstPort: 443, firstSeen: at(H1), lastSeen: at(H1 + MINUTE), state: 'ended', l7: 'tls', origBytes: 500, replyBytes: 500, origPackets: 5, replyPackets: 5 }),
  // The same addresses as f1 in another zone: other hosts.
  f5: flowRecord({ eventId: 'f5', zone: 7, src: '198.18.0.1', srcPort: 40001, dst: '198.19.0.80', firstSeen: at(H0), lastSeen: at(H0 + 5 * MINUTE), state: 'ended', origBytes: 1, replyBytes: 1, origPackets: 1, replyPackets: 1 }),
  f6: flowRecord({ eventId: 'f6', src: '198.18.0.9', srcPort: 1, firstSeen: at(DAY0 - DAY), lastSeen: at(DAY0 - DAY + 1000), state: 'ended', origBytes: 1, replyBytes: 1 }),
  f7: flowRecord({ eventId: 'f7', src: '198.18.0.1', srcPort: 40007, dst: '198.19.0.80', firstSeen: at(NEXT), lastSeen: at(NEXT + MINUTE), state: 'ended', origBytes: 500, replyBytes: 4500, origPackets: 4, replyPackets: 6 }),
};

const q = async (sql: string, params: unknown[] = []) => (await db.pool.query(sql, params)).rows;
const rollupRows = (table: 'host_traffic_1h' | 'host_traffic_1d', side: 'src' | 'dst') =>
  q(`SELECT bucket, zone::int, host(host) AS host, flows::int, packets::int, bytes::int FROM ${table} t WHERE side = $1 ORDER BY t.bucket, t.zone, t.host`, [side]);
const plain = (rows: { key: string; zone?: number; flows: bigint; packets: bigint; bytes: bigint }[]) =>
  rows.map((r) => [r.key, r.zone, Number(r.flows), Number(r.packets), Number(r.bytes)]);

/** The rollups as they are, and as they should be: summed straight from the flows. */
async function rollupsAndFlowSums() {
  const sums = (bin: string) =>
    q(`SELECT date_bin('${bin}', f.first_seen, timestamptz '1970-01-01 00:00:00+00') AS bucket, s.side, f.zone::text, host(s.host) AS host,
              count(*)::text AS flows, sum(f.orig_packets + f.reply_packets)::text AS packets, sum(f.orig_bytes + f.reply_bytes)::text AS bytes
         FROM flows f CROSS JOIN LATERAL (VALUES ('src', f.src_addr), ('dst', f.dst_addr)) AS s(side, host)
        GROUP BY 1, 2, f.zone, s.host ORDER BY 1, 2, f.zone, s.host`);
  const table = (name: string) =>
    q(`SELECT bucket, side, zone::text, host(host) AS host, flows::text, packets::text, bytes::text FROM ${name} t ORDER BY t.bucket, t.side, t.zone, t.host`);
  return { hours: await table('host_traffic_1h'), hoursFromFlows: await sums('1 hour'), days: await table('host_traffic_1d'), daysFromFlows: await sums('1 day') };
}

describe('rollupHosts', () => {
  beforeAll(async () => {
    await writeFlowRecords(db.pool, Object.values(flows));
  });

  it('sums each hour and day per side, zone and host, exactly, and gives the same rows when run again', async () => {
    // The writer marked the hours its flows started in.
    expect((await q('SELECT bucket FROM flow_dirty_hours ORDER BY 1')).map((r) => r.bucket)).toEqual([at(DAY0 - DAY), at(H0), at(H1), at(NEXT)]);
    expect(await rollupHosts(db.pool)).toBe(4);
    expect(await q('SELECT * FROM flow_dirty_hours')).toEqual([]);

    expect(await rollupRows('host_traffic_1h', 'src')).toEqual([
      { bucket: at(DAY0 - DAY), zone: 0, host: '198.18.0.9', flows: 1, packets: 7, bytes: 2 },
      { bucket: at(H0), zone: 0, host: '198.18.0.1', flows: 2, packets: 24, bytes: 10_300 },
      { bucket: at(H0), zone: 0, host: '198.18.0.2', flows: 1, packets: 4, bytes: 100 },
      { bucket: at(H0), zone: 7, host: '198.18.0.1', flows: 1, packets: 2, bytes: 2 },
      { bucket: at(H1), zone: 0, host: '2001:db8::1', flows: 1, packets: 10, bytes: 1000 },
      { bucket: at(NEXT), zone: 0, host: '198.18.0.1', flows: 1, packets: 10, bytes: 5000 },
    ]);
    expect(await rollupRows('host_traffic_1d', 'dst')).toEqual([
      { bucket: at(DAY0 - DAY), zone: 0, host: '198.19.0.80', flows: 1, packets: 7, bytes: 2 },
      { bucket: at(DAY0), zone: 0, host: '198.19.0.53', flows: 1, packets: 2, bytes: 300 },
      { bucket: at(DAY0), zone: 0, host: '198.19.0.80', flows: 2, packets: 26, bytes: 10_100 },
      { bucket: at(DAY0), zone: 0, host: '2001:db8:1::443', flows: 1, packets: 10, bytes: 1000 },
      { bucket: at(DAY0), zone: 7, host: '198.19.0.80', flows: 1, packets: 2, bytes: 2 },
      { bucket: at(DAY0 + DAY), zone: 0, host: '198.19.0.80', flows: 1, packets: 10, bytes: 5000 },
    ]);
    const first = await rollupsAndFlowSums();
    expect(first.hours).toEqual(first.hoursFromFlows);
    expect(first.days).toEqual(first.daysFromFlows);

    // Nothing is dirty any more; a range rollup over everything, twice, changes nothing.
    expect(await rollupHosts(db.pool)).toBe(0);
    const range = { since: at(DAY0 - DAY), until: at(DAY0 + 2 * DAY) };
    expect(await rollupHosts(db.pool, range)).toBe(3 * 24);
    expect(await rollupsAndFlowSums()).toEqual(first);
    await rollupHosts(db.pool, range);
    expect(await rollupsAndFlowSums()).toEqual(first);
  });

  it('catches a late record: its flow\'s hour is marked again and recomputed, the final counters replacing the earlier ones', async () => {
    // f3's end, a day late: 50 + 50 bytes become 700 + 300.
    await writeFlowRecords(db.pool, [{ ...flows.f3!, eventId: 'f3-end', state: 'ended', lastSeen: at(H0 + DAY), origBytes: 700, replyBytes: 300, origPackets: 7, replyPackets: 3 }]);
    expect((await q('SELECT bucket FROM flow_dirty_hours')).map((r) => r.bucket)).toEqual([at(H0)]);
    expect(await rollupHosts(db.pool)).toBe(1);
    expect((await rollupRows('host_traffic_1h', 'src')).filter((r) => r.host === '198.18.0.2')).toEqual([
      { bucket: at(H0), zone: 0, host: '198.18.0.2', flows: 1, packets: 10, bytes: 1000 },
    ]);
    const after = await rollupsAndFlowSums();
    expect(after.hours).toEqual(after.hoursFromFlows);
    expect(after.days).toEqual(after.daysFromFlows);
  });

  it('stays equal to the flows when rollups run while records are being written', async () => {
    await db.pool.query('TRUNCATE flows, flow_dirty_hours, host_traffic_1h, host_traffic_1d, ingested_events');
    const rnd = seeded(7);
    // 3000 records of 1500 flows (a verdict and an end each, the end often in a later batch) over six hours.
    const starts = Array.from({ length: 1500 }, () => DAY0 + 2 * HOUR + Math.floor(rnd() * 6 * HOUR));
    const records: FlowRecord[] = [];
    starts.forEach((t, i) => {
      const base = { src: `198.18.${i % 7}.${i % 13}`, srcPort: 1024 + i, dst: `198.19.0.${i % 5}`, zone: i % 3, firstSeen: at(t), lastSeen: at(t + 10) };
      records.push(flowRecord({ ...base, eventId: `v${i}`, origBytes: 100, replyBytes: 100 }));
      records.push(flowRecord({ ...base, eventId: `e${i}`, state: 'ended', lastSeen: at(t + 5000), origBytes: 100 + i, replyBytes: 1000 + (i % 17), origPackets: 3, replyPackets: 5 }));
    });
    for (let i = records.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [records[i], records[j]] = [records[j]!, records[i]!];
    }
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < records.length; i += 100) await writeFlowRecords(db.pool, records.slice(i, i + 100));
      writing = false;
    })();
    const roller = (async () => {
      while (writing) await rollupHosts(db.pool);
    })();
    await Promise.all([writer, roller]);
    await rollupHosts(db.pool);
    const end = await rollupsAndFlowSums();
    expect(end.hours).toEqual(end.hoursFromFlows);
    expect(end.days).toEqual(end.daysFromFlows);
    const total = (await q(`SELECT sum(bytes)::text AS b FROM host_traffic_1d WHERE side = 'dst'`))[0].b;
    expect(BigInt(total)).toBe(starts.reduce((s, _t, i) => s + BigInt(1100 + i + (i % 17)), 0n));
  });
});

describe('topTalkers by host, from the rollup', () => {
  beforeAll(async () => {
    await db.pool.query('TRUNCATE flows, flow_dirty_hours, host_traffic_1h, host_traffic_1d, ingested_events');
    await writeFlowRecords(db.pool, Object.values(flows));
  });

  const threeDays = { since: at(DAY0 - DAY), until: at(DAY0 + 2 * DAY) };
  const bySrcThreeDays = [
    ['198.18.0.1', 0, 3, 34, 15_300],
    ['2001:db8::1', 0, 1, 10, 1000],
    ['198.18.0.2', 0, 1, 4, 100],
    ['198.18.0.1', 7, 1, 2, 2],
    ['198.18.0.9', 0, 1, 7, 2],
  ];

  it('gives the flows\' answer before any rollup (every hour is marked) and after it', async () => {
    expect(plain(await topTalkers(db.pool, { by: 'src', ...threeDays }))).toEqual(bySrcThreeDays);
    await rollupHosts(db.pool);
    expect(plain(await topTalkers(db.pool, { by: 'src', ...threeDays }))).toEqual(bySrcThreeDays);
    expect(plain(await topTalkers(db.pool, { by: 'dst', ...threeDays, limit: 2 }))).toEqual([
      ['198.19.0.80', 0, 4, 43, 15_102],
      ['2001:db8:1::443', 0, 1, 10, 1000],
    ]);
  });

  it('reads whole days and hours from the rollup, and the partial hours at both ends from the flows', async () => {
    // A flow deleted behind the writer's back (no mark): the rollup, which read it, still counts it...
    await db.pool.query(`DELETE FROM flows WHERE event_id = 'f1'`);
    expect(plain(await topTalkers(db.pool, { by: 'src', ...threeDays }))[0]).toEqual(['198.18.0.1', 0, 3, 34, 15_300]);
    expect(plain(await topTalkers(db.pool, { by: 'src', since: at(H0), until: at(H1) }))[0]).toEqual(['198.18.0.1', 0, 2, 24, 10_300]);
    // ...and the filtered path, which reads every flow, does not.
    expect(plain(await topTalkers(db.pool, { by: 'src', ...threeDays, edge: 'edge-a' }))[0]).toEqual(['198.18.0.1', 0, 2, 12, 5300]);
    // Half a minute in: [H0+30s, H0+1h) and the tail [NEXT, NEXT+1ms) from the flows (f2, f3, f7), H1 .. NEXT from the hours (f4).
    expect(plain(await topTalkers(db.pool, { by: 'src', since: at(H0 + 30_000), until: at(NEXT + 1) }))).toEqual([
      ['198.18.0.1', 0, 2, 12, 5300],
      ['2001:db8::1', 0, 1, 10, 1000],
      ['198.18.0.2', 0, 1, 4, 100],
    ]);
    // Within one hour: the flows only.
    expect(plain(await topTalkers(db.pool, { by: 'dst', since: at(H0 + 1), until: at(H0 + 30 * MINUTE) }))).toEqual([
      ['198.19.0.53', 0, 1, 2, 300],
      ['198.19.0.80', 0, 1, 4, 100],
    ]);
    // Rolled up again (marked by hand), the hour and its day lose what was deleted; a host left without flows leaves no rows.
    await db.pool.query(`DELETE FROM flows WHERE event_id = 'f5'`);
    await db.pool.query('INSERT INTO flow_dirty_hours (bucket) VALUES ($1)', [at(H0)]);
    expect(await rollupHosts(db.pool)).toBe(1);
    const after = await rollupsAndFlowSums();
    expect(after.hours).toEqual(after.hoursFromFlows);
    expect(after.days).toEqual(after.daysFromFlows);
    expect((await rollupRows('host_traffic_1d', 'src')).filter((r) => r.zone === 7)).toEqual([]);
  });

  it('reads an hour the writer marked from the flows until the rollup ran, so a late record counts at once', async () => {
    await db.pool.query('TRUNCATE flows, flow_dirty_hours, host_traffic_1h, host_traffic_1d, ingested_events');
    await writeFlowRecords(db.pool, Object.values(flows));
    await rollupHosts(db.pool);
    await writeFlowRecords(db.pool, [{ ...flows.f2!, eventId: 'f2-end', state: 'ended', lastSeen: at(H0 + DAY), origBytes: 4000, replyBytes: 6000, origPackets: 20, replyPackets: 30 }]);
    const expected = [
      ['198.18.0.1', 0, 3, 82, 25_000],
      ['2001:db8::1', 0, 1, 10, 1000],
      ['198.18.0.2', 0, 1, 4, 100],
      ['198.18.0.1', 7, 1, 2, 2],
      ['198.18.0.9', 0, 1, 7, 2],
    ];
    // DAY0 is read by its clean hours and H0 from the flows; the other days from the daily rollup.
    expect(plain(await topTalkers(db.pool, { by: 'src', ...threeDays }))).toEqual(expected);
    // H0 from the flows, H1 from the hourly rollup.
    expect(plain(await topTalkers(db.pool, { by: 'src', since: at(H0), until: at(H1 + HOUR) }))).toEqual([
      ['198.18.0.1', 0, 2, 72, 20_000],
      ['2001:db8::1', 0, 1, 10, 1000],
      ['198.18.0.2', 0, 1, 4, 100],
      ['198.18.0.1', 7, 1, 2, 2],
    ]);
    expect(await rollupHosts(db.pool)).toBe(1);
    expect(plain(await topTalkers(db.pool, { by: 'src', ...threeDays }))).toEqual(expected);
  });

  it('keeps answering for days whose flows retention dropped', async () => {
    await rollupHosts(db.pool);
    // Now is DAY0+1 06:00; one day back drops DAY0-1 (f6) and keeps DAY0.
    const result = await applyRetention(db.pool, 1, { now: at(DAY0 + DAY + 6 * HOUR) });
    expect(result.dropped).toContain('flows_p20240309');
    expect((await q('SELECT count(*)::int AS n FROM flows WHERE first_seen < $1', [at(DAY0)]))[0].n).toBe(0);
    expect(plain(await topTalkers(db.pool, { by: 'src', since: at(DAY0 - DAY), until: at(DAY0) }))).toEqual([['198.18.0.9', 0, 1, 7, 2]]);
    // A rollup of the dropped range leaves it as it was.
    await rollupHosts(db.pool, { since: at(DAY0 - DAY), until: at(DAY0) });
    expect(await rollupRows('host_traffic_1d', 'src')).toContainEqual({ bucket: at(DAY0 - DAY), zone: 0, host: '198.18.0.9', flows: 1, packets: 7, bytes: 2 });
  });
});

describe('migration 007', () => {
  it('marks the hours of flows written before it, so queries read them from the flows until a rollup ran', async () => {
    const early = await createTestDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'l7mesh-migrations-'));
    try {
      for (const name of await readdir(MIGRATIONS_DIR)) {
        if (/^00[1-6]_.*\.sql$/.test(name)) await cp(join(MIGRATIONS_DIR, name), join(dir, name));
      }
      expect((await migrate(early.pool, { dir })).current).toBe(6);
      await early.pool.query(`SELECT ensure_partitions($1, $2, 'flows')`, [at(DAY0), at(DAY0 + DAY)]);
      await early.pool.query(
        `INSERT INTO flows (zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen, last_seen, state, orig_packets, orig_bytes, reply_packets, reply_bytes, l7_protocol, decided_by, mark, rule_set_version, edges, event_id)
         VALUES (0, 6, '198.18.0.1', 1, '198.19.0.1', 80, $1, $1, 'ended', 1, 10, 1, 20, 'http', 'http.pat', 0, 0, '{edge-a}', 'old')`,
        [at(H0 + 5 * MINUTE)],
      );
      expect((await migrate(early.pool)).current).toBeGreaterThanOrEqual(7);
      expect((await early.pool.query('SELECT bucket FROM flow_dirty_hours')).rows).toEqual([{ bucket: at(H0) }]);
      expect(plain(await topTalkers(early.pool, { by: 'src', since: at(DAY0), until: at(DAY0 + DAY) }))).toEqual([['198.18.0.1', 0, 1, 2, 30]]);
      expect(await rollupHosts(early.pool)).toBe(1);
      expect(plain(await topTalkers(early.pool, { by: 'src', since: at(DAY0), until: at(DAY0 + DAY) }))).toEqual([['198.18.0.1', 0, 1, 2, 30]]);
    } finally {
      await early.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
