import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPatternSet, type PatternSet } from '@l7mesh/engine';
import { Direction, SegmentFlag, type HeadBatch, type HeadSegment, type Verdict } from '@l7mesh/wire';
import { MergingClassifier, type MergingOptions } from '../src/index.js';

// A TCP connection 198.18.0.1:40000 -> 198.18.0.2:80 (the client is the key's lower endpoint).
const KEY = String.fromCharCode(6, 198, 18, 0, 1, 0x9c, 0x40, 198, 18, 0, 2, 0, 80);
const SYN = 0x02;
const ACK = 0x10;
const PSH_ACK = 0x18;
const REQUEST = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
const REPLY = new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');

let set: PatternSet;
beforeAll(() => {
  set = loadPatternSet([join(fileURLToPath(new URL('../../../', import.meta.url)), 'patterns')], [], { cache: false }).set;
});

function segment(direction: Direction, counter: number, tcpFlags: number, seq: number, ack: number, ms: number, payload = new Uint8Array(0), flags = 0, key = KEY): HeadSegment {
  return { zone: 0, key, direction, generation: 1, counter, flags, tcpFlags, seq, ack, tsSec: 1_700_000_000, tsNsec: ms * 1e6, ipLength: 40 + payload.length, payload };
}

/** The client's side of an HTTP exchange, as an edge on the request path sees it. */
function clientSide(flags = 0): HeadSegment[] {
  return [segment(Direction.LowToHigh, 1, SYN, 100, 0, 1, undefined, flags), segment(Direction.LowToHigh, 2, ACK, 101, 501, 3, undefined, flags), segment(Direction.LowToHigh, 3, PSH_ACK, 101, 501, 4, REQUEST, flags)];
}

/** The server's side, as an edge on the reply path sees it. */
function serverSide(flags = 0): HeadSegment[] {
  return [segment(Direction.HighToLow, 1, SYN | ACK, 500, 101, 2, undefined, flags), segment(Direction.HighToLow, 2, PSH_ACK, 501, 101 + REQUEST.length, 5, REPLY, flags)];
}

function batch(edge: string, segments: HeadSegment[], watermarkMs = 0): HeadBatch {
  return { edge, partition: 0, batchSeq: 1, watermarkSec: 1_700_000_000, watermarkNsec: watermarkMs * 1e6, segments };
}

function worker(extra: Partial<MergingOptions> = {}) {
  const clock = { ms: 0 };
  const verdicts: { edge: string; v: Verdict }[] = [];
  const m = new MergingClassifier({ set, ruleSetVersion: 7, epoch: () => 3, now: () => clock.ms, onVerdict: (edge, v) => verdicts.push({ edge, v }), ...extra });
  const send = (b: HeadBatch) => {
    m.acceptBatch(b);
    m.endBatch();
  };
  return { m, clock, verdicts, send };
}

