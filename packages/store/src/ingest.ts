/**
 * What the two batched writers share: the dedupe step, the retention
 * horizon, and the partitions a batch needs.
 */
import type pg from 'pg';
import { CopyChunks, copyField, copyRows } from './copyIn.js';
import { badParameter } from './errors.js';
import type { PartitionedTable } from './partitions.js';
import { checkText } from './validate.js';

/** Records or deltas in one call at most: one transaction, one statement's arrays. */
export const MAX_BATCH = 50_000;

export interface WriteResult {
  /** Dedupe keys in the batch that were new: their records were written (or were expired). */
  events: number;
  /** Dedupe keys already ingested: their records were skipped. */
  duplicates: number;
  /** Rows inserted or updated (records of one flow, deltas of one bucket, merged first). */
  rows: number;
  /** Records of new events skipped because they are older than the retention horizon. */
  expired: number;
}

export type EventKind = 'flows' | 'accounting';

export function checkBatch(items: unknown, field: string): unknown[] {
  if (!Array.isArray(items)) throw badParameter(field, 'must be an array');
  if (items.length > MAX_BATCH) throw badParameter(field, `at most ${MAX_BATCH} per call (got ${items.length}); split the batch`);
  return items;
}

export function checkEventId(value: unknown, field: string): string {
  return checkText(value, field, 200, 1);
}

/** The distinct start-of-UTC-day instants of `times`, for ensure_partitions. */
export function daysOf(times: Iterable<Date>): Date[] {
  const days = new Set<number>();
  for (const t of times) days.add(Math.floor(t.getTime() / 86_400_000) * 86_400_000);
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
 * returns those that were taken already (duplicates).
 *
 * Duplicates are rare (a redelivery), so the keys are first COPYed in
 * plainly, under a savepoint: about half the cost of an INSERT ... ON
 * CONFLICT, which ingestion pays once per record. Only when that meets a
 * key already there (unique_violation) is the savepoint rolled back and the
 * careful statement run, which skips the taken keys and names them. A key
 * another transaction is writing at the same moment waits for it either
 * way, and is then a duplicate if that one committed. Keys go in sorted, so
 * two batches sharing keys lock them in one order and cannot deadlock.
 */
export async function claimEvents(client: pg.ClientBase, kind: EventKind, eventIds: ReadonlySet<string>): Promise<Set<string>> {
  const ids = [...eventIds].sort();
  const data = new CopyChunks();
  for (const id of ids) data.add(`${copyField(id)}\t${kind}\n`);
  await client.query('SAVEPOINT l7mesh_claim');
  try {
    await copyRows(client, 'COPY ingested_events (event_id, kind) FROM STDIN', data);
    await client.query('RELEASE SAVEPOINT l7mesh_claim');
    return new Set();
  } catch (err) {
    if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
    await client.query('ROLLBACK TO SAVEPOINT l7mesh_claim');
  }
  const { rows } = await client.query<{ event_id: string }>(
    `WITH ids AS (SELECT e, o FROM unnest($1::text[]) WITH ORDINALITY AS u(e, o)),
          fresh AS (INSERT INTO ingested_events (event_id, kind)
                    SELECT e, $2 FROM ids ORDER BY o
                    ON CONFLICT (event_id, kind) DO NOTHING
                    RETURNING event_id)
     SELECT e AS event_id FROM ids WHERE NOT EXISTS (SELECT 1 FROM fresh WHERE fresh.event_id = ids.e)`,
    [ids, kind],
  );
  return new Set(rows.map((r) => r.event_id));
}

const UNIQUE_VIOLATION = '23505';
