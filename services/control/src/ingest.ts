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
 * record costs), ingestion is a pipeline without a barrier: one loop
 * fetches and decodes messages into a queue while `writers` loops each take
 * the next chunk of whole queued messages (`chunkRecords` items at most),
 * write it on a connection of their own and acknowledge its messages as
 * soon as it commits. No writer waits for another's chunk, so PostgreSQL's
 * backends and this process stay busy together. None of it changes what is
 * written: a message is never split between chunks, records of one flow
 * merge the same in any order, and a message is acknowledged only once the
 * chunk holding it is committed.
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
  /** Messages per fetch at most, and fetched messages waiting for a writer at most before the next fetch (default 100: full messages make a few chunks for each writer). */
  batchMessages?: number;
  /** Chunks written at once, each on its own connection of the pool (default 2). */
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

type Kind = 'flows' | 'deltas';

const MAX_BACKOFF_MS = 5_000;
/** How often an edge's sighting is written at most (it is best effort, and a chunk is written every few hundred ms). */
const SIGHTING_MS = 1_000;

export class RecordIngest {
  readonly counters: IngestCounters = { messages: 0, flowRecords: 0, accountingDeltas: 0, duplicates: 0, rejected: 0, writeFailures: 0, fetchFailures: 0 };
  private consumer: Consumer | undefined;
  private stopped = false;
  private running: Promise<unknown> | undefined;
  private readonly log: (line: string) => void;
  private readonly writers: number;
  private readonly maxChunk: number;
  private readonly batchMessages: number;
  /** Fetched and decoded, not yet taken by a writer (told "still working" while PostgreSQL is down). */
  private queue: Decoded[] = [];
  /** Chunks being written: their messages are not acknowledged yet. */
  private inFlight = 0;
  /** PostgreSQL failing since (ms), for the log. */
  private failingSince: number | undefined;
  /** Loops waiting for the queue to change, woken by it and by stop(). */
  private readonly wakers = new Set<() => void>();
  /** Loops backing off, woken early by stop() only. */
  private readonly sleepers = new Set<() => void>();
  /** When each edge's sighting was last written (ms). */
  private readonly sighted = new Map<string, number>();

  constructor(private readonly options: IngestOptions) {
    this.log = options.log ?? (() => undefined);
    this.writers = Math.max(1, options.writers ?? 2);
    this.maxChunk = Math.min(options.chunkRecords ?? 25_000, MAX_BATCH);
    this.batchMessages = options.batchMessages ?? 100;
  }

  /** Opens the durable consumer (creating it if needed) and starts reading. */
  async start(): Promise<void> {
    this.consumer = await openRecordsConsumer(this.options.bus, this.options.consumer);
    this.running = Promise.all([this.fetchLoop(), ...Array.from({ length: this.writers }, () => this.writeLoop())]);
  }

  /** True while fetched messages wait to be written or are being written (PostgreSQL down, or a write in progress). */
  get writing(): boolean {
    return this.queue.length > 0 || this.inFlight > 0;
  }

  /** Stops after the chunks being written (messages not yet written are left unacknowledged: JetStream delivers them again). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    for (const wake of this.sleepers) wake();
    await this.running;
  }

  /** Waits until the queue changes (wake()) or stop(). */
  private wait(): Promise<void> {
    return this.pause(this.wakers);
  }

  /** Waits `ms` (a back-off), cut short only by stop(). */
  private sleep(ms: number): Promise<void> {
    return this.pause(this.sleepers, ms);
  }

