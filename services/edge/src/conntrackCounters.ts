/**
 * Conntrack's counters into the edge's records (conntrack mode): the whole
 * connection is accounted, not only the packets the edge was queued.
 *
 * - DESTROY events (ctnetlink, read by the nfqueue addon's own thread) give
 *   each ended connection's final counters: flowEndedWithCounters.
 * - A dump at start and then every dumpIntervalMs gives the counters of the
 *   connections still open (long downloads show up while they run, not
 *   hours later): flowCounters, not final, scope 'connection'. The dump at
 *   start also catches the connections opened before the subscription,
 *   which, with the default nf_conntrack_events=2, never send a DESTROY.
 *   They are remembered (up to maxPreexisting) and ended with their last
 *   dumped counters once two dumps in a row lack them.
 * - Lost events (ENOBUFS, a full queue) bring the next dump forward: it
 *   accounts what the connections still open carried so far.
 *
 * Keys are those of the edge's own flows (flowKeyOfEndpoints), seen where
 * the edge's queue rules see packets, in mangle FORWARD/INPUT: after DNAT,
 * before SNAT. So a connection is (original source) <-> (reply source):
 * for a source-NATed one the internal address, as the edge decided it.
 *
 * Nothing here zeroes conntrack's counters (the connbytes queue rule reads
 * them): dumps are plain reads.
 */
import { endpointsOfKey, flowKeyOfEndpoints, formatIpAddress, parseIpAddress } from '@l7mesh/flow';
import type { ConntrackDumpOptions, ConntrackEntry, ConntrackEventsOptions, ConntrackEventsStats, NfqueueError } from '@l7mesh/nfqueue';
import type { KernelCounters, KernelCountersOptions } from './records.js';

/** Where the counters go: EdgeRecords (live mode), or a test's. */
export interface KernelCounterSink {
  flowCounters(key: string, counters: KernelCounters, options?: KernelCountersOptions): void;
  flowEndedWithCounters(key: string, counters: KernelCounters, options?: Omit<KernelCountersOptions, 'final'>): void;
}

/** What is read from conntrack: the nfqueue addon module itself, or a test's stand-in. */
export interface ConntrackSource {
  ConntrackEvents: { open(options: ConntrackEventsOptions): { close(): void; stats(): ConntrackEventsStats } };
  conntrackDumpEach(onEntries: (entries: ConntrackEntry[]) => void, options?: ConntrackDumpOptions): Promise<number>;
}

export interface ConntrackCountersOptions {
  sink: KernelCounterSink;
  source: ConntrackSource;
  /** Between dumps of the open connections (default 60 000 ms). */
  dumpIntervalMs?: number;
  /** The soonest a dump follows lost events (default 5 000 ms after the previous dump). */
  lostDumpGapMs?: number;
  /** IP protocols accounted (default TCP and UDP: the edge's flows). */
  protocols?: readonly number[];
  /** Connections from before the subscription remembered to end them (default 200 000); past it they stay open in the records. */
  maxPreexisting?: number;
  /** Passed to ConntrackEvents.open (receive buffer, queue bound, reliable). */
  events?: Pick<ConntrackEventsOptions, 'rcvBufBytes' | 'maxBuffered' | 'maxBatch' | 'reliable'>;
  log?: (line: string) => void;
  /** Wall clock, ms (default Date.now). */
  clock?: () => number;
}

export interface ConntrackCountersStats {
  /** Ended connections reported (DESTROY events with counters). */
  ended: number;
  /** DESTROY events and dumped entries without counters (created while nf_conntrack_acct was 0): nothing to account. */
  withoutCounters: number;
  dumps: number;
  dumpErrors: number;
  /** Open connections reported by dumps. */
  dumpedConnections: number;
  /** Entries of a dump whose DESTROY came while the dump ran (their final counters were reported already). */
  dumpRaces: number;
  /** Reports of lost DESTROY events (each followed by an early dump). */
  lossReports: number;
  /** Connections from before the subscription ended because two dumps lacked them; still remembered; not remembered (maxPreexisting). */
  preexistingEnded: number;
  preexistingOpen: number;
  preexistingUntracked: number;
  /** The last dump: entries and wall time (ms). */
  lastDumpEntries: number;
  lastDumpMs: number;
}

/** A connection from before the subscription: it sends no DESTROY, so dumps tell when it has gone. */
interface Preexisting {
  key: string;
  counters: KernelCounters;
  /** Dumps in a row that lacked it. */
  missed: number;
}

/**
 * The edge's key of a conntrack entry: (original source) <-> (reply
 * source), the endpoints of its packets between DNAT and SNAT, where the
 * queue rules see them.
 */
