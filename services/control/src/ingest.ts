/**
 * Ingestion: the records stream into PostgreSQL.
 *
 * A durable pull consumer hands over up to `batchMessages` messages at a
 * time; their flow records and accounting deltas are written through the
 * store's writers (one transaction per chunk of whole messages, each
 * message's dedupe key claimed in the transaction that writes its records),
 * and only then are the messages acknowledged. So:
 * - a crash after the commit and before the acknowledgement redelivers the
 *   messages, and the store finds their keys taken: nothing counts twice;
 * - while PostgreSQL is down, the batch is kept, tried again (backing off
 *   to 5 s), and its messages are told "still working" so JetStream does not
 *   hand them to another reader; nothing is acknowledged, nothing lost;
 * - a message that cannot be decoded, or holds a record the store refuses
 *   (a field out of its domain), is taken out of the stream (`term`) and
 *   counted, so it cannot block the rest.
 *
 * The key is the message's, not each record's (recordMapping.ts): the store
 * claims one key per thousand records or so instead of one per record.
 *
 * For speed (PostgreSQL and this process each take about half of the CPU a
 * record costs): the next batch is fetched and decoded while the current
 * one is written, and a batch's chunks (`chunkRecords` each at most) are
 * written on up to `writers` connections at once. Neither changes what is
 * written: a message is never split between chunks, records of one flow
 * merge the same in any order, and the messages are acknowledged only once
 * every chunk of their batch is committed.
 */
import type pg from 'pg';
import { openRecordsConsumer, type Bus, type Consumer, type JsMsg, type RecordsConsumerOptions } from '@l7mesh/bus';
import { MAX_BATCH, StoreError, upsertNode, writeAccountingDeltas, writeFlowRecords, type AccountingDelta, type FlowRecord } from '@l7mesh/store';
import { decodeAccountingBatch, decodeFlowRecordBatch, MessageType, messageTypeOf, WireError } from '@l7mesh/wire';
import { accountingDeltasOf, flowRecordsOf } from './recordMapping.js';

export interface IngestOptions {
  bus: Bus;
  pool: pg.Pool;
  consumer?: RecordsConsumerOptions;
  /** Messages per fetch and write at most (default 100: a batch of full messages is a few chunks for each writer). */
  batchMessages?: number;
  /** Chunks of a batch written at once, each on its own connection of the pool (default 2). */
  writers?: number;
  /** Records per chunk (one transaction) at most, in whole messages (default 25 000; at most the store's MAX_BATCH). */
  chunkRecords?: number;
  /** How long a fetch waits for messages (ms, default 500). */
  fetchWaitMs?: number;
  /** Progress and problems (default: none). */
  log?: (line: string) => void;
}

export interface IngestCounters {
  /** Messages written and acknowledged. */
  messages: number;
  flowRecords: number;
  accountingDeltas: number;
  /** Records and deltas skipped because their message was written already (a redelivery, a message stored twice). */
  duplicates: number;
  /** Messages taken out of the stream because they could not be decoded or the store refused a record. */
  rejected: number;
  /** Writes that failed and were tried again (PostgreSQL unreachable). */
  writeFailures: number;
  /** Fetches that failed (NATS unreachable). */
  fetchFailures: number;
}

interface Decoded {
  msg: JsMsg;
  flows: FlowRecord[];
  deltas: AccountingDelta[];
  edge: string;
}

const MAX_BACKOFF_MS = 5_000;

export class RecordIngest {
  readonly counters: IngestCounters = { messages: 0, flowRecords: 0, accountingDeltas: 0, duplicates: 0, rejected: 0, writeFailures: 0, fetchFailures: 0 };
  private consumer: Consumer | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly log: (line: string) => void;
  /** Is a batch being written (fetched, not yet acknowledged)? */
  private busy = false;
  /** PostgreSQL failing since (ms), for the log. */
  private failingSince: number | undefined;
  /** Sleeps in progress (a fetch's back-off and a write's may overlap), cut short by stop(). */
  private readonly wakers = new Set<() => void>();
  /** The next batch, fetched while the current one is written (told "still working" with it while PostgreSQL is down). */
  private prefetched: Decoded[] | undefined;

  constructor(private readonly options: IngestOptions) {
    this.log = options.log ?? (() => undefined);
  }

