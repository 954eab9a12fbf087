/** Who used the most, over a time range: protocols or edges (from accounting), source or destination hosts (from flows). */
import { toBigInt, type Db } from './db.js';
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
 *   `edge` keeps flows that edge saw.
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
  const where = [`first_seen >= ${p.add(since)}`, `first_seen < ${p.add(until)}`];
  if (edge !== undefined) where.push(`${p.add(edge)} = ANY (edges)`);
  if (proto !== undefined) where.push(`l7_protocol = ${p.add(proto)}`);
  const hostColumn = by === 'src' ? 'src_addr' : 'dst_addr';
  const { rows } = await db.query<{ zone: string; key: string; flows: string; packets: string; bytes: string }>(
    `SELECT zone, host(${hostColumn}) AS key, count(*) AS flows,
            sum(orig_packets + reply_packets)::bigint AS packets, sum(orig_bytes + reply_bytes)::bigint AS bytes
       FROM flows
      WHERE ${where.join(' AND ')}
      GROUP BY zone, ${hostColumn}
      ORDER BY bytes DESC, ${hostColumn}, zone
      LIMIT ${p.add(limit)}`,
    p.values,
  );
  return rows.map((r) => ({
    key: r.key,
    zone: Number(r.zone),
    flows: toBigInt(r.flows),
    packets: toBigInt(r.packets),
    bytes: toBigInt(r.bytes),
  }));
}
