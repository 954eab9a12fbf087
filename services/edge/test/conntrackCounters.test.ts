/**
 * ConntrackCounters: conntrack's DESTROY events and dumps into the edge's
 * records, with a stand-in for the addon (the addon itself is tested in
 * packages/nfqueue/test/conntrackRead.test.ts against the kernel). The
 * sink is a real EdgeRecords in kernel mode, so the accounting it
 * publishes shows what the counters became.
 */
import { describe, expect, it } from 'vitest';
import type { AccountingDeltaInput, FlowRecordInput } from '@l7mesh/bus';
import { flowKeyOfEndpoints, TcpFlag } from '@l7mesh/flow';
import type { ConntrackEntry, ConntrackEventsOptions, ConntrackEventsStats, ConntrackTuple, NfqueueError } from '@l7mesh/nfqueue';
import { ConntrackCounters, conntrackFlowKey, type ConntrackSource } from '../src/conntrackCounters.js';
import { conntrackReplyLookup } from '../src/conntrackLookup.js';
import { CustomerSide } from '../src/customerSide.js';
import { EdgeRecords } from '../src/records.js';
import type { EdgeFlow } from '../src/core.js';
import { Conversation, makeCore, testConfig } from './helpers.js';

const NOW = 1_800_000_100_000;
const SUBSCRIBED = NOW - 10_000;

class Sink {
  readonly records: FlowRecordInput[] = [];
  readonly deltas: AccountingDeltaInput[] = [];
  addFlowRecord(r: FlowRecordInput): boolean {
    this.records.push(r);
    return true;
  }
  addAccountingDelta(d: AccountingDeltaInput): boolean {
    this.deltas.push(d);
    return true;
  }
  totals(): Record<string, { flows: number; packets: number; bytes: number; outBytes: number }> {
    const t: Record<string, { flows: number; packets: number; bytes: number; outBytes: number }> = {};
    for (const d of this.deltas) {
      const x = (t[d.l7] ??= { flows: 0, packets: 0, bytes: 0, outBytes: 0 });
      x.flows += d.flows;
      x.packets += d.packets;
      x.bytes += d.bytes;
      if (d.direction === 'out') x.outBytes += d.bytes;
    }
    return t;
  }
}

/** The addon as ConntrackCounters sees it: events pushed by the test, dumps answered now or when the test says. */
class FakeConntrack implements ConntrackSource {
  options: ConntrackEventsOptions | undefined;
  closed = false;
  dumpCalls = 0;
  /** What dumps answer (when not held). */
  table: ConntrackEntry[] = [];
  hold = false;
  /** Runs between two slices of a dump (the event loop turns there). */
  betweenSlices: (() => void) | undefined;
  readonly held: ((entries: ConntrackEntry[]) => void)[] = [];
  readonly ConntrackEvents = {
    open: (options: ConntrackEventsOptions) => {
      this.options = options;
      return {
        close: () => {
          this.closed = true;
        },
        stats: () => ({ subscribedAtMs: SUBSCRIBED }) as ConntrackEventsStats,
      };
    },
  };
  /** Delivers the table in slices of two entries, as the addon delivers it in slices. */
  conntrackDumpEach = async (onEntries: (entries: ConntrackEntry[]) => void): Promise<number> => {
    this.dumpCalls++;
    const entries = this.hold ? await new Promise<ConntrackEntry[]>((resolve) => this.held.push(resolve)) : [...this.table];
    for (let i = 0; i < entries.length; i += 2) {
      if (i > 0) {
        await tick();
        this.betweenSlices?.();
      }
      onEntries(entries.slice(i, i + 2));
    }
    return entries.length;
  };
  destroy(...entries: ConntrackEntry[]): void {
    this.options!.onDestroy(entries, undefined as never);
  }
  error(code: string, message: string): void {
    this.options!.onError!({ code, message } as NfqueueError);
  }
}

type Endpoint = [string, number];
const tuple = ([src, sport]: Endpoint, [dst, dport]: Endpoint, protocol = 6): ConntrackTuple => ({ family: 4, protocol, src, sport, dst, dport });

