import { describe, expect, it } from 'vitest';
import { CaptureParser } from '../src/capture.js';
import { LinkType, PacketDecoder } from '../src/decoder.js';
import { formatIpAddress } from '../src/ip-address.js';
import { TcpFlag, type DecodedPacket } from '../src/packet.js';
import { buildFrame, buildIpPacket, concatBytes, encodePcap, type SynthFrameOptions, type SynthPacket } from '../src/synth.js';

const tcp4: SynthPacket = {
  tsSec: 1_700_000_000,
  tsNsec: 42,
  src: '198.18.0.1',
  dst: '198.18.0.2',
  protocol: 'tcp',
  sport: 40000,
  dport: 80,
  seq: 0xfffffffe,
  ack: 0x80000001,
  payload: 'GET / HTTP/1.1\r\n\r\n',
};
const udp6: SynthPacket = {
  tsSec: 5,
  src: '2001:db8::1',
  dst: '2001:db8::53',
  protocol: 'udp',
  sport: 5353,
  dport: 53,
  payload: 'dns?',
};

function plain(pkt: DecodedPacket | null) {
  if (pkt === null) return null;
  return {
    tsSec: pkt.tsSec,
    tsNsec: pkt.tsNsec,
    ipVersion: pkt.ipVersion,
    protocol: pkt.protocol,
    src: formatIpAddress(pkt.srcAddr),
    dst: formatIpAddress(pkt.dstAddr),
    srcPort: pkt.srcPort,
    dstPort: pkt.dstPort,
    tcpFlags: pkt.tcpFlags,
    tcpSeq: pkt.tcpSeq,
    tcpAck: pkt.tcpAck,
    ipLength: pkt.ipLength,
    payload: Buffer.from(pkt.payload).toString('latin1'),
  };
}

function expected(p: SynthPacket, ipLength: number) {
  const payload = typeof p.payload === 'string' ? p.payload : '';
  const tcp = p.protocol === 'tcp';
  return {
    tsSec: p.tsSec,
    tsNsec: p.tsNsec ?? 0,
    ipVersion: p.src.includes(':') ? 6 : 4,
    protocol: tcp ? 6 : 17,
    src: p.src,
    dst: p.dst,
    srcPort: p.sport,
    dstPort: p.dport,
    tcpFlags: tcp ? (p.flags ?? (payload ? TcpFlag.ACK | TcpFlag.PSH : TcpFlag.ACK)) : 0,
    tcpSeq: tcp ? (p.seq ?? 1) : 0,
    tcpAck: tcp ? (p.ack ?? 1) : 0,
    ipLength,
    payload,
  };
}

function decodeOne(p: SynthPacket, linkType: number = LinkType.ETHERNET, opts: SynthFrameOptions = {}, decodeAs = linkType) {
  const d = new PacketDecoder();
  const frame = buildFrame(p, linkType, opts);
  const pkt = d.decode(decodeAs, frame, p.tsSec, p.tsNsec ?? 0);
  return { d, pkt: plain(pkt), ipLength: buildIpPacket(p, opts).length };
}