export function conntrackFlowKey(e: Pick<ConntrackEntry, 'original' | 'reply'>): string {
  return flowKeyOfEndpoints({ protocol: e.original.protocol, src: e.original.src, sport: e.original.sport, dst: e.reply.src, dport: e.reply.sport });
}

/** Conntrack's counters in the records' form: which endpoint of `key` originated the connection. */
export function kernelCounters(key: string, e: Pick<ConntrackEntry, 'original' | 'reply'>, c: NonNullable<ConntrackEntry['counters']>): KernelCounters {
  const low = endpointsOfKey(key, true);
  // Ports tell the ends apart but when both are equal; then the addresses do.
  const origIsLow = e.original.sport !== e.reply.sport ? low.sport === e.original.sport : low.src === formatIpAddress(parseIpAddress(e.original.src));
  return { origIsLow, origPackets: c.origPackets, origBytes: c.origBytes, replyPackets: c.replyPackets, replyBytes: c.replyBytes };
}

export class ConntrackCounters {
  readonly stats: ConntrackCountersStats = {
    ended: 0,
    withoutCounters: 0,
    dumps: 0,
    dumpErrors: 0,
    dumpedConnections: 0,
    dumpRaces: 0,
    lossReports: 0,
    preexistingEnded: 0,
    preexistingOpen: 0,
    preexistingUntracked: 0,
    lastDumpEntries: 0,
    lastDumpMs: 0,
  };
  private readonly sink: KernelCounterSink;
  private readonly source: ConntrackSource;
  private readonly clock: () => number;
  private readonly log: (line: string) => void;
  private readonly protocols: readonly number[];
  private readonly maxPreexisting: number;
  private readonly lostDumpGapMs: number;
  private events: { close(): void; stats(): ConntrackEventsStats } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lossTimer: NodeJS.Timeout | undefined;
  /** The dump under way, if any. */
  private dumping: Promise<void> | undefined;
  private lastDumpAtMs = 0;
  private subscribedAtMs = Number.POSITIVE_INFINITY;
  /** Ids of the entries whose DESTROY came while the current dump ran. */
  private destroyedDuringDump: Set<number> | undefined;
  /** By conntrack id; filled by the first dump only. */
  private readonly preexisting = new Map<number, Preexisting>();
  private stopped = false;

  private constructor(options: ConntrackCountersOptions) {
    this.sink = options.sink;
    this.source = options.source;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.protocols = options.protocols ?? [6, 17];
    this.maxPreexisting = options.maxPreexisting ?? 200_000;
    this.lostDumpGapMs = options.lostDumpGapMs ?? 5_000;
  }

  /**
   * Subscribes to DESTROY events, then dumps the table once (the
   * connections already open, which will send no DESTROY), then dumps every
   * dumpIntervalMs until stop(). Throws what ConntrackEvents.open throws
   * (CT_SOCKET: no CAP_NET_ADMIN, or no ctnetlink); a failed first dump is
   * logged and counted, not thrown.
   */
  static async start(options: ConntrackCountersOptions): Promise<ConntrackCounters> {
    const self = new ConntrackCounters(options);
    // Subscribed first: a connection opened from here on sends its DESTROY, so the dump below leaves none out.
    self.events = options.source.ConntrackEvents.open({
      ...options.events,
      protocols: self.protocols,
      onDestroy: (entries) => self.onDestroy(entries),
      onError: (err) => self.onEventsError(err),
    });
    self.subscribedAtMs = self.events.stats().subscribedAtMs;
    await self.dumpNow();
    const every = options.dumpIntervalMs ?? 60_000;
    self.timer = setInterval(() => void self.dumpNow(), every);
    self.timer.unref();
    return self;
  }

  /** The subscription's own counters (received, lost, ...); undefined after stop(). */
  eventStats(): ConntrackEventsStats | undefined {
    return this.events?.stats();
  }

