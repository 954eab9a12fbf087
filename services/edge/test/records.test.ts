/**
 * The edge's flow records and accounting (EdgeRecords), without NATS: a
 * sink collects what would be published. Replay counts every packet once
 * under the flow's final verdict (what classify counts), intervals follow
 * the capture's clock, the customer side sets in/out, and in kernel mode
 * the kernel's counters complete what the edge saw.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AccountingDeltaInput, FlowRecordInput } from '@l7mesh/bus';
import { classifyCapture, type FlowRecord } from '@l7mesh/engine';
import { endpointsOfKey, readCaptureFile, TcpFlag } from '@l7mesh/flow';
import type { Verdict } from '@l7mesh/wire';
import { CustomerSide, EdgeCore, EdgeRecords, loadEdgePatterns, MarkPolicy, parseEdgeConfig, RemoteClassifier, startLiveRecords, type CounterSource, type EdgeFlow, type QueuedPacket } from '../src/index.js';
import { Conversation, makeCore, testConfig } from './helpers.js';

const capture = fileURLToPath(new URL('../../../test/captures/mixed/lab-mixed.pcap', import.meta.url));

class Sink {
  readonly records: FlowRecordInput[] = [];
  readonly deltas: AccountingDeltaInput[] = [];
  refuse = false;
  addFlowRecord(r: FlowRecordInput): boolean {
    if (this.refuse) return false;
    this.records.push(r);
    return true;
  }
  addAccountingDelta(d: AccountingDeltaInput): boolean {
    if (this.refuse) return false;
    this.deltas.push(d);
    return true;
  }
}

type Totals = Record<string, { flows: number; packets: number; bytes: number }>;

function totalsOfDeltas(deltas: AccountingDeltaInput[]): Totals {
  const t: Totals = {};
  for (const d of deltas) {
    const x = (t[d.l7] ??= { flows: 0, packets: 0, bytes: 0 });
    x.flows += d.flows;
    x.packets += d.packets;
    x.bytes += d.bytes;
  }
  return t;
}

function totalsOfClassify(records: FlowRecord[]): Totals {
  const t: Totals = {};
  for (const r of records) {
    const x = (t[r.l7] ??= { flows: 0, packets: 0, bytes: 0 });
    x.flows++;
    x.packets += r.packets;
    x.bytes += r.bytes;
  }
  return t;
}

/** The capture through an EdgeCore with records attached, batches of `batch` packets, as replay does. */
async function replayWithRecords(intervalSec: number, customer = new CustomerSide()): Promise<{ sink: Sink; records: EdgeRecords }> {
  const config = parseEdgeConfig('marks:\n  unknown: 0x0f00\n  protocols: { http: 0x0100 }\n', '/test/edge.yaml');
  const { set } = loadEdgePatterns(config);
  const sink = new Sink();
  const records = new EdgeRecords({ sink, zone: 3, iface: 'lab mixed.pcap', intervalSec, customer, counters: 'edge' });
  const core = new EdgeCore({ set, config, policy: new MarkPolicy(config.marks), onDecision: (f) => records.flowDecided(f), onFlowEnd: (_r, f) => records.flowEnded(f) });
  let n = 0;
  await readCaptureFile(capture, (frame) => {
    core.ingestFrame(frame);
    if (++n % 5 === 0) {
      core.endBatch();
      records.advance(frame.tsSec);
    }
  });
  core.finish();
  records.finish();
  return { sink, records };
}