describe('MergingClassifier', () => {
  it('merges a request seen by one edge and its reply seen by another, the reply first, and answers both', () => {
    const { m, verdicts, send } = worker();
    m.watermark('a', 0, false);
    m.watermark('b', 0, false);
    send(batch('b', serverSide(), 5));
    expect(verdicts).toEqual([]); // the reply acknowledges a request not seen yet
    send(batch('a', clientSide(), 4));
    expect(verdicts.map((x) => [x.edge, x.v.l7, x.v.decidedBy, x.v.generation, x.v.ruleSetVersion, x.v.epoch, x.v.final]).sort()).toEqual([
      ['a', 'http', 'http.pat', 1, 7, 3, true],
      ['b', 'http', 'http.pat', 1, 7, 3, true],
    ]);
    // The request went first: the verdict came on the request packet (SYN, SYN-ACK, ACK, request = packet 4).
    expect(verdicts[0]!.v.decidedAtPacket).toBe(4);
    expect(m.counters.heldOut).toBe(0);
  });

  it('holds a segment no longer than the hold when the edge it waits for never reports', () => {
    const { m, clock, verdicts, send } = worker({ holdMs: 1_000 });
    m.watermark('a', 0, false);
    send(batch('b', serverSide(), 5));
    clock.ms = 999;
    m.tick();
    expect(m.counters.fed).toBe(0);
    clock.ms = 1_000;
    m.tick();
    expect(m.counters.fed).toBe(2);
    expect(m.counters.heldOut).toBe(2);
    expect(verdicts.map((x) => x.v.l7)).toEqual(['http']); // the reply alone says http
  });

  it('feeds a retransmission once when two edges report the same direction (a route change)', () => {
    const { m, verdicts, send } = worker();
    const request = segment(Direction.LowToHigh, 3, PSH_ACK, 101, 501, 4, REQUEST);
    send(batch('a', [...clientSide().slice(0, 2)], 3));
    send(batch('b', serverSide().slice(0, 1), 2));
    m.watermark('b', Number.MAX_SAFE_INTEGER, true);
    // Edge c picks the flow up mid-stream and sees the same request again, with its own counter.
    m.watermark('c', 0, false);
    send(batch('c', [{ ...request, counter: 1 }], 4));
    send(batch('a', [request], 4));
    expect(m.counters.retransmissionsDropped).toBe(1);
    expect(verdicts.filter((x) => x.v.l7 === 'http').map((x) => x.edge).sort()).toEqual(['a', 'b', 'c']);
  });

  it('waits for a lost batch to be re-sent rather than skip its packets', () => {
    const { verdicts, send } = worker();
    const [syn, ack, request] = clientSide(SegmentFlag.EdgeSawBoth);
    const [synAck] = serverSide(SegmentFlag.EdgeSawBoth);
    send(batch('a', [syn!, { ...synAck!, counter: 2 }]));
    // Counter 3 (the ACK) was lost: the request waits.
    send(batch('a', [{ ...request!, counter: 4 }]));
    expect(verdicts).toEqual([]);
    send(batch('a', [{ ...ack!, counter: 3, flags: SegmentFlag.EdgeSawBoth | SegmentFlag.Resent }]));
    expect(verdicts.map((x) => [x.v.l7, x.v.decidedAtPacket])).toEqual([['http', 4]]);
  });

  it('sheds new flows past its limit, counts them, and keeps shedding them', () => {
    const { m, verdicts, send } = worker({ maxFlowsInProgress: 1 });
    const other = String.fromCharCode(6, 198, 18, 0, 1, 0x9c, 0x41, 198, 18, 0, 2, 0, 80);
    send(batch('a', [clientSide(SegmentFlag.EdgeSawBoth)[0]!]));
    send(batch('a', [segment(Direction.LowToHigh, 1, SYN, 1, 0, 1, undefined, SegmentFlag.EdgeSawBoth, other)]));
    send(batch('a', [segment(Direction.LowToHigh, 2, PSH_ACK, 2, 0, 2, REQUEST, SegmentFlag.EdgeSawBoth, other)]));
    expect(m.counters.shedFlows).toBe(1);
    expect(m.counters.shed).toBe(2);
    expect(m.flowsInProgress).toBe(1);
    expect(verdicts).toEqual([]);
  });

  it('ends undecided flows as unset (not final) once every edge finished its replay', () => {
    const { m, verdicts, send } = worker();
    send(batch('a', clientSide(SegmentFlag.EdgeSawBoth).slice(0, 2)));
    m.watermark('a', Number.MAX_SAFE_INTEGER, true);
    expect(verdicts.map((x) => [x.v.l7, x.v.decidedBy, x.v.final])).toEqual([['unset', 'end-of-input', false]]);
  });
});

