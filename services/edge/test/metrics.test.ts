import { afterAll, describe, expect, it } from 'vitest';
import { createEdgeMetrics, edgeStats, flowView, startEdgeServer, type EdgeServer, type FlowView } from '../src/index.js';
import { Conversation, makeCore, testConfig } from './helpers.js';

describe('loopback metrics server', () => {
  const servers: EdgeServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it('serves Prometheus counters, /stats and /flows on an ephemeral loopback port', async () => {
    const config = testConfig();
    const core = makeCore(config);
    const c = new Conversation('198.18.0.1', 41000, '198.18.0.2', 80);
    core.processBatch([...c.handshake(), c.packet('c', 'GET / HTTP/1.1\r\n\r\n'), { id: 99, mark: 0, payload: new Uint8Array([0x45, 0]) }]);
    const u = new Conversation('198.18.0.1', 41001, '198.18.0.2', 7000, 'udp', { firstId: 50 });
    core.processBatch([u.packet('c', 'zzz')]);
    const stats = () => edgeStats(core, { mode: 'nfqueue', startedAt: Date.now() - 1000, config, source: () => ({ queue_dropped: 2 }) });
    const server = await startEdgeServer(0, { registry: createEdgeMetrics(stats), stats, flows: () => core.liveFlows().map((f) => flowView(f, core.policy)) });
    servers.push(server);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.port).toBeGreaterThan(0);

    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await metrics.text();
    const httpBytes = core.liveFlows()[0]!.flow.bytes;
    expect(text).toContain('l7mesh_edge_packets_total{l7="http"} 4');
    expect(text).toContain(`l7mesh_edge_bytes_total{l7="http"} ${httpBytes}`);
    expect(text).toContain('l7mesh_edge_flows_total{l7="http"} 1');
    expect(text).toContain('l7mesh_edge_queued_packets_total 6');
    expect(text).toContain('l7mesh_edge_verdicts_total{mark="set"} 4');
    expect(text).toContain('l7mesh_edge_verdicts_total{mark="unchanged"} 2');
    expect(text).toContain('l7mesh_edge_malformed_packets_total{reason="malformed"} 1');
    expect(text).toContain('l7mesh_edge_conntrack_updates_total{result="ok"} 0');
    expect(text).toContain('l7mesh_edge_flow_table_size 2');
    expect(text).toContain('l7mesh_edge_source_events_total{event="queue_dropped"} 2');
    expect(text).toMatch(/# TYPE l7mesh_edge_packets_total counter/);

    const s = await (await fetch(`${server.url}/stats`)).json();
    expect(s).toMatchObject({
      mode: 'nfqueue',
      queue: { first: 0, last: 0 },
      packets: { received: 6, undecodable: 1, malformed: 1 },
      verdicts: { accepted: 6, marked: 4 },
      flows: { active: 2 },
      protocols: [{ l7: 'http', mark: '0x100', flows: 1, packets: 4 }],
      live_unset: { flows: 1, packets: 1 },
    });
    const flows = (await (await fetch(`${server.url}/flows`)).json()) as FlowView[];
    expect(flows).toHaveLength(2);
    expect(flows[0]).toMatchObject({ l7: 'http', dport: 80, mark: '0x100', mark_state: 'packet' });
    expect(flows[1]).toMatchObject({ l7: 'unset', proto: 'udp', mark_state: 'waiting' });

    // Counters only grow between scrapes.
    core.processBatch([c.packet('s', 'HTTP/1.1 200 OK\r\n')]);
    expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('l7mesh_edge_packets_total{l7="http"} 5');
    expect((await fetch(`${server.url}/nothing`)).status).toBe(404);
    expect((await fetch(`${server.url}/stats`, { method: 'POST' })).status).toBe(405);
  });
  it('serves the cluster counters in remote mode', async () => {
    const config = testConfig();
    const core = makeCore(config);
    const cluster = () => ({
      connected: true,
      waiting: 3,
      link: { batches: 4, bytes: 900, watermarks: 9, publishErrors: 1, verdictMessages: 5, badVerdictMessages: 2 },
      remote: { segmentsSent: 20, resends: 6, timedOut: 1, verdicts: 7, staleVerdicts: 0, repeatedVerdicts: 2, conflictingVerdicts: 0, unsetVerdicts: 0, pickups: 4, pickupHits: 3, pickupMisses: 1 },
    });
    const stats = () => edgeStats(core, { mode: 'replay', startedAt: Date.now(), config, cluster });
    expect(stats().cluster).toMatchObject({ connected: true, waiting: 3, segments_sent: 20, resends: 6, bytes_sent: 900, timed_out: 1, bad_verdict_messages: 2 });
    const text = await createEdgeMetrics(stats).metrics();
    expect(text).toContain('l7mesh_edge_cluster_events_total{event="segments_sent"} 20');
    expect(text).toContain('l7mesh_edge_cluster_events_total{event="timed_out"} 1');
    expect(text).toContain('l7mesh_edge_cluster_events_total{event="publish_errors"} 1');
    expect(text).toContain('l7mesh_edge_cluster_waiting_flows 3');
    expect(text).toContain('l7mesh_edge_cluster_connected 1');
    expect(stats().cluster).toMatchObject({ pickups: 4, pickup_hits: 3, pickup_misses: 1 });
    expect(text).toContain('l7mesh_edge_cluster_events_total{event="pickup_hits"} 3');
  });

  it('serves the stateless counters in stateless mode', async () => {
    const config = testConfig();
    const core = makeCore(config);
    const stateless = () => ({ flows: 12, held: 5, decided: 9, learned: 8, repaired: 7, replaced: 2, ended: 3, resumed: 11, expired: 1, refreshed: 4, full: 6, batch_failures: 1, flow_failures: 0, sweep_errors: 0 });
    const stats = () => edgeStats(core, { mode: 'replay', startedAt: Date.now(), config, stateless });
    expect(stats().stateless).toMatchObject({ flows: 12, full: 6 });
    const text = await createEdgeMetrics(stats).metrics();
    expect(text).toContain('l7mesh_edge_stateless_flows 12');
    expect(text).toContain('l7mesh_edge_stateless_events_total{event="full"} 6');
    expect(text).toContain('l7mesh_edge_stateless_events_total{event="refreshed"} 4');
    expect(text).toContain('l7mesh_edge_stateless_events_total{event="learned"} 8');
    expect(text).toContain('l7mesh_edge_stateless_events_total{event="repaired"} 7');
    expect(text).toContain('l7mesh_edge_stateless_events_total{event="resumed"} 11');
  });
});
