import { describe, expect, it } from 'vitest';
import { formatIpAddress, IpAddressError, parseIpAddress } from '../src/ip-address.js';
import { LinkType } from '../src/link.js';
import {
  buildFrame,
  buildIpPacket,
  encodePcap,
  fragmentIpv4,
  fragmentIpv6,
  internetChecksum,
  SynthError,
  wrapLink,
  type SynthPacket,
} from '../src/synth.js';

const p4: SynthPacket = { tsSec: 1, src: '198.18.0.1', dst: '198.18.0.2', protocol: 'tcp', sport: 1, dport: 2, payload: 'hello' };

describe('IP addresses', () => {
  it('parses and formats IPv4 and IPv6', () => {
    const cases: Array<[string, string]> = [
      ['198.18.0.1', '198.18.0.1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:0:2:2:0:0:3', '1::2:2:0:0:3'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ];
    for (const [input, canonical] of cases) expect(formatIpAddress(parseIpAddress(input))).toBe(canonical);
    expect([...parseIpAddress('::ffff:1.2.3.4').subarray(10)]).toEqual([0xff, 0xff, 1, 2, 3, 4]);
  });

  it('rejects malformed text with a typed error', () => {
    for (const bad of ['1.2.3', '1.2.3.256', '1.2.3.4.5', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', 'g::1', '12345::', '', '::1.2.3']) {
      expect(() => parseIpAddress(bad), bad).toThrow(IpAddressError);
    }
  });
});

describe('frame synthesis', () => {
  it('writes valid IPv4 header, TCP and UDP checksums', () => {
    for (const p of [p4, { ...p4, protocol: 'udp' as const }, { ...p4, payload: 'odd' }]) {
      const ip = buildIpPacket(p, { ipv4Options: Uint8Array.of(1, 1, 1) });
      expect(internetChecksum(ip.subarray(0, 24))).toBe(0);
      const pseudo = new Uint8Array(12);
      pseudo.set(ip.subarray(12, 20));
      pseudo[9] = ip[9]!;
      pseudo[10] = (ip.length - 24) >> 8;
      pseudo[11] = (ip.length - 24) & 0xff;
      expect(internetChecksum(pseudo, ip.subarray(24))).toBe(0);
    }
    const v6 = buildIpPacket({ ...p4, src: '::1', dst: '::2', protocol: 'udp' });
    const pseudo6 = new Uint8Array(40);
    pseudo6.set(v6.subarray(8, 40));
    pseudo6[35] = v6.length - 40;
    pseudo6[39] = 17;
    expect(internetChecksum(pseudo6, v6.subarray(40))).toBe(0);
  });

  it('defaults TCP flags from the payload', () => {
    expect(buildIpPacket(p4)[33]).toBe(0x18);
    expect(buildIpPacket({ ...p4, payload: undefined })[33]).toBe(0x10);
    expect(buildIpPacket({ ...p4, flags: 0x02 })[33]).toBe(0x02);
  });

  it('treats string payloads as latin1', () => {
    const ip = buildIpPacket({ ...p4, payload: '\u00ff\u0100' });
    expect([...ip.subarray(40)]).toEqual([0xff, 0x00]);
  });

  it('rejects mixed families and unknown link types', () => {
    expect(() => buildFrame({ ...p4, dst: '::1' })).toThrow(SynthError);
    expect(() => wrapLink(buildIpPacket(p4), 147)).toThrow(SynthError);
  });

  it('pads Ethernet frames when asked', () => {
    expect(buildFrame({ ...p4, payload: '' }, LinkType.ETHERNET, { ethernetPadding: true })).toHaveLength(60);
  });

  it('fragments cover the datagram exactly', () => {
    const dg = buildIpPacket({ ...p4, payload: 'x'.repeat(1000) });
    const frags = fragmentIpv4(dg, 300);
    expect(frags.map((f) => f.length)).toEqual([300, 300, 300, 200]);
    for (const f of frags) expect(internetChecksum(f.subarray(0, 20))).toBe(0);
    const v6 = buildIpPacket({ ...p4, src: '::1', dst: '::2', payload: 'y'.repeat(100) });
    expect(fragmentIpv6(v6, 64).map((f) => f.length)).toEqual([40 + 8 + 64, 40 + 8 + 56]);
    expect(() => fragmentIpv6(v6, 60)).toThrow(SynthError);
  });

  it('encodes pcap records with microsecond truncation', () => {
    const file = encodePcap([{ tsSec: 3, tsNsec: 1999, data: Uint8Array.of(1) }]);
    expect(new DataView(file.buffer).getUint32(28, true)).toBe(1);
  });
});
