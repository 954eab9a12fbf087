/**
 * The bounds every query keeps (time ranges, result sizes), and the choice
 * of accounting table a time range can be answered from.
 */
import type pg from 'pg';
import { badParameter, StoreError } from './errors.js';
import { checkDate, checkInteger } from './validate.js';

export const STORE_LIMITS = {
  /** listFlows and topTalkers by src/dst: the window on the flows' first_seen. */
  maxFlowRangeDays: 31,
  /** Accounting read from 1-minute buckets (since/until not on whole hours). */
  maxMinuteRangeDays: 31,
  /** Accounting read from the hourly rollup (since/until on whole hours). */
  maxHourRangeDays: 400,
  /** Accounting read from the daily rollup (since/until on whole UTC days). */
  maxDayRangeDays: 3660,
  /** topTalkers: rows returned at most (default 10). */
  maxTopLimit: 1000,
  /** listFlows: rows returned at most (default 100). */
  maxListLimit: 10_000,
  /** accountingSeries: rows returned at most (default and ceiling of maxRows). */
  maxSeriesRows: 100_000,
  /** accountingSeries: windows in the range at most. */
  maxWindows: 10_000,
} as const;

const DAY_MS = 86_400_000;

/** Rejects keys a query does not know (a misspelt filter must not widen the query silently). */
export function checkKeys(query: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof query !== 'object' || query === null || Array.isArray(query)) throw badParameter('query', 'must be an object');
  for (const key of Object.keys(query)) {
    if (!allowed.includes(key)) throw badParameter(key, `is not a parameter of this query (known: ${allowed.join(', ')})`);
  }
  return query as Record<string, unknown>;
}

/** since (required) and until (default now), until after since, at most maxDays apart. */
export function checkRange(q: Record<string, unknown>, maxDays: number, now = new Date()): { since: Date; until: Date } {
  const since = checkDate(q.since, 'since');
  const until = q.until === undefined ? now : checkDate(q.until, 'until');
  if (until <= since) throw badParameter('until', 'must be after since');
  checkSpan(since, until, maxDays, '');
  return { since, until };
}

export function checkSpan(since: Date, until: Date, maxDays: number, hint: string): void {
  if (until.getTime() - since.getTime() > maxDays * DAY_MS) {
    throw new StoreError('STORE_RANGE_TOO_WIDE', `since: the range since..until may span at most ${maxDays} days${hint}`, { field: 'since' });
  }
}

export function checkLimit(value: unknown, fallback: number, max: number, field = 'limit'): number {
  return value === undefined ? fallback : checkInteger(value, field, 1, max);
}

export type Resolution = 'minute' | 'hour' | 'day';

export interface AccountingSource {
  resolution: Resolution;
  /** A constant table name, never the caller's text. */
  table: 'accounting_1m' | 'accounting_1h' | 'accounting_1d';
}

const SOURCES: { resolution: Resolution; table: AccountingSource['table']; ms: number; maxDays: number }[] = [
  { resolution: 'day', table: 'accounting_1d', ms: DAY_MS, maxDays: STORE_LIMITS.maxDayRangeDays },
  { resolution: 'hour', table: 'accounting_1h', ms: 3_600_000, maxDays: STORE_LIMITS.maxHourRangeDays },
  { resolution: 'minute', table: 'accounting_1m', ms: 60_000, maxDays: STORE_LIMITS.maxMinuteRangeDays },
];

/**
 * The coarsest accounting table that answers [since, until) exactly: the
 * daily rollup when both bounds (and the window) are whole UTC days, the
 * hourly one for whole hours, else the 1-minute buckets. A bucket counts
 * when its start lies in [since, until). Checks the range against that
 * table's bound, and that 1-minute data since `since` still exists.
 */
export async function chooseAccountingSource(
  client: pg.ClientBase | pg.Pool,
  since: Date,
  until: Date,
  windowMs?: number,
): Promise<AccountingSource> {
  const aligned = (ms: number) =>
    since.getTime() % ms === 0 && until.getTime() % ms === 0 && (windowMs === undefined || windowMs % ms === 0);
  const source = SOURCES.find((s) => aligned(s.ms)) ?? SOURCES[SOURCES.length - 1]!;
  const hint =
    source.resolution === 'minute'
      ? ` from 1-minute data; since and until on whole hours read the hourly rollup (up to ${STORE_LIMITS.maxHourRangeDays} days)`
      : ` from the ${source.resolution === 'hour' ? 'hourly' : 'daily'} rollup`;
  checkSpan(since, until, source.maxDays, hint);
  if (source.resolution === 'minute') {
    const { rows } = await client.query<{ horizon: Date | null }>(
      `SELECT CASE WHEN horizon = '-infinity' THEN NULL ELSE horizon END AS horizon FROM partitioned_tables WHERE parent = 'accounting_1m'`,
    );
    const horizon = rows[0]?.horizon;
    if (horizon && since < horizon) {
      throw new StoreError(
        'STORE_OUT_OF_RETENTION',
        `since: 1-minute accounting before ${horizon.toISOString()} was dropped by retention; since and until on whole hours read the hourly rollup`,
        { field: 'since' },
      );
    }
  }
  return { resolution: source.resolution, table: source.table };
}

/** Builds `$n` placeholders while the WHERE clause grows; values stay parameters. */
export class SqlParams {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
