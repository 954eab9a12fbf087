/**
 * Daily partitions of `flows` and `accounting_1m`: created ahead, dropped
 * whole by retention. The SQL functions (ensure_partitions,
 * drop_partitions_before) do the work; these are their typed doors.
 */
import { withClient, type Db } from './db.js';
import { badParameter } from './errors.js';
import { checkDate } from './validate.js';

/** The store's time-partitioned tables. */
export type PartitionedTable = 'flows' | 'accounting_1m';

const DAY_MS = 86_400_000;

/** Creates the missing daily partitions for the UTC days overlapping [from, to); returns the names created. At most 400 days at once. */
export async function ensurePartitions(db: Db, range: { from: Date; to: Date; table?: PartitionedTable }): Promise<string[]> {
  const from = checkDate(range.from, 'from');
  const to = checkDate(range.to, 'to');
  if (to < from) throw badParameter('to', 'must not be before from');
  if (to.getTime() - from.getTime() > 400 * DAY_MS) throw badParameter('to', 'at most 400 days of partitions at once');
  const { rows } = await db.query<{ name: string }>('SELECT ensure_partitions($1, $2, $3) AS name', [from, to, range.table ?? null]);
  return rows.map((r) => r.name);
}

export interface RetentionOptions {
  /** Days of 1-minute accounting to keep; `days` when not given. The hourly and daily rollups are always kept. */
  minuteDays?: number;
  /** The clock (tests); now by default. */
  now?: Date;
}

export interface RetentionResult {
  /** Partitions dropped, by name. */
  dropped: string[];
  /** Dedupe keys deleted from ingested_events. */
  eventKeysDeleted: number;
  /** The new horizons: data before them is gone, and writers skip records older than them. */
  horizons: Record<PartitionedTable, Date>;
}

/**
 * Drops the daily partitions of flows (and of 1-minute accounting) that lie
 * wholly before the start of the UTC day `days` days ago, and the dedupe
 * keys ingested before that time. Hours are rolled up first, so the
 * rollups keep what the dropped minutes and flows held. JetStream's redelivery window
 * must be shorter than the retention, since a redelivered event whose key
 * was deleted here would be counted again.
 */
export async function applyRetention(db: Db, days: number, options: RetentionOptions = {}): Promise<RetentionResult> {
  if (!Number.isInteger(days) || days < 1 || days > 36_600) throw badParameter('days', 'must be a whole number of days from 1 to 36600');
  const minuteDays = options.minuteDays ?? days;
  if (!Number.isInteger(minuteDays) || minuteDays < 1 || minuteDays > 36_600) {
    throw badParameter('minuteDays', 'must be a whole number of days from 1 to 36600');
  }
  const now = checkDate(options.now ?? new Date(), 'now');
  const flowsBefore = new Date(now.getTime() - days * DAY_MS);
  const minutesBefore = new Date(now.getTime() - minuteDays * DAY_MS);
  return withClient(db, async (client) => {
    // Whatever minutes and flows are about to go must be in the rollups first.
    await client.query('SELECT rollup_accounting_dirty()');
    await client.query('SELECT rollup_hosts_dirty()');
    const dropped: string[] = [];
    for (const [table, before] of [
      ['flows', flowsBefore],
      ['accounting_1m', minutesBefore],
    ] as const) {
      const { rows } = await client.query<{ name: string }>('SELECT drop_partitions_before($1, $2) AS name', [before, table]);
      dropped.push(...rows.map((r) => r.name));
    }
    const deleted = await client.query('DELETE FROM ingested_events WHERE ingested_at < $1', [flowsBefore]);
    const { rows } = await client.query<{ parent: PartitionedTable; horizon: Date }>(
      `SELECT parent, horizon FROM partitioned_tables WHERE parent IN ('flows', 'accounting_1m')`,
    );
    const horizons = Object.fromEntries(rows.map((r) => [r.parent, r.horizon])) as Record<PartitionedTable, Date>;
    return { dropped, eventKeysDeleted: deleted.rowCount ?? 0, horizons };
  });
}

export interface PartitionInfo {
  table: PartitionedTable;
  name: string;
  /** The UTC day the partition holds: [from, from + 24 h). */
  from: Date;
}

/** The daily partitions that exist now, oldest first per table. */
export async function listPartitions(db: Db, table?: PartitionedTable): Promise<PartitionInfo[]> {
  const { rows } = await db.query<{ parent: PartitionedTable; name: string }>(
    `SELECT p.parent, c.relname AS name
       FROM partitioned_tables p
       JOIN pg_inherits i ON i.inhparent = to_regclass(quote_ident(p.parent))
       JOIN pg_class c ON c.oid = i.inhrelid
      WHERE $1::text IS NULL OR p.parent = $1
      ORDER BY p.parent, c.relname`,
    [table ?? null],
  );
  const out: PartitionInfo[] = [];
  for (const r of rows) {
    const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(r.name);
    if (!m) continue;
    out.push({ table: r.parent, name: r.name, from: new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) });
  }
  return out;
}

/** The columns a closed day of flows is indexed on for host lookups (008_closed_day_host_indexes.sql). */
const HOST_INDEX_COLUMNS = ['src_addr', 'dst_addr'] as const;

/** One builder of host indexes at a time (two would wait on each other's concurrent builds). */
const HOST_INDEX_LOCK = 'l7mesh.store.index_closed_partitions';

/**
 * Builds the host indexes (`<partition>_src_addr`, `<partition>_dst_addr`)
 * of every flows partition whose UTC day is over by `now` and lacks them,
 * or holds one left invalid by an interrupted build. CREATE INDEX
 * CONCURRENTLY, one at a time: the partition's late records (ends of its
 * flows) are written meanwhile. Runs on a connection of its own, outside
 * any transaction; while another builder runs, returns at once. Returns the
 * names of the indexes built.
 */
export async function indexClosedPartitions(db: Db, options: { now?: Date } = {}): Promise<string[]> {
  const now = checkDate(options.now ?? new Date(), 'now');
  return withClient(db, async (client) => {
    const { rows: locked } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [HOST_INDEX_LOCK]);
    if (!locked[0]?.ok) return [];
    try {
      const closed = (await listPartitions(client, 'flows')).filter((p) => p.from.getTime() + DAY_MS <= now.getTime());
      const wanted = closed.flatMap((p) => HOST_INDEX_COLUMNS.map((column) => ({ partition: p.name, column, name: `${p.name}_${column}` })));
      if (wanted.length === 0) return [];
      const { rows } = await client.query<{ name: string; valid: boolean }>(
        `SELECT c.relname AS name, i.indisvalid AS valid
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY ($1)`,
        [wanted.map((w) => w.name)],
      );
      const valid = new Map(rows.map((r) => [r.name, r.valid]));
      const built: string[] = [];
      // Names from listPartitions (flows_pYYYYMMDD) and constants only.
      for (const w of wanted) {
        if (valid.get(w.name) === true) continue;
        if (valid.get(w.name) === false) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS "${w.name}"`);
        await client.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS "${w.name}" ON "${w.partition}" (${w.column})`);
        built.push(w.name);
      }
      return built;
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [HOST_INDEX_LOCK]);
    }
  });
}