function entry(id: number, orig: [Endpoint, Endpoint], reply: [Endpoint, Endpoint], counters: [number, number, number, number] | undefined, extra: Partial<ConntrackEntry> = {}): ConntrackEntry {
  return {
    original: tuple(...orig),
    reply: tuple(...reply),
    mark: 0,
    id,
    status: 0,
    counters: counters && { origPackets: counters[0], origBytes: counters[1], replyPackets: counters[2], replyBytes: counters[3] },
    startMs: undefined,
    stopMs: undefined,
    timeoutSec: undefined,
    ...extra,
  };
}

function kernelRecords(sink: Sink): EdgeRecords {
  return new EdgeRecords({ sink, zone: 0, iface: 'eth1', intervalSec: 60, customer: new CustomerSide(['198.18.0.0/24']), counters: 'kernel', clock: () => NOW });
}

/** An http flow decided by the edge: customer 198.18.0.10:40000 -> 198.19.0.80:80, as the queue rules saw it. */
function decidedHttp(records: EdgeRecords): EdgeFlow {
  let decided: EdgeFlow | undefined;
  const core = makeCore(testConfig(), { onDecision: (f) => (decided = f) });
  const c = new Conversation('198.18.0.10', 40000, '198.19.0.80', 80);
  core.processBatch([...c.handshake(), c.packet('c', 'GET / HTTP/1.1\r\n\r\n', TcpFlag.ACK | TcpFlag.PSH)]);
  records.flowDecided(decided!);
  return decided!;
}