  /** Opens the durable consumer (creating it if needed) and starts reading. */
  async start(): Promise<void> {
    this.consumer = await openRecordsConsumer(this.options.bus, this.options.consumer);
    this.running = this.loop();
  }

  /** True while a fetched batch waits to be written (PostgreSQL down, or a write in progress). */
  get writing(): boolean {
    return this.busy;
  }

  /** Stops after the batch in hand (a batch not yet written is left unacknowledged: JetStream delivers it again). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakers) wake();
    await this.running;
  }

  private async sleep(ms: number): Promise<void> {
    let wake: () => void = () => undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.wakers.add(wake);
    });
    this.wakers.delete(wake);
  }

  private async loop(): Promise<void> {
    let next = this.fetchBatch();
    while (!this.stopped) {
      const batch = await next;
      this.prefetched = undefined;
      if (this.stopped) break;
      // The next batch is fetched and decoded while this one is written.
      next = this.fetchBatch().then((b) => (this.prefetched = b));
      if (batch.length === 0) continue;
      this.busy = true;
      try {
        await this.writeBatch(batch);
      } finally {
        this.busy = false;
      }
    }
    // A batch fetched and not written is left unacknowledged: JetStream delivers it again.
    await next;
  }

  private fetchBackoff = 100;

  /** Fetches up to batchMessages messages and decodes them; [] when none came or the fetch failed (after a back-off). */
  private async fetchBatch(): Promise<Decoded[]> {
    if (this.stopped) return [];
    const max = this.options.batchMessages ?? 100;
    const expires = this.options.fetchWaitMs ?? 500;
    const msgs: JsMsg[] = [];
    try {
      const it = await this.consumer!.fetch({ max_messages: max, expires: Math.max(expires, 1000) });
      for await (const m of it) msgs.push(m);
      this.fetchBackoff = 100;
    } catch (err) {
      if (this.stopped) return [];
      if (this.counters.fetchFailures++ === 0 || this.counters.fetchFailures % 100 === 0) this.log(`control: fetching records failed (${this.counters.fetchFailures} so far): ${(err as Error).message}`);
      // Messages received before the failure are delivered again after their ack wait: not written now.
      await this.sleep(this.fetchBackoff);
      this.fetchBackoff = Math.min(this.fetchBackoff * 2, MAX_BACKOFF_MS);
      return [];
    }
    return msgs.map((m) => this.decode(m)).filter((d): d is Decoded => d !== undefined);
  }

  private decode(msg: JsMsg): Decoded | undefined {
    try {
      const type = messageTypeOf(msg.data);
      if (type === MessageType.FlowRecordBatch) {
        const b = decodeFlowRecordBatch(msg.data);
        return { msg, flows: flowRecordsOf(b), deltas: [], edge: b.edge };
      }
      if (type === MessageType.AccountingBatch) {
        const b = decodeAccountingBatch(msg.data);
        return { msg, flows: [], deltas: accountingDeltasOf(b), edge: b.edge };
      }
      this.reject(msg, `a message of type ${type} is not a record batch`);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      this.reject(msg, err.message);
    }
    return undefined;
  }

  private reject(msg: JsMsg, why: string): void {
    this.counters.rejected++;
    this.log(`control: record message ${msg.seq} on ${msg.subject} taken out of the stream: ${why}`);
    // Without a reason: nats-server 2.9 does not know `+TERM <reason>` and would leave the message pending.
    msg.term();
  }

  /** Writes a batch until it is written (or stopped), then acknowledges its messages. */
  private async writeBatch(decoded: Decoded[]): Promise<void> {
    let batch = decoded;
    let backoff = 200;
    while (batch.length > 0) {
      try {
        this.counters.duplicates += await this.write(batch);
        break;
      } catch (err) {
        if (err instanceof RefusedRecord) {
          // Records of this batch written before it are written again with the rest: their keys make that a no-op.
          this.reject(err.owner.msg, err.reason.message);
          batch = batch.filter((d) => d !== err.owner);
          continue;
        }
        if (this.stopped) return;
        this.counters.writeFailures++;
        if (this.failingSince === undefined) {
          this.failingSince = Date.now();
          this.log(`control: PostgreSQL write failed, ${batch.length} messages wait unacknowledged and are tried again: ${(err as Error).message}`);
        }
        // Still working on them (and on the batch fetched meanwhile): JetStream must not hand them to another reader.
        for (const d of batch) d.msg.working();
        for (const d of this.prefetched ?? []) d.msg.working();
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        if (this.stopped) return;
      }
    }
    if (this.failingSince !== undefined) {
      this.log(`control: PostgreSQL writes work again after ${Math.round((Date.now() - this.failingSince) / 1000)} s`);
      this.failingSince = undefined;
    }
    // Edges seen: best effort (a sighting lost is made good by the next batch).
    const seenAt = new Date();
    for (const edge of new Set(batch.map((d) => d.edge))) {
      await upsertNode(this.options.pool, { kind: 'edge', id: edge, name: '', version: '', seenAt }).catch(() => undefined);
    }
    for (const d of batch) {
      d.msg.ack();
      this.counters.messages++;
      this.counters.flowRecords += d.flows.length;
      this.counters.accountingDeltas += d.deltas.length;
    }
  }

