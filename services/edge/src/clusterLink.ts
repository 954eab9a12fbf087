import type { Bus, Subscription } from '@l7mesh/bus';
import { decodeVerdictBatch, encodeEdgeWatermark, HeadBatchWriter, MAX_SEGMENTS_PER_BATCH, partitionOf, type HeadSegment, type Verdict } from '@l7mesh/wire';
import type { SegmentSink } from './remoteClassifier.js';

export interface ClusterLinkOptions {
  bus: Bus;
  edge: string;
  partitions: number;
  /** Segments wait at most this long before their batch is published (ms); 0: at the end of the packet batch. */
  flushMs: number;
  /** A partition's batch is published early once it is this big (bytes). */
  maxBatchBytes?: number;
  /**
   * Live mode: with no packets, the watermark follows the wall clock (less
   * a margin for packets still in the kernel's queue). Replay: it stays at
   * the last packet's time.
   */
  live: boolean;
  onVerdicts: (verdicts: Verdict[]) => void;
  log?: (line: string) => void;
}

export interface LinkCounters {
  batches: number;
  bytes: number;
  watermarks: number;
  /** Publishes that failed (the connection closed): their flows time out as `unknown`. */
  publishErrors: number;
  verdictMessages: number;
  badVerdictMessages: number;
}

/** How often the watermark is published with no traffic: it is also the edge's liveness signal (ms). */
const WATERMARK_PERIOD_MS = 200;
/** Live mode: a packet may reach the edge this long after its kernel timestamp (ms). */
const LIVE_WATERMARK_MARGIN_MS = 50;
const DEFAULT_MAX_BATCH_BYTES = 60_000;
/** A segment's bytes in a head batch besides its payload (key, counters, flags, times), at most. */
const SEGMENT_OVERHEAD = 64;

/**
 * The edge's side of the bus: head segments batched per partition and
 * published within a bounded delay, the edge's watermark after each full
 * flush, and the verdict subscription. Publishing never blocks the packet
 * path: while NATS is unreachable the client buffers or the publish fails
 * and is counted; the flows then time out as `unknown`, and packets pass
 * regardless (fail-open).
 */
export class ClusterLink implements SegmentSink {
  readonly counters: LinkCounters = { batches: 0, bytes: 0, watermarks: 0, publishErrors: 0, verdictMessages: 0, badVerdictMessages: 0 };
  private readonly writers: (HeadBatchWriter | undefined)[];
  private readonly dirty: number[] = [];
  private readonly maxBatchBytes: number;
  private readonly subscription: Subscription;
  private readonly periodic: NodeJS.Timeout;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private batchSeq = 0;
  private tsSec = 0;
  private tsNsec = 0;
  private done = false;
  private closed = false;

  constructor(private readonly options: ClusterLinkOptions) {
    this.writers = new Array(options.partitions);
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    const names = options.bus.names;
    this.subscription = options.bus.nc.subscribe(names.verdict(options.edge), {
      callback: (_err, msg) => this.receive(msg.data),
    });
    this.periodic = setInterval(() => {
      if (this.dirty.length === 0) this.publishWatermark();
    }, WATERMARK_PERIOD_MS);
    this.publishWatermark();
  }

  /** Notes the time of the newest packet handled (the watermark's). */
  advance(tsSec: number, tsNsec: number): void {
    if (tsSec > this.tsSec || (tsSec === this.tsSec && tsNsec > this.tsNsec)) {
      this.tsSec = tsSec;
      this.tsNsec = tsNsec;
    }
  }

  send(s: HeadSegment): void {
    const w = this.writerOf(s);
    w.addSegment(s);
    if (w.byteLength >= this.maxBatchBytes || w.count >= MAX_SEGMENTS_PER_BATCH) this.publishBatch(w);
    this.scheduleFlush();
  }

  sendTogether(segments: readonly HeadSegment[]): void {
    if (segments.length === 0) return;
    const w = this.writerOf(segments[0]!);
    // What is pending goes first when the group would not fit beside it: the group is never split.
    const bytes = segments.reduce((n, s) => n + s.payload.length + SEGMENT_OVERHEAD, 0);
    if (w.count > 0 && (w.byteLength + bytes > this.maxBatchBytes || w.count + segments.length > MAX_SEGMENTS_PER_BATCH)) this.publishBatch(w);
    for (const s of segments) w.addSegment(s);
    this.scheduleFlush();
  }

  private writerOf(s: HeadSegment): HeadBatchWriter {
    const p = partitionOf(s.zone, s.key, this.options.partitions);
    let w = this.writers[p];
    if (!w) this.writers[p] = w = new HeadBatchWriter(this.options.edge, p);
    if (w.count === 0) this.dirty.push(p);
    return w;
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // 0: at the end of this turn of the event loop, i.e. after the packet batch being handled.
      if (this.options.flushMs === 0) setImmediate(() => this.flush());
      else this.flushTimer = setTimeout(() => this.flush(), this.options.flushMs);
    }
  }

  /** Publishes every pending batch, then the watermark. */
  flush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    this.flushScheduled = false;
    for (const p of this.dirty) {
      const w = this.writers[p]!;
      if (w.count > 0) this.publishBatch(w);
    }
    this.dirty.length = 0;
    this.publishWatermark();
  }

  /** Nothing more will be sent (a replay finished, or the edge stops): workers stop waiting for this edge. */
  finishReplay(): void {
    this.flush();
    this.done = true;
    this.publishWatermark();
  }

  /** Publishes what is pending and a last watermark saying nothing more comes (workers stop waiting for this edge), then unsubscribes. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.done) this.finishReplay();
    this.closed = true;
    clearInterval(this.periodic);
    this.subscription.unsubscribe();
    await this.options.bus.nc.flush().catch(() => undefined);
  }

  private publishBatch(w: HeadBatchWriter): void {
    const data = w.finish(++this.batchSeq, this.tsSec, this.tsNsec);
    this.publish(this.options.bus.names.head(w.partition), data);
    this.counters.batches++;
    this.counters.bytes += data.length;
  }

  private publishWatermark(): void {
    if (this.closed) return;
    let sec = this.tsSec;
    let nsec = this.tsNsec;
    if (this.options.live) {
      const ms = Date.now() - LIVE_WATERMARK_MARGIN_MS;
      if (ms / 1000 > sec + nsec * 1e-9) {
        sec = Math.floor(ms / 1000);
        nsec = (ms % 1000) * 1e6;
      }
    }
    this.publish(this.options.bus.names.edgeWatermark(this.options.edge), encodeEdgeWatermark({ edge: this.options.edge, tsSec: sec, tsNsec: nsec, done: this.done }));
    this.counters.watermarks++;
  }

  private publish(subject: string, data: Uint8Array): void {
    try {
      this.options.bus.nc.publish(subject, data);
    } catch (err) {
      if (this.counters.publishErrors++ < 10) this.options.log?.(`edge ${this.options.edge}: publish to ${subject} failed: ${(err as Error).message}`);
    }
  }

  private receive(data: Uint8Array): void {
    this.counters.verdictMessages++;
    let verdicts: Verdict[];
    try {
      verdicts = decodeVerdictBatch(data).verdicts;
    } catch (err) {
      if (this.counters.badVerdictMessages++ < 10) this.options.log?.(`edge ${this.options.edge}: rejected verdict message: ${(err as Error).message}`);
      return;
    }
    this.options.onVerdicts(verdicts);
  }
}