describe('link layers', () => {
  const linkTypes: Array<[string, number, SynthFrameOptions?]> = [
    ['ETHERNET', LinkType.ETHERNET],
    ['NULL little-endian', LinkType.NULL],
    ['NULL big-endian', LinkType.NULL, { nullByteOrder: 'big' }],
    ['NULL AF_INET6=28', LinkType.NULL, { ipv6Family: 28 }],
    ['NULL AF_INET6=30 big-endian', LinkType.NULL, { ipv6Family: 30, nullByteOrder: 'big' }],
    ['LOOP', LinkType.LOOP],
    ['PPP with ff 03', LinkType.PPP],
    ['PPP without ff 03', LinkType.PPP, { pppAddressControl: false }],
    ['PPP_HDLC', LinkType.PPP_HDLC],
    ['C_HDLC', LinkType.C_HDLC],
    ['LINUX_SLL', LinkType.LINUX_SLL],
    ['LINUX_SLL2', LinkType.LINUX_SLL2],
    ['RAW (101)', LinkType.RAW],
    ['RAW alias 12', 12],
    ['RAW alias 14', 14],
  ];
  for (const [name, lt, opts] of linkTypes) {
    for (const p of [tcp4, udp6]) {
      it(`${name} carrying ${p.protocol}/IPv${p.src.includes(':') ? 6 : 4}`, () => {
        const { d, pkt, ipLength } = decodeOne(p, lt, opts);
        expect(pkt).toEqual(expected(p, ipLength));
        expect(d.stats).toMatchObject({ frames: 1, decoded: 1, malformed: 0 });
        expect(d.lastError).toBeUndefined();
      });
    }
  }

  it('IPV4 (228) and IPV6 (229) raw link types', () => {
    expect(decodeOne(tcp4, LinkType.IPV4).pkt).toEqual(expected(tcp4, decodeOne(tcp4).ipLength));
    expect(decodeOne(udp6, LinkType.IPV6).pkt).toEqual(expected(udp6, decodeOne(udp6).ipLength));
    const wrong = decodeOne(udp6, LinkType.IPV6, {}, LinkType.IPV4);
    expect(wrong.pkt).toBeNull();
    expect(wrong.d.lastError).toBe('ipv4: version 6');
  });

  it('PPP_HDLC carrying Cisco HDLC framing', () => {
    const frame = buildFrame(tcp4, LinkType.C_HDLC);
    expect(plain(new PacketDecoder().decode(LinkType.PPP_HDLC, frame, tcp4.tsSec, 42))).toEqual(expected(tcp4, frame.length - 4));
  });

  it('a PPP-serial capture (link type 50) of Cisco HDLC frames: address 0x0f or 0x8f, any control byte, then an ethertype', () => {
    const chdlc = (p: SynthPacket, address: number, control: number) => {
      const frame = buildFrame(p, LinkType.C_HDLC);
      frame[0] = address;
      frame[1] = control;
      return frame;
    };
    const slarp = concatBytes([Uint8Array.of(0x8f, 0x00, 0x80, 0x35), new Uint8Array(18)]);
    const frames = [
      chdlc(tcp4, 0x0f, 0x00),
      chdlc(udp6, 0x8f, 0x00),
      chdlc(tcp4, 0x0f, 0x03),
      buildFrame(udp6, LinkType.PPP_HDLC), // ff 03, then the PPP protocol: stays PPP
      buildFrame(tcp4, LinkType.PPP_HDLC, { pppAddressControl: false }),
      slarp, // Cisco keepalive: not IP
    ];
    const d = new PacketDecoder();
    const got: unknown[] = [];
    const parser = new CaptureParser((f) => got.push(plain(d.decodeFrame(f))));
    parser.push(encodePcap(frames.map((data) => ({ tsSec: 5, data })), { linkType: LinkType.PPP_HDLC }));
    parser.end();
    const at5 = (p: SynthPacket, ipLength: number) => ({ ...expected(p, ipLength), tsSec: 5, tsNsec: 0 });
    expect(got).toEqual([
      at5(tcp4, frames[0]!.length - 4),
      at5(udp6, frames[1]!.length - 4),
      at5(tcp4, frames[2]!.length - 4),
      at5(udp6, frames[3]!.length - 4),
      at5(tcp4, frames[4]!.length - 2),
      null,
    ]);
    expect(d.stats).toMatchObject({ frames: 6, decoded: 5, notIp: 1, malformed: 0, unsupportedLinkType: 0 });
    expect(d.lastError).toBe('link: ethertype 0x8035 is not IP');
  });

  it('PPP with a compressed (1-byte) protocol field', () => {
    const ip = buildIpPacket(tcp4);
    const frame = concatBytes([Uint8Array.of(0x21), ip]);
    expect(new PacketDecoder().decode(LinkType.PPP, frame, 0, 0)?.dstPort).toBe(80);
  });

  it('unsupported link types and non-IP frames are counted', () => {
    const d = new PacketDecoder();
    expect(d.decode(147, buildFrame(tcp4), 0, 0)).toBeNull();
    expect(d.lastError).toBe('link: unsupported link type 147');
    const arp = buildFrame(tcp4);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(d.decode(LinkType.ETHERNET, arp, 0, 0)).toBeNull();
    expect(d.lastError).toBe('link: ethertype 0x0806 is not IP');
    const af = buildFrame(tcp4, LinkType.NULL);
    af[0] = 7;
    expect(d.decode(LinkType.NULL, af, 0, 0)).toBeNull();
    const ppp = buildFrame(tcp4, LinkType.PPP);
    ppp[3] = 0x23;
    expect(d.decode(LinkType.PPP, ppp, 0, 0)).toBeNull();
    expect(d.stats).toMatchObject({ frames: 4, unsupportedLinkType: 1, notIp: 3, decoded: 0, malformed: 0 });
  });
});

