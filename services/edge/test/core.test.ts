import { TcpFlag } from '@l7mesh/flow';
import { describe, expect, it } from 'vitest';
import { flowView, MarkPolicy, type EdgeFlow, type QueuedPacket } from '../src/index.js';
import { Conversation, FakeConntrack, makeCore, testConfig } from './helpers.js';

const GET = 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n';

/**
 * FTP: the data connection is announced while the control connection is
 * unset; the control connection is decided in a later batch, which holds no
 * packet of the data connection: the data connection inherits the verdict
 * there, with nothing to carry it but ctnetlink.
 */
function ftpWithUncarriedDataVerdict(core: ReturnType<typeof makeCore>, port: number): void {
  const ctl = new Conversation('198.18.0.1', port, '198.18.0.2', 21);
  const data = new Conversation('198.18.0.1', port + 1, '198.18.0.2', 50000, 'tcp', { firstId: 100 });
  core.processBatch([...ctl.handshake(), ctl.packet('s', '220 x\r\n'), ctl.packet('c', 'PASV\r\n'), ctl.packet('s', '227 Entering Passive Mode (198,18,0,2,195,80).\r\n'), ...data.handshake()]);
  core.processBatch([ctl.packet('c', 'RETR f\r\n')]);
}

describe('EdgeCore', () => {
  it('accepts every packet of an unset flow unchanged, then marks the deciding packet and those after it', () => {
    const core = makeCore(testConfig());
    const c = new Conversation('198.18.0.1', 40000, '198.18.0.2', 80);
    const first = core.processBatch(c.handshake());
    expect(first).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    // The request decides the flow in this batch: it carries the mark itself.
    const second = core.processBatch([c.packet('c', GET)]);
    expect(second).toEqual([{ id: 4, mark: 0x100 }]);
    const third = core.processBatch([c.packet('s', 'HTTP/1.1 200 OK\r\n\r\n'), c.packet('c', undefined, TcpFlag.ACK)]);
    expect(third).toEqual([
      { id: 5, mark: 0x100 },
      { id: 6, mark: 0x100 },
    ]);
    const [flow] = core.liveFlows();
    expect(flow).toMatchObject({ state: 'packet', queued: 6, mark: 0x100 });
    expect(flow!.flow.l7).toBe('http');
    expect(core.counters.verdicts).toEqual({ accepted: 6, marked: 3 });
  });

  it('marks the whole batch of a flow decided in it, and keeps the bits outside the mask', () => {
    const core = makeCore(testConfig());
    const c = new Conversation('198.18.0.1', 40001, '198.18.0.2', 80);
    // Operator marks: 0x1 (a routing bit) and 0x80000000; an l7 bit already set would be replaced.
    const batch = [...c.handshake(0x1), c.packet('c', GET, undefined, 0x80000001), c.packet('s', 'HTTP/1.1 200 OK\r\n', undefined, 0x0000ff01)];
    expect(core.processBatch(batch)).toEqual([
      { id: 1, mark: 0x101 },
      { id: 2, mark: 0x101 },
      { id: 3, mark: 0x101 },
      { id: 4, mark: 0x80000101 },
      { id: 5, mark: 0x101 },
    ]);
  });

  it('uses the group mark for a protocol of a group', () => {
    const core = makeCore(testConfig());
    const c = new Conversation('198.18.0.1', 40002, '198.18.0.3', 6881);
    const v = core.processBatch([...c.handshake(), c.packet('c', '\x13BitTorrent protocol\0\0\0')]);
    expect(v[3]).toEqual({ id: 4, mark: 0x2000 });
    expect(flowView(core.liveFlows()[0]!, core.policy)).toMatchObject({ l7: 'bittorrent', group: 'p2p', mark: '0x2000', mark_state: 'packet' });
  });

  it('marks unknown on packet N+1, the packet that passes the budget', () => {
    const config = testConfig('classification: { maxPackets: 3 }');
    expect(config.netfilter.maxPackets).toBe(4);
    const core = makeCore(config);
    const c = new Conversation('198.18.0.1', 40003, '198.18.0.2', 9999);
    const synAndSynAck = [c.packet('c', undefined, TcpFlag.SYN), c.packet('s', undefined, TcpFlag.SYN | TcpFlag.ACK)];
    expect(core.processBatch([...synAndSynAck, c.packet('c', 'hello there')])).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(core.processBatch([c.packet('s', 'hi'), c.packet('c', 'more')])).toEqual([
      { id: 4, mark: 0xf00 },
      { id: 5, mark: 0xf00 },
    ]);
    const f = core.liveFlows()[0]!;
    expect(f.flow).toMatchObject({ l7: 'unknown', decidedBy: 'packet-limit', decidedAtPacket: 4 });
  });

  it('marks unknown on the packet that fills the head (byte limit)', () => {
    const core = makeCore(testConfig('classification: { maxBytes: 16 }'));
    const c = new Conversation('198.18.0.1', 40004, '198.18.0.2', 9999);
    const v = core.processBatch([c.packet('c', 'a'.repeat(40), TcpFlag.SYN)]);
    expect(v).toEqual([{ id: 1, mark: 0xf00 }]);
  });

  it('leaves a decided protocol without a mark unmarked (state none)', () => {
    const core = makeCore(testConfig());
    const c = new Conversation('198.18.0.1', 40005, '198.18.0.2', 25);
    const v = core.processBatch([...c.handshake(), c.packet('s', '220 mail.example ESMTP smtp ready\r\n')]);
    expect(v.every((x) => x.mark === undefined)).toBe(true);
    expect(core.liveFlows()[0]).toMatchObject({ state: 'none', mark: undefined });
    expect(core.liveFlows()[0]!.flow.l7).toBe('smtp');
  });

  it('accepts and counts malformed packets, tells why, and goes on with the batch', () => {
    const reasons: string[] = [];
    const core = makeCore(testConfig(), { onUndecodable: (r) => reasons.push(r) });
    const c = new Conversation('198.18.0.1', 40006, '198.18.0.2', 80);
    const good = c.packet('c', GET, TcpFlag.SYN);
    const truncated: QueuedPacket = { id: 100, mark: 7, payload: good.payload.subarray(0, 30) };
    const garbage: QueuedPacket = { id: 101, mark: 0, payload: new Uint8Array([0x45, 1, 2]) };
    const empty: QueuedPacket = { id: 102, mark: 0, payload: new Uint8Array(0) };
    const v = core.processBatch([truncated, garbage, empty, good]);
    expect(v).toEqual([{ id: 100 }, { id: 101 }, { id: 102 }, { id: 1, mark: 0x100 }]);
    expect(core.counters.undecodable).toBe(3);
    expect(core.decoder.stats.malformed).toBe(3);
    expect(core.counters.verdicts.accepted).toBe(4);
    expect(reasons).toEqual(['ipv4: total length 77 > captured 30', 'ipv4: header truncated (3 bytes captured)', 'raw: no IP header (0 bytes captured)']);
  });

  it('counts packets and bytes per verdict once a flow is decided, and undecided flows as unset when they end', () => {
    const core = makeCore(testConfig());
    const http = new Conversation('198.18.0.1', 40007, '198.18.0.2', 80);
    const other = new Conversation('198.18.0.1', 40008, '198.18.0.2', 7777, 'udp', { firstId: 100 });
    core.processBatch([...http.handshake(), http.packet('c', GET), other.packet('c', 'x')]);
    const httpBytes = core.liveFlows()[0]!.flow.bytes;
    expect(core.counters.protocols.get('http')).toEqual({ flows: 1, packets: 4, bytes: httpBytes });
    expect(core.counters.protocols.get('unset')).toBeUndefined();
    expect(core.liveUnset()).toMatchObject({ flows: 1, packets: 1 });
    core.processBatch([http.packet('s', 'HTTP/1.1 200 OK\r\n')]);
    expect(core.counters.protocols.get('http')!.packets).toBe(5);
    core.finish();
    expect(core.counters.protocols.get('unset')).toMatchObject({ flows: 1, packets: 1 });
    expect(core.counters.protocols.get('http')!.flows).toBe(1);
    expect(core.activeFlows).toBe(0);
  });

  it('sets a verdict that no queued packet carries through ctnetlink, under the mask', async () => {
    // FTP: the data connection is announced on the control connection while
    // that one is still unset; the control connection is decided later, in a
    // batch without a packet of the data connection: the data connection
    // inherits the verdict at once, and no packet of it is there to carry the mark.
    const conntrack = new FakeConntrack();
    const decided: EdgeFlow[] = [];
    const core = makeCore(testConfig(), { conntrack, onDecision: (f) => decided.push(f) });
    const ctl = new Conversation('198.18.0.1', 40010, '198.18.0.2', 21);
    const data = new Conversation('198.18.0.1', 40011, '198.18.0.2', 50000, 'tcp', { firstId: 100 });
    core.processBatch([
      ...ctl.handshake(),
      ctl.packet('s', '220 welcome\r\n'),
      ctl.packet('c', 'PASV\r\n'),
      ctl.packet('s', '227 Entering Passive Mode (198,18,0,2,195,80).\r\n'),
      ...data.handshake(),
    ]);
    expect(core.liveFlows().map((f) => f.flow.l7)).toEqual(['unset', 'unset']);
    expect(conntrack.calls).toEqual([]);
    const v = core.processBatch([ctl.packet('c', 'RETR file\r\n')]);
    expect(v).toEqual([{ id: 7, mark: 0x500 }]);
    await core.settle();
    expect(conntrack.calls).toEqual([{ tuple: { family: 'ipv4', protocol: 'tcp', src: '198.18.0.1', sport: 40011, dst: '198.18.0.2', dport: 50000 }, mark: 0x500, mask: 0xff00 }]);
    const child = decided.find((f) => f.tuple.dport === 50000)!;
    expect(child.flow).toMatchObject({ l7: 'ftp', decidedBy: 'inherited' });
    expect(child.state).toBe('conntrack');
    expect(decided.find((f) => f.tuple.dport === 21)!.state).toBe('packet');
    expect(core.counters.conntrack).toEqual({ ok: 1, failed: 0 });
  });

  it('records a failed ctnetlink update on the flow and goes on', async () => {
    const conntrack = new FakeConntrack();
    conntrack.fail = new Error('ENOENT (No such file or directory)');
    const errors: string[] = [];
    const decided: EdgeFlow[] = [];
    const core = makeCore(testConfig('flows: { timeouts: { tcpOpen: 30 } }'), {
      conntrack,
      onDecision: (f) => decided.push(f),
      onConntrackError: (f, e) => errors.push(`${f.tuple.dport}: ${(e as Error).message}`),
    });
    ftpWithUncarriedDataVerdict(core, 40020);
    await core.settle();
    const child = decided.find((f) => f.tuple.dport === 50000)!;
    expect(child.state).toBe('failed');
    expect(child.error).toMatch(/ENOENT/);
    expect(errors).toEqual(['50000: ENOENT (No such file or directory)']);
    expect(core.counters.conntrack).toEqual({ ok: 0, failed: 1 });
    // The edge goes on.
    const c = new Conversation('198.18.0.1', 40029, '198.18.0.2', 80, 'tcp', { firstId: 300, t0: 1_800_000_200 });
    expect(core.processBatch([c.packet('c', GET)])).toEqual([{ id: 300, mark: 0x100 }]);
  });

  it('without conntrack access (replay) leaves an uncarried verdict unapplied', () => {
    const decided: EdgeFlow[] = [];
    const core = makeCore(testConfig('flows: { timeouts: { tcpOpen: 30 } }'), { onDecision: (f) => decided.push(f) });
    ftpWithUncarriedDataVerdict(core, 40030);
    expect(decided.find((f) => f.tuple.dport === 50000)!.state).toBe('unapplied');
  });

  it('also sets the conntrack mark when the carrying packet was queued in INPUT (its mark is never saved)', async () => {
    const conntrack = new FakeConntrack();
    const core = makeCore(testConfig(), { conntrack });
    const c = new Conversation('198.18.0.1', 40050, '198.18.0.2', 80);
    core.beginBatch();
    for (const p of [...c.handshake(), c.packet('c', GET)]) core.ingestRaw(p.payload, 0x1, p.tsSec, 0, false);
    expect(core.endBatch()).toEqual([0x101, 0x101, 0x101, 0x101]);
    await core.settle();
    expect(conntrack.calls.map((x) => [x.tuple.sport, x.mark, x.mask])).toEqual([[40050, 0x100, 0xff00]]);
    expect(core.liveFlows()[0]!.state).toBe('conntrack');
  });

  it('drops an unfinished batch (its consumer threw): the next batch gets its own marks, the lost verdict goes through ctnetlink', async () => {
    const conntrack = new FakeConntrack();
    const core = makeCore(testConfig(), { conntrack });
    const c = new Conversation('198.18.0.1', 40060, '198.18.0.2', 80);
    core.beginBatch();
    for (const p of [...c.handshake(), c.packet('c', GET)]) core.ingestRaw(p.payload, 0, p.tsSec, 0);
    // ... the consumer threw here: the queue accepted those packets unmarked.
    const other = new Conversation('198.18.0.1', 40061, '198.18.0.2', 9999, 'udp', { firstId: 50 });
    expect(core.processBatch([other.packet('c', 'zz')])).toEqual([{ id: 50 }]);
    await core.settle();
    expect(conntrack.calls.map((x) => [x.tuple.sport, x.mark])).toEqual([[40060, 0x100]]);
    expect(core.liveFlows()[0]).toMatchObject({ state: 'conntrack' });
  });

  it('with an expiry budget, ends a burst of idle flows over later packets, with the same counters and marks', () => {
    const run = (expiryBudget?: number) => {
      const core = makeCore(testConfig(), expiryBudget === undefined ? {} : { expiryBudget });
      const t0 = 1_800_000_000;
      // 30 unmatched UDP flows and 10 HTTP requests at t0; at t0 + 100 the UDP ones are due.
      for (let i = 0; i < 30; i++) core.processBatch([new Conversation('198.18.1.1', 20000 + i, '198.18.0.2', 9999, 'udp', { t0 }).packet('c', 'zz')]);
      for (let i = 0; i < 10; i++) {
        const c = new Conversation('198.18.1.2', 30000 + i, '198.18.0.2', 80, 'tcp', { t0 });
        core.processBatch([...c.handshake(), c.packet('c', GET)]);
      }
      const marks: unknown[] = [];
      for (let i = 0; i < 20; i++) {
        // Some of the idle UDP tuples come back: they start new flows either way.
        const c = new Conversation('198.18.1.1', 20000 + ((i * 7) % 40), '198.18.0.2', 9999, 'udp', { t0: t0 + 100 });
        marks.push(core.processBatch([c.packet('c', 'zz')]));
      }
      const live = core.activeFlows;
      core.finish();
      return { marks, live, counters: core.counters.protocols };
    };
    const unbounded = run();
    const bounded = run(1);
    expect(bounded.marks).toEqual(unbounded.marks);
    expect(bounded.counters).toEqual(unbounded.counters);
    expect(bounded.counters.get('unset')!.flows).toBe(50);
    // The budget left some due flows in the table for a while.
    expect(bounded.live).toBeGreaterThan(unbounded.live);
  });

  it('serves the live table as flow views', () => {
    const core = makeCore(testConfig());
    const c = new Conversation('198.18.0.1', 40040, '198.18.0.2', 80);
    core.processBatch([...c.handshake(), c.packet('c', GET)]);
    const [view] = core.liveFlows().map((f) => flowView(f, new MarkPolicy(testConfig().marks)));
    expect(view).toMatchObject({
      proto: 'tcp',
      src: '198.18.0.1',
      sport: 40040,
      dst: '198.18.0.2',
      dport: 80,
      l7: 'http',
      why: { by: 'http.pat', packet: 4 },
      packets: 4,
      packets_orig: 3,
      packets_reply: 1,
      queued: 4,
      mark: '0x100',
      mark_state: 'packet',
    });
  });
});
