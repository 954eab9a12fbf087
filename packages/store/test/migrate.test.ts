/** The migration runner on a real PostgreSQL: from empty, again, two at once, edited, unknown, failing files. */
import { cp, mkdtemp, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, MIGRATION_LOCK_KEY, MIGRATIONS_DIR, readMigrations } from '@l7mesh/store';
import { expectStoreError } from './expectStoreError.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}

/** A copy of the package's migrations that a test may change. */
async function migrationsCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'l7mesh-migrations-'));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function tableNames(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('migrate', () => {
  it('applies every migration to an empty database, in order, and then nothing', async () => {
    const db = await freshDatabase();
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    expect(files.length).toBeGreaterThanOrEqual(6);
    const lines: string[] = [];
    const first = await migrate(db.url, { log: (l) => lines.push(l) });
    expect(first).toEqual({ applied: files, current: files.length });
    expect(lines).toEqual(files.map((f) => `migrate: applying ${f}`));
    expect(await tableNames(db.pool)).toEqual(
      expect.arrayContaining([
        'edges',
        'workers',
        'flows',
        'accounting_1m',
        'accounting_1h',
        'accounting_1d',
        'accounting_dirty_hours',
        'ingested_events',
        'partitioned_tables',
        'store_migrations',
        'protocol_share_hourly',
        'top_src_daily',
        'top_dst_daily',
        'live_flows',
        'edge_interface_traffic_hourly',
      ]),
    );
    const { rows } = await db.pool.query('SELECT version, name, checksum FROM store_migrations ORDER BY version');
    const expected = await readMigrations();
    expect(rows).toEqual(expected.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));

    // Idempotent: through a pool and through a client, nothing more to do.
    expect(await migrate(db.pool)).toEqual({ applied: [], current: files.length });
    const client = await db.pool.connect();
    try {
      expect(await migrate(client)).toEqual({ applied: [], current: files.length });
    } finally {
      client.release();
    }
    expect((await db.pool.query('SELECT count(*)::int AS n FROM store_migrations')).rows[0].n).toBe(files.length);
  });

  it('makes a second runner wait on the lock, after which it finds nothing to do', async () => {
    const db = await freshDatabase();
    const files = (await readMigrations()).map((m) => m.name);
    // Hold the runners' lock, so that both certainly start while it is taken.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY.toString()]);

    const logs: string[][] = [[], []];
    const runs = logs.map((log) => migrate(db.url, { log: (l) => log.push(l) }));
    await until(async () => logs.every((l) => l.some((line) => line.includes('waiting'))), 'both runners to wait');
    // They really wait in PostgreSQL (not granted), and have applied nothing.
    const waiting = await holder.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(waiting.rows[0]!.n).toBe(2);
    expect((await holder.query(`SELECT to_regclass('flows') AS t`)).rows[0].t).toBeNull();

    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY.toString()]);
    const results = await Promise.all(runs);
    const sorted = [...results].sort((a, b) => b.applied.length - a.applied.length);
    expect(sorted).toEqual([
      { applied: files, current: files.length },
      { applied: [], current: files.length },
    ]);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM store_migrations')).rows[0].n).toBe(files.length);
  });

  it('refuses an applied migration that was edited, naming the file, before applying anything', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await migrate(db.url, { dir });
    const files = await readMigrations(dir);
    await appendFile(join(dir, files[2]!.name), '\n-- a harmless-looking edit\n');
    await writeFile(join(dir, '900_later.sql'), 'CREATE TABLE later_one (x int);\n');
    const err = await expectStoreError(() => migrate(db.url, { dir }), 'STORE_MIGRATION_EDITED');
    expect(err.file).toBe(files[2]!.name);
    expect(err.message).toContain(files[2]!.name);
    expect((await db.pool.query(`SELECT to_regclass('later_one') AS t`)).rows[0].t).toBeNull();
  });

  it('accepts a CRLF checkout of the same files', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await migrate(db.url, { dir });
    for (const m of await readMigrations(dir)) await writeFile(join(dir, m.name), m.sql.replace(/\n/g, '\r\n'));
    expect((await migrate(db.url, { dir })).applied).toEqual([]);
  });

  it('refuses a database migrated past what this code knows', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    await writeFile(join(dir, '900_later.sql'), 'CREATE TABLE later_one (x int);\n');
    expect((await migrate(db.url, { dir })).current).toBe(900);
    const err = await expectStoreError(() => migrate(db.url), 'STORE_MIGRATION_UNKNOWN');
    expect(err.file).toBe('900_later.sql');
  });

  it('rolls a failing migration back whole and names its file and line', async () => {
    const db = await freshDatabase();
    const dir = await migrationsCopy();
    const before = (await readMigrations(dir)).length;
    await writeFile(join(dir, '900_broken.sql'), 'CREATE TABLE half_done (x int);\n\nSELEC 1;\n');
    const err = await expectStoreError(() => migrate(db.url, { dir }), 'STORE_MIGRATION_FAILED');
    expect(err.file).toBe('900_broken.sql');
    expect(err.message).toMatch(/^migration 900_broken\.sql, line 3: syntax error/);
    expect(err.cause).toBeInstanceOf(pg.DatabaseError);
    expect((await db.pool.query(`SELECT to_regclass('half_done') AS t`)).rows[0].t).toBeNull();
    expect((await db.pool.query('SELECT max(version) AS v FROM store_migrations')).rows[0].v).toBe(before);
    // The lock was released: a corrected file goes in.
    await writeFile(join(dir, '900_broken.sql'), 'CREATE TABLE half_done (x int);\n');
    expect(await migrate(db.url, { dir })).toEqual({ applied: ['900_broken.sql'], current: 900 });
  });

  it('refuses badly named and duplicate files, and a new file numbered below the database', async () => {
    const dir = await migrationsCopy();
    await writeFile(join(dir, '7_short.sql'), 'SELECT 1;');
    expect((await expectStoreError(() => readMigrations(dir), 'STORE_MIGRATION_BAD_FILE')).file).toBe('7_short.sql');
    await rm(join(dir, '7_short.sql'));
    await writeFile(join(dir, '001_again.sql'), 'SELECT 1;');
    expect((await expectStoreError(() => readMigrations(dir), 'STORE_MIGRATION_BAD_FILE')).file).toMatch(/^001_/);
    await rm(join(dir, '001_again.sql'));

    const db = await freshDatabase();
    await writeFile(join(dir, '900_later.sql'), 'SELECT 1;');
    await migrate(db.url, { dir });
    await writeFile(join(dir, '800_forgotten.sql'), 'SELECT 1;');
    const err = await expectStoreError(() => migrate(db.url, { dir }), 'STORE_MIGRATION_BAD_FILE');
    expect(err.file).toBe('800_forgotten.sql');
  });
});