describe('Ethernet encapsulations', () => {
  const cases: Array<[string, SynthFrameOptions]> = [
    ['802.1Q', { vlanIds: [100] }],
    ['802.1ad QinQ', { vlanIds: [10, 20], vlanTpids: [0x88a8, 0x8100] }],
    ['0x9100 QinQ', { vlanIds: [10, 20, 30], vlanTpids: [0x9100, 0x9100, 0x8100] }],
    ['MPLS single label', { mplsLabels: [16] }],
    ['MPLS label stack', { mplsLabels: [16, 17, 18] }],
    ['VLAN + MPLS', { vlanIds: [5], mplsLabels: [100, 200] }],
    ['PPPoE session', { pppoeSessionId: 0x1234 }],
    ['VLAN + PPPoE', { vlanIds: [7], pppoeSessionId: 1 }],
    ['LLC/SNAP', { llcSnap: true }],
    ['padding to 60 bytes', { ethernetPadding: true }],
  ];
  for (const [name, opts] of cases) {
    for (const p of [tcp4, udp6, { ...tcp4, payload: '' }]) {
      it(`${name}, ${p.protocol}/IPv${p.src.includes(':') ? 6 : 4}${p.payload === '' ? ' (empty)' : ''}`, () => {
        const { pkt, ipLength } = decodeOne(p, LinkType.ETHERNET, opts);
        expect(pkt).toEqual(expected(p, ipLength));
      });
    }
  }

  it('LINUX_SLL with an 802.1Q tag left in the payload', () => {
    const eth = buildFrame(tcp4, LinkType.ETHERNET, { vlanIds: [3] });
    const sll = new Uint8Array(16);
    sll[14] = 0x81;
    const frame = concatBytes([sll, eth.subarray(14)]);
    expect(new PacketDecoder().decode(LinkType.LINUX_SLL, frame, 0, 0)?.srcPort).toBe(40000);
  });

  it('MPLS over a non-IP payload is not IP', () => {
    const frame = buildFrame(tcp4, LinkType.ETHERNET, { mplsLabels: [16] });
    frame[18] = 0x00; // pseudowire control word
    const d = new PacketDecoder();
    expect(d.decode(LinkType.ETHERNET, frame, 0, 0)).toBeNull();
    expect(d.stats.notIp).toBe(1);
  });

  it('trims trailers (padding, FCS) using the IP total length', () => {
    const frame = concatBytes([buildFrame(tcp4), Uint8Array.of(0xde, 0xad, 0xbe, 0xef)]);
    const pkt = new PacketDecoder().decode(LinkType.ETHERNET, frame, 0, 0);
    expect(Buffer.from(pkt!.payload).toString('latin1')).toBe(tcp4.payload);
  });
});

