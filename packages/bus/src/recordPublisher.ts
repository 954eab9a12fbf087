/**
 * An edge's side of the records stream: flow records and accounting deltas
 * batched into messages, each published with a dedupe id (Nats-Msg-Id) and
 * published again until the stream acknowledges it.
 *
 * Bounded: while NATS is away, what was not acknowledged stays in memory,
 * at most `maxBuffered` records and deltas together; past that, new ones
 * are dropped and counted (`counters.dropped`). The newest go, not the
 * oldest: those already batched may have reached the stream, and what is
 * kept is then the beginning of the outage, which is better than holes.
 */
import {
  encodeAccountingBatch,
  encodeFlowRecordBatch,
  MAX_RECORDS_PER_BATCH,
  WireError,
  type WireAccountingDelta,
  type WireFlowRecord,
} from '@l7mesh/wire';
import type { Bus } from './connect.js';
import { badOption, messageOf } from './errors.js';
import { recordNames } from './recordsStream.js';

export type FlowRecordInput = Omit<WireFlowRecord, 'seq'>;
export type AccountingDeltaInput = Omit<WireAccountingDelta, 'seq'>;

export interface RecordPublisherOptions {
  bus: Bus;
  /** The edge's id: the subject's last token and part of every dedupe id. */
  edge: string;
  /** Records per message at most (default 1000, at most MAX_RECORDS_PER_BATCH). */
  maxBatch?: number;
  /** Records and deltas kept until acknowledged, at most (default 200 000); newer ones are dropped past it. */
  maxBuffered?: number;
  /** Pending records are published at least this often (ms, default 200); a full batch goes at once. */
  flushMs?: number;
  /** A failed publish is tried again after this long (ms, default 500). */
  retryMs?: number;
  /** Messages in flight at once (default 16). */
  maxInFlight?: number;
  /** How long one publish waits for the stream's acknowledgement (ms, default 5000). */
  ackTimeoutMs?: number;
  /** Numbers records from here (default: now): a new process is a new epoch, so its numbers never meet an earlier run's. */
  epochMs?: number;
  /** Warnings: the first failure of an outage, drops (default: none). */
  log?: (line: string) => void;
}

export interface RecordPublisherCounters {
  /** Records and deltas taken, acknowledged by the stream, and dropped (the bound was reached). */
  accepted: number;
  acknowledged: number;
  dropped: number;
  /** Messages acknowledged, and publish attempts that failed (each is tried again). */
  messages: number;
  publishErrors: number;
}

interface Outgoing {
  data: Uint8Array;
  msgID: string;
  items: number;
}

/**
 * Batches flow records and accounting deltas and publishes them on the
 * records stream: at-least-once, every message with its own dedupe id
 * (`edge.epoch.m<n>`, for the stream). The store's dedupe key is the
 * message's first record's id (`edge.epoch.seq`, wire's recordEventId): a
 * record is numbered once and goes into exactly one message, whose bytes
 * are published again unchanged until acknowledged, so a message stored
 * twice still counts once. Keep it so: never re-batch records.
 */
