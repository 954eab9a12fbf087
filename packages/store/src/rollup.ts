/** The rollups: accounting's 1-minute buckets summed into hours and days; the flows summed per host into hours and days. */
import type { Db } from './db.js';
import { badParameter } from './errors.js';
import { checkDate } from './validate.js';

/**
 * Recomputes hourly and daily accounting. With a range, every hour that
 * overlaps [since, until) (at most 400 days) and the days they fall in;
 * without one, the hours writers marked since the last rollup. Either way
 * an hour is deleted and summed again from its minutes, so running it again
 * gives the same rows; hours whose minutes retention dropped are left as
 * they are. Returns the number of hours recomputed.
 */
export async function rollupAccounting(db: Db, range?: { since: Date; until: Date }): Promise<number> {
  if (range === undefined) {
    const { rows } = await db.query<{ n: number }>('SELECT rollup_accounting_dirty() AS n');
    return rows[0]?.n ?? 0;
  }
  const since = checkDate(range.since, 'since');
  const until = checkDate(range.until, 'until');
  if (until < since) throw badParameter('until', 'must not be before since');
  if (until.getTime() - since.getTime() > 400 * 86_400_000) throw badParameter('until', 'at most 400 days at once');
  const { rows } = await db.query<{ n: number }>('SELECT rollup_accounting($1, $2) AS n', [since, until]);
  return rows[0]?.n ?? 0;
}

/**
 * Recomputes the hourly and daily host rollups (top talkers by source and
 * destination), from the flows. With a range, every hour that overlaps
 * [since, until) (at most 400 days) and the days they fall in; without
 * one, the hours the flow writer marked since the last rollup. Either way
 * an hour is deleted and summed again, so running it again gives the same
 * rows; hours whose flows retention dropped are left as they are. Queries
 * read marked hours from the flows meanwhile, so the rollup's schedule
 * changes their speed, never their answers. Returns the number of hours
 * recomputed.
 */
export async function rollupHosts(db: Db, range?: { since: Date; until: Date }): Promise<number> {
  if (range === undefined) {
    const { rows } = await db.query<{ n: number }>('SELECT rollup_hosts_dirty() AS n');
    return rows[0]?.n ?? 0;
  }
  const since = checkDate(range.since, 'since');
  const until = checkDate(range.until, 'until');
  if (until < since) throw badParameter('until', 'must not be before since');
  if (until.getTime() - since.getTime() > 400 * 86_400_000) throw badParameter('until', 'at most 400 days at once');
  const { rows } = await db.query<{ n: number }>('SELECT rollup_hosts($1, $2) AS n', [since, until]);
  return rows[0]?.n ?? 0;
}