describe('IPv4', () => {
  it('skips options', () => {
    for (const len of [4, 8, 40]) {
      const opts = new Uint8Array(len).fill(1); // NOPs
      const { pkt, ipLength } = decodeOne(tcp4, LinkType.ETHERNET, { ipv4Options: opts });
      expect(pkt).toEqual(expected(tcp4, ipLength));
      expect(ipLength).toBe(20 + len + 20 + 18);
    }
  });

  it('rejects bad versions, header lengths and total lengths', () => {
    const d = new PacketDecoder();
    const ip = buildIpPacket(tcp4);
    const mutate = (f: (b: Uint8Array) => void): string | undefined => {
      const b = ip.slice();
      f(b);
      expect(d.decode(LinkType.RAW, b, 0, 0)).toBeNull();
      return d.lastError;
    };
    expect(mutate((b) => (b[0] = 0x44))).toBe('ipv4: header length 16 < 20');
    expect(mutate((b) => (b[0] = 0x4f))).toBe('ipv4: header length 60 > captured 58');
    expect(mutate((b) => (b[3] = 60))).toBe('ipv4: total length 60 > captured 58');
    expect(mutate((b) => (b[3] = 10))).toBe('ipv4: total length 10 < header length 20');
    const v = ip.slice();
    v[0] = 0x55;
    expect(d.decode(LinkType.IPV4, v, 0, 0)).toBeNull();
    expect(d.lastError).toBe('ipv4: version 5');
    expect(d.stats.malformed).toBe(5);
  });

  it('treats total length 0 (TSO capture) as the captured length', () => {
    const ip = buildIpPacket(tcp4);
    ip[2] = 0;
    ip[3] = 0;
    expect(new PacketDecoder().decode(LinkType.RAW, ip, 0, 0)?.ipLength).toBe(ip.length);
  });

  it('counts non-TCP/UDP protocols', () => {
    const d = new PacketDecoder();
    expect(d.decode(LinkType.ETHERNET, buildFrame(tcp4, LinkType.ETHERNET, { protocolNumber: 1 }), 0, 0)).toBeNull();
    expect(d.stats.notTcpUdp).toBe(1);
    expect(d.lastError).toBe('ip: protocol 1 is not TCP/UDP');
  });
});

describe('IPv6 extension headers', () => {
  const tcp6: SynthPacket = { ...tcp4, src: '2001:db8:1::a', dst: 'fe80::1' };
  it('skips hop-by-hop, destination options, routing and AH', () => {
    const chains = [
      [{ type: 0 }],
      [{ type: 0 }, { type: 60, body: new Uint8Array(14) }, { type: 43, body: new Uint8Array(22) }, { type: 60 }],
      [{ type: 51, body: new Uint8Array(22) }],
      [{ type: 0 }, { type: 51 }, { type: 60 }],
      [{ type: 44 }], // atomic fragment
    ];
    for (const ipv6ExtHeaders of chains) {
      for (const p of [tcp6, udp6]) {
        const { pkt, ipLength } = decodeOne(p, LinkType.ETHERNET, { ipv6ExtHeaders });
        expect(pkt).toEqual(expected(p, ipLength));
      }
    }
  });

  it('stops at ESP, no-next-header and ICMPv6 as not TCP/UDP', () => {
    for (const [protocolNumber, exts] of [[50, [{ type: 0 }]], [59, []], [58, [{ type: 60 }]]] as const) {
      const d = new PacketDecoder();
      const frame = buildFrame(udp6, LinkType.ETHERNET, { protocolNumber, ipv6ExtHeaders: [...exts] });
      expect(d.decode(LinkType.ETHERNET, frame, 0, 0)).toBeNull();
      expect(d.stats.notTcpUdp).toBe(1);
      expect(d.lastError).toBe(`ipv6: next header ${protocolNumber} is not TCP/UDP`);
    }
  });

  it('bounds the chain length and catches overruns', () => {
    const d = new PacketDecoder();
    const long = buildFrame(udp6, LinkType.RAW, { ipv6ExtHeaders: Array.from({ length: 17 }, () => ({ type: 60 })) });
    expect(d.decode(LinkType.RAW, long, 0, 0)).toBeNull();
    expect(d.lastError).toBe('ipv6: more than 16 extension headers');
    const ok = buildFrame(udp6, LinkType.RAW, { ipv6ExtHeaders: Array.from({ length: 16 }, () => ({ type: 60 })) });
    expect(d.decode(LinkType.RAW, ok, 0, 0)).not.toBeNull();
    const over = buildFrame(udp6, LinkType.RAW, { ipv6ExtHeaders: [{ type: 0 }] });
    over[41] = 9;
    expect(d.decode(LinkType.RAW, over, 0, 0)).toBeNull();
    expect(d.lastError).toBe('ipv6: extension header 0 length 80 overruns the payload');
  });

  it('accepts a jumbogram-style zero payload length with hop-by-hop', () => {
    const ip = buildIpPacket(udp6, { ipv6ExtHeaders: [{ type: 0 }] });
    ip[4] = 0;
    ip[5] = 0;
    expect(new PacketDecoder().decode(LinkType.RAW, ip, 0, 0)?.ipLength).toBe(ip.length);
  });
});