describe('MergingClassifier: the opener', () => {
  /** The client's SYN (ms 1) opened the connection; the client is the key's lower endpoint. */
  const START = { origIsLow: true, firstSec: 1_700_000_000, firstNsec: 1e6 };
  const openers = (verdicts: { edge: string; v: Verdict }[]) => verdicts.map((x) => [x.edge, x.v.opener, x.v.recalled]).sort();

  it('is the edge whose segment opened the flow in the merged order, not the one heard first; every reporter gets the start', () => {
    const decided: unknown[] = [];
    const { m, verdicts, send } = worker({ onDecided: (_zone, _key, v) => decided.push(v.start) });
    m.watermark('a', 0, false);
    m.watermark('b', 0, false);
    send(batch('b', serverSide(), 5)); // the replies arrive first
    send(batch('a', clientSide(), 4));
    expect(openers(verdicts)).toEqual([
      ['a', true, false],
      ['b', false, false],
    ]);
    for (const { v } of verdicts) expect(v.start).toEqual(START);
    // The cache keeps the start: an answer from it can tell the opener.
    expect(decided).toEqual([START]);
  });

  it('is the only edge of a flow one edge sees whole', () => {
    const { verdicts, send } = worker();
    send(batch('a', [...clientSide(SegmentFlag.EdgeSawBoth), ...serverSide(SegmentFlag.EdgeSawBoth)].sort((x, y) => x.tsNsec - y.tsNsec).map((s, i) => ({ ...s, counter: i + 1 }))));
    expect(openers(verdicts)).toEqual([['a', true, false]]);
  });

  it('is the edge fed first when the other never reported in time: the late one joins with that start', () => {
    const { m, clock, verdicts, send } = worker({ holdMs: 1_000 });
    m.watermark('a', 0, false);
    send(batch('b', serverSide(), 5));
    clock.ms = 1_000;
    m.tick();
    expect(openers(verdicts)).toEqual([['b', true, false]]);
    // The reply path's SYN-ACK (ms 2) was the first packet fed: its sender, the server (high), is the originator here.
    expect(verdicts[0]!.v.start).toEqual({ origIsLow: false, firstSec: 1_700_000_000, firstNsec: 2e6 });
    send(batch('a', clientSide(), 4));
    expect(openers(verdicts.slice(1))).toEqual([['a', false, true]]);
    expect(verdicts[1]!.v.start).toEqual(verdicts[0]!.v.start);
  });

  it('of two chained routers that both see the whole flow, is the edge whose report arrives first, though the other saw the SYN earlier (a NAT edge reports after its verdicts)', () => {
    const { verdicts, send } = worker();
    const whole = (lateUs: number) =>
      [...clientSide(SegmentFlag.EdgeSawBoth), ...serverSide(SegmentFlag.EdgeSawBoth)]
        .sort((x, y) => x.tsNsec - y.tsNsec)
        .map((s, i) => ({ ...s, counter: i + 1, tsNsec: s.tsNsec + lateUs * 1000 }));
    send(batch('b', whole(100), 6)); // the router behind: its clock says 0.1 ms later, its report comes first
    send(batch('a', whole(0), 5));
    expect(verdicts.filter((x) => x.v.opener).map((x) => x.edge)).toEqual(['b']);
    expect(verdicts.map((x) => [x.edge, x.v.l7]).sort()).toEqual([
      ['a', 'http'],
      ['b', 'http'],
    ]);
  });

  it('is not an edge that reports a flow decided from another edge’s head (recalled)', () => {
    const { m, verdicts, send } = worker();
    const request = segment(Direction.LowToHigh, 3, PSH_ACK, 101, 501, 4, REQUEST);
    send(batch('a', clientSide().slice(0, 2), 3));
    send(batch('b', serverSide().slice(0, 1), 2));
    m.watermark('b', Number.MAX_SAFE_INTEGER, true);
    send(batch('a', [request], 4));
    expect(verdicts).toHaveLength(2);
    // Edge c picks the flow up mid-stream (a route moved) after the decision.
    send(batch('c', [{ ...request, counter: 1, flags: SegmentFlag.Pickup }], 4));
    expect(openers(verdicts)).toEqual([
      ['a', true, false],
      ['b', false, false],
      ['c', false, true],
    ]);
  });

  it('is the first reporter of a flow that ends unset at the end of input', () => {
    const { m, verdicts, send } = worker();
    send(batch('a', clientSide().slice(0, 2), 3));
    send(batch('b', serverSide().slice(0, 1), 2));
    m.watermark('a', Number.MAX_SAFE_INTEGER, true);
    m.watermark('b', Number.MAX_SAFE_INTEGER, true);
    expect(verdicts.map((x) => [x.edge, x.v.l7, x.v.final, x.v.opener]).sort()).toEqual([
      ['a', 'unset', false, true],
      ['b', 'unset', false, false],
    ]);
    for (const { v } of verdicts) expect(v.start).toEqual(START);
  });

  describe('answers from the verdict cache (a partition moved after the decision)', () => {
    const cached = { l7: 'http', decidedBy: 'http.pat', decidedAtPacket: 4, mark: 0, ruleSetVersion: 7, epoch: 2 };
    const settle = () => new Promise((r) => setTimeout(r, 0));

    it('names the edge whose first packet is the flow’s start the opener (its verdict was lost), and not an edge that joined', async () => {
      const { m, verdicts, send } = worker({ lookupCache: async () => ({ ...cached, start: START }) });
      m.watermark('a', 0, false);
      m.watermark('b', 0, false);
      send(batch('a', clientSide(SegmentFlag.Resent), 4));
      send(batch('b', serverSide(SegmentFlag.Resent), 5));
      await settle();
      // The reply path's edge again, after the lookup: answered from what the worker keeps of it.
      send(batch('b', serverSide(SegmentFlag.Resent).slice(0, 1), 5));
      expect(verdicts.map((x) => [x.edge, x.v.opener, x.v.recalled, x.v.l7])).toEqual([
        ['a', true, true, 'http'],
        ['b', false, true, 'http'],
        ['b', false, true, 'http'],
      ]);
      for (const { v } of verdicts) expect(v.start).toEqual(START);
      expect(m.counters.fromCache).toBe(3);
    });

    it('a pickup nothing is known of (a miss) is classified as soon as the other edges are past it, not after the hold', async () => {
      const { m, verdicts, send } = worker({ holdMs: 3_000, lookupCache: async () => undefined });
      m.watermark('a', 0, false);
      m.watermark('c', 0, false);
      // The server's reply on a keep-alive connection, mid-stream: its ACK covers a request no edge reported.
      send(batch('c', [segment(Direction.HighToLow, 1, PSH_ACK, 501, 101 + REQUEST.length, 5, REPLY, SegmentFlag.Pickup)], 5));
      await settle();
      expect(verdicts).toEqual([]);
      send(batch('a', [], 6));
      m.tick();
      expect(verdicts.map((x) => [x.edge, x.v.l7, x.v.recalled])).toEqual([['c', 'http', false]]);
      expect(m.counters.heldOut).toBe(0);
    });

    it('a flow re-sent after its edge finished its replay, looked up and missed, still ends unset if undecided', async () => {
      const { m, verdicts, send } = worker({ lookupCache: async () => undefined });
      m.watermark('a', Number.MAX_SAFE_INTEGER, true);
      send(batch('a', clientSide(SegmentFlag.Resent | SegmentFlag.EdgeSawBoth).slice(0, 2)));
      expect(verdicts).toEqual([]);
      await settle();
      expect(verdicts.map((x) => [x.v.l7, x.v.decidedBy, x.v.final])).toEqual([['unset', 'end-of-input', false]]);
    });

    it('without a start (recalled from the store): an edge that picked the flow up is not the opener, another is', async () => {
      const { m, verdicts, send } = worker({ lookupCache: async () => cached });
      m.watermark('a', 0, false);
      m.watermark('c', 0, false);
      send(batch('a', clientSide(SegmentFlag.Resent), 4));
      send(batch('c', [segment(Direction.LowToHigh, 1, PSH_ACK, 101, 501, 4, REQUEST, SegmentFlag.Pickup)], 4));
      await settle();
      expect(verdicts.map((x) => [x.edge, x.v.opener, x.v.start])).toEqual([
        ['a', true, undefined],
        ['c', false, undefined],
      ]);
    });
  });
});

