/** Accounting as a time series: fixed windows, grouped by any of protocol, edge, interface and direction. */
import { TRAFFIC_DIRECTIONS, type TrafficDirection } from './accountingWriter.js';
import { toBigInt, type Db } from './db.js';
import { badParameter, StoreError } from './errors.js';
import { checkKeys, checkLimit, checkRange, chooseAccountingSource, SqlParams, STORE_LIMITS, type Resolution } from './queryBounds.js';
import { checkInteger, checkName, checkOneOf } from './validate.js';

export type SeriesDimension = 'proto' | 'edge' | 'interface' | 'direction';
const DIMENSIONS: readonly SeriesDimension[] = ['proto', 'edge', 'interface', 'direction'];
// Column names come from this map only.
const COLUMN: Record<SeriesDimension, string> = { proto: 'l7_protocol', edge: 'edge', interface: 'iface', direction: 'direction' };

export interface AccountingSeriesQuery {
  /** Dimensions to keep apart, in the order rows are sorted by (after the window); [] sums everything per window. */
  groupBy: SeriesDimension[];
  /** The window in seconds: a whole number of minutes, at most 366 days. */
  windowSec: number;
  since: Date;
  /** Now by default. */
  until?: Date;
  edge?: string;
  proto?: string;
  interface?: string;
  direction?: TrafficDirection;
  /** Rows at most (STORE_LIMITS.maxSeriesRows by default and at most); more is STORE_TOO_MANY_ROWS. */
  maxRows?: number;
}

export interface SeriesPoint {
  /** The window's start. */
  start: Date;
  /** The grouped dimensions only. */
  proto?: string;
  edge?: string;
  interface?: string;
  direction?: TrafficDirection;
  flows: bigint;
  packets: bigint;
  bytes: bigint;
}

export interface AccountingSeries {
  /** Which table answered: 'minute' buckets, or the 'hour' or 'day' rollup. */
  resolution: Resolution;
  /** Windows with traffic only, by start and then the grouped dimensions. */
  points: SeriesPoint[];
}

const KEYS = ['groupBy', 'windowSec', 'since', 'until', 'edge', 'proto', 'interface', 'direction', 'maxRows'];

/**
 * Sums accounting buckets whose start lies in [since, until) into windows
 * of `windowSec`, aligned on multiples of the window since the Unix epoch
 * (so a day window is a UTC day); the first and last windows are partial
 * when since or until is not on a window boundary. Answered from the daily
 * or hourly rollup when the window and both bounds are whole days or hours,
 * else from the 1-minute buckets.
 */
export async function accountingSeries(db: Db, query: AccountingSeriesQuery): Promise<AccountingSeries> {
  const q = checkKeys(query, KEYS);
  if (!Array.isArray(q.groupBy)) throw badParameter('groupBy', `must be a list of ${DIMENSIONS.join(', ')}`);
  const groupBy = q.groupBy.map((d, i) => checkOneOf(d, `groupBy[${i}]`, DIMENSIONS));
  const repeated = groupBy.findIndex((d, i) => groupBy.indexOf(d) !== i);
  if (repeated >= 0) throw badParameter(`groupBy[${repeated}]`, `${groupBy[repeated]} is listed twice`);
  const windowSec = checkInteger(q.windowSec, 'windowSec', 60, 366 * 86_400);
  if (windowSec % 60 !== 0) throw badParameter('windowSec', 'must be a whole number of minutes (buckets are 1 minute)');
  const maxRows = checkLimit(q.maxRows, STORE_LIMITS.maxSeriesRows, STORE_LIMITS.maxSeriesRows, 'maxRows');
  const { since, until } = checkRange(q, STORE_LIMITS.maxDayRangeDays);
  const windowMs = windowSec * 1000;
  const windows = Math.floor((until.getTime() - 1) / windowMs) - Math.floor(since.getTime() / windowMs) + 1;
  if (windows > STORE_LIMITS.maxWindows) {
    throw badParameter('windowSec', `${windows} windows in since..until; at most ${STORE_LIMITS.maxWindows}: widen the window or shorten the range`);
  }
  const source = await chooseAccountingSource(db, since, until, windowMs);

  const p = new SqlParams();
  const where = [`bucket >= ${p.add(since)}`, `bucket < ${p.add(until)}`];
  if (q.edge !== undefined) where.push(`edge = ${p.add(checkName(q.edge, 'edge'))}`);
  if (q.proto !== undefined) where.push(`l7_protocol = ${p.add(checkName(q.proto, 'proto'))}`);
  if (q.interface !== undefined) where.push(`iface = ${p.add(checkName(q.interface, 'interface'))}`);
  if (q.direction !== undefined) where.push(`direction = ${p.add(checkOneOf(q.direction, 'direction', TRAFFIC_DIRECTIONS))}`);
  const dims = groupBy.map((d) => `${COLUMN[d]} AS "${d}"`);
  const order = ['1', ...groupBy.map((d) => `"${d}"`)];
  const { rows } = await db.query<Record<string, unknown> & { start: Date; flows: string; packets: string; bytes: string }>(
    `SELECT date_bin(make_interval(secs => ${p.add(windowSec)}), bucket, timestamptz '1970-01-01 00:00:00+00') AS start,
            ${dims.map((d) => `${d}, `).join('')}
            sum(flows)::bigint AS flows, sum(packets)::bigint AS packets, sum(bytes)::bigint AS bytes
       FROM ${source.table}
      WHERE ${where.join(' AND ')}
      GROUP BY ${order.join(', ')}
      ORDER BY ${order.join(', ')}
      LIMIT ${p.add(maxRows + 1)}`,
    p.values,
  );
  if (rows.length > maxRows) {
    throw new StoreError(
      'STORE_TOO_MANY_ROWS',
      `maxRows: the series has more than ${maxRows} rows; widen the window, group by less or shorten the range`,
      { field: 'maxRows' },
    );
  }
  const points = rows.map((r) => {
    const point: SeriesPoint = { start: r.start, flows: toBigInt(r.flows), packets: toBigInt(r.packets), bytes: toBigInt(r.bytes) };
    for (const d of groupBy) (point as unknown as Record<string, unknown>)[d] = r[d];
    return point;
  });
  return { resolution: source.resolution, points };
}