describe('TCP and UDP', () => {
  it('reports flags, unsigned sequence numbers and empty payloads', () => {
    const syn = { ...tcp4, flags: TcpFlag.SYN | 0xc0, payload: '' };
    expect(decodeOne(syn).pkt).toMatchObject({ tcpFlags: 0xc2, tcpSeq: 0xfffffffe, tcpAck: 0x80000001, payload: '' });
  });

  it('skips TCP options and rejects bad data offsets', () => {
    const d = new PacketDecoder();
    const ip = buildIpPacket({ ...tcp4, payload: 'OPTIONSxxxxxdata' });
    ip[32] = 8 << 4; // 12 bytes of options
    expect(Buffer.from(d.decode(LinkType.RAW, ip, 0, 0)!.payload).toString()).toBe('data');
    ip[32] = 4 << 4;
    expect(d.decode(LinkType.RAW, ip, 0, 0)).toBeNull();
    expect(d.lastError).toBe('tcp: data offset 16 < 20');
    ip[32] = 15 << 4;
    expect(d.decode(LinkType.RAW, ip, 0, 0)).toBeNull();
    expect(d.lastError).toBe('tcp: header length 60 > segment 36');
  });

  it('uses min(UDP length, IP payload) and rejects UDP lengths below 8', () => {
    const d = new PacketDecoder();
    const ip = buildIpPacket({ ...udp6, src: '10.0.0.1', dst: '10.0.0.2', payload: 'abcdef' });
    ip[25] = 11; // UDP length 11: 3 payload bytes
    expect(Buffer.from(d.decode(LinkType.RAW, ip, 0, 0)!.payload).toString()).toBe('abc');
    ip[25] = 200;
    expect(Buffer.from(d.decode(LinkType.RAW, ip, 0, 0)!.payload).toString()).toBe('abcdef');
    ip[25] = 7;
    expect(d.decode(LinkType.RAW, ip, 0, 0)).toBeNull();
    expect(d.lastError).toBe('udp: length 7 < 8');
    expect(d.stats.malformed).toBe(1);
  });
});

describe('robustness', () => {
  const frames: Array<[string, number, Uint8Array]> = [
    ['ethernet tcp4', LinkType.ETHERNET, buildFrame(tcp4)],
    ['ethernet qinq mpls udp6', LinkType.ETHERNET, buildFrame(udp6, LinkType.ETHERNET, { vlanIds: [1, 2], mplsLabels: [3, 4] })],
    ['pppoe tcp4 options', LinkType.ETHERNET, buildFrame(tcp4, LinkType.ETHERNET, { pppoeSessionId: 9, ipv4Options: new Uint8Array(8) })],
    ['sll2 udp6 ext', LinkType.LINUX_SLL2, buildFrame(udp6, LinkType.LINUX_SLL2, { ipv6ExtHeaders: [{ type: 0 }, { type: 51 }] })],
    ['null tcp4', LinkType.NULL, buildFrame(tcp4, LinkType.NULL)],
    ['ppp udp6', LinkType.PPP, buildFrame(udp6, LinkType.PPP)],
    ['chdlc tcp4', LinkType.C_HDLC, buildFrame(tcp4, LinkType.C_HDLC)],
    ['sll tcp4', LinkType.LINUX_SLL, buildFrame(tcp4, LinkType.LINUX_SLL)],
    ['raw udp6', LinkType.RAW, buildFrame(udp6, LinkType.RAW)],
  ];
  for (const [name, lt, frame] of frames) {
    it(`${name}: every truncation is malformed, never a throw`, () => {
      const d = new PacketDecoder();
      expect(d.decode(lt, frame, 0, 0)).not.toBeNull();
      for (let i = 0; i < frame.length; i++) {
        expect(d.decode(lt, frame.subarray(0, i), 0, 0)).toBeNull();
        expect(d.stats.malformed).toBe(i + 1);
        expect(d.lastError).toMatch(/^[a-z0-9]+: /);
      }
      expect(d.stats.frames).toBe(frame.length + 1);
    });
  }

  it('returns the same shared packet object', () => {
    const d = new PacketDecoder();
    const a = d.decode(LinkType.ETHERNET, buildFrame(tcp4), 0, 0);
    const b = d.decode(LinkType.ETHERNET, buildFrame(udp6), 0, 0);
    expect(a).toBe(b);
    expect(b?.ipVersion).toBe(6);
    expect(b?.srcAddr).toHaveLength(16);
  });

  it('validates options', () => {
    expect(() => new PacketDecoder({ maxFragmentQueues: -1 })).toThrow(RangeError);
    expect(() => new PacketDecoder({ fragmentTimeoutSec: 0 })).toThrow(RangeError);
  });
});