describe('EdgeRecords in replay (the edge counts every packet)', () => {
  it('accounts per protocol exactly what classify counts (flows, packets, bytes), whatever the interval', async () => {
    const expected: FlowRecord[] = [];
    const config = parseEdgeConfig('marks:\n  unknown: 0x0f00\n', '/test/edge.yaml');
    await classifyCapture(capture, loadEdgePatterns(config).set, { onFlow: (r) => expected.push(r) });
    const want = totalsOfClassify(expected);
    expect(Object.keys(want).length).toBeGreaterThan(2);
    for (const interval of [1, 60, 3600]) {
      const { sink, records } = await replayWithRecords(interval);
      expect(totalsOfDeltas(sink.deltas)).toEqual(want);
      // Every delta's interval start is aligned, and the interface is the printable file name.
      for (const d of sink.deltas) {
        expect(d.startSec % interval).toBe(0);
        expect(d.iface).toBe('lab_mixed.pcap');
      }
      expect(records.counters).toMatchObject({ refused: 0, deltas: sink.deltas.length });
    }
    // One-second intervals really split the capture: more than one interval start.
    const { sink } = await replayWithRecords(1);
    expect(new Set(sink.deltas.map((d) => d.startSec)).size).toBeGreaterThan(1);
  });

  it('reports a live record at each verdict and an ended one per flow with its final counters, as classify reports the flow', async () => {
    const expected = new Map<string, FlowRecord>();
    const config = parseEdgeConfig('marks:\n  unknown: 0x0f00\n', '/test/edge.yaml');
    await classifyCapture(capture, loadEdgePatterns(config).set, { onFlow: (r) => expected.set(`${r.src}:${r.sport}>${r.dst}:${r.dport}@${r.first_ts}`, r) });
    const { sink } = await replayWithRecords(60);
    const ended = sink.records.filter((r) => r.state === 'ended');
    expect(ended.length).toBe(expected.size);
    for (const r of ended) {
      const e = endpointsOfKey(r.key, r.origIsLow);
      const want = expected.get(`${e.src}:${e.sport}>${e.dst}:${e.dport}@${Math.round((r.firstSec + r.firstNsec / 1e9) * 1e6) / 1e6}`);
      expect(want, `${e.src}:${e.sport} -> ${e.dst}:${e.dport}`).toBeDefined();
      expect({ l7: r.l7, packets: r.origPackets + r.replyPackets, bytes: r.origBytes + r.replyBytes, orig: r.origPackets }).toEqual({ l7: want!.l7, packets: want!.packets, bytes: want!.bytes, orig: want!.packets_orig });
      expect(r.zone).toBe(3);
      if (r.l7 === 'unset') expect(r.decidedBy).toBe('');
      else expect(r.decidedBy).not.toBe('');
    }
    const live = sink.records.filter((r) => r.state === 'live');
    expect(live.length).toBe([...expected.values()].filter((r) => r.l7 !== 'unset').length);
    expect(live.every((r) => r.l7 !== 'unset')).toBe(true);
  });

  it('puts the originator side out by default, and the customer networks decide when given', async () => {
    const byDefault = await replayWithRecords(3600);
    const out = byDefault.sink.deltas.filter((d) => d.direction === 'out');
    // Flows are counted once, under the originator's direction.
    expect(out.reduce((n, d) => n + d.flows, 0)).toBe(byDefault.sink.deltas.reduce((n, d) => n + d.flows, 0));
    // The lab's clients are 198.18.x.2, their servers 198.18.x.1: a network of servers as the customers turns every direction round.
    const servers = await replayWithRecords(3600, new CustomerSide(['198.18.0.1', '198.18.1.1', '198.18.2.1', '198.18.3.1', '198.18.4.1', '198.18.5.1', '198.18.6.1', '198.18.7.1']));
    const flip = (d: AccountingDeltaInput) => `${d.l7}/${d.direction === 'in' ? 'out' : 'in'}/${d.packets}/${d.bytes}`;
    const key = (d: AccountingDeltaInput) => `${d.l7}/${d.direction}/${d.packets}/${d.bytes}`;
    const ips = new Set(byDefault.sink.records.map((r) => endpointsOfKey(r.key, r.origIsLow).dst));
    // Only meaningful when the guess about the lab's addresses holds: every responder is a .1 host listed above.
    expect([...ips].every((a) => /^198\.18\.[0-7]\.1$/.test(a))).toBe(true);
    expect(servers.sink.deltas.map(key).sort()).toEqual(byDefault.sink.deltas.map(flip).sort());
  });
});

