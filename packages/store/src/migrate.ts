/**
 * The schema's migration runner: numbered SQL files applied in order, each
 * in its own transaction, recorded with a checksum in `store_migrations`.
 *
 * Our own rather than a library's: what it must do is small and exact (a
 * session advisory lock so that runners started together take turns, a
 * checksum so an applied file that was edited is refused by name, plain SQL
 * files), and the well-kept Node libraries either want migrations written in
 * JS or do not check what was applied against the files.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { StoreError } from './errors.js';

/** The package's migrations (beside `src/` and `dist/`, so both find them). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/**
 * The key of the session advisory lock a runner holds while it works
 * ('l7mesh' in ASCII). Advisory locks belong to one database, so runners on
 * different databases never wait for each other.
 */
export const MIGRATION_LOCK_KEY = 0x6c376d657368n;

export interface MigrateOptions {
  /** Progress lines: waiting for the lock, each file applied. */
  log?: (line: string) => void;
  /** Where the NNN_name.sql files are; the package's own by default. */
  dir?: string;
}

export interface MigrateResult {
  /** File names applied by this run, in order (empty when the schema was current). */
  applied: string[];
  /** The database's schema version afterwards: the highest applied number (0: none). */
  current: number;
}

export interface MigrationFile {
  version: number;
  /** The file name, `001_nodes.sql`. */
  name: string;
  sql: string;
  /** SHA-256 (hex) of the file, its line ends read as LF (a CRLF checkout is not an edit). */
  checksum: string;
}

const FILE_NAME = /^(\d{3,})_[a-z0-9][a-z0-9_]*\.sql$/;

/** Reads and checks the migration files of `dir`, in version order. Files not ending in `.sql` are ignored. */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const files: MigrationFile[] = [];
  const byVersion = new Map<number, string>();
  for (const name of names) {
    const m = FILE_NAME.exec(name);
    const version = m ? Number(m[1]) : 0;
    if (!m || version === 0) {
      throw new StoreError('STORE_MIGRATION_BAD_FILE', `migration ${name}: the name must be NNN_name.sql (NNN from 001, name in a-z0-9_)`, { file: name });
    }
    const other = byVersion.get(version);
    if (other !== undefined) {
      throw new StoreError('STORE_MIGRATION_BAD_FILE', `migration ${name}: number ${version} is also ${other}`, { file: name });
    }
    byVersion.set(version, name);
    const sql = (await readFile(join(dir, name), 'utf8')).replace(/\r\n/g, '\n');
    files.push({ version, name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return files.sort((a, b) => a.version - b.version);
}

/**
 * Brings the database's schema up to the newest migration. Safe to run from
 * several processes at once: a runner that finds the lock taken logs that it
 * waits, waits, and then finds nothing left to do. Applied migrations are
 * checked first (all of them, before anything is applied): an edited one, or
 * one this code does not know, stops the run with a StoreError naming the
 * file. A failing migration is rolled back; those before it stay applied.
 */
export async function migrate(target: pg.Pool | pg.ClientBase | string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const files = await readMigrations(options.dir);
  const log = options.log ?? (() => undefined);
  if (typeof target === 'string') {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      return await migrateOn(client, files, log);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  if (target instanceof pg.Pool) {
    const client = await target.connect();
    let destroy: Error | undefined;
    try {
      return await migrateOn(client, files, log);
    } catch (err) {
      // After a failure the session may still hold the lock (if unlocking failed too): never reuse it.
      destroy = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(destroy);
    }
  }
  return migrateOn(target, files, log);
}

async function migrateOn(client: pg.ClientBase, files: MigrationFile[], log: (line: string) => void): Promise<MigrateResult> {
  const key = MIGRATION_LOCK_KEY.toString();
  const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS got', [key]);
  if (!rows[0]?.got) {
    log('migrate: another runner holds the migration lock; waiting');
    await client.query('SELECT pg_advisory_lock($1::bigint)', [key]);
  }
  try {
    return await applyPending(client, files, log);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
  }
}

async function applyPending(client: pg.ClientBase, files: MigrationFile[], log: (line: string) => void): Promise<MigrateResult> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS store_migrations (
      version     integer     PRIMARY KEY,
      name        text        NOT NULL,
      checksum    text        NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now(),
      duration_ms integer     NOT NULL
    )`);
  const { rows: done } = await client.query<{ version: number; name: string; checksum: string }>(
    'SELECT version, name, checksum FROM store_migrations ORDER BY version',
  );
  const byVersion = new Map(files.map((f) => [f.version, f]));
  let current = 0;
  for (const row of done) {
    const file = byVersion.get(row.version);
    if (file === undefined || file.name !== row.name) {
      throw new StoreError(
        'STORE_MIGRATION_UNKNOWN',
        `migration ${row.name} is applied to this database but is not among this code's migrations` +
          (file ? ` (number ${row.version} is ${file.name} here)` : '') +
          ': the database was migrated by another version of l7mesh, or a file was renamed',
        { file: row.name },
      );
    }
    if (file.checksum !== row.checksum) {
      throw new StoreError(
        'STORE_MIGRATION_EDITED',
        `migration ${file.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)}... then, ` +
          `${file.checksum.slice(0, 12)}... now): applied migrations must not change; add a new migration instead`,
        { file: file.name },
      );
    }
    current = Math.max(current, row.version);
  }
  const appliedVersions = new Set(done.map((r) => r.version));
  const pending = files.filter((f) => !appliedVersions.has(f.version));
  for (const file of pending) {
    if (file.version < current) {
      throw new StoreError(
        'STORE_MIGRATION_BAD_FILE',
        `migration ${file.name} is numbered below the database's version ${current}: number new migrations above the last one`,
        { file: file.name },
      );
    }
  }
  const applied: string[] = [];
  for (const file of pending) {
    log(`migrate: applying ${file.name}`);
    const started = Date.now();
    await client.query('BEGIN');
    try {
      await client.query(file.sql);
      await client.query('INSERT INTO store_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)', [
        file.version,
        file.name,
        file.checksum,
        Date.now() - started,
      ]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new StoreError('STORE_MIGRATION_FAILED', `migration ${file.name}${lineOf(file.sql, err)}: ${(err as Error).message}`, {
        file: file.name,
        cause: err,
      });
    }
    applied.push(file.name);
    current = file.version;
  }
  return { applied, current };
}

/** ", line N" from pg's error position (1-based characters into the statement text), when it has one. */
function lineOf(sql: string, err: unknown): string {
  const position = err instanceof pg.DatabaseError ? Number(err.position) : NaN;
  if (!Number.isInteger(position) || position < 1) return '';
  return `, line ${sql.slice(0, position - 1).split('\n').length}`;
}