export class RecordPublisher {
  readonly epochMs: number;
  readonly counters: RecordPublisherCounters = { accepted: 0, acknowledged: 0, dropped: 0, messages: 0, publishErrors: 0 };
  private readonly subject: string;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;
  private readonly retryMs: number;
  private readonly maxInFlight: number;
  private readonly ackTimeoutMs: number;
  private readonly log: (line: string) => void;
  private flows: WireFlowRecord[] = [];
  private deltas: WireAccountingDelta[] = [];
  private readonly waiting: Outgoing[] = [];
  private inFlight = 0;
  /** Records and deltas taken and not yet acknowledged (pending, waiting or in flight). */
  private held = 0;
  private seq = 0;
  private messageSeq = 0;
  private failing = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: RecordPublisherOptions) {
    this.subject = recordNames(options.bus.names).subject(options.edge);
    this.maxBatch = options.maxBatch ?? 1000;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1 || this.maxBatch > MAX_RECORDS_PER_BATCH) {
      throw badOption('maxBatch', `${options.maxBatch} must be an integer 1..${MAX_RECORDS_PER_BATCH}`);
    }
    this.maxBuffered = options.maxBuffered ?? 200_000;
    if (!Number.isSafeInteger(this.maxBuffered) || this.maxBuffered < this.maxBatch) throw badOption('maxBuffered', `${options.maxBuffered} must be an integer >= maxBatch (${this.maxBatch})`);
    this.retryMs = options.retryMs ?? 500;
    this.maxInFlight = options.maxInFlight ?? 16;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.epochMs = options.epochMs ?? Date.now();
    this.log = options.log ?? (() => undefined);
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 200);
    this.timer.unref();
  }

  /** Records and deltas not yet acknowledged. */
  get buffered(): number {
    return this.held;
  }

  /** Takes a flow record (numbered here); false when it was dropped (the bound is reached, or closed). */
  addFlowRecord(record: FlowRecordInput): boolean {
    if (!this.take()) return false;
    this.flows.push({ seq: this.seq++, ...record });
    if (this.flows.length >= this.maxBatch) this.flush();
    return true;
  }

  /** Takes an accounting delta (numbered here); false when it was dropped. */
  addAccountingDelta(delta: AccountingDeltaInput): boolean {
    if (!this.take()) return false;
    this.deltas.push({ seq: this.seq++, ...delta });
    if (this.deltas.length >= this.maxBatch) this.flush();
    return true;
  }

  private take(): boolean {
    if (this.closed || this.held >= this.maxBuffered) {
      if (this.counters.dropped++ === 0 || this.counters.dropped % 10_000 === 0) {
        this.log(`records: ${this.counters.dropped} dropped: ${this.closed ? 'the publisher is closed' : `${this.held} records wait for the stream (the bound)`}`);
      }
      return false;
    }
    this.held++;
    this.counters.accepted++;
    return true;
  }

  /** Packs what was added into messages and publishes them. */
  flush(): void {
    while (this.flows.length > 0) this.queue(this.flows.splice(0, this.maxBatch), 'flows');
    while (this.deltas.length > 0) this.queue(this.deltas.splice(0, this.maxBatch), 'deltas');
    this.pump();
  }

  private queue(items: WireFlowRecord[] | WireAccountingDelta[], kind: 'flows' | 'deltas'): void {
    const edge = this.options.edge;
    let data: Uint8Array;
    try {
      data =
        kind === 'flows'
          ? encodeFlowRecordBatch({ edge, epochMs: this.epochMs, records: items as WireFlowRecord[] })
          : encodeAccountingBatch({ edge, epochMs: this.epochMs, deltas: items as WireAccountingDelta[] });
    } catch (err) {
      // Too large (long texts in many records): in halves. A record the codec refuses is dropped, with its reason.
      if (err instanceof WireError && err.code === 'WIRE_TOO_LARGE' && items.length > 1) {
        const half = Math.ceil(items.length / 2);
        this.queue(items.slice(0, half) as typeof items, kind);
        this.queue(items.slice(half) as typeof items, kind);
        return;
      }
      this.held -= items.length;
      this.counters.dropped += items.length;
      this.log(`records: ${items.length} ${kind === 'flows' ? 'flow records' : 'accounting deltas'} dropped: ${messageOf(err)}`);
      return;
    }
    this.waiting.push({ data, msgID: `${edge}.${this.epochMs.toString(36)}.m${(this.messageSeq++).toString(36)}`, items: items.length });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0 && !this.closed) {
      const m = this.waiting.shift()!;
      this.inFlight++;
      void this.publish(m);
    }
    if (this.inFlight === 0 && this.waiting.length === 0 && this.flows.length === 0 && this.deltas.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Publishes one message until the stream acknowledges it (or the publisher is closed). */
  private async publish(m: Outgoing): Promise<void> {
    const js = this.options.bus.jetstream();
    while (!this.closed) {
      try {
        await js.publish(this.subject, m.data, { msgID: m.msgID, timeout: this.ackTimeoutMs });
        this.counters.messages++;
        this.counters.acknowledged += m.items;
        this.held -= m.items;
        if (this.failing) {
          this.failing = false;
          this.log(`records: the stream acknowledges again (${this.held} records waiting)`);
        }
        break;
      } catch (err) {
        this.counters.publishErrors++;
        if (!this.failing) {
          this.failing = true;
          this.log(`records: publishing failed, trying again every ${this.retryMs} ms: ${messageOf(err)}`);
        }
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }
    this.inFlight--;
    this.pump();
  }

  /**
   * Publishes what is pending and waits until every message is acknowledged,
   * at most `timeoutMs` (default 30 s). True when nothing is left.
   */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    this.flush();
    if (this.held === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return this.held === 0;
  }

  /** Stops: nothing more is taken or tried again (call drain first to publish the rest). Returns how many were still unacknowledged. */
  close(): number {
    this.closed = true;
    clearInterval(this.timer);
    return this.held;
  }
}
