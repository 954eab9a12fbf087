/**
 * COPY ... FROM STDIN through node-pg, which has no call of its own for it:
 * a query object that node-pg runs like its own (the "submittable"
 * interface), answers the server's CopyInResponse with rows already in
 * COPY's binary format and framed as CopyData messages (copyBinary.ts),
 * then CopyDone. COPY is the fastest way into PostgreSQL: the writers copy
 * a batch into a temporary table and upsert from there in one statement.
 */
import type pg from 'pg';
import type { CopyBinaryRows } from './copyBinary.js';

/** The part of node-pg's Connection a COPY uses (endCopyFrom is not in @types/pg). */
type CopyConnection = Pick<pg.Connection, 'query' | 'stream'> & { endCopyFrom(): void };

type Callback = (err: Error | undefined, rowCount: number) => void;

/**
 * One COPY FROM STDIN. node-pg calls `submit` when the connection is free
 * and the handle* methods as the server answers; `callback` once, at the
 * end (its name and shape are node-pg's convention, which its query
 * timeout relies on).
 */
class CopyInQuery {
  private rowCount = 0;
  private finished = false;

  constructor(
    private readonly text: string,
    private readonly chunks: readonly Buffer[],
    public callback: Callback,
  ) {}

  submit(connection: unknown): void {
    (connection as CopyConnection).query(this.text);
  }

  handleCopyInResponse(connection: unknown): void {
    const c = connection as CopyConnection;
    // All at once: the socket buffers it. Should the server refuse a row, it
    // answers with an error and ignores the CopyData that follows. The
    // chunks are CopyData messages already: straight to the socket, as
    // node-pg sends a message (its sendCopyFromChunk would copy each).
    for (const chunk of this.chunks) if (c.stream.writable) c.stream.write(chunk);
    c.endCopyFrom();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)/.exec(msg.text ?? '');
    if (m) this.rowCount = Number(m[1]);
  }

  handleReadyForQuery(): void {
    this.finish(undefined);
  }

  handleError(err: Error): void {
    this.finish(err);
  }

  // The rest of what node-pg may call on a query; COPY FROM gets none of it.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}

  private finish(err: Error | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.callback(err, this.rowCount);
  }
}

/**
 * Runs `COPY table (...) FROM STDIN (FORMAT binary)` (the statement in
 * `sql`, constant text) with the rows gathered in `data`. Returns the
 * number of rows copied.
 */
export function copyRows(client: pg.ClientBase, sql: string, data: CopyBinaryRows): Promise<number> {
  const chunks = data.finish();
  return new Promise((resolve, reject) => {
    client.query(
      new CopyInQuery(sql, chunks, (err, n) => {
        if (err) reject(err);
        else resolve(n);
      }),
    );
  });
}