describe('MergingClassifier: FTP data connections on a worker that took the partition over', () => {
  // Passive FTP, 198.18.3.2 (client) with 198.18.3.1 (server); the server is the keys' lower endpoint.
  const tcpKey = (lowPort: number, highPort: number) => String.fromCharCode(6, 198, 18, 3, 1, lowPort >> 8, lowPort & 0xff, 198, 18, 3, 2, highPort >> 8, highPort & 0xff);
  const CONTROL = tcpKey(21, 33118);
  const DATA = tcpKey(30005, 45912);
  const text = (s: string) => new TextEncoder().encode(s);
  const BANNER = text('220 (vsFTPd 3.0.3)\r\n');
  const PASV = text('PASV\r\n');
  const ENTERING = text('227 Entering Passive Mode (198,18,3,1,117,53).\r\n');
  const SAW_BOTH = SegmentFlag.EdgeSawBoth;
  /** The control connection as one edge saw it: the verdict (ftp) at its 4th packet, the data connection announced at its 6th. */
  const control = (flags = 0) => [
    segment(Direction.HighToLow, 1, SYN, 1000, 0, 1, undefined, SAW_BOTH | flags, CONTROL),
    segment(Direction.LowToHigh, 2, SYN | ACK, 5000, 1001, 2, undefined, SAW_BOTH | flags, CONTROL),
    segment(Direction.HighToLow, 3, ACK, 1001, 5001, 3, undefined, SAW_BOTH | flags, CONTROL),
    segment(Direction.LowToHigh, 4, PSH_ACK, 5001, 1001, 4, BANNER, SAW_BOTH | flags, CONTROL),
    segment(Direction.HighToLow, 5, PSH_ACK, 1001, 5021, 5, PASV, SAW_BOTH | flags, CONTROL),
    segment(Direction.LowToHigh, 6, PSH_ACK, 5021, 1007, 6, ENTERING, SAW_BOTH | flags, CONTROL),
  ];
  const data = () => [
    segment(Direction.HighToLow, 1, SYN, 7000, 0, 7, undefined, SAW_BOTH, DATA),
    segment(Direction.LowToHigh, 2, SYN | ACK, 9000, 7001, 8, undefined, SAW_BOTH, DATA),
    segment(Direction.HighToLow, 3, ACK, 7001, 9001, 9, undefined, SAW_BOTH, DATA),
    segment(Direction.LowToHigh, 4, PSH_ACK, 9001, 7001, 10, text('hello, a file\n'), SAW_BOTH, DATA),
  ];
  const l7Of = (verdicts: { edge: string; v: Verdict }[], key: string) => verdicts.filter((x) => x.v.key === key).map((x) => [x.v.l7, x.v.final]);

  it('the control connection’s first packets lost (sent to the dead owner): its data connection waits for the re-send and inherits', () => {
    const { m, verdicts, send } = worker();
    // After the move, live: the rest of the control connection (counters 5, 6: a gap), then the data connection.
    send(batch('a', [...control().slice(4), ...data()], 10));
    expect(l7Of(verdicts, DATA)).toEqual([]);
    // The edge re-sends the unanswered control connection from counter 1.
    send(batch('a', control(SegmentFlag.Resent), 10));
    m.watermark('a', Number.MAX_SAFE_INTEGER, true);
    expect(l7Of(verdicts, CONTROL)).toEqual([['ftp', true]]);
    expect(l7Of(verdicts, DATA)).toEqual([['ftp', true]]);
    expect(verdicts.find((x) => x.v.key === DATA)!.v.decidedBy).toBe('inherited');
  });

  it('the control connection decided by the dead owner: its next announcement (watched) is looked up in the cache, and the data connection waits for that', async () => {
    const lookedUp: string[] = [];
    const { m, verdicts, send } = worker({
      lookupCache: async (_zone, key) => {
        lookedUp.push(key);
        await new Promise((r) => setTimeout(r, 5));
        return key === CONTROL ? { l7: 'ftp', decidedBy: 'ftp.pat', decidedAtPacket: 4, mark: 0, ruleSetVersion: 7, epoch: 2 } : undefined;
      },
    });
    // Live after the move: the control connection's announcement (the edge has its verdict: watched), then the data connection.
    const announcement = { ...control()[5]!, counter: 40, flags: SAW_BOTH | SegmentFlag.Watched };
    send(batch('a', [announcement, ...data()], 10));
    expect(l7Of(verdicts, DATA)).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    m.watermark('a', Number.MAX_SAFE_INTEGER, true);
    expect(lookedUp).toEqual([CONTROL]);
    expect(l7Of(verdicts, DATA)).toEqual([['ftp', true]]);
    // The control connection was decided and told elsewhere: no second verdict for it.
    expect(l7Of(verdicts, CONTROL)).toEqual([]);
  });

  it('other new flows wait behind a control connection’s lookup no longer than the hold (a store that does not answer)', () => {
    const { m, clock, verdicts, send } = worker({ lookupCache: () => new Promise(() => undefined) });
    const announcement = { ...control()[5]!, counter: 40, flags: SAW_BOTH | SegmentFlag.Watched };
    const WEB = tcpKey(80, 45000);
    const web = [
      segment(Direction.HighToLow, 1, SYN, 100, 0, 7, undefined, SAW_BOTH, WEB),
      segment(Direction.HighToLow, 2, PSH_ACK, 101, 501, 8, REQUEST, SAW_BOTH, WEB),
    ];
    send(batch('a', [announcement, ...web], 10));
    clock.ms += 2_999;
    m.tick();
    expect(l7Of(verdicts, WEB)).toEqual([]);
    clock.ms += 1;
    m.tick();
    expect(l7Of(verdicts, WEB)).toEqual([['http', true]]);
  });
});
