import { endpointsOfKey, flowKeyOfEndpoints } from '@l7mesh/flow';
import { Direction, type HeadSegment, type Verdict } from '@l7mesh/wire';
import type { SegmentSink } from './remoteClassifier.js';
import type { ConntrackTuple } from './types.js';

/** Reads a connection from conntrack: its reply tuple, given its original one (undefined: no such entry). */
export type ConntrackReplyLookup = (original: ConntrackTuple) => ConntrackTuple | undefined;

export interface NatCounters {
  /** Flows whose segments were rewritten to the external tuple. */
  translated: number;
  /** Flows found not NATed (sent as they are). */
  untranslated: number;
  /** Flows with no conntrack entry when looked up (sent as they are). */
  missing: number;
}

export interface NatTranslatorOptions {
  lookup: ConntrackReplyLookup;
  /** How long a flow's translation is kept after its last segment (s); its verdicts and re-sends need it. */
  keepSec: number;
  /** Wall clock in seconds. */
  nowSec?: () => number;
}

interface Translation {
  /** The internal key's endpoint that NAT rewrote, and what it became; undefined: not NATed. */
  from?: { addr: string; port: number };
  to?: { addr: string; port: number };
  key: string;
  lastSec: number;
}

const SWEEP_EVERY = 1024;

/**
 * Source NAT on the edge's own router (conntrack mode): the edge's queue
 * rules see a connection before SNAT, with the internal address, while the
 * other routers and the server see the external one. The cluster merges
 * flows by the tuple everybody sees, so the edge reports each flow under
 * the external tuple.
 *
 * The NAT binding of a new connection is made in POSTROUTING after the
 * edge's verdict on its first packet, so its first segments wait here
 * until {@link resolve} (called after the batch's verdicts went out) reads
 * the conntrack entry; later segments are rewritten at once. Verdicts come
 * back under the external key and are given to the edge under its own.
 */
export class NatTranslator implements SegmentSink {
  readonly counters: NatCounters = { translated: 0, untranslated: 0, missing: 0 };
  /** By internal key. */
  private readonly flows = new Map<string, Translation>();
  /** External key -> internal key, for verdicts. */
  private readonly internalOf = new Map<string, string>();
  /** Segments of flows not resolved yet, in order. */
  private waiting = new Map<string, HeadSegment[][]>();
  private readonly nowSec: () => number;
  private sends = 0;