  /**
   * Writes every record of the batch; returns the records skipped as
   * written already. Flow records first, then deltas, each in chunks of whole
   * messages (see messageChunks), up to `writers` chunks at once. A record
   * the store refuses (STORE_BAD_PARAMETER names it as `records[i]...` or
   * `deltas[i]...` in its chunk) throws a RefusedRecord naming its message,
   * once the other chunks are done.
   */
  private async write(batch: Decoded[]): Promise<number> {
    let skipped = 0;
    const writers = Math.max(1, this.options.writers ?? 2);
    const maxChunk = Math.min(this.options.chunkRecords ?? 25_000, MAX_BATCH);
    for (const kind of ['flows', 'deltas'] as const) {
      // A batch smaller than the writers' chunks together is shared out among them all the same.
      const total = batch.reduce((n, d) => n + d[kind].length, 0);
      const chunks = messageChunks(batch, kind, Math.min(maxChunk, Math.ceil(total / writers)));
      const writeChunk = async (chunk: Decoded[]): Promise<void> => {
        const items = chunk.flatMap((d) => d[kind] as unknown[]);
        try {
          const result = kind === 'flows' ? await writeFlowRecords(this.options.pool, items as FlowRecord[]) : await writeAccountingDeltas(this.options.pool, items as AccountingDelta[]);
          skipped += result.skipped;
        } catch (err) {
          const m = err instanceof StoreError && err.code === 'STORE_BAD_PARAMETER' ? /^(?:records|deltas)\[(\d+)\]/.exec(err.field ?? '') : null;
          const owner = m ? ownerOf(chunk, kind, Number(m[1])) : undefined;
          throw owner ? new RefusedRecord(owner, err as StoreError) : err;
        }
      };
      let failure: unknown;
      const worker = async () => {
        for (let chunk = chunks.shift(); chunk !== undefined && failure === undefined; chunk = chunks.shift()) {
          await writeChunk(chunk).catch((err: unknown) => {
            failure ??= err;
          });
        }
      };
      await Promise.all(Array.from({ length: Math.min(writers, chunks.length) }, worker));
      if (failure !== undefined) throw failure;
    }
    return skipped;
  }
}

/**
 * The messages of `batch` that hold `kind`, in runs of whole messages
 * holding at most `max` items of it (a message larger than `max` alone). A
 * message's records share its dedupe key, which the store claims once in
 * the transaction that writes them: split over two transactions, the
 * second half would find the key taken and be skipped.
 */
function messageChunks(batch: readonly Decoded[], kind: 'flows' | 'deltas', max: number): Decoded[][] {
  const chunks: Decoded[][] = [];
  let chunk: Decoded[] = [];
  let size = 0;
  for (const d of batch) {
    const n = d[kind].length;
    if (n === 0) continue;
    if (size + n > max && chunk.length > 0) {
      chunks.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(d);
    size += n;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** The message of `chunk` that holds its `index`-th item of `kind`. */
function ownerOf(chunk: readonly Decoded[], kind: 'flows' | 'deltas', index: number): Decoded | undefined {
  let start = 0;
  for (const d of chunk) {
    start += d[kind].length;
    if (index < start) return d;
  }
  return undefined;
}

/** A record the store refused, and the message that carried it. */
class RefusedRecord extends Error {
  constructor(
    readonly owner: Decoded,
    readonly reason: StoreError,
  ) {
    super(reason.message);
  }
}