describe('zero-copy entry points', () => {
  it('decodeRange decodes a frame inside a larger buffer and rejects bad ranges', () => {
    const frame = buildFrame(tcp4);
    const buf = concatBytes([Uint8Array.of(9, 9, 9), frame, Uint8Array.of(7, 7)]);
    const d = new PacketDecoder();
    expect(plain(d.decodeRange(LinkType.ETHERNET, buf, 3, 3 + frame.length, tcp4.tsSec, 42))).toEqual(expected(tcp4, frame.length - 14));
    expect(d.decodeRange(LinkType.ETHERNET, buf, 3, 3 + frame.length - 1, 0, 0)).toBeNull();
    expect(d.decodeRange(LinkType.ETHERNET, buf, 3, buf.length + 1, 0, 0)).toBeNull();
    expect(d.lastError).toBe(`frame: range 3..${buf.length + 1} outside the buffer`);
  });

  it('decodeFrame reads CaptureParser frames without their data view, and plain frames too', () => {
    const frames = [buildFrame(tcp4), buildFrame(udp6, LinkType.ETHERNET, { vlanIds: [4] })];
    const d = new PacketDecoder();
    const got: unknown[] = [];
    const parser = new CaptureParser((f) => got.push(plain(d.decodeFrame(f))));
    const file = encodePcap(frames.map((data, i) => ({ tsSec: i === 0 ? tcp4.tsSec : udp6.tsSec, tsNsec: i === 0 ? 42_000 : 0, data })), { nanosecond: true });
    parser.push(file.subarray(0, 50));
    parser.push(file.subarray(50)); // first frame spans chunks (carry buffer), second is a view
    parser.end();
    expect(got).toEqual([
      { ...expected(tcp4, frames[0]!.length - 14), tsNsec: 42_000 },
      expected(udp6, frames[1]!.length - 18),
    ]);
    const plainFrame = { linkType: 1, tsSec: 1, tsNsec: 2, data: frames[0]!, originalLength: 0, fileOffset: 0, interfaceId: 0 };
    expect(d.decodeFrame(plainFrame)?.dstPort).toBe(80);
  });

  it('exposes payloadLength without a view and an empty payload without allocating', () => {
    const d = new PacketDecoder();
    const ack = d.decode(LinkType.ETHERNET, buildFrame({ ...tcp4, payload: '' }), 0, 0)!;
    expect(ack.payloadLength).toBe(0);
    expect(ack.payload).toBe(d.decode(LinkType.ETHERNET, buildFrame({ ...udp6, payload: '' }), 0, 0)!.payload);
    const data = d.decode(LinkType.ETHERNET, buildFrame(tcp4), 0, 0)!;
    expect(data.payloadLength).toBe(18);
    expect(data.payload).toBe(data.payload); // cached until the next decode
  });
});
