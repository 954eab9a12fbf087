import { describe, expect, it } from 'vitest';
import { LinkType, PacketDecoder } from '../src/decoder.js';
import type { DecodedPacket } from '../src/packet.js';
import { buildIpPacket, fragmentIpv4, fragmentIpv6, ipv4Fragment, ipv6Fragment, wrapLink, type SynthPacket } from '../src/synth.js';

const text = (n: number, seed = 0): string => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i + seed) % 26))).join('');

const udp4: SynthPacket = { tsSec: 100, src: '10.1.1.1', dst: '10.2.2.2', protocol: 'udp', sport: 1000, dport: 2000, payload: text(3000) };
const tcp6: SynthPacket = { tsSec: 100, src: '2001:db8::1', dst: '2001:db8::2', protocol: 'tcp', sport: 3000, dport: 443, payload: text(2000, 3) };

/** Feeds IP datagrams (Ethernet-wrapped) and returns the non-null results as plain objects. */
function feed(d: PacketDecoder, datagrams: Uint8Array[], tsSec = 100): Array<{ payload: string; ipLength: number; sport: number }> {
  const out = [];
  for (const ip of datagrams) {
    const pkt: DecodedPacket | null = d.decode(LinkType.ETHERNET, wrapLink(ip), tsSec, 0);
    if (pkt) out.push({ payload: Buffer.from(pkt.payload).toString('latin1'), ipLength: pkt.ipLength, sport: pkt.srcPort });
  }
  return out;
}

