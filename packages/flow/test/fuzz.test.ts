import { describe, expect, it } from 'vitest';
import { CaptureError, CaptureParser } from '../src/capture.js';
import type { CaptureRecord } from '../src/capture-frame.js';
import { LinkType, PacketDecoder } from '../src/decoder.js';
import {
  buildFrame,
  buildIpPacket,
  concatBytes,
  encodePcap,
  encodePcapng,
  fragmentIpv4,
  fragmentIpv6,
  pcapngBlock,
  pcapngSimplePacket,
  seededRandom,
  wrapLink,
  type SynthPacket,
} from '../src/synth.js';


type Rng = () => number;
const int = (r: Rng, n: number): number => Math.floor(r() * n);

/** One random mutation: bit flips, byte overwrites, truncation, splice, duplication, or a random 32-bit length. */
function mutate(r: Rng, input: Uint8Array, donors: Uint8Array[]): Uint8Array {
  let b: Uint8Array = input.slice();
  const rounds = 1 + int(r, 4);
  for (let i = 0; i < rounds && b.length > 0; i++) {
    switch (int(r, 7)) {
      case 0:
        for (let k = 1 + int(r, 8); k > 0; k--) {
          const at = int(r, b.length);
          b[at]! ^= 1 << int(r, 8);
        }
        break;
      case 1:
        b[int(r, b.length)] = int(r, 256);
        break;
      case 2:
        b = b.slice(0, int(r, b.length + 1));
        break;
      case 3: {
        const d = donors[int(r, donors.length)]!;
        const from = int(r, d.length);
        const piece = d.subarray(from, from + int(r, 200));
        const at = int(r, b.length + 1);
        b = concatBytes([b.subarray(0, at), piece, b.subarray(at + int(r, 64))]);
        break;
      }
      case 4: {
        const at = int(r, b.length);
        b = concatBytes([b.subarray(0, at), b.subarray(int(r, b.length)), b.subarray(at)]);
        break;
      }
      case 5: {
        // Length fields are where parsers go wrong: drop a random (often huge) 32-bit value at a 4-byte boundary.
        const at = int(r, Math.max(1, b.length >> 2)) << 2;
        if (at + 4 <= b.length) {
          const v = r() < 0.5 ? int(r, 4096) : int(r, 4294967296);
          new DataView(b.buffer, b.byteOffset).setUint32(at, v, r() < 0.5);
        }
        break;
      }
      default: {
        const at = int(r, b.length);
        b[at] = [0, 0xff, 0x7f, 0x80, 0x40, 0x45, 0x60][int(r, 7)]!;
      }
    }
  }
  return b;
}

