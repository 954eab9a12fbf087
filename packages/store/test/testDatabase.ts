/**
 * A fresh PostgreSQL database per test file (or per test that needs an
 * empty one), on the local server, dropped afterwards even when tests
 * failed. Names carry the creation time, so databases left behind by a run
 * that was killed are dropped by a later run.
 *
 * Sessions run with TimeZone Pacific/Chatham (UTC+12:45, +13:45 in summer):
 * day and hour boundaries must be UTC's whatever the session says.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '@l7mesh/store';

const ADMIN_URL = process.env.L7MESH_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PREFIX = 'l7mesh_store_test_';
const STALE_MS = 6 * 3_600_000;
export const SESSION_TIME_ZONE = 'Pacific/Chatham';

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `${PREFIX}${Date.now()}_${randomBytes(4).toString('hex')}`;
  await admin(async (client) => {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${PREFIX}%`]);
    for (const { datname } of rows) {
      const created = Number(datname.slice(PREFIX.length).split('_')[0]);
      if (Date.now() - created > STALE_MS) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await client.query(`CREATE DATABASE "${name}"`);
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 6, options: `-c TimeZone=${SESSION_TIME_ZONE}` });
  // An idle client's error (the database dropped under it) must not take the test process down.
  pool.on('error', () => undefined);
  const db: TestDatabase = {
    name,
    url: url.toString(),
    pool,
    async drop() {
      await pool.end().catch(() => undefined);
      await admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
  if (options.migrated) {
    try {
      await migrate(pool);
    } catch (err) {
      await db.drop();
      throw err;
    }
  }
  return db;
}