describe('EdgeRecords in live mode (the kernel counts)', () => {
  function decidedFlow(source: CounterSource, sink: Sink, extra: Partial<ConstructorParameters<typeof EdgeRecords>[0]> = {}) {
    let decided: EdgeFlow | undefined;
    const core = makeCore(testConfig(), { onDecision: (f) => (decided = f) });
    const records = new EdgeRecords({ sink, zone: 0, iface: 'eth1', intervalSec: 60, customer: new CustomerSide(['198.18.0.0/24']), counters: source, clock: () => 1_800_000_100_000, ...extra });
    const c = new Conversation('198.18.0.10', 40000, '198.19.0.80', 80);
    core.processBatch([...c.handshake(), c.packet('c', 'GET / HTTP/1.1\r\n\r\n', TcpFlag.ACK | TcpFlag.PSH)]);
    expect(decided?.flow.l7).toBe('http');
    records.flowDecided(decided!);
    return { records, flow: decided! };
  }

  it('accounts the packets seen at the verdict, then what the kernel adds, once, and reports the end with the kernel’s counters', () => {
    const sink = new Sink();
    const { records, flow } = decidedFlow('kernel', sink);
    const seen = flow.flow;
    const key = seen.key;
    // The edge's table ending the flow says nothing in kernel mode.
    records.flowEnded(flow);
    expect(sink.records.map((r) => r.state)).toEqual(['live']);
    // A dump of the long flow, then its DESTROY (conntrack's orig is the edge's orig here).
    records.flowCounters(key, { origIsLow: seen.origIsLow, origPackets: 100, origBytes: 10_000, replyPackets: 900, replyBytes: 1_300_000 });
    records.flowEndedWithCounters(key, { origIsLow: seen.origIsLow, origPackets: 120, origBytes: 12_000, replyPackets: 1000, replyBytes: 1_500_000 });
    expect(sink.records.map((r) => r.state)).toEqual(['live', 'live', 'ended']);
    expect(sink.records[2]).toMatchObject({ l7: 'http', decidedBy: 'http.pat', mark: 0x100, origPackets: 120, replyBytes: 1_500_000, iface: 'eth1', origIsLow: seen.origIsLow });
    records.finish();
    // The customer (198.18.0.10) opened it: orig is out.
    expect(totalsOfDeltas(sink.deltas)).toEqual({ http: { flows: 1, packets: 1120, bytes: 1_512_000 } });
    const out = sink.deltas.filter((d) => d.direction === 'out').reduce((n, d) => n + d.bytes, 0);
    expect(out).toBe(12_000);
    expect(records.trackedFlows).toBe(0);
  });

  it('turns counters reported in the other orientation round, adds a since-verdict count to the edge’s own, and accounts unknown connections as unset', () => {
    const sink = new Sink();
    const { records, flow } = decidedFlow('kernel', sink);
    const f = flow.flow;
    const atVerdict = f.bytes;
    records.flowEndedWithCounters(f.key, { origIsLow: !f.origIsLow, origPackets: 7, origBytes: 7000, replyPackets: 3, replyBytes: 300 }, { scope: 'since-verdict' });
    const end = sink.records.at(-1)!;
    expect(end).toMatchObject({ state: 'ended', origPackets: f.packetsOrig + 3, origBytes: f.bytesOrig + 300, replyPackets: f.packetsReply + 7, replyBytes: f.bytesReply + 7000 });
    // A connection the edge never saw: unset, counted once, no record without its start.
    const other = String.fromCharCode(17, 198, 18, 0, 20, 0, 53, 198, 19, 0, 53, 0, 53);
    records.flowEndedWithCounters(other, { origIsLow: true, origPackets: 1, origBytes: 80, replyPackets: 1, replyBytes: 120 });
    records.finish();
    expect(sink.records.at(-1)).toBe(end);
    expect(records.counters.unknownConnections).toBe(1);
    expect(totalsOfDeltas(sink.deltas)).toEqual({ http: { flows: 1, packets: f.packets + 10, bytes: atVerdict + 7300 }, unset: { flows: 1, packets: 2, bytes: 200 } });
  });

  it('a flow resumed after the kernel ended it is tracked again: same identity and verdict, counters from zero, not counted as a flow again', () => {
    const sink = new Sink();
    const { records, flow } = decidedFlow('kernel', sink);
    const f = flow.flow;
    const first = sink.records[0]!;
    records.flowEndedWithCounters(f.key, { origIsLow: f.origIsLow, origPackets: 10, origBytes: 1000, replyPackets: 20, replyBytes: 20_000 }, { scope: 'since-verdict' });
    expect(records.trackedFlows).toBe(0);
    records.flowResumed(f, 0x100);
    records.flowResumed(f, 0x100); // tracked already: nothing more
    expect(records.counters.resumed).toBe(1);
    records.flowEndedWithCounters(f.key, { origIsLow: f.origIsLow, origPackets: 3, origBytes: 300, replyPackets: 4, replyBytes: 4000 }, { scope: 'since-verdict' });
    const end = sink.records.at(-1)!;
    expect(end).toMatchObject({ state: 'ended', key: first.key, firstSec: first.firstSec, firstNsec: first.firstNsec, l7: 'http', mark: 0x100, origPackets: 3, origBytes: 300, replyPackets: 4, replyBytes: 4000 });
    records.finish();
    expect(records.counters.unknownConnections).toBe(0);
    expect(totalsOfDeltas(sink.deltas)).toEqual({ http: { flows: 1, packets: f.packets + 37, bytes: f.bytes + 25_300 } });
  });

  it('resumes nothing when the edge counts every packet itself (replay)', () => {
    const sink = new Sink();
    const { records, flow } = decidedFlow('edge', sink);
    records.flowResumed(flow.flow, 0x100);
    expect(records.counters.resumed).toBe(0);
    expect(records.trackedFlows).toBe(0);
  });

  it('with source NAT on the router, names the flow by its external key (what the other routers see) while the kernel reports it by its internal one', () => {
    const sink = new Sink();
    // The client 198.18.0.10:40000 leaves as 198.18.9.1:61000 (now the higher endpoint of the key: the originator's place flips).
    const external = String.fromCharCode(6, 198, 19, 0, 80, 0, 80, 198, 18, 9, 1, 0xee, 0x48);
    const names: [string, boolean][] = [];
    const { records, flow } = decidedFlow('kernel', sink, { externalName: (key, origIsLow) => (names.push([key, origIsLow]), { key: external, origIsLow: false }) });
    const f = flow.flow;
    expect(names).toEqual([[f.key, f.origIsLow]]);
    records.flowEndedWithCounters(f.key, { origIsLow: f.origIsLow, origPackets: 120, origBytes: 12_000, replyPackets: 1000, replyBytes: 1_500_000 });
    expect(sink.records.map((r) => [r.state, r.key === external, r.origIsLow])).toEqual([
      ['live', true, false],
      ['ended', true, false],
    ]);
    // The counters keep the originator's orientation, and the customer (the internal address) is still the one out.
    expect(sink.records[1]).toMatchObject({ origPackets: 120, replyBytes: 1_500_000 });
    records.finish();
    expect(sink.deltas.filter((d) => d.direction === 'out').reduce((n, d) => n + d.bytes, 0)).toBe(12_000);
  });

  it('bounds the flows it keeps for the kernel (oldest forgotten, counted) and counts what the sink refuses', () => {
    const sink = new Sink();
    const { records } = decidedFlow('kernel', sink, { maxTracked: 1 });
    const core = makeCore(testConfig(), { onDecision: (f) => records.flowDecided(f) });
    const c = new Conversation('198.18.0.11', 40001, '198.19.0.80', 80);
    core.processBatch([...c.handshake(), c.packet('c', 'GET / HTTP/1.1\r\n\r\n', TcpFlag.ACK | TcpFlag.PSH)]);
    expect(records.counters.evicted).toBe(1);
    expect(records.trackedFlows).toBe(1);
    sink.refuse = true;
    records.finish();
    expect(records.counters.refused).toBeGreaterThan(0);
  });
});

