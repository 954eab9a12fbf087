/** Who used the most, over a time range: protocols or edges (from accounting), source or destination hosts (from the host rollup and the flows). */
import { toBigInt, transaction, withClient, type Db } from './db.js';
import { badParameter } from './errors.js';
import { checkKeys, checkLimit, checkRange, chooseAccountingSource, SqlParams, STORE_LIMITS } from './queryBounds.js';
import { checkName, checkOneOf } from './validate.js';

export type TopBy = 'protocol' | 'edge' | 'src' | 'dst';
const TOP_BY: readonly TopBy[] = ['protocol', 'edge', 'src', 'dst'];

export interface TopTalkersQuery {
  by: TopBy;
  since: Date;
  /** Now by default. */
  until?: Date;
  edge?: string;
  /** An l7 protocol name. */
  proto?: string;
  /** 'protocol' and 'edge' only: one uplink interface. */
  interface?: string;
  /** Rows at most: 10 by default, up to STORE_LIMITS.maxTopLimit. */
  limit?: number;
}

export interface TopTalker {
  /** The protocol, the edge, or the host's address. */
  key: string;
  /** src/dst: the host's zone (the same address in two zones is two hosts). */
  zone?: number;
  flows: bigint;
  packets: bigint;
  bytes: bigint;
}

const KEYS = ['by', 'since', 'until', 'edge', 'proto', 'interface', 'limit'];

/**
 * The top `limit` by bytes (ties by key), over [since, until).
 *
 * - by 'protocol' or 'edge': accounting buckets whose start lies in the
 *   range, both directions; from the daily or hourly rollup when since and
 *   until are whole days or hours (so as current as the last rollup), else
 *   from the 1-minute buckets (STORE_LIMITS bounds each).
 * - by 'src' or 'dst': flows that started in the range (at most
 *   maxFlowRangeDays), each with its latest counters, both directions;
 *   `edge` keeps flows that edge saw. Without `edge` and `proto`, the whole
 *   hours and days of the range come from the host rollup (the answer is
 *   the same; see hostsFromRollup), else every flow is read.
 */
export async function topTalkers(db: Db, query: TopTalkersQuery): Promise<TopTalker[]> {
  const q = checkKeys(query, KEYS);
  const by = checkOneOf(q.by, 'by', TOP_BY);
  const edge = q.edge === undefined ? undefined : checkName(q.edge, 'edge');
  const proto = q.proto === undefined ? undefined : checkName(q.proto, 'proto');
  const iface = q.interface === undefined ? undefined : checkName(q.interface, 'interface');
  const limit = checkLimit(q.limit, 10, STORE_LIMITS.maxTopLimit);
  const p = new SqlParams();

  if (by === 'protocol' || by === 'edge') {
    const { since, until } = checkRange(q, STORE_LIMITS.maxDayRangeDays);
    const source = await chooseAccountingSource(db, since, until);
    const where = [`bucket >= ${p.add(since)}`, `bucket < ${p.add(until)}`];
    if (edge !== undefined) where.push(`edge = ${p.add(edge)}`);
    if (proto !== undefined) where.push(`l7_protocol = ${p.add(proto)}`);
    if (iface !== undefined) where.push(`iface = ${p.add(iface)}`);
    const keyColumn = by === 'protocol' ? 'l7_protocol' : 'edge';
    const { rows } = await db.query<{ key: string; flows: string; packets: string; bytes: string }>(
      `SELECT ${keyColumn} AS key, sum(flows)::bigint AS flows, sum(packets)::bigint AS packets, sum(bytes)::bigint AS bytes
         FROM ${source.table}
        WHERE ${where.join(' AND ')}
        GROUP BY ${keyColumn}
        ORDER BY 4 DESC, 1
        LIMIT ${p.add(limit)}`,
      p.values,
    );
    return rows.map((r) => ({ key: r.key, flows: toBigInt(r.flows), packets: toBigInt(r.packets), bytes: toBigInt(r.bytes) }));
  }

  if (iface !== undefined) throw badParameter('interface', "applies to by 'protocol' and 'edge' only (flows do not record the interface)");
  const { since, until } = checkRange(q, STORE_LIMITS.maxFlowRangeDays);
  const side = by === 'src' ? 'src' : 'dst';
  const rows =
    edge === undefined && proto === undefined
      ? await hostsFromRollup(db, side, since, until, limit)
      : await hostsFromFlows(db, side, since, until, limit, edge, proto);
  return rows.map((r) => ({
    key: r.key,
    zone: Number(r.zone),
    flows: toBigInt(r.flows),
    packets: toBigInt(r.packets),
    bytes: toBigInt(r.bytes),
  }));
}

interface HostRow {
  zone: string;
  key: string;
  flows: string;
  packets: string;
  bytes: string;
}

// Column names come from here only.
const HOST_COLUMN = { src: 'src_addr', dst: 'dst_addr' } as const;

