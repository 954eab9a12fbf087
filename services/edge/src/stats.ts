import { hex, type EdgeConfig } from './config.js';
import type { EdgeCore } from './core.js';
import type { RemoteEdge } from './remote.js';
import type { StatelessEdge } from './stateless.js';

export interface ProtocolStats {
  l7: string;
  /** The mark the verdict sets (hex), if any. */
  mark?: string;
  group?: string;
  flows: number;
  packets: number;
  bytes: number;
}

/** What `/stats` serves and `l7mesh edge stats` prints. */
export interface EdgeStats {
  mode: 'nfqueue' | 'replay';
  started_at: string;
  uptime_sec: number;
  queue?: { first: number; last: number };
  batches: number;
  packets: {
    /** Packets received from the queue (or the capture). */
    received: number;
    bytes: number;
    /** Packets that were not TCP/UDP or could not be decoded, by reason (all accepted unchanged). */
    undecodable: number;
    malformed: number;
    not_ip: number;
    not_tcp_udp: number;
    unsupported_link: number;
    /** IP fragments held for reassembly (accepted at once; the reassembled datagram is classified). */
    fragments_held: number;
  };
  verdicts: { accepted: number; marked: number };
  conntrack: { ok: number; failed: number; in_flight: number };
  flows: { active: number; max: number };
  /**
   * Counted per verdict: a flow counts once decided (or, if it ends undecided,
   * as unset), with the packets and bytes the edge saw of it. Live undecided
   * flows are in `live_unset`.
   */
  protocols: ProtocolStats[];
  live_unset: { flows: number; packets: number; bytes: number };
  /** Extra counters of the packet source (NFQUEUE drops, ...). */
  source?: Record<string, number>;
  /** Remote mode: the cluster link and the verdicts. */
  cluster?: {
    connected: boolean;
    /** Flows sent and waiting for their verdict. */
    waiting: number;
    segments_sent: number;
    resends: number;
    batches: number;
    bytes_sent: number;
    publish_errors: number;
    verdicts: number;
    /** Flows with no verdict in time, now `unknown`. */
    timed_out: number;
    stale_verdicts: number;
    repeated_verdicts: number;
    conflicting_verdicts: number;
    bad_verdict_messages: number;
    /** Flows picked up mid-stream (no SYN seen), and whether the cluster recalled their verdict. */
    pickups: number;
    pickup_hits: number;
    pickup_misses: number;
    /** A source-NATing router: flows reported under their external tuple, found not NATed, or with no conntrack entry. */
    nat?: { translated: number; untranslated: number; missing: number; kept: number };
  };
  /** Stateless mode: the verdict map's book (flows with elements) and what happened to them. */
  stateless?: ReturnType<StatelessEdge['counters']>;
}

export interface StatsContext {
  mode: 'nfqueue' | 'replay';
  startedAt: number;
  config: Pick<EdgeConfig, 'queue' | 'flows'>;
  source?: () => Record<string, number>;
  cluster?: RemoteEdge['counters'];
  stateless?: StatelessEdge['counters'];
}

export function edgeStats(core: EdgeCore, ctx: StatsContext): EdgeStats {
  const c = core.counters;
  const d = core.decoder.stats;
  const named = d.malformed + d.notIp + d.notTcpUdp + d.unsupportedLinkType;
  const protocols: ProtocolStats[] = [...c.protocols.entries()]
    .map(([l7, t]) => {
      const s: ProtocolStats = { l7, flows: t.flows, packets: t.packets, bytes: t.bytes };
      const mark = core.policy.markOf(l7);
      if (mark !== undefined) s.mark = hex(mark);
      const group = core.policy.groupOf(l7);
      if (group !== undefined) s.group = group;
      return s;
    })
    .sort((a, b) => b.bytes - a.bytes || (a.l7 < b.l7 ? -1 : 1));
  const stats: EdgeStats = {
    mode: ctx.mode,
    started_at: new Date(ctx.startedAt).toISOString(),
    uptime_sec: Math.round((Date.now() - ctx.startedAt) / 100) / 10,
    batches: c.batches,
    packets: {
      received: c.packets,
      bytes: c.bytes,
      undecodable: c.undecodable,
      malformed: d.malformed,
      not_ip: d.notIp,
      not_tcp_udp: d.notTcpUdp,
      unsupported_link: d.unsupportedLinkType,
      fragments_held: Math.max(0, c.undecodable - named),
    },
    verdicts: { ...c.verdicts },
    conntrack: { ...c.conntrack, in_flight: core.conntrackInFlight },
    flows: { active: core.activeFlows, max: ctx.config.flows.maxFlows },
    protocols,
    live_unset: core.liveUnset(),
  };
  if (ctx.mode === 'nfqueue') stats.queue = { first: ctx.config.queue.first, last: ctx.config.queue.last };
  if (ctx.source) stats.source = ctx.source();
  if (ctx.cluster) {
    const { link, remote, connected, waiting, nat } = ctx.cluster();
    stats.cluster = {
      connected,
      waiting,
      segments_sent: remote.segmentsSent,
      resends: remote.resends,
      batches: link.batches,
      bytes_sent: link.bytes,
      publish_errors: link.publishErrors,
      verdicts: remote.verdicts,
      timed_out: remote.timedOut,
      stale_verdicts: remote.staleVerdicts,
      repeated_verdicts: remote.repeatedVerdicts,
      conflicting_verdicts: remote.conflictingVerdicts,
      bad_verdict_messages: link.badVerdictMessages,
      pickups: remote.pickups,
      pickup_hits: remote.pickupHits,
      pickup_misses: remote.pickupMisses,
      ...(nat ? { nat } : {}),
    };
  }
  if (ctx.stateless) stats.stateless = ctx.stateless();
  return stats;
}