  private async pause(set: Set<() => void>, ms?: number): Promise<void> {
    if (this.stopped) return;
    let wake: () => void = () => undefined;
    await new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
      set.add(wake);
    });
    set.delete(wake);
  }

  private wake(): void {
    for (const wake of this.wakers) wake();
  }

  /** Keeps the queue filled: fetches when fewer than batchMessages messages wait. */
  private async fetchLoop(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      if (this.queue.length >= this.batchMessages) {
        await this.wait();
        continue;
      }
      const msgs = await this.fetch();
      if (msgs === undefined) {
        // Messages received before the failure are delivered again after their ack wait: not written now.
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        continue;
      }
      backoff = 100;
      if (this.stopped) break;
      for (const m of msgs) {
        const d = this.decode(m);
        if (d !== undefined) this.queue.push(d);
      }
      if (msgs.length > 0) this.wake();
    }
  }

  /** Up to batchMessages messages ([] when none came), or undefined when the fetch failed. */
  private async fetch(): Promise<JsMsg[] | undefined> {
    const expires = this.options.fetchWaitMs ?? 500;
    const msgs: JsMsg[] = [];
    try {
      const it = await this.consumer!.fetch({ max_messages: this.batchMessages, expires: Math.max(expires, 1000) });
      for await (const m of it) msgs.push(m);
      return msgs;
    } catch (err) {
      if (this.stopped) return [];
      if (this.counters.fetchFailures++ === 0 || this.counters.fetchFailures % 100 === 0) this.log(`control: fetching records failed (${this.counters.fetchFailures} so far): ${(err as Error).message}`);
      return undefined;
    }
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

  /** One writer: takes the next chunk, writes it until it is written (or stopped), acknowledges it; again. */
  private async writeLoop(): Promise<void> {
    while (!this.stopped) {
      const chunk = this.takeChunk();
      if (chunk === undefined) {
        await this.wait();
        continue;
      }
      this.inFlight++;
      // The fetch loop may fill the queue again.
      this.wake();
      try {
        await this.writeChunk(chunk.kind, chunk.messages);
      } finally {
        this.inFlight--;
      }
    }
  }

  /**
   * The oldest queued message and the queued messages of its kind after it,
   * whole (a message's dedupe key is claimed once, in the transaction that
   * writes it), up to maxChunk items (a message larger than that alone),
   * with any message of no items. While little waits, it is shared out
   * among the writers: chunks of ceil(queued / writers) items.
   */
  private takeChunk(): { kind: Kind; messages: Decoded[] } | undefined {
    const first = this.queue[0];
    if (first === undefined) return undefined;
    const kind: Kind = first.flows.length > 0 ? 'flows' : 'deltas';
    let queued = 0;
    for (const d of this.queue) queued += d[kind].length;
    const max = Math.min(this.maxChunk, Math.ceil(queued / this.writers));
    const messages: Decoded[] = [];
    const rest: Decoded[] = [];
    let size = 0;
    for (const d of this.queue) {
      const n = d[kind].length;
      // A message of no items at all goes with any chunk: acknowledged once it commits, as the others.
      const empty = d.flows.length + d.deltas.length === 0;
      if (empty || (n > 0 && (messages.length === 0 || size + n <= max))) {
        messages.push(d);
        size += n;
      } else rest.push(d);
    }
    this.queue = rest;
    return { kind, messages };
  }

  /** Writes a chunk until it is written (or stopped), then acknowledges its messages. */
  private async writeChunk(kind: Kind, messages: Decoded[]): Promise<void> {
    let chunk = messages;
    let backoff = 200;
    while (chunk.length > 0) {
      try {
        // Not `+= await`: that reads the counter before the write, and another writer's count in between would be lost.
        const skipped = await this.write(kind, chunk);
        this.counters.duplicates += skipped;
        break;
      } catch (err) {
        if (err instanceof RefusedRecord) {
          // Records of this chunk written before it are written again with the rest: their keys make that a no-op.
          this.reject(err.owner.msg, err.reason.message);
          chunk = chunk.filter((d) => d !== err.owner);
          continue;
        }
        if (this.stopped) return;
        this.counters.writeFailures++;
        if (this.failingSince === undefined) {
          this.failingSince = Date.now();
          this.log(`control: PostgreSQL write failed, ${chunk.length + this.queue.length} messages wait unacknowledged and are tried again: ${(err as Error).message}`);
        }
        // Still working on them (and on those queued meanwhile): JetStream must not hand them to another reader.
        for (const d of chunk) d.msg.working();
        for (const d of this.queue) d.msg.working();
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        if (this.stopped) return;
      }
    }
    if (this.failingSince !== undefined) {
      this.log(`control: PostgreSQL writes work again after ${Math.round((Date.now() - this.failingSince) / 1000)} s`);
      this.failingSince = undefined;
    }
    for (const d of chunk) {
      d.msg.ack();
      this.counters.messages++;
      this.counters.flowRecords += d.flows.length;
      this.counters.accountingDeltas += d.deltas.length;
    }
    await this.sight(chunk);
  }

  /** Writes the edges that sent `chunk` as seen (best effort: a sighting lost is made good by a later chunk). */
  private async sight(chunk: readonly Decoded[]): Promise<void> {
    const now = Date.now();
    for (const edge of new Set(chunk.map((d) => d.edge))) {
      if (now - (this.sighted.get(edge) ?? -Infinity) < SIGHTING_MS) continue;
      this.sighted.set(edge, now);
      await upsertNode(this.options.pool, { kind: 'edge', id: edge, name: '', version: '', seenAt: new Date(now) }).catch(() => undefined);
    }
  }

  /**
   * Writes the chunk's items of `kind` in one transaction; returns the
   * records skipped as written already. A record the store refuses
   * (STORE_BAD_PARAMETER names it as `records[i]...` or `deltas[i]...`)
   * throws a RefusedRecord naming its message.
   */
  private async write(kind: Kind, chunk: Decoded[]): Promise<number> {
    // A plain loop: flatMap made an array a message more (about 2% of control's CPU).
    const items: unknown[] = [];
    for (const d of chunk) for (const item of d[kind]) items.push(item);
    try {
      const result = kind === 'flows' ? await writeFlowRecords(this.options.pool, items as FlowRecord[]) : await writeAccountingDeltas(this.options.pool, items as AccountingDelta[]);
      return result.skipped;
    } catch (err) {
      const m = err instanceof StoreError && err.code === 'STORE_BAD_PARAMETER' ? /^(?:records|deltas)\[(\d+)\]/.exec(err.field ?? '') : null;
      const owner = m ? ownerOf(chunk, kind, Number(m[1])) : undefined;
      throw owner ? new RefusedRecord(owner, err as StoreError) : err;
    }
  }
}

/** The message of `chunk` that holds its `index`-th item of `kind`. */
function ownerOf(chunk: readonly Decoded[], kind: Kind, index: number): Decoded | undefined {
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