  /**
   * Dumps now (or joins the dump under way) and reports every open
   * connection's counters. Resolves when they are reported; never rejects
   * (a failure is logged and counted).
   */
  dumpNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.dumping ??= this.dump().finally(() => {
      this.dumping = undefined;
    });
    return this.dumping;
  }

  /**
   * Stops dumping and unsubscribes; the DESTROY events read until now are
   * reported first. A dump under way is ignored when it completes.
   */
  stop(): void {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    if (this.lossTimer) clearTimeout(this.lossTimer);
    this.timer = this.lossTimer = undefined;
    try {
      this.events?.close();
    } finally {
      this.events = undefined;
      this.stopped = true;
    }
  }

  private onDestroy(entries: ConntrackEntry[]): void {
    if (this.stopped) return;
    const now = this.clock();
    for (const e of entries) {
      this.destroyedDuringDump?.add(e.id);
      if (this.preexisting.delete(e.id)) this.stats.preexistingOpen = this.preexisting.size;
      if (!e.counters) {
        this.stats.withoutCounters++;
        continue;
      }
      const key = conntrackFlowKey(e);
      this.stats.ended++;
      // stopMs: when conntrack let the connection go (its last packet plus the state's timeout), with nf_conntrack_timestamp=1.
      this.sink.flowEndedWithCounters(key, kernelCounters(key, e, e.counters), {
        scope: 'connection',
        lastSeenMs: e.stopMs ?? now,
        ...(e.startMs !== undefined ? { firstSeenMs: e.startMs } : {}),
      });
    }
  }

  private onEventsError(err: NfqueueError): void {
    if (err.code !== 'CT_EVENTS_LOST') {
      this.log(`warning: conntrack events: ${err.code}: ${err.message}`);
      return;
    }
    // The connections that ended unseen are lost with what they carried since the last dump; the open ones are caught up now.
    if (this.stats.lossReports++ < 10 || this.stats.lossReports % 1000 === 0) this.log(`warning: ${err.message} (${this.stats.lossReports} loss reports so far)`);
    if (this.lossTimer || this.stopped) return;
    const wait = Math.max(0, this.lastDumpAtMs + this.lostDumpGapMs - this.clock());
    this.lossTimer = setTimeout(() => {
      this.lossTimer = undefined;
      void this.dumpNow();
    }, wait);
    this.lossTimer.unref();
  }

  private async dump(): Promise<void> {
    const started = this.clock();
    const first = this.stats.dumps === 0;
    const raced = new Set<number>();
    const seen = new Set<number>();
    this.destroyedDuringDump = raced;
    let count: number;
    try {
      // Slice by slice, one per turn of the event loop: the packet path keeps running, and DESTROY events come in between.
      count = await this.source.conntrackDumpEach((entries) => {
        if (!this.stopped) for (const e of entries) this.dumped(e, first, raced, seen);
      }, { protocols: this.protocols });
    } catch (err) {
      this.stats.dumpErrors++;
      if (this.stats.dumpErrors <= 10) this.log(`warning: conntrack dump failed: ${(err as Error).message}`);
      return;
    } finally {
      this.destroyedDuringDump = undefined;
    }
    if (this.stopped) return;
    this.stats.dumps++;
    this.lastDumpAtMs = this.clock();
    this.stats.lastDumpEntries = count;
    this.stats.lastDumpMs = this.lastDumpAtMs - started;
    if (!first) this.endVanished(seen);
    this.stats.preexistingOpen = this.preexisting.size;
  }

  private dumped(e: ConntrackEntry, first: boolean, raced: ReadonlySet<number>, seen: Set<number>): void {
    if (!e.counters) {
      this.stats.withoutCounters++;
      return;
    }
    // Its DESTROY came while the dump ran: its final counters are in, and
    // reporting these older ones after them would make it a new, unknown connection.
    if (raced.has(e.id)) {
      this.stats.dumpRaces++;
      return;
    }
    const key = conntrackFlowKey(e);
    const counters = kernelCounters(key, e, e.counters);
    this.stats.dumpedConnections++;
    this.sink.flowCounters(key, counters, { final: false, scope: 'connection', ...(e.startMs !== undefined ? { firstSeenMs: e.startMs } : {}) });
    if (first) {
      // Created after the subscription (known with nf_conntrack_timestamp=1): it will send its DESTROY.
      if (e.startMs !== undefined && e.startMs >= this.subscribedAtMs) return;
      if (this.preexisting.size < this.maxPreexisting) this.preexisting.set(e.id, { key, counters, missed: 0 });
      else this.stats.preexistingUntracked++;
      return;
    }
    const p = this.preexisting.get(e.id);
    if (p) {
      p.counters = counters;
      p.missed = 0;
      seen.add(e.id);
    }
  }

  /**
   * Connections from before the subscription that two dumps in a row
   * lacked have ended (a dump may miss an entry while the table changes, so
   * one absence is not proof): their record ends with the last counters
   * dumped, which adds nothing to the accounting.
   */
  private endVanished(seen: ReadonlySet<number>): void {
    for (const [id, p] of this.preexisting) {
      if (seen.has(id) || ++p.missed < 2) continue;
      this.preexisting.delete(id);
      this.stats.preexistingEnded++;
      this.sink.flowEndedWithCounters(p.key, p.counters, { scope: 'connection' });
    }
  }
}
