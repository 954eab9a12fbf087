import { describe, expect, it } from 'vitest';
import { FlowIndex } from '../src/flowIndex.js';
import { endpointsOfKey, flowKeyOf, flowKeyOfEndpoints, keyAddress, keyPort } from '../src/flowKey.js';
import { FlowTable, type FlowEndReason, type FlowEntry } from '../src/flowTable.js';
import { IPPROTO_TCP, IPPROTO_UDP, TcpFlag, type DecodedPacket } from '../src/packet.js';

function packet(src: string, sport: number, dst: string, dport: number, opts: Partial<DecodedPacket> = {}): DecodedPacket {
  const addr = (t: string) => (t.includes(':') ? ipv6(t) : Uint8Array.from(t.split('.').map(Number)));
  return {
    tsSec: 100, tsNsec: 0, ipVersion: src.includes(':') ? 6 : 4, protocol: IPPROTO_TCP,
    srcAddr: addr(src), dstAddr: addr(dst), srcPort: sport, dstPort: dport,
    tcpFlags: TcpFlag.ACK, tcpSeq: 0, tcpAck: 0, ipLength: 60, payload: new Uint8Array(0), payloadLength: 0, ...opts,
  };
}

function ipv6(text: string): Uint8Array {
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}

function table(opts: { maxFlows?: number } = {}) {
  const ended: [FlowEntry, FlowEndReason][] = [];
  const t = new FlowTable({ ...opts, onEnd: (f, r) => ended.push([f, r]) });
  return { t, ended };
}

describe('flow keys', () => {
  it('are the same for both directions and decode back to oriented endpoints', () => {
    const a = packet('198.18.0.9', 40000, '198.18.0.1', 80);
    const b = packet('198.18.0.1', 80, '198.18.0.9', 40000);
    const ka = flowKeyOf(a);
    const keyA = ka.key;
    const lowA = ka.srcIsLow;
    const kb = flowKeyOf(b);
    expect(kb.key).toBe(keyA);
    expect(kb.srcIsLow).toBe(!lowA);
    expect(endpointsOfKey(keyA, lowA)).toEqual({ protocol: IPPROTO_TCP, src: '198.18.0.9', sport: 40000, dst: '198.18.0.1', dport: 80 });
    const v6 = flowKeyOf(packet('2001:2::1', 5, '2001:2::2', 6));
    expect(endpointsOfKey(v6.key, v6.srcIsLow)).toMatchObject({ src: '2001:2::1', dst: '2001:2::2' });
  });

  it('give each endpoint alone: its address (of any length, the same after many others) and its port', () => {
    const seen = new Map<string, string>();
    const addresses = ['0.0.0.0', '9.9.9.9', '10.1.2.3', '198.18.123.45', '198.180.123.45', '255.255.255.255', '100.100.100.100', '2001:db8::1'];
    // Enough different addresses to pass every slot of the cache of formatted ones, twice.
    for (let i = 0; i < 20_000; i++) addresses.push(`${(i * 7) & 255}.${(i * 13) & 255}.${i >> 8}.${i & 255}`);
    for (const round of [1, 2]) {
      for (const [i, addr] of addresses.entries()) {
        const other = addr.includes(':') ? '2001:db8::2' : '1.1.1.1';
        const key = flowKeyOfEndpoints({ protocol: IPPROTO_UDP, src: addr, sport: 1000 + (i % 1000), dst: other, dport: 53 });
        for (const low of [true, false]) {
          const e = endpointsOfKey(key, low);
          expect([keyAddress(key, low), keyPort(key, low), keyAddress(key, !low), keyPort(key, !low)]).toEqual([e.src, e.sport, e.dst, e.dport]);
        }
        const text = keyAddress(key, endpointsOfKey(key, true).src === addr);
        expect(text).toBe(addr);
        if (round === 1) seen.set(addr, text);
        else expect(text).toBe(seen.get(addr));
      }
    }
  });

  it('are made from endpoints given as text, either way round, as from a packet', () => {
    const fromPacket = flowKeyOf(packet('198.18.0.9', 40000, '198.18.0.1', 80)).key;
    expect(flowKeyOfEndpoints({ protocol: IPPROTO_TCP, src: '198.18.0.9', sport: 40000, dst: '198.18.0.1', dport: 80 })).toBe(fromPacket);
    expect(flowKeyOfEndpoints({ protocol: IPPROTO_TCP, src: '198.18.0.1', sport: 80, dst: '198.18.0.9', dport: 40000 })).toBe(fromPacket);
    expect(flowKeyOfEndpoints({ protocol: IPPROTO_TCP, src: '2001:2::2', sport: 6, dst: '2001:2::1', dport: 5 })).toBe(flowKeyOf(packet('2001:2::1', 5, '2001:2::2', 6)).key);
    expect(() => flowKeyOfEndpoints({ protocol: IPPROTO_TCP, src: '198.18.0.1', sport: 1, dst: '2001:2::1', dport: 2 })).toThrow(/not of one address family/);
  });
});