async function started(fake: FakeConntrack, sink: { flowCounters: EdgeRecords['flowCounters']; flowEndedWithCounters: EdgeRecords['flowEndedWithCounters'] }, extra = {}): Promise<ConntrackCounters> {
  return ConntrackCounters.start({ sink, source: fake, clock: () => NOW, log: () => {}, dumpIntervalMs: 3_600_000, ...extra });
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('ConntrackCounters', () => {
  it('subscribes before its first dump, to TCP and UDP, and stops cleanly', async () => {
    const fake = new FakeConntrack();
    const order: string[] = [];
    const open = fake.ConntrackEvents.open;
    fake.ConntrackEvents.open = (o) => (order.push('open'), open(o));
    const dump = fake.conntrackDumpEach;
    fake.conntrackDumpEach = (onEntries) => (order.push('dump'), dump(onEntries));
    const cc = await started(fake, kernelRecords(new Sink()));
    expect(order).toEqual(['open', 'dump']);
    expect(fake.options!.protocols).toEqual([6, 17]);
    cc.stop();
    expect(fake.closed).toBe(true);
  });

  it('accounts a source-NATed connection under the key the edge decided it by, with the DESTROY’s final counters', async () => {
    const sink = new Sink();
    const records = kernelRecords(sink);
    const flow = decidedHttp(records);
    const fake = new FakeConntrack();
    const cc = await started(fake, records);
    // conntrack: orig is the customer's packet before SNAT; the reply goes to the router's external address.
    fake.destroy(entry(7, [['198.18.0.10', 40000], ['198.19.0.80', 80]], [['198.19.0.80', 80], ['198.19.9.1', 61000]], [120, 12_000, 1000, 1_500_000], { startMs: NOW - 5000, stopMs: NOW - 100 }));
    cc.stop();
    records.finish();
    expect(conntrackFlowKey(entry(0, [['198.18.0.10', 40000], ['198.19.0.80', 80]], [['198.19.0.80', 80], ['198.19.9.1', 61000]], undefined))).toBe(flow.flow.key);
    expect(records.counters.unknownConnections).toBe(0);
    expect(sink.records.at(-1)).toMatchObject({ state: 'ended', l7: 'http', origPackets: 120, origBytes: 12_000, replyPackets: 1000, replyBytes: 1_500_000 });
    // The customer opened it: its 12 000 bytes are `out`.
    expect(sink.totals()).toEqual({ http: { flows: 1, packets: 1120, bytes: 1_512_000, outBytes: 12_000 } });
    expect(cc.stats).toMatchObject({ ended: 1, withoutCounters: 0 });
  });

  it('keys a port-forwarded (DNAT) connection by the server it reaches, whichever end is the lower', () => {
    const dnat = entry(1, [['198.18.0.10', 50000], ['198.19.0.1', 443]], [['198.18.5.5', 8443], ['198.18.0.10', 50000]], undefined);
    expect(conntrackFlowKey(dnat)).toBe(flowKeyOfEndpoints({ protocol: 6, src: '198.18.0.10', sport: 50000, dst: '198.18.5.5', dport: 8443 }));
    expect(conntrackFlowKey(dnat)).toBe(flowKeyOfEndpoints({ protocol: 6, src: '198.18.5.5', sport: 8443, dst: '198.18.0.10', dport: 50000 }));
  });

  it('turns the counters round when the originator is the key’s higher end', async () => {
    const sink = new Sink();
    const records = kernelRecords(sink);
    const fake = new FakeConntrack();
    const seen: { key: string; origIsLow: boolean; origBytes: number }[] = [];
    const cc = await started(fake, {
      flowCounters: () => {},
      flowEndedWithCounters: (key, c) => {
        seen.push({ key, origIsLow: c.origIsLow, origBytes: c.origBytes });
        records.flowEndedWithCounters(key, c);
      },
    });
    // 198.19.0.80:80 opened it towards the customer 198.18.0.10 (lower): the originator is the higher end; same ports, the addresses decide.
    fake.destroy(entry(1, [['198.19.0.80', 80], ['198.18.0.10', 443]], [['198.18.0.10', 443], ['198.19.0.80', 80]], [1, 100, 2, 200]));
    fake.destroy(entry(2, [['198.19.0.80', 53], ['198.18.0.10', 53]], [['198.18.0.10', 53], ['198.19.0.80', 53]], [1, 60, 1, 90]));
    cc.stop();
    records.finish();
    expect(seen.map((s) => s.origIsLow)).toEqual([false, false]);
    // Opened from outside: the originator's bytes are `in`, the customer's answer `out`.
    expect(sink.totals().unset).toEqual({ flows: 2, packets: 5, bytes: 450, outBytes: 290 });
  });

  it('reports open connections from each dump (not final), and a DESTROY that comes during a dump wins over the dump’s older counters', async () => {
    const sink = new Sink();
    const records = kernelRecords(sink);
    const flow = decidedHttp(records);
    const fake = new FakeConntrack();
    const conn = (id: number, c: [number, number, number, number]) => entry(id, [['198.18.0.10', 40000], ['198.19.0.80', 80]], [['198.19.0.80', 80], ['198.18.0.10', 40000]], c);
    fake.table = [conn(5, [10, 1000, 20, 30_000])];
    const cc = await started(fake, records);
    expect(sink.records.at(-1)).toMatchObject({ state: 'live', key: flow.flow.key, origBytes: 1000, replyBytes: 30_000 });
    // The next dump reads the connection, then its DESTROY arrives before the dump's answer does.
    fake.hold = true;
    const dumping = cc.dumpNow();
    fake.destroy(conn(5, [30, 3000, 60, 90_000]));
    fake.held.shift()!([conn(5, [20, 2000, 40, 60_000])]);
    await dumping;
    cc.stop();
    records.finish();
    expect(cc.stats).toMatchObject({ dumps: 2, dumpedConnections: 1, dumpRaces: 1, ended: 1 });
    // Accounted once, up to the final counters; not resurrected as an unknown connection.
    expect(records.counters.unknownConnections).toBe(0);
    expect(records.trackedFlows).toBe(0);
    expect(sink.totals()).toEqual({ http: { flows: 1, packets: 90, bytes: 93_000, outBytes: 3000 } });
    expect(sink.records.map((r) => r.state)).toEqual(['live', 'live', 'ended']);
  });

  it('skips a later slice’s entry whose DESTROY came between two slices of the same dump', async () => {
    const sink = new Sink();
    const records = kernelRecords(sink);
    const fake = new FakeConntrack();
    const conn = (id: number, port: number, c: [number, number, number, number]) => entry(id, [['198.18.0.10', port], ['198.19.0.80', 80]], [['198.19.0.80', 80], ['198.18.0.10', port]], c, { startMs: NOW - 1000 });
    fake.table = [conn(1, 40001, [1, 100, 1, 100]), conn(2, 40002, [1, 100, 1, 100]), conn(3, 40003, [2, 200, 2, 200]), conn(4, 40004, [1, 100, 1, 100])];
    fake.betweenSlices = () => fake.destroy(conn(3, 40003, [5, 500, 5, 500]));
    const cc = await started(fake, records);
    cc.stop();
    records.finish();
    expect(cc.stats).toMatchObject({ dumpedConnections: 3, dumpRaces: 1, ended: 1 });
    expect(records.counters.unknownConnections).toBe(4); // each once
    expect(sink.records.filter((r) => r.state === 'ended').map((r) => r.origBytes)).toEqual([500]);
    expect(sink.totals().unset).toEqual({ flows: 4, packets: 6 + 10, bytes: 600 + 1000, outBytes: 300 + 500 });
  });

  it('ends a connection from before the subscription (it sends no DESTROY) once two dumps in a row lack it', async () => {
    const sink = new Sink();
    const records = kernelRecords(sink);
    const fake = new FakeConntrack();
    const old = entry(1, [['198.18.0.20', 41000], ['198.19.0.9', 22]], [['198.19.0.9', 22], ['198.18.0.20', 41000]], [50, 5000, 40, 8000], { startMs: SUBSCRIBED - 60_000 });
    const fresh = entry(2, [['198.18.0.21', 41001], ['198.19.0.9', 22]], [['198.19.0.9', 22], ['198.18.0.21', 41001]], [5, 500, 4, 800], { startMs: SUBSCRIBED + 1000 });
    const oldWithDestroy = entry(3, [['198.18.0.22', 41002], ['198.19.0.9', 22]], [['198.19.0.9', 22], ['198.18.0.22', 41002]], [1, 60, 1, 60], { startMs: SUBSCRIBED - 1000 });
    fake.table = [old, fresh, oldWithDestroy];
    const cc = await started(fake, records);
    expect(cc.stats.preexistingOpen).toBe(2); // the one created after the subscription will send its DESTROY
    // nf_conntrack_events=1 or a listener elsewhere: an old one may send a DESTROY after all.
    fake.destroy({ ...oldWithDestroy, counters: { origPackets: 2, origBytes: 120, replyPackets: 2, replyBytes: 120 } });
    expect(cc.stats.preexistingOpen).toBe(1);
    fake.table = [{ ...old, counters: { origPackets: 60, origBytes: 6000, replyPackets: 50, replyBytes: 9000 } }, fresh];
    await cc.dumpNow();
    fake.table = [fresh];
    await cc.dumpNow();
    expect(cc.stats.preexistingEnded).toBe(0); // one absence proves nothing
    await cc.dumpNow();
    expect(cc.stats).toMatchObject({ preexistingEnded: 1, preexistingOpen: 0 });
    cc.stop();
    records.finish();
    const ended = sink.records.filter((r) => r.state === 'ended');
    expect(ended.map((r) => r.origBytes)).toEqual([120, 6000]);
    // Accounted up to its last dumped counters, once.
    expect(sink.totals().unset).toEqual({ flows: 3, packets: 60 + 50 + 5 + 4 + 4, bytes: 6000 + 9000 + 500 + 800 + 240, outBytes: 6000 + 500 + 120 });
    expect(records.trackedFlows).toBe(1); // fresh: open
  });

  it('counts entries without counters (created while nf_conntrack_acct was 0) and reports nothing for them', async () => {
    const sink = new Sink();
    const records = kernelRecords(sink);
    const fake = new FakeConntrack();
    fake.table = [entry(1, [['198.18.0.10', 1], ['198.19.0.1', 2]], [['198.19.0.1', 2], ['198.18.0.10', 1]], undefined)];
    const cc = await started(fake, records);
    fake.destroy(entry(1, [['198.18.0.10', 1], ['198.19.0.1', 2]], [['198.19.0.1', 2], ['198.18.0.10', 1]], undefined));
    cc.stop();
    records.finish();
    expect(cc.stats.withoutCounters).toBe(2);
    expect(sink.records).toEqual([]);
    expect(sink.deltas).toEqual([]);
  });

  it('brings the next dump forward when events were lost, once per gap, and logs other event errors', async () => {
    const fake = new FakeConntrack();
    const lines: string[] = [];
    const cc = await ConntrackCounters.start({ sink: kernelRecords(new Sink()), source: fake, log: (l) => lines.push(l), dumpIntervalMs: 3_600_000, lostDumpGapMs: 50 });
    expect(fake.dumpCalls).toBe(1);
    fake.error('CT_EVENTS_LOST', 'ConntrackEvents: DESTROY events lost: 12 dropped here');
    fake.error('CT_EVENTS_LOST', 'ConntrackEvents: DESTROY events lost: 3 dropped here');
    await new Promise((r) => setTimeout(r, 120));
    expect(fake.dumpCalls).toBe(2);
    expect(cc.stats.lossReports).toBe(2);
    fake.error('CT_EVENTS', 'the event socket failed');
    expect(lines.at(-1)).toContain('CT_EVENTS: the event socket failed');
    cc.stop();
  });

  it('ignores a dump that completes after stop(), and a failed dump is counted, not thrown', async () => {
    const fake = new FakeConntrack();
    const sink = new Sink();
    const cc = await started(fake, kernelRecords(sink));
    fake.hold = true;
    const dumping = cc.dumpNow();
    cc.stop();
    fake.held.shift()!([entry(1, [['198.18.0.10', 1], ['198.19.0.1', 2]], [['198.19.0.1', 2], ['198.18.0.10', 1]], [1, 1, 1, 1])]);
    await dumping;
    await tick();
    expect(sink.records).toEqual([]);
    const failing = new FakeConntrack();
    failing.conntrackDumpEach = () => Promise.reject(new Error('CT_DUMP: EPERM'));
    const cc2 = await started(failing, kernelRecords(new Sink()));
    expect(cc2.stats.dumpErrors).toBe(1);
    cc2.stop();
  });
});

describe('conntrackReplyLookup', () => {
  it('asks by the original tuple in the addon’s form and answers in the edge’s; a failure is reported and answers undefined', () => {
    const asked: ConntrackTuple[] = [];
    const lookup = conntrackReplyLookup((t) => {
      asked.push(t);
      if (t.sport === 1) throw new Error('CT_QUERY: EPERM');
      return t.sport === 2 ? undefined : { family: 4, protocol: 6, src: t.dst, sport: t.dport, dst: '198.19.9.1', dport: 61000 };
    });
    expect(lookup({ family: 'ipv4', protocol: 'tcp', src: '198.18.0.10', sport: 40000, dst: '198.19.0.80', dport: 80 })).toEqual({ family: 'ipv4', protocol: 'tcp', src: '198.19.0.80', sport: 80, dst: '198.19.9.1', dport: 61000 });
    expect(asked[0]).toEqual({ family: 4, protocol: 6, src: '198.18.0.10', sport: 40000, dst: '198.19.0.80', dport: 80 });
    expect(lookup({ family: 'ipv4', protocol: 'udp', src: '198.18.0.10', sport: 2, dst: '198.19.0.80', dport: 53 })).toBeUndefined();
    expect(asked[1]!.protocol).toBe(17);
    const errors: unknown[] = [];
    const failing = conntrackReplyLookup(() => {
      throw new Error('CT_QUERY: EPERM');
    }, (e) => errors.push(e));
    expect(failing({ family: 'ipv6', protocol: 'tcp', src: '2001:db8::1', sport: 1, dst: '2001:db8::2', dport: 2 })).toBeUndefined();
    expect(errors).toHaveLength(1);
  });
});