const packets: SynthPacket[] = [
  { tsSec: 1, src: '10.0.0.1', dst: '10.0.0.2', protocol: 'tcp', sport: 1234, dport: 80, payload: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' },
  { tsSec: 2, src: '2001:db8::1', dst: '2001:db8::2', protocol: 'udp', sport: 53, dport: 5353, payload: 'abcdefgh' },
  { tsSec: 3, src: '192.168.1.1', dst: '8.8.8.8', protocol: 'udp', sport: 1, dport: 53, payload: '' },
];

const frames: Array<[number, Uint8Array]> = [
  [LinkType.ETHERNET, buildFrame(packets[0]!)],
  [LinkType.ETHERNET, buildFrame(packets[1]!, LinkType.ETHERNET, { vlanIds: [1, 2], vlanTpids: [0x88a8, 0x8100], ipv6ExtHeaders: [{ type: 0 }, { type: 60 }] })],
  [LinkType.ETHERNET, buildFrame(packets[2]!, LinkType.ETHERNET, { mplsLabels: [1, 2], ipv4Options: new Uint8Array(4) })],
  [LinkType.ETHERNET, buildFrame(packets[0]!, LinkType.ETHERNET, { pppoeSessionId: 3 })],
  [LinkType.LINUX_SLL, buildFrame(packets[1]!, LinkType.LINUX_SLL)],
  [LinkType.LINUX_SLL2, buildFrame(packets[0]!, LinkType.LINUX_SLL2)],
  [LinkType.NULL, buildFrame(packets[1]!, LinkType.NULL)],
  [LinkType.PPP, buildFrame(packets[0]!, LinkType.PPP)],
  [LinkType.C_HDLC, buildFrame(packets[2]!, LinkType.C_HDLC)],
  [LinkType.RAW, buildFrame(packets[1]!, LinkType.RAW)],
  ...fragmentIpv4(buildIpPacket({ ...packets[0]!, payload: 'z'.repeat(600) }, { ipId: 9 }), 200).map((f): [number, Uint8Array] => [LinkType.ETHERNET, wrapLink(f)]),
  ...fragmentIpv6(buildIpPacket({ ...packets[1]!, payload: 'q'.repeat(300) }), 96, 4).map((f): [number, Uint8Array] => [LinkType.RAW, f]),
];

const linkTypes = [...new Set(frames.map(([lt]) => lt))];

const captures: Uint8Array[] = [
  encodePcap(frames.filter(([lt]) => lt === 1).map(([, data], i) => ({ tsSec: i, tsNsec: i * 1000, data }))),
  encodePcap(frames.filter(([lt]) => lt === 1).map(([, data], i) => ({ tsSec: i, data })), { bigEndian: true, nanosecond: true }),
  // One interface per link type, with assorted timestamp resolutions.
  encodePcapng(
    linkTypes.map((linkType, i) => ({ linkType, tsResolution: [6, 9, 0x80 | 16, 3][i % 4]!, tsOffset: i })),
    frames.map(([lt, data], i) => ({ interfaceId: linkTypes.indexOf(lt), tsSec: 100 + i, tsNsec: i * 7919, data })),
  ),
  concatBytes([
    encodePcapng([{ linkType: 1, snaplen: 64 }], [{ interfaceId: 0, tsSec: 1, data: frames[0]![1].subarray(0, 64) }], { bigEndian: true }),
    pcapngBlock(0x4, new Uint8Array(40), true),
    pcapngSimplePacket(frames[2]![1].subarray(0, 60), frames[2]![1].length, true),
    encodePcapng([{ linkType: 101 }], [{ interfaceId: 0, tsSec: 7, data: frames[9]![1] }]),
  ]),
];

describe('fuzz', () => {
  it('capture parser only ever delivers frames or throws CaptureError', () => {
    const iterations = 20_000;
    const deadline = Date.now() + 20_000;
    let errors = 0;
    let delivered = 0;
    // Frames come straight out of chunk and carry buffers here, so decodeFrame's range path gets fuzzed too.
    const decoder = new PacketDecoder({ maxFragmentQueues: 8 });
    for (let i = 0; i < iterations && Date.now() < deadline; i++) {
      const r = seededRandom(0xc0ffee + i);
      const input = mutate(r, captures[i % captures.length]!, captures);
      const chunk = r() < 0.5 ? input.length || 1 : 1 + int(r, 97);
      const p = new CaptureParser((frame) => {
        const f = frame as CaptureRecord;
        delivered++;
        // Plain checks: expect() per frame would dominate the run time.
        if (f.data.length > 256 * 1024 || f.data.length !== f.end - f.start) throw new Error(`bad frame length ${f.data.length}`);
        decoder.decodeFrame(f);
      }, `fuzz-${i}`);
      try {
        for (let o = 0; o < input.length; o += chunk) p.push(input.subarray(o, o + chunk));
        p.end();
      } catch (e) {
        if (!(e instanceof CaptureError)) throw new Error(`seed ${0xc0ffee + i}: non-CaptureError ${String(e)}`, { cause: e });
        errors++;
      }
    }
    expect(delivered).toBeGreaterThan(0);
    expect(errors).toBeGreaterThan(0);
    expect(decoder.stats.decoded).toBeGreaterThan(0);
  });

  it('decoder never throws on mutated frames', () => {
    const d = new PacketDecoder({ maxFragmentQueues: 16, fragmentTimeoutSec: 2 });
    const donors = frames.map(([, f]) => f);
    const iterations = 20_000;
    let ts = 0;
    for (let i = 0; i < iterations; i++) {
      const r = seededRandom(0xdecade + i);
      const [lt, frame] = frames[i % frames.length]!;
      const input = r() < 0.1 ? frame : mutate(r, frame, donors);
      ts += r();
      try {
        const pkt = d.decode(r() < 0.05 ? int(r, 300) : lt, input, Math.floor(ts), int(r, 1e9));
        if (pkt) {
          expect(pkt.payload.length).toBeLessThanOrEqual(65535);
          expect(pkt.ipLength).toBeLessThanOrEqual(65535 + 40);
        }
      } catch (e) {
        throw new Error(`seed ${0xdecade + i}: decoder threw ${String(e)}`, { cause: e });
      }
    }
    const s = d.stats;
    expect(s.frames).toBe(iterations);
    expect(s.decoded + s.malformed + s.notIp + s.notTcpUdp + s.unsupportedLinkType).toBeLessThanOrEqual(s.frames);
    expect(s.decoded).toBeGreaterThan(0);
    expect(s.malformed).toBeGreaterThan(0);
  });
});