describe('FlowTable', () => {
  it('tracks both directions of a connection in one flow, counting per direction', () => {
    const { t } = table();
    t.track(packet('198.18.0.9', 40000, '198.18.0.1', 80, { ipLength: 60 }));
    const r = t.track(packet('198.18.0.1', 80, '198.18.0.9', 40000, { ipLength: 52 }));
    expect(r.isOrig).toBe(false);
    expect(r.created).toBe(false);
    expect([r.flow.packetsOrig, r.flow.packetsReply, r.flow.bytesOrig, r.flow.bytesReply]).toEqual([1, 1, 60, 52]);
    expect(t.size).toBe(1);
    expect(t.get(r.flow.key)).toBe(r.flow);
  });

  it('keeps the verdict, what decided it, the deciding packet and the owner fields apart in the entry', () => {
    const { t } = table();
    const flow = t.track(packet('198.18.0.9', 40001, '198.18.0.1', 80)).flow;
    expect([flow.l7, flow.decidedBy, flow.decidedAtPacket, flow.user, flow.userValue]).toEqual(['unset', undefined, 0, 0, 0]);
    flow.setVerdict('http', 'http.pat', 7);
    flow.user = 32767;
    flow.userValue = 2 ** 40 + 0.5;
    expect([flow.l7, flow.decidedBy, flow.decidedAtPacket, flow.user, flow.userValue]).toEqual(['http', 'http.pat', 7, 32767, 2 ** 40 + 0.5]);
    // Changing one part leaves the others.
    flow.l7 = 'ftp';
    flow.decidedBy = 'inherited';
    expect([flow.l7, flow.decidedBy, flow.decidedAtPacket]).toEqual(['ftp', 'inherited', 7]);
    // Deciding packets of any size (a worker's count comes as a u32), the largest inline one included.
    for (const at of [32766, 32767, 2 ** 32 - 1, 3]) {
      flow.decidedAtPacket = at;
      expect([flow.l7, flow.decidedBy, flow.decidedAtPacket]).toEqual(['ftp', 'inherited', at]);
    }
    expect(flow.protocol).toBe(IPPROTO_TCP);
  });

  it('keeps IPv6 flows apart from IPv4 ones', () => {
    const { t } = table();
    const v6 = t.track(packet('2001:2::1', 1000, '2001:2::2', 443)).flow;
    t.track(packet('198.18.0.1', 1000, '198.18.0.2', 443));
    expect(t.track(packet('2001:2::2', 443, '2001:2::1', 1000)).flow).toBe(v6);
    expect(t.get(v6.key)).toBe(v6);
    expect(t.size).toBe(2);
  });

  it('expires idle flows by their timeout class', () => {
    const { t, ended } = table();
    t.track(packet('198.18.0.1', 53000, '198.18.0.2', 53, { protocol: IPPROTO_UDP, tsSec: 100 }));
    const replied = packet('198.18.0.3', 53001, '198.18.0.2', 53, { protocol: IPPROTO_UDP, tsSec: 100 });
    t.track(replied);
    t.track(packet('198.18.0.2', 53, '198.18.0.3', 53001, { protocol: IPPROTO_UDP, tsSec: 100 }));
    t.track(packet('198.18.0.4', 40000, '198.18.0.2', 80, { tsSec: 100 }));
    t.expire(131); // unreplied UDP (30 s) goes; replied UDP (120 s) and TCP stay
    expect(ended.map(([f, r]) => [endpointsOfKey(f.key, f.origIsLow).sport, r])).toEqual([[53000, 'idle']]);
    t.expire(221);
    expect(ended.map(([f]) => endpointsOfKey(f.key, f.origIsLow).sport)).toEqual([53000, 53001]);
    expect(t.size).toBe(1);
  });

  it('expires at most a budget of flows per call, and ends a due flow first when a packet or a full table reaches it', () => {
    const { t, ended } = table({ maxFlows: 4 });
    const udp = (sport: number, tsSec: number) => packet('198.18.0.1', sport, '198.18.0.2', 53, { protocol: IPPROTO_UDP, tsSec });
    for (const port of [1, 2, 3, 4]) t.track(udp(port, 100));
    const sport = (f: FlowEntry) => endpointsOfKey(f.key, f.origIsLow).sport;
    expect(t.expire(131, 1)).toBe(false);
    expect(ended.map(([f, r]) => [sport(f), r])).toEqual([[1, 'idle']]);
    expect(t.expiryPending).toBe(true);
    // A packet of a due flow: it ends as idle, and the packet starts a new flow.
    const again = t.track(udp(3, 131));
    expect(again.created).toBe(true);
    expect(ended.map(([f, r]) => [sport(f), r])).toEqual([[1, 'idle'], [3, 'idle']]);
    // A full table ends a due flow (idle) rather than evict a live one.
    t.track(udp(5, 131));
    t.track(udp(6, 131));
    expect(ended.map(([f, r]) => [sport(f), r])).toEqual([[1, 'idle'], [3, 'idle'], [2, 'idle']]);
    expect(t.expireMore(10)).toBe(true);
    expect(ended.map(([f, r]) => [sport(f), r])).toEqual([[1, 'idle'], [3, 'idle'], [2, 'idle'], [4, 'idle']]);
    expect(t.expiryPending).toBe(false);
    expect(t.size).toBe(3);
    // drain() finishes a pending expiry first (idle), then ends the rest in creation order.
    expect(t.expire(200, 1)).toBe(false);
    t.drain();
    expect(ended.slice(4).map(([f, r]) => [sport(f), r])).toEqual([[3, 'idle'], [5, 'idle'], [6, 'idle']]);
  });

  it('packs its booleans and timeout class without mixing them up', () => {
    const { t } = table();
    const f = t.track(packet('198.18.0.9', 40000, '198.18.0.1', 80, { tcpFlags: TcpFlag.SYN })).flow;
    expect([f.origIsLow, f.closing]).toEqual([false, false]);
    t.track(packet('198.18.0.1', 80, '198.18.0.9', 40000, { tcpFlags: TcpFlag.FIN | TcpFlag.ACK }));
    expect([f.origIsLow, f.closing]).toEqual([false, true]);
    expect(endpointsOfKey(f.key, f.origIsLow).sport).toBe(40000);
    // The key, made from the entry's index words, is flowKeyOf's.
    const high = packet('203.0.113.250', 65535, '198.18.255.1', 1, { protocol: IPPROTO_UDP });
    const g = t.track(high).flow;
    expect(g.key).toBe(flowKeyOf(high).key);
    expect(g.protocol).toBe(IPPROTO_UDP);
    expect(t.get(g.key)).toBe(g);
  });

  it('starts a new flow when a SYN reuses the tuple of a closed connection', () => {
    const { t, ended } = table();
    const first = t.track(packet('198.18.0.1', 40000, '198.18.0.2', 80, { tcpFlags: TcpFlag.SYN })).flow;
    t.track(packet('198.18.0.1', 40000, '198.18.0.2', 80, { tcpFlags: TcpFlag.FIN | TcpFlag.ACK }));
    const again = t.track(packet('198.18.0.1', 40000, '198.18.0.2', 80, { tcpFlags: TcpFlag.SYN }));
    expect(again.created).toBe(true);
    expect(again.flow).not.toBe(first);
    expect(ended).toEqual([[first, 'reopened']]);
  });

  it('evicts the least recently active flow beyond maxFlows', () => {
    const { t, ended } = table({ maxFlows: 2 });
    t.track(packet('198.18.0.1', 1, '198.18.0.2', 80, { tsSec: 1 }));
    t.track(packet('198.18.0.1', 2, '198.18.0.2', 80, { tsSec: 2 }));
    t.track(packet('198.18.0.1', 1, '198.18.0.2', 80, { tsSec: 3 })); // port 1 active again
    t.track(packet('198.18.0.1', 3, '198.18.0.2', 80, { tsSec: 4 }));
    expect(ended.map(([f, r]) => [endpointsOfKey(f.key, f.origIsLow).sport, r])).toEqual([[2, 'evicted']]);
    expect(t.size).toBe(2);
  });

  it('drains in creation order', () => {
    const { t, ended } = table();
    for (const port of [5, 3, 9]) t.track(packet('198.18.0.1', port, '198.18.0.2', 80));
    t.drain();
    expect(ended.map(([f, r]) => [endpointsOfKey(f.key, f.origIsLow).sport, r])).toEqual([[5, 'end'], [3, 'end'], [9, 'end']]);
    expect(t.size).toBe(0);
  });

  it('drains as if each flow left the table when it is reported, and leaves the table empty and usable', () => {
    const seen: { sport: number; self: boolean; later: boolean; size: number; walked: number; listed: number }[] = [];
    const keys: string[] = [];
    const t = new FlowTable({
      onEnd: (f) => {
        const later = keys.slice(keys.indexOf(f.key) + 1);
        let walked = 0;
        t.forEach(() => walked++);
        seen.push({ sport: endpointsOfKey(f.key, f.origIsLow).sport, self: t.get(f.key) !== undefined, later: later.every((k) => t.get(k) !== undefined), size: t.size, walked, listed: t.entries().length });
      },
    });
    for (const port of [5, 3, 9]) keys.push(t.track(packet('198.18.0.1', port, '198.18.0.2', 80)).flow.key);
    t.track(packet('2001:2::1', 7, '2001:2::2', 80));
    keys.push(t.entries()[3]!.key);
    t.drain();
    expect(seen).toEqual([
      { sport: 5, self: false, later: true, size: 3, walked: 3, listed: 3 },
      { sport: 3, self: false, later: true, size: 2, walked: 2, listed: 2 },
      { sport: 9, self: false, later: true, size: 1, walked: 1, listed: 1 },
      { sport: 7, self: false, later: true, size: 0, walked: 0, listed: 0 },
    ]);
    expect(t.size).toBe(0);
    expect(keys.map((k) => t.get(k))).toEqual([undefined, undefined, undefined, undefined]);
    expect(t.entries()).toEqual([]);
    // The same tuple again is a new flow.
    const again = t.track(packet('198.18.0.1', 5, '198.18.0.2', 80));
    expect(again.created).toBe(true);
    expect(t.get(keys[0]!)).toBe(again.flow);
    expect(t.size).toBe(1);
  });

  it('drains many flows in creation order, whatever their activity order and however many ended before', () => {
    for (const survivors of [1, 15, 50]) {
      // Out of every 50 flows, `survivors` are still there at the drain: dense and sparse creation numbers.
      const { t, ended } = table();
      const ports = Array.from({ length: 5000 }, (_, i) => 1000 + ((i * 7919) % 5000));
      for (const port of ports) t.track(packet('198.18.0.1', port, '198.18.0.2', 80, { protocol: IPPROTO_UDP, tsSec: 1 }));
      // Activity in another order, and most flows ended on the way (UDP, unreplied: 30 s).
      for (let i = ports.length - 1; i >= 0; i--) if (i % 50 < survivors) t.track(packet('198.18.0.1', ports[i]!, '198.18.0.2', 80, { protocol: IPPROTO_UDP, tsSec: 40 }));
      t.expire(45);
      ended.length = 0;
      t.drain();
      expect(ended.map(([f]) => endpointsOfKey(f.key, f.origIsLow).sport)).toEqual(ports.filter((_, i) => i % 50 < survivors));
      expect(ended.every(([, r]) => r === 'end')).toBe(true);
    }
  });
});