describe('startLiveRecords', () => {
  it('counts from the kernel, under the configured interface (default: `default`) and the cluster zone', () => {
    const sink = new Sink();
    const config = testConfig('cluster:\n  id: border-a\n  zone: 5\n');
    const records = startLiveRecords(config, sink);
    const core = makeCore(testConfig(), { onDecision: (f) => records.flowDecided(f), onFlowEnd: (_r, f) => records.flowEnded(f) });
    const c = new Conversation('198.18.0.12', 40002, '198.19.0.80', 80);
    core.processBatch([...c.handshake(), c.packet('c', 'GET / HTTP/1.1\r\n\r\n', TcpFlag.ACK | TcpFlag.PSH)]);
    core.finish();
    records.finish();
    // Kernel mode: the table's end reported nothing; the verdict's record did.
    expect(sink.records.map((r) => [r.state, r.zone, r.iface])).toEqual([['live', 5, 'default']]);
    expect(records.trackedFlows).toBe(1);
    expect(sink.deltas.every((d) => d.iface === 'default')).toBe(true);
  });
});

describe('EdgeRecords of a connection two edges each saw one direction of (remote mode)', () => {
  const T = 1_800_000_000;
  /** The client 198.18.0.10 (the key's lower endpoint) opened the connection at T. */
  const START = { origIsLow: true, firstSec: T, firstNsec: 0 };

  function packetAt(c: Conversation, t: number, from: 'c' | 's', payload?: string, flags?: number): QueuedPacket {
    c.t = t;
    return c.packet(from, payload, flags);
  }

  /** An edge in remote mode (a RemoteClassifier whose segments go nowhere) with records; `verdict` answers its one flow as a worker would. */
  function remoteEdge(counters: CounterSource, customer = new CustomerSide()) {
    const sink = new Sink();
    let remote: RemoteClassifier | undefined;
    const records = new EdgeRecords({ sink, zone: 0, iface: 'eth1', intervalSec: 60, customer, counters, clock: () => (T + 30) * 1000, joinedFlow: (f) => remote?.joinedFlow(f) });
    const core = makeCore(testConfig(), {
      pipeline: (options) => (remote = new RemoteClassifier({ ...options, zone: 0, sink: { send: () => undefined, sendTogether: () => undefined }, resendMs: 1e9, verdictTimeoutMs: 1e9, now: () => 0 })),
      onDecision: (f) => records.flowDecided(f),
      onFlowEnd: (_r, f) => records.flowEnded(f),
    });
    const verdict = (over: Partial<Verdict>) => {
      const flow = remote!.liveFlows()[0]!;
      remote!.applyVerdict({ zone: 0, key: flow.key, generation: flow.seq, l7: 'http', decidedBy: 'http.pat', decidedAtPacket: 4, mark: 0, ruleSetVersion: 1, epoch: 1, final: true, recalled: false, opener: true, start: START, ...over });
      return flow;
    };
    return { sink, records, core, verdict, remote: () => remote! };
  }

  /** Router A carries the client's packets, router B the server's. */
  function asymmetricRoute(counters: CounterSource, customer?: CustomerSide) {
    const c = new Conversation('198.18.0.10', 40000, '198.19.0.80', 80);
    const a = remoteEdge(counters, customer);
    const b = remoteEdge(counters, customer);
    a.core.processBatch([packetAt(c, T, 'c', undefined, TcpFlag.SYN), packetAt(c, T + 2, 'c', undefined, TcpFlag.ACK), packetAt(c, T + 3, 'c', 'GET / HTTP/1.1\r\n\r\n', TcpFlag.ACK | TcpFlag.PSH)]);
    b.core.processBatch([packetAt(c, T + 1, 's', undefined, TcpFlag.SYN | TcpFlag.ACK), packetAt(c, T + 4, 's', 'HTTP/1.1 200 OK\r\n\r\n', TcpFlag.ACK | TcpFlag.PSH)]);
    return { a, b };
  }

  it('counts the flow at its opener only, accounts every packet once, and names both edges’ records as the opener’s (one row in the store)', () => {
    const { a, b } = asymmetricRoute('edge');
    a.verdict({});
    const bFlow = b.verdict({ opener: false });
    // B took the server for the originator (its first packet was the SYN-ACK); the verdict knows better.
    expect(bFlow.origIsLow).toBe(false);
    expect(b.remote().joinedFlow(bFlow)).toEqual({ start: START });
    for (const edge of [a, b]) {
      edge.core.finish();
      edge.records.finish();
    }
    expect(b.remote().joinedFlow(bFlow)).toBeUndefined(); // forgotten once the flow was reported
    const identity = (r: FlowRecordInput) => ({ zone: r.zone, key: r.key, origIsLow: r.origIsLow, firstSec: r.firstSec, firstNsec: r.firstNsec });
    for (const r of [...a.sink.records, ...b.sink.records]) expect(identity(r)).toEqual({ zone: 0, key: bFlow.key, ...START });
    expect(a.sink.records.map((r) => [r.state, r.origPackets, r.replyPackets])).toEqual([
      ['live', 3, 0],
      ['ended', 3, 0],
    ]);
    // B's counters in the originator's orientation: the server's packets are replies.
    expect(b.sink.records.map((r) => [r.state, r.origPackets, r.replyPackets, r.lastSec])).toEqual([
      ['live', 0, 2, T + 4],
      ['ended', 0, 2, T + 4],
    ]);
    // One flow (A's), out: the client opened it; the server's packets, which B accounted, go in.
    expect(a.sink.deltas.map((d) => [d.direction, d.flows, d.packets])).toEqual([['out', 1, 3]]);
    expect(b.sink.deltas.map((d) => [d.direction, d.flows, d.packets])).toEqual([['in', 0, 2]]);
  });

  it('still counts the flow where no verdict says another edge opened it (a single edge, a timeout)', () => {
    const { a, b } = asymmetricRoute('edge');
    a.verdict({});
    b.verdict({});
    for (const edge of [a, b]) {
      edge.core.finish();
      edge.records.finish();
    }
    expect([...a.sink.deltas, ...b.sink.deltas].reduce((n, d) => n + d.flows, 0)).toBe(2);
    // B's own view: the server as originator, from its first packet.
    expect(b.sink.records.map((r) => [r.origIsLow, r.firstSec, r.origPackets])).toEqual([
      [false, T + 1, 2],
      [false, T + 1, 2],
    ]);
  });

  it('without the flow’s start (a verdict recalled from the store) does not count the flow, and names it by its own view', () => {
    const { b } = asymmetricRoute('edge');
    b.verdict({ opener: false, start: undefined, recalled: true });
    b.core.finish();
    b.records.finish();
    expect(b.sink.records.map((r) => [r.state, r.origIsLow, r.firstSec, r.origPackets])).toEqual([
      ['live', false, T + 1, 2],
      ['ended', false, T + 1, 2],
    ]);
    expect(b.sink.deltas.reduce((n, d) => n + d.flows, 0)).toBe(0);
    expect(b.sink.deltas.reduce((n, d) => n + d.packets, 0)).toBe(2);
  });

  it('a flow another edge opened and the worker gave up on (unset) is not counted here either', () => {
    const { a, b } = asymmetricRoute('edge');
    a.verdict({ l7: 'unset', decidedBy: 'end-of-input', final: false });
    b.verdict({ l7: 'unset', decidedBy: 'end-of-input', final: false, opener: false });
    for (const edge of [a, b]) {
      edge.core.finish();
      edge.records.finish();
    }
    expect(a.sink.deltas.map((d) => [d.l7, d.direction, d.flows, d.packets])).toEqual([['unset', 'out', 1, 3]]);
    expect(b.sink.deltas.map((d) => [d.l7, d.direction, d.flows, d.packets])).toEqual([['unset', 'in', 0, 2]]);
    expect(b.sink.records.map((r) => [r.state, r.origIsLow, r.firstSec, r.replyPackets])).toEqual([['ended', true, T, 2]]);
  });

  it('kernel mode: the kernel’s counters of the joined edge are written under the opener’s identity and orientation, and not counted as a flow', () => {
    const { b } = asymmetricRoute('kernel', new CustomerSide(['198.18.0.0/24']));
    const flow = b.verdict({ opener: false });
    // B's conntrack took the server for the originator too.
    b.records.flowEndedWithCounters(flow.key, { origIsLow: false, origPackets: 40, origBytes: 60_000, replyPackets: 0, replyBytes: 0 });
    b.records.finish();
    expect(b.sink.records.map((r) => [r.state, r.origIsLow, r.firstSec, r.origPackets, r.replyPackets, r.replyBytes])).toEqual([
      ['live', true, T, 0, 2, b.sink.records[0]!.replyBytes],
      ['ended', true, T, 0, 40, 60_000],
    ]);
    expect(b.sink.deltas.map((d) => [d.direction, d.flows, d.packets, d.bytes])).toEqual([['in', 0, 40, 60_000]]);
    expect(b.records.trackedFlows).toBe(0);
  });
});
