import pg from 'pg';

/**
 * What the store's functions run on: a pool (a client is checked out for the
 * call) or a connected client (a `pg.Client`, or one checked out of a pool)
 * that is not inside a transaction of its caller's.
 */
export type Db = pg.Pool | pg.ClientBase;

/** Runs `work` on one connection: the client itself, or one checked out of the pool and returned after. */
export async function withClient<T>(db: Db, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  if (!(db instanceof pg.Pool)) return work(db);
  const client = await db.connect();
  let destroy: Error | undefined;
  try {
    return await work(client);
  } catch (err) {
    // A connection left inside a transaction (its ROLLBACK failed) must not go back to the pool.
    if (err instanceof Error && unsafeClients.has(err)) destroy = err;
    throw err;
  } finally {
    client.release(destroy);
  }
}

const unsafeClients = new WeakSet<Error>();

/** Runs `work` in one transaction (BEGIN ... COMMIT, ROLLBACK on any error). */
export async function inTransaction<T>(db: Db, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  return withClient(db, (client) => transaction(client, work));
}

/** BEGIN, `work`, COMMIT on this client; ROLLBACK on any error. */
export async function transaction<T>(client: pg.ClientBase, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // The original error is the one worth reporting; a failed ROLLBACK only marks the connection unusable.
    await client.query('ROLLBACK').catch(() => {
      if (err instanceof Error) unsafeClients.add(err);
    });
    throw err;
  }
}

/**
 * int8 and numeric columns come back from pg as strings (pg leaves them so,
 * as a JS number cannot hold every int8); counters are handed out as bigint.
 * The store never changes pg's global type parsers, which the rest of the
 * process may rely on.
 */
export function toBigInt(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(value);
  if (typeof value === 'string') return BigInt(value);
  if (value === null || value === undefined) return 0n;
  throw new TypeError(`not an integer from PostgreSQL: ${String(value)}`);
}
