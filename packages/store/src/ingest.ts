/**
 * What the two batched writers share: the dedupe step, the retention
 * horizon, and the partitions a batch needs.
 */
import type pg from 'pg';
import { badParameter, badParameterIn, StoreError } from './errors.js';
import type { PartitionedTable } from './partitions.js';
import { checkText } from './validate.js';

/** Records or deltas in one call at most: one transaction, one statement's arrays. */
export const MAX_BATCH = 50_000;

export interface WriteResult {
  /** Dedupe keys in the batch that were new: their records were written (or were expired). */
  events: number;
  /** Dedupe keys already ingested: their records were skipped. */
  duplicates: number;
  /** Records (or deltas) of those keys: skipped. */
  skipped: number;
  /** Rows inserted or updated (records of one flow, deltas of one bucket, merged first). */
  rows: number;
  /** Records of new events skipped because they are older than the retention horizon. */
  expired: number;
}

export type EventKind = 'flows' | 'accounting';

/**
 * The items of a batch (`records` or `deltas`), each checked by `check`.
 * `check` names an item's fields plainly and a bad one is reported with
 * its path (`records[3].srcPort`), which is built only then: a writer
 * checks an item every few microseconds.
 */
export function checkBatch<T>(items: unknown, list: 'records' | 'deltas', what: string, check: (item: Record<string, unknown>) => T): T[] {
  if (!Array.isArray(items)) throw badParameter(list, 'must be an array');
  if (items.length > MAX_BATCH) throw badParameter(list, `at most ${MAX_BATCH} per call (got ${items.length}); split the batch`);
  const checked: T[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (typeof item !== 'object' || item === null) throw badParameter(`${list}[${i}]`, `must be ${what}`);
    try {
      checked[i] = check(item as Record<string, unknown>);
    } catch (err) {
      throw err instanceof StoreError && err.code === 'STORE_BAD_PARAMETER' ? badParameterIn(`${list}[${i}]`, err) : err;
    }
  }
  return checked;
}

export function checkEventId(value: unknown, field: string): string {
  return checkText(value, field, 200, 1);
}

/** The distinct start-of-UTC-day instants of the items' times, for ensure_partitions. */
export function daysOf<T>(items: readonly T[], timeOf: (item: T) => Date): Date[] {
  const days = new Set<number>();
  let last = NaN;
  for (let i = 0; i < items.length; i++) {
    const day = Math.floor(timeOf(items[i]!).getTime() / 86_400_000) * 86_400_000;
    // Items come mostly in time order: the Set (a boxed number a lookup) only where the day changes.
    if (day !== last) days.add(day);
    last = day;
  }
  return [...days].sort((a, b) => a - b).map((d) => new Date(d));
}

/** Creates the partitions of `table` the batch's days need (outside the write's transaction: a CREATE is not worth holding its lock to a commit). */
export async function ensureDays(client: pg.ClientBase, table: PartitionedTable, days: Date[]): Promise<void> {
  if (days.length === 0) return;
  await client.query(`SELECT ensure_partitions(d, d + interval '24 hours', $2) FROM unnest($1::timestamptz[]) AS d`, [days, table]);
}

/**
 * Inside the write's transaction: the table's retention horizon, read with
 * a share lock on its row, so that retention (which moves the horizon before
 * it drops partitions) waits for this write and the partitions this write
 * aims at stay until it commits. null: no horizon yet.
 */
export async function lockHorizon(client: pg.ClientBase, table: PartitionedTable): Promise<number | null> {
  const { rows } = await client.query<{ horizon: Date | null }>(
    `SELECT CASE WHEN horizon = '-infinity' THEN NULL ELSE horizon END AS horizon
       FROM partitioned_tables WHERE parent = $1 FOR SHARE`,
    [table],
  );
  return rows[0]?.horizon?.getTime() ?? null;
}

/**
 * Inside the write's transaction: records the batch's dedupe keys and
 * returns those that were taken already (duplicates). One statement: an
 * event is a whole message of records (control's granularity), so a batch
 * has a few dozen keys. A key another transaction is writing at the same
 * moment waits for it, and is then a duplicate if that one committed. Keys
 * go in sorted, so two batches sharing keys lock them in one order and
 * cannot deadlock.
 */
export async function claimEvents(client: pg.ClientBase, kind: EventKind, eventIds: ReadonlySet<string>): Promise<Set<string>> {
  const { rows } = await client.query<{ event_id: string }>(
    `WITH ids AS (SELECT e, o FROM unnest($1::text[]) WITH ORDINALITY AS u(e, o)),
          fresh AS (INSERT INTO ingested_events (event_id, kind)
                    SELECT e, $2 FROM ids ORDER BY o
                    ON CONFLICT (event_id, kind) DO NOTHING
                    RETURNING event_id)
     SELECT e AS event_id FROM ids WHERE NOT EXISTS (SELECT 1 FROM fresh WHERE fresh.event_id = ids.e)`,
    [[...eventIds].sort(), kind],
  );
  return new Set(rows.map((r) => r.event_id));
}
