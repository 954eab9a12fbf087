import { Counter, Gauge, Registry } from 'prom-client';
import type { EdgeStats } from './stats.js';

/**
 * The edge's Prometheus metrics, in a registry of its own. Values are read
 * from the edge's counters when scraped (collect callbacks), so the packet
 * path never touches prom-client.
 */
export function createEdgeMetrics(stats: () => EdgeStats): Registry {
  const registry = new Registry();
  let snapshot: EdgeStats | undefined;
  // One snapshot per scrape: registry.metrics() collects every metric in turn.
  const current = (): EdgeStats => (snapshot ??= stats());
  const perL7 = (name: string, help: string, field: 'packets' | 'bytes' | 'flows') =>
    new Counter({
      name,
      help,
      labelNames: ['l7'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of current().protocols) this.inc({ l7: p.l7 }, p[field]);
      },
    });
  const plain = (name: string, help: string, value: (s: EdgeStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value(current()));
      },
    });

  perL7('l7mesh_edge_packets_total', 'Packets the edge saw, by the verdict of their flow (counted once the flow is decided, or ends unset)', 'packets');
  perL7('l7mesh_edge_bytes_total', 'IP bytes the edge saw, by the verdict of their flow', 'bytes');
  perL7('l7mesh_edge_flows_total', 'Flows by verdict (counted when decided, or when they end unset)', 'flows');
  plain('l7mesh_edge_queued_packets_total', 'Packets received from NFQUEUE (or the replayed capture)', (s) => s.packets.received);
  plain('l7mesh_edge_queued_bytes_total', 'Bytes of the packets received from NFQUEUE', (s) => s.packets.bytes);
  plain('l7mesh_edge_batches_total', 'Packet batches processed', (s) => s.batches);
  new Counter({
    name: 'l7mesh_edge_verdicts_total',
    help: 'Verdicts sent (every one ACCEPT), by whether the packet mark was set',
    labelNames: ['mark'],
    registers: [registry],
    collect() {
      this.reset();
      const v = current().verdicts;
      this.inc({ mark: 'set' }, v.marked);
      this.inc({ mark: 'unchanged' }, v.accepted - v.marked);
    },
  });
  new Counter({
    name: 'l7mesh_edge_malformed_packets_total',
    help: 'Queued packets the decoder could not classify (accepted unchanged), by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const p = current().packets;
      this.inc({ reason: 'malformed' }, p.malformed);
      this.inc({ reason: 'not_ip' }, p.not_ip);
      this.inc({ reason: 'not_tcp_udp' }, p.not_tcp_udp);
      this.inc({ reason: 'unsupported_link' }, p.unsupported_link);
      this.inc({ reason: 'fragment_held' }, p.fragments_held);
    },
  });
  new Counter({
    name: 'l7mesh_edge_conntrack_updates_total',
    help: 'Connection marks set through ctnetlink (verdicts no queued packet could carry), by result',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      const c = current().conntrack;
      this.inc({ result: 'ok' }, c.ok);
      this.inc({ result: 'failed' }, c.failed);
    },
  });
  new Gauge({
    name: 'l7mesh_edge_flow_table_size',
    help: 'Flows in the edge flow table',
    registers: [registry],
    collect() {
      this.set(current().flows.active);
    },
  });
  new Gauge({
    name: 'l7mesh_edge_flow_table_max',
    help: 'Bound on the edge flow table (flows.maxFlows)',
    registers: [registry],
    collect() {
      this.set(current().flows.max);
    },
  });
  new Counter({
    name: 'l7mesh_edge_source_events_total',
    help: 'Counters of the packet source (NFQUEUE), by name',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [event, n] of Object.entries(current().source ?? {})) this.inc({ event }, n);
    },
  });

  new Counter({
    name: 'l7mesh_edge_cluster_events_total',
    help: 'Remote mode: segments sent and re-sent, verdicts received (and stale, repeated, conflicting ones), flows timed out as unknown, failed publishes, rejected verdict messages, flows picked up mid-stream (and pickups the cluster answered from an earlier decision or not)',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      const c = current().cluster;
      if (!c) return;
      for (const event of ['segments_sent', 'resends', 'verdicts', 'stale_verdicts', 'repeated_verdicts', 'conflicting_verdicts', 'timed_out', 'publish_errors', 'bad_verdict_messages', 'pickups', 'pickup_hits', 'pickup_misses'] as const) this.inc({ event }, c[event]);
    },
  });
  new Gauge({
    name: 'l7mesh_edge_cluster_waiting_flows',
    help: 'Remote mode: flows sent to the cluster and waiting for their verdict',
    registers: [registry],
    collect() {
      const c = current().cluster;
      if (c) this.set(c.waiting);
    },
  });
  new Gauge({
    name: 'l7mesh_edge_cluster_connected',
    help: 'Remote mode: 1 while connected to NATS',
    registers: [registry],
    collect() {
      const c = current().cluster;
      if (c) this.set(c.connected ? 1 : 0);
    },
  });
  new Counter({
    name: 'l7mesh_edge_stateless_events_total',
    help: 'Stateless mode: flows given verdict-map elements (held: budget spent undecided; decided; learned: of those, added by the kernel from the verdict packet; repaired: such elements found missing and added again), held flows given their verdict, flows ended (gone from the live set) or whose elements expired, live flows re-added, flows refused by a full map, failed nft transactions and flow updates',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      const s = current().stateless;
      if (!s) return;
      for (const event of ['held', 'decided', 'learned', 'repaired', 'replaced', 'ended', 'resumed', 'expired', 'refreshed', 'full', 'batch_failures', 'flow_failures', 'sweep_errors'] as const) this.inc({ event }, s[event]);
    },
  });
  new Gauge({
    name: 'l7mesh_edge_stateless_flows',
    help: 'Stateless mode: flows with elements in the verdict map',
    registers: [registry],
    collect() {
      const s = current().stateless;
      if (s) this.set(s.flows);
    },
  });

  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    snapshot = undefined;
    try {
      return await metrics();
    } finally {
      snapshot = undefined;
    }
  };
  return registry;
}