describe('FlowIndex', () => {
  it('agrees with a Map through random inserts, lookups and deletes (growth and backward-shift deletion)', () => {
    type Entry = { k0: number; k1: number; k2: number; protocol: number; step: number };
    const index = new FlowIndex<Entry>();
    const model = new Map<string, number>();
    let seed = 12345;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    // Few distinct values per word, so keys collide and cluster often; negative words too (int32).
    const key = () => [rand(50), rand(4) * 0x10000000 - 0x20000000, rand(30), IPPROTO_TCP + rand(2) * 11] as const;
    for (let step = 0; step < 60_000; step++) {
      const k = key();
      const name = k.join(',');
      const op = rand(3);
      if (op === 0) {
        index.setV4({ k0: k[0], k1: k[1], k2: k[2], protocol: k[3], step });
        model.set(name, step);
      } else if (op === 1) {
        index.deleteV4(...k);
        model.delete(name);
      } else {
        expect(index.getV4(...k)?.step).toBe(model.get(name));
      }
    }
    expect(index.size).toBe(model.size);
    for (const [name, v] of model) {
      const [a, b, p, q] = name.split(',').map(Number) as [number, number, number, number];
      expect(index.getV4(a, b, p, q)?.step).toBe(v);
    }
    expect(index.all().map((e) => e.step).sort((x, y) => x - y)).toEqual([...model.values()].sort((x, y) => x - y));
    index.clear();
    expect(index.size).toBe(0);
    expect(index.all()).toEqual([]);
    expect(index.getV4(...key())).toBeUndefined();
  });
});