  constructor(
    private readonly sink: SegmentSink,
    private readonly options: NatTranslatorOptions,
  ) {
    this.nowSec = options.nowSec ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Flows whose translation is kept. */
  get size(): number {
    return this.flows.size;
  }

  send(segment: HeadSegment): void {
    this.sendTogether([segment]);
  }

  sendTogether(segments: readonly HeadSegment[]): void {
    if (++this.sends % SWEEP_EVERY === 0) this.forgetIdle();
    if (segments.length === 0) return;
    const pending = segments.find((s) => !this.flows.has(s.key));
    if (!pending) {
      const now = this.nowSec();
      this.sink.sendTogether(
        segments.map((s) => {
          const t = this.flows.get(s.key)!;
          t.lastSec = now;
          return this.rewrite(s, t);
        }),
      );
      return;
    }
    // A flow not resolved yet: the group waits for resolve() (under the first such flow; the others are looked up then too).
    for (const s of segments) if (!this.flows.has(s.key) && !this.waiting.has(s.key)) this.waiting.set(s.key, []);
    this.waiting.get(pending.key)!.push([...segments]);
  }

  /**
   * Looks up the waiting flows in conntrack (their first packets have
   * passed NAT by now) and sends their segments under the key the other
   * routers see.
   */
  resolve(): void {
    if (this.waiting.size === 0) return;
    const waiting = this.waiting;
    this.waiting = new Map();
    const groups = [...waiting.values()].flat();
    // Each waiting flow by the first of its segments: which way it went tells how to look it up.
    for (const key of waiting.keys()) if (!this.flows.has(key)) this.learn(groups.flat().find((s) => s.key === key)!);
    for (const group of groups) this.sink.sendTogether(group.map((s) => this.rewrite(s, this.flows.get(s.key)!)));
  }

  /** A verdict from the cluster, under the key the edge knows the flow by (its start's originator too). */
  inbound(v: Verdict): Verdict {
    const key = this.internalOf.get(v.key);
    if (key === undefined) return v;
    if (!v.start) return { ...v, key };
    const t = this.flows.get(key)!;
    // The originator in the external key, as the internal endpoint it stands for, and its place in the internal key.
    const e = endpointsOfKey(v.key, v.start.origIsLow);
    const origin = t.to && e.src === t.to.addr && e.sport === t.to.port ? t.from! : { addr: e.src, port: e.sport };
    const low = endpointsOfKey(key, true);
    return { ...v, key, start: { ...v.start, origIsLow: low.src === origin.addr && low.sport === origin.port } };
  }

  /**
   * The key the other routers see a flow by that the edge knows by `key`,
   * with its originator at the key's lower endpoint when `origIsLow`, and
   * the originator's place in it; undefined when the flow is not NATed (or
   * not known here).
   */
  external(key: string, origIsLow: boolean): { key: string; origIsLow: boolean } | undefined {
    const t = this.flows.get(key);
    if (!t?.from) return undefined;
    const e = endpointsOfKey(key, origIsLow);
    const origin = e.src === t.from.addr && e.sport === t.from.port ? t.to! : { addr: e.src, port: e.sport };
    const low = endpointsOfKey(t.key, true);
    return { key: t.key, origIsLow: low.src === origin.addr && low.sport === origin.port };
  }

  private learn(first: HeadSegment): void {
    const key = first.key;
    const { src, sport, dst, dport, protocol } = endpointsOfKey(key, first.direction === Direction.LowToHigh);
    const original: ConntrackTuple = { family: src.includes(':') ? 'ipv6' : 'ipv4', protocol: protocol === 6 ? 'tcp' : 'udp', src, sport, dst, dport };
    // The edge saw the originator's packet first, as a rule; else the responder's.
    let reply = this.options.lookup(original);
    let client = { addr: src, port: sport };
    if (!reply) {
      reply = this.options.lookup({ ...original, src: dst, sport: dport, dst: src, dport: sport });
      client = { addr: dst, port: dport };
    }
    const t: Translation = { key, lastSec: this.nowSec() };
    if (!reply) this.counters.missing++;
    else if (reply.dst === client.addr && reply.dport === client.port) this.counters.untranslated++;
    else {
      t.from = client;
      t.to = { addr: reply.dst, port: reply.dport };
      const e = endpointsOfKey(key, true);
      const swap = (addr: string, port: number) => (addr === client.addr && port === client.port ? t.to! : { addr, port });
      const a = swap(e.src, e.sport);
      const b = swap(e.dst, e.dport);
      t.key = flowKeyOfEndpoints({ protocol, src: a.addr, sport: a.port, dst: b.addr, dport: b.port });
      this.internalOf.set(t.key, key);
      this.counters.translated++;
    }
    this.flows.set(key, t);
  }

  private rewrite(s: HeadSegment, t: Translation): HeadSegment {
    if (!t.from) return s;
    // Which endpoint sent it, in the internal key; the same endpoint's place in the external key.
    const e = endpointsOfKey(s.key, s.direction === Direction.LowToHigh);
    const sender = e.src === t.from.addr && e.sport === t.from.port ? t.to! : { addr: e.src, port: e.sport };
    const low = endpointsOfKey(t.key, true);
    const direction = low.src === sender.addr && low.sport === sender.port ? Direction.LowToHigh : Direction.HighToLow;
    return { ...s, key: t.key, direction };
  }

  /** Drops translations idle for longer than keepSec (their flows ended at the edge long ago). */
  private forgetIdle(): void {
    const horizon = this.nowSec() - this.options.keepSec;
    for (const [key, t] of this.flows) {
      if (t.lastSec >= horizon) continue;
      this.flows.delete(key);
      if (t.from) this.internalOf.delete(t.key);
    }
  }
}
