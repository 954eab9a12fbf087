/**
 * COPY ... FROM STDIN through node-pg, which has no call of its own for it:
 * a query object that node-pg runs like its own (the "submittable"
 * interface), answers the server's CopyInResponse with rows already in
 * COPY's text format, then CopyDone. COPY is the fastest way into
 * PostgreSQL: the writers copy a batch into a temporary table and upsert
 * from there in one statement.
 */
import type pg from 'pg';

/** The part of node-pg's Connection a COPY uses (not in @types/pg). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

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
    // answers with an error and ignores the CopyData that follows.
    for (const chunk of this.chunks) c.sendCopyFromChunk(chunk);
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
 * Builds COPY's text-format input in chunks of about 256 kB (one CopyData
 * message each). Rows are appended to a string per chunk: short-lived
 * strings, where an array of row strings kept to the end would be promoted
 * to the old generation and cost the garbage collector more than the
 * formatting itself.
 */
export class CopyChunks {
  readonly chunks: Buffer[] = [];
  rows = 0;
  private text = '';

  /** One row: fields escaped with copyField (or numbers), separated by tabs, ending in a newline. */
  add(row: string): void {
    this.text += row;
    this.rows++;
    if (this.text.length >= 1 << 18) this.cut();
  }

  finish(): Buffer[] {
    if (this.text.length > 0) this.cut();
    return this.chunks;
  }

  private cut(): void {
    this.chunks.push(Buffer.from(this.text, 'utf8'));
    this.text = '';
  }
}

/**
 * Runs `COPY table (...) FROM STDIN` (the statement in `sql`, constant
 * text) with the rows gathered in `data`. Returns the number of rows copied.
 */
export function copyRows(client: pg.ClientBase, sql: string, data: CopyChunks): Promise<number> {
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

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A text value as a field of COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyField(text: string): string {
  return SPECIAL.test(text) ? text.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : text;
}

/** A text[] value as a field of COPY's text format: an array literal of quoted elements, escaped for COPY. */
export function copyTextArray(items: readonly string[]): string {
  let literal = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) literal += ',';
    literal += `"${items[i]!.replace(/["\\]/g, '\\$&')}"`;
  }
  return copyField(`${literal}}`);
}