describe('IPv4 reassembly', () => {
  const dgram = buildIpPacket(udp4, { ipId: 77 });
  const frags = fragmentIpv4(dgram, 1500);
  const whole = [{ payload: udp4.payload, ipLength: dgram.length, sport: 1000 }];

  it('reassembles in order', () => {
    expect(frags).toHaveLength(3);
    const d = new PacketDecoder();
    expect(feed(d, frags)).toEqual(whole);
    expect(d.stats).toMatchObject({ frames: 3, fragments: 3, reassembled: 1, decoded: 1, fragmentsDropped: 0, malformed: 0 });
    expect(d.lastError).toBe('ip: fragment held for reassembly');
    expect(d.pendingFragmentQueues).toBe(0);
  });

  it('reassembles out of order', () => {
    for (const order of [[2, 1, 0], [1, 2, 0], [2, 0, 1], [0, 2, 1]]) {
      expect(feed(new PacketDecoder(), order.map((i) => frags[i]!))).toEqual(whole);
    }
  });

  it('ignores duplicates', () => {
    const d = new PacketDecoder();
    expect(feed(d, [frags[0]!, frags[0]!, frags[2]!, frags[2]!, frags[1]!])).toEqual(whole);
    expect(d.stats).toMatchObject({ fragments: 5, reassembled: 1, fragmentsDropped: 0 });
  });

  it('keeps the first data on overlap', () => {
    const other = buildIpPacket({ ...udp4, payload: text(3000, 13) }, { ipId: 77 });
    const d = new PacketDecoder();
    const got = feed(d, [ipv4Fragment(dgram, 0, 1000, true), ipv4Fragment(other, 504, 3008 - 504, false)]);
    const expectBytes = Buffer.concat([Buffer.from(dgram.subarray(20 + 8, 20 + 1000)), Buffer.from(other.subarray(20 + 1000))]);
    expect(got).toEqual([{ payload: expectBytes.toString('latin1'), ipLength: dgram.length, sport: 1000 }]);
  });

  it('keeps IPv4 options of the first fragment in ipLength', () => {
    const withOpts = buildIpPacket(udp4, { ipv4Options: new Uint8Array(8).fill(1) });
    expect(feed(new PacketDecoder(), fragmentIpv4(withOpts, 600).reverse())).toEqual([
      { payload: udp4.payload, ipLength: withOpts.length, sport: 1000 },
    ]);
  });

  it('keys by source, destination, id and protocol', () => {
    const other = buildIpPacket({ ...udp4, payload: text(3000, 5) }, { ipId: 78 });
    const o = fragmentIpv4(other, 1500);
    const d = new PacketDecoder();
    const got = feed(d, [frags[0]!, o[0]!, frags[1]!, o[2]!, o[1]!, frags[2]!]);
    expect(got.map((g) => g.payload)).toEqual([text(3000, 5), udp4.payload]);
  });

  it('times out incomplete datagrams (capture time)', () => {
    const d = new PacketDecoder({ fragmentTimeoutSec: 30 });
    expect(feed(d, [frags[0]!, frags[1]!], 100)).toEqual([]);
    expect(feed(d, [frags[2]!], 129)).toHaveLength(1);
    expect(feed(d, [frags[0]!, frags[1]!], 200)).toEqual([]);
    expect(feed(d, [frags[2]!], 231)).toEqual([]); // first two expired; this starts a new queue
    expect(d.stats.fragmentsDropped).toBe(2);
    expect(d.pendingFragmentQueues).toBe(1);
    // Any later packet sweeps expired queues.
    feed(d, [buildIpPacket({ ...udp4, payload: 'x' })], 300);
    expect(d.pendingFragmentQueues).toBe(0);
    expect(d.stats.fragmentsDropped).toBe(3);
  });

  it('evicts the oldest queue beyond maxFragmentQueues', () => {
    const d = new PacketDecoder({ maxFragmentQueues: 2 });
    const dgrams = [1, 2, 3].map((id) => fragmentIpv4(buildIpPacket({ ...udp4, payload: text(3000, id) }, { ipId: id }), 1500));
    feed(d, [dgrams[0]![0]!, dgrams[1]![0]!, dgrams[2]![0]!]);
    expect(d.pendingFragmentQueues).toBe(2);
    expect(d.stats.fragmentsDropped).toBe(1);
    expect(feed(d, dgrams[0]!.slice(1))).toEqual([]); // its head was evicted
    expect(feed(d, dgrams[2]!.slice(1)).map((g) => g.payload)).toEqual([text(3000, 3)]);
  });

  it('can be disabled with maxFragmentQueues 0', () => {
    const d = new PacketDecoder({ maxFragmentQueues: 0 });
    expect(feed(d, frags)).toEqual([]);
    expect(d.stats.fragmentsDropped).toBe(3);
  });

  it('drops queues with inconsistent final lengths', () => {
    const d = new PacketDecoder();
    expect(feed(d, [frags[0]!, frags[2]!, ipv4Fragment(dgram, 1480, 16, false), frags[1]!])).toEqual([]);
    expect(d.stats.fragmentsDropped).toBe(3);
  });

  it('rejects malformed fragments without buffering them', () => {
    const d = new PacketDecoder();
    const odd = ipv4Fragment(dgram, 0, 1001, true);
    expect(feed(d, [odd])).toEqual([]);
    expect(d.lastError).toBe('ip: non-final fragment length 1001 is not a multiple of 8');
    const huge = ipv4Fragment(dgram, 0, 1000, false);
    huge[6] = 0x1f; // offset 8191 * 8 = 65528 -> end 66528
    huge[7] = 0xff;
    expect(feed(d, [huge])).toEqual([]);
    expect(d.lastError).toBe('ip: fragment end 66528 exceeds 65515');
    expect(d.stats.malformed).toBe(2);
    const icmp = fragmentIpv4(buildIpPacket(udp4, { protocolNumber: 1 }), 1500);
    expect(feed(d, icmp)).toEqual([]);
    expect(d.stats.notTcpUdp).toBe(3);
    expect(d.pendingFragmentQueues).toBe(0);
  });

  it('reassembles TCP and decodes its header from the first fragment', () => {
    const tcp4: SynthPacket = { ...udp4, protocol: 'tcp', seq: 123456, payload: text(5000, 9) };
    const dg = buildIpPacket(tcp4);
    const fr = fragmentIpv4(dg, 576);
    const d = new PacketDecoder();
    let last: DecodedPacket | null = null;
    for (const f of fr.reverse()) last = d.decode(LinkType.RAW, f, 1, 0);
    expect(last).toMatchObject({ tcpSeq: 123456, ipLength: dg.length, srcPort: 1000, dstPort: 2000 });
    expect(Buffer.from(last!.payload).toString('latin1')).toBe(tcp4.payload);
  });
});

