import type { JetStreamClient } from '@l7mesh/bus';
import { encodeEventBatch, type VerdictEvent } from '@l7mesh/wire';

/** Events per stream message. */
const MAX_EVENTS_PER_BATCH = 1000;
/** A batch is published again this often, this many times, until the stream acknowledges it. */
const RETRY_MS = 500;
const MAX_TRIES = 30;

/**
 * Decided flows for the events stream, at least once: batched, published
 * with a dedupe id (worker, its start, the batch's number) so that a batch
 * sent again is stored once, and retried until acknowledged (a stream
 * electing a new leader after a server died answers late).
 */
export class EventPublisher {
  /** Batches acknowledged, and publish attempts that failed. */
  readonly counters = { batches: 0, errors: 0 };
  private events: VerdictEvent[] = [];
  private seq = 0;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly subject: string,
    private readonly worker: string,
    private readonly startedMs: number,
    private readonly log: (line: string) => void,
  ) {}

  add(event: VerdictEvent): void {
    this.events.push(event);
  }

  /** Publishes what was added since the last call. */
  publish(): void {
    while (this.events.length > 0) {
      const chunk = this.events.splice(0, MAX_EVENTS_PER_BATCH);
      const batchSeq = ++this.seq;
      const data = encodeEventBatch({ worker: this.worker, batchSeq, events: chunk });
      const msgID = `${this.worker}.${this.startedMs}.${batchSeq}`;
      const attempt = (tries: number): Promise<unknown> =>
        this.js.publish(this.subject, data, { msgID }).catch((err: unknown) => {
          this.counters.errors++;
          if (tries >= MAX_TRIES) throw err;
          return new Promise((r) => setTimeout(r, RETRY_MS)).then(() => attempt(tries + 1));
        });
      const p: Promise<unknown> = attempt(0)
        .then(() => this.counters.batches++)
        .catch((err: unknown) => this.log(`worker ${this.worker}: events batch ${batchSeq} lost: ${(err as Error).message}`))
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /** Publishes the rest and waits for every batch's acknowledgement (or its last try). */
  async drain(): Promise<void> {
    this.publish();
    await Promise.allSettled([...this.inFlight]);
  }
}