/** Hosts from the flows that started in [since, until): every flow read. The path for the edge and protocol filters, which the rollup does not keep. */
async function hostsFromFlows(db: Db, side: 'src' | 'dst', since: Date, until: Date, limit: number, edge?: string, proto?: string): Promise<HostRow[]> {
  const p = new SqlParams();
  const where = [`first_seen >= ${p.add(since)}`, `first_seen < ${p.add(until)}`];
  if (edge !== undefined) where.push(`${p.add(edge)} = ANY (edges)`);
  if (proto !== undefined) where.push(`l7_protocol = ${p.add(proto)}`);
  const hostColumn = HOST_COLUMN[side];
  return hostQuery(
    db,
    `SELECT zone, host(${hostColumn}) AS key, count(*) AS flows,
            sum(orig_packets + reply_packets)::bigint AS packets, sum(orig_bytes + reply_bytes)::bigint AS bytes
       FROM flows
      WHERE ${where.join(' AND ')}
      GROUP BY zone, ${hostColumn}
      ORDER BY bytes DESC, ${hostColumn}, zone
      LIMIT ${p.add(limit)}`,
    p.values,
  );
}

/**
 * Runs a top-hosts query without JIT and with room to aggregate. The
 * planner's estimates for these (a day's partitions, the few hours the
 * rollup leaves to the flows) have JIT compile the plan, which takes longer
 * than running it (a second and more on 10 million flows), and a day of
 * hosts outgrows the default work_mem (the aggregate spills to disk).
 */
function hostQuery(db: Db, sql: string, values: unknown[]): Promise<HostRow[]> {
  return withClient(db, (client) =>
    transaction(client, async () => {
      await client.query(`SET LOCAL jit = off; SET LOCAL work_mem = '64MB'`);
      return (await client.query<HostRow>(sql, values)).rows;
    }),
  );
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const ceilTo = (ms: number, step: number) => Math.ceil(ms / step) * step;
const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;

/**
 * The same answer as hostsFromFlows without a filter, from the host rollup
 * where it can: whole UTC days from host_traffic_1d, the other whole hours
 * from host_traffic_1h, and from the flows only the part before the first
 * whole hour and after the last, and the hours marked dirty (their flows
 * changed since their rollup; a day with such an hour is read by its clean
 * hours). One statement, so one snapshot: the rollup commits its rows
 * together with taking the marks, and a writer commits its flows together
 * with its marks, so every hour is read either from an up-to-date rollup
 * or from the flows, and the answer equals hostsFromFlows's.
 */
async function hostsFromRollup(db: Db, side: 'src' | 'dst', since: Date, until: Date, limit: number): Promise<HostRow[]> {
  const h0 = ceilTo(since.getTime(), HOUR_MS);
  const h1 = floorTo(until.getTime(), HOUR_MS);
  if (h0 >= h1) return hostsFromFlows(db, side, since, until, limit);
  let d0 = ceilTo(h0, DAY_MS);
  let d1 = floorTo(h1, DAY_MS);
  if (d0 >= d1) d0 = d1 = h1; // no whole day: hours for all of [h0, h1)
  const p = new SqlParams();
  const time = (v: Date | number) => `${p.add(new Date(v))}::timestamptz`;
  const $ = { side: p.add(side), since: time(since), until: time(until), h0: time(h0), h1: time(h1), d0: time(d0), d1: time(d1) };
  const sql = `WITH dirty AS MATERIALIZED (
       SELECT bucket FROM flow_dirty_hours WHERE bucket >= ${$.h0} AND bucket < ${$.h1}
     ), dirty_days AS MATERIALIZED (
       SELECT DISTINCT date_bin('1 day', bucket, timestamptz '1970-01-01 00:00:00+00') AS day
         FROM dirty WHERE bucket >= ${$.d0} AND bucket < ${$.d1}
     ), flow_ranges (lo, hi) AS (
       SELECT ${$.since}, ${$.h0} WHERE ${$.since} < ${$.h0}
       UNION ALL SELECT ${$.h1}, ${$.until} WHERE ${$.h1} < ${$.until}
       UNION ALL SELECT bucket, bucket + interval '1 hour' FROM dirty
     ), parts AS (
       SELECT zone, host, flows, packets, bytes FROM host_traffic_1d
        WHERE side = ${$.side} AND bucket >= ${$.d0} AND bucket < ${$.d1}
          AND bucket NOT IN (SELECT day FROM dirty_days)
       UNION ALL
       SELECT zone, host, flows, packets, bytes FROM host_traffic_1h
        WHERE side = ${$.side} AND bucket >= ${$.h0} AND bucket < ${$.d0} AND bucket NOT IN (SELECT bucket FROM dirty)
       UNION ALL
       SELECT zone, host, flows, packets, bytes FROM host_traffic_1h
        WHERE side = ${$.side} AND bucket >= ${$.d1} AND bucket < ${$.h1} AND bucket NOT IN (SELECT bucket FROM dirty)
       UNION ALL
       SELECT h.zone, h.host, h.flows, h.packets, h.bytes
         FROM dirty_days dd
         JOIN host_traffic_1h h ON h.side = ${$.side} AND h.bucket >= dd.day AND h.bucket < dd.day + interval '24 hours'
        WHERE h.bucket NOT IN (SELECT bucket FROM dirty)
       UNION ALL
       SELECT f.zone, f.${HOST_COLUMN[side]}, 1, f.orig_packets + f.reply_packets, f.orig_bytes + f.reply_bytes
         FROM flow_ranges r
         JOIN flows f ON f.first_seen >= r.lo AND f.first_seen < r.hi
     )
     SELECT zone, host(host) AS key, sum(flows)::bigint AS flows, sum(packets)::bigint AS packets, sum(bytes)::bigint AS bytes
       FROM parts
      GROUP BY zone, host
      ORDER BY 5 DESC, host, zone
      LIMIT ${p.add(limit)}`;
  return hostQuery(db, sql, p.values);
}