describe('IPv6 reassembly', () => {
  const plainDgram = buildIpPacket(tcp6);

  it('reassembles in and out of order', () => {
    const frags = fragmentIpv6(plainDgram, 512, 0xdeadbeef);
    expect(frags).toHaveLength(4);
    const whole = [{ payload: tcp6.payload, ipLength: plainDgram.length, sport: 3000 }];
    expect(feed(new PacketDecoder(), frags)).toEqual(whole);
    expect(feed(new PacketDecoder(), [frags[3]!, frags[1]!, frags[1]!, frags[0]!, frags[2]!])).toEqual(whole);
  });

  it('handles unfragmentable and fragmentable extension headers', () => {
    const dgram = buildIpPacket(tcp6, { ipv6ExtHeaders: [{ type: 0 }, { type: 43, body: new Uint8Array(6) }, { type: 60 }] });
    const frags = fragmentIpv6(dgram, 256, 7);
    // Fragment header sits after hop-by-hop and routing; destination options travel in the fragments.
    expect(frags[0]![40 + 8 + 8]).toBe(60);
    const d = new PacketDecoder();
    expect(feed(d, frags.reverse())).toEqual([{ payload: tcp6.payload, ipLength: dgram.length, sport: 3000 }]);
    expect(d.stats).toMatchObject({ fragments: frags.length, reassembled: 1, decoded: 1 });
  });

  it('keys by source, destination and identification', () => {
    const a = fragmentIpv6(plainDgram, 1024, 1);
    const b = fragmentIpv6(buildIpPacket({ ...tcp6, payload: text(2000, 11) }), 1024, 2);
    expect(feed(new PacketDecoder(), [a[0]!, b[0]!, b[1]!, a[1]!]).map((g) => g.payload)).toEqual([text(2000, 11), tcp6.payload]);
  });

  it('times out and drops overlapping inconsistencies like IPv4', () => {
    const frags = fragmentIpv6(plainDgram, 1024, 9);
    const d = new PacketDecoder({ fragmentTimeoutSec: 5 });
    expect(feed(d, [frags[0]!], 10)).toEqual([]);
    expect(feed(d, [frags[1]!], 16)).toEqual([]);
    expect(d.stats.fragmentsDropped).toBe(1);
  });

  it('does not buffer fragments that cannot carry TCP/UDP', () => {
    const esp = buildIpPacket(tcp6, { protocolNumber: 50 });
    const d = new PacketDecoder();
    expect(feed(d, fragmentIpv6(esp, 1024))).toEqual([]);
    expect(d.stats.notTcpUdp).toBe(2);
    expect(d.pendingFragmentQueues).toBe(0);
  });

  it('rejects nested fragment headers', () => {
    const inner = ipv6Fragment(plainDgram, 0, 64, true, 5); // a fragment, then fragmented again
    const outer = fragmentIpv6(inner, 64, 6);
    const d = new PacketDecoder();
    expect(feed(d, outer)).toEqual([]);
    expect(d.lastError).toBe('ipv6: nested fragment header');
    expect(d.stats.malformed).toBe(outer.length);
    // Same when the inner fragment header hides behind a fragmentable destination-options header.
    const hidden = buildIpPacket(tcp6, { ipv6ExtHeaders: [{ type: 60 }, { type: 44, body: Uint8Array.of(0, 0x01, 0, 0, 0, 1) }] });
    const d2 = new PacketDecoder();
    expect(feed(d2, fragmentIpv6(hidden, 1024))).toEqual([]);
    expect(d2.lastError).toBe('ipv6: nested fragment header');
    expect(d2.stats).toMatchObject({ reassembled: 1, malformed: 1 });
  });
});
