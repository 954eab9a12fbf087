import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureError, CaptureParser, readCaptureFile, type CaptureFrame } from '../src/capture.js';
import { LinkType } from '../src/link.js';
import {
  concatBytes,
  encodePcap,
  encodePcapng,
  pcapngBlock,
  pcapngEnhancedPacket,
  pcapngInterface,
  pcapngSectionHeader,
  pcapngSimplePacket,
} from '../src/synth.js';

interface Got {
  linkType: number;
  tsSec: number;
  tsNsec: number;
  data: number[];
  originalLength: number;
  fileOffset: number;
  interfaceId: number;
}

function snapshot(f: CaptureFrame): Got {
  return { ...f, data: [...f.data] };
}

/** Parses `bytes` fed in chunks of `chunk` bytes (whole buffer when omitted). */
function parse(bytes: Uint8Array, chunk = bytes.length || 1): { frames: Got[]; parser: CaptureParser } {
  const frames: Got[] = [];
  const parser = new CaptureParser((f) => frames.push(snapshot(f)), 'test.cap');
  for (let i = 0; i < bytes.length; i += chunk) parser.push(bytes.subarray(i, i + chunk));
  parser.end();
  return { frames, parser };
}

function captureError(fn: () => unknown): CaptureError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureError);
    return e as CaptureError;
  }
  throw new Error('expected a CaptureError');
}

const d1 = Uint8Array.of(1, 2, 3, 4, 5);
const d2 = Uint8Array.from({ length: 70 }, (_, i) => i);
const d3 = Uint8Array.of(9);

describe('pcap', () => {
  for (const bigEndian of [false, true]) {
    for (const nanosecond of [false, true]) {
      it(`reads ${bigEndian ? 'big' : 'little'}-endian ${nanosecond ? 'nanosecond' : 'microsecond'} files`, () => {
        const bytes = encodePcap(
          [
            { tsSec: 1700000000, tsNsec: 123456789, data: d1 },
            { tsSec: 1700000001, tsNsec: 1000, data: d2 },
          ],
          { linkType: LinkType.RAW, bigEndian, nanosecond },
        );
        const { frames, parser } = parse(bytes);
        expect(parser.format).toBe('pcap');
        expect(parser.frames).toBe(2);
        expect(parser.bytesConsumed).toBe(bytes.length);
        expect(frames).toEqual([
          { linkType: 101, tsSec: 1700000000, tsNsec: nanosecond ? 123456789 : 123456000, data: [...d1], originalLength: 5, fileOffset: 24, interfaceId: 0 },
          { linkType: 101, tsSec: 1700000001, tsNsec: 1000, data: [...d2], originalLength: 70, fileOffset: 45, interfaceId: 0 },
        ]);
      });
    }
  }

  it('reports snapped records with their original length', () => {
    const bytes = encodePcap([{ tsSec: 1, data: d1, originalLength: 1500 }], { snaplen: 5 });
    expect(parse(bytes).frames[0]?.originalLength).toBe(1500);
  });

  it('masks FCS bits out of the link type and accepts a header-only file', () => {
    const bytes = encodePcap([], { linkType: LinkType.ETHERNET });
    bytes[23] = 0x14; // FCS length 4 in the upper bits (little-endian file)
    const frames: CaptureFrame[] = [];
    const parser = new CaptureParser((f) => frames.push(f));
    parser.push(bytes);
    parser.end();
    expect(frames).toHaveLength(0);
    const withFrame = encodePcap([{ tsSec: 0, data: d1 }]);
    withFrame[23] = 0x14;
    expect(parse(withFrame).frames[0]?.linkType).toBe(1);
  });

  it('reads the Kuznetzov modified format (24-byte record headers)', () => {
    const std = encodePcap([{ tsSec: 7, tsNsec: 5000, data: d1 }]);
    const rec = std.subarray(24, 40);
    const bytes = concatBytes([std.subarray(0, 24), rec, new Uint8Array(8), d1]);
    bytes.set([0x34, 0xcd, 0xb2, 0xa1], 0);
    expect(parse(bytes).frames).toEqual([
      { linkType: 1, tsSec: 7, tsNsec: 5000, data: [...d1], originalLength: 5, fileOffset: 24, interfaceId: 0 },
    ]);
  });

  it('hands out views of the input chunk rather than copies', () => {
    const bytes = encodePcap([{ tsSec: 1, data: d2 }]);
    let seen: Uint8Array | undefined;
    const p = new CaptureParser((f) => (seen = f.data));
    p.push(bytes);
    expect(seen?.buffer).toBe(bytes.buffer);
    expect(seen?.byteOffset).toBe(40);
  });

  it('rejects a record longer than 256 KiB or the snaplen', () => {
    const bytes = encodePcap([{ tsSec: 1, data: d2 }], { snaplen: 0 });
    new DataView(bytes.buffer).setUint32(32, 300_000, true);
    const e = captureError(() => parse(bytes));
    expect(e.code).toBe('CAPTURE_CORRUPT');
    expect(e.offset).toBe(24);
    expect(e.message).toContain('test.cap');
    expect(e.message).toContain('24');
    const snapped = encodePcap([{ tsSec: 1, data: new Uint8Array(2000) }], { snaplen: 96 });
    expect(captureError(() => parse(snapped)).code).toBe('CAPTURE_CORRUPT');
  });
});

describe('pcapng', () => {
  for (const bigEndian of [false, true]) {
    it(`reads a ${bigEndian ? 'big' : 'little'}-endian file with several interfaces and link types`, () => {
      const bytes = encodePcapng(
        [{ linkType: LinkType.ETHERNET }, { linkType: LinkType.RAW, tsResolution: 9 }, { linkType: LinkType.LINUX_SLL, tsResolution: 0x80 | 20 }],
        [
          { interfaceId: 0, tsSec: 1700000000, tsNsec: 123456000, data: d1 },
          { interfaceId: 1, tsSec: 1700000000, tsNsec: 987654321, data: d2 },
          { interfaceId: 2, tsSec: 1700000002, tsNsec: 500000000, data: d3 },
        ],
        { bigEndian },
      );
      const { frames, parser } = parse(bytes);
      expect(parser.format).toBe('pcapng');
      expect(frames.map((f) => [f.linkType, f.interfaceId, f.tsSec, f.tsNsec, f.data.length])).toEqual([
        [1, 0, 1700000000, 123456000, 5],
        [101, 1, 1700000000, 987654321, 70],
        [113, 2, 1700000002, 500000000, 1],
      ]);
      expect(frames[1]?.data).toEqual([...d2]);
    });
  }

  it('applies if_tsoffset and power-of-two / coarse resolutions', () => {
    const bytes = encodePcapng(
      [
        { linkType: 1, tsResolution: 0x80 | 10, tsOffset: 1_600_000_000 },
        { linkType: 1, tsResolution: 3 },
      ],
      [
        { interfaceId: 0, tsSec: 1_600_000_100, tsNsec: 0x200 * 1e9 / 1024, data: d1 },
        { interfaceId: 1, tsSec: 5, tsNsec: 7_000_000, data: d1 },
      ],
    );
    const { frames } = parse(bytes);
    expect(frames.map((f) => [f.tsSec, f.tsNsec])).toEqual([
      [1_600_000_100, 500_000_000],
      [5, 7_000_000],
    ]);
  });

  it('converts exotic resolutions (picoseconds) exactly enough', () => {
    // 64 bits of picoseconds only reach ~213 days past the epoch.
    const bytes = encodePcapng([{ linkType: 1, tsResolution: 12 }], [{ interfaceId: 0, tsSec: 18_000_000, tsNsec: 999_999_999, data: d1 }]);
    expect(parse(bytes).frames[0]).toMatchObject({ tsSec: 18_000_000, tsNsec: 999_999_999 });
  });

  it('reads SPB (interface 0, snaplen-bounded, no timestamp) and the obsolete PB', () => {
    const itf = { linkType: LinkType.RAW, snaplen: 3 };
    const bytes = concatBytes([
      pcapngSectionHeader(),
      pcapngInterface(itf),
      pcapngInterface({ linkType: LinkType.ETHERNET }),
      pcapngSimplePacket(d1.subarray(0, 3), 5),
      pcapngEnhancedPacket({ linkType: 1 }, { interfaceId: 1, tsSec: 9, tsNsec: 1000, data: d2 }, false, true),
    ]);
    const { frames } = parse(bytes);
    expect(frames.map((f) => [f.linkType, f.interfaceId, f.tsSec, f.tsNsec, f.data, f.originalLength])).toEqual([
      [101, 0, 0, 0, [1, 2, 3], 5],
      [1, 1, 9, 1000, [...d2], 70],
    ]);
  });

  it('skips unknown blocks (NRB, ISB, custom) by their length', () => {
    const bytes = concatBytes([
      pcapngSectionHeader(),
      pcapngBlock(4, new Uint8Array(20)),
      pcapngInterface({ linkType: 1 }),
      pcapngBlock(5, new Uint8Array(16)),
      pcapngEnhancedPacket({ linkType: 1 }, { interfaceId: 0, tsSec: 1, data: d1 }),
      pcapngBlock(0x40000bad, new Uint8Array(5000)),
      pcapngEnhancedPacket({ linkType: 1 }, { interfaceId: 0, tsSec: 2, data: d3 }),
    ]);
    for (const chunk of [bytes.length, 7, 64, 1000]) {
      expect(parse(bytes, chunk).frames.map((f) => f.tsSec)).toEqual([1, 2]);
    }
  });

  it('starts a new section with its own byte order and interfaces', () => {
    const bytes = concatBytes([
      pcapngSectionHeader(false),
      pcapngInterface({ linkType: 1 }),
      pcapngEnhancedPacket({ linkType: 1 }, { interfaceId: 0, tsSec: 1, data: d1 }),
      pcapngSectionHeader(true),
      pcapngInterface({ linkType: 101 }, true),
      pcapngEnhancedPacket({ linkType: 101 }, { interfaceId: 0, tsSec: 2, data: d3 }, true),
    ]);
    expect(parse(bytes).frames.map((f) => [f.linkType, f.tsSec, f.fileOffset])).toEqual([
      [1, 1, 48],
      [101, 2, 136],
    ]);
    // Interfaces of the first section are gone in the second.
    const stale = concatBytes([
      pcapngSectionHeader(),
      pcapngInterface({ linkType: 1 }),
      pcapngSectionHeader(),
      pcapngEnhancedPacket({ linkType: 1 }, { interfaceId: 0, tsSec: 1, data: d1 }),
    ]);
    expect(captureError(() => parse(stale)).code).toBe('CAPTURE_CORRUPT');
  });

  it('rejects bad block lengths, trailer mismatches and unknown interfaces with the block offset', () => {
    const good = encodePcapng([{ linkType: 1 }], [{ interfaceId: 0, tsSec: 1, data: d1 }]);
    const epbAt = 28 + 20;
    const odd = good.slice();
    new DataView(odd.buffer).setUint32(epbAt + 4, 34, true);
    expect(captureError(() => parse(odd))).toMatchObject({ code: 'CAPTURE_CORRUPT', offset: epbAt });
    const tiny = good.slice();
    new DataView(tiny.buffer).setUint32(epbAt + 4, 8, true);
    expect(captureError(() => parse(tiny))).toMatchObject({ code: 'CAPTURE_CORRUPT', offset: epbAt });
    const trailer = good.slice();
    new DataView(trailer.buffer).setUint32(good.length - 4, 44, true);
    expect(captureError(() => parse(trailer))).toMatchObject({ code: 'CAPTURE_CORRUPT', offset: epbAt });
    const ifid = good.slice();
    new DataView(ifid.buffer).setUint32(epbAt + 8, 3, true);
    expect(captureError(() => parse(ifid)).message).toMatch(/interface 3/);
    const caplen = good.slice();
    new DataView(caplen.buffer).setUint32(epbAt + 20, 9, true);
    expect(captureError(() => parse(caplen)).code).toBe('CAPTURE_CORRUPT');
  });

  it('checks the trailer of a skipped block that spans chunks', () => {
    const bytes = concatBytes([pcapngSectionHeader(), pcapngBlock(0x99, new Uint8Array(4000))]);
    new DataView(bytes.buffer).setUint32(bytes.length - 4, 12, true);
    const e = captureError(() => parse(bytes, 100));
    expect(e).toMatchObject({ code: 'CAPTURE_CORRUPT', offset: 28 });
  });
});

describe('CaptureParser framing', () => {
  const files: Record<string, Uint8Array> = {
    pcap: encodePcap([
      { tsSec: 1, data: d1 },
      { tsSec: 2, data: d2 },
      { tsSec: 3, data: d3 },
    ]),
    pcapng: concatBytes([
      pcapngSectionHeader(),
      pcapngInterface({ linkType: 1, tsResolution: 9 }),
      pcapngEnhancedPacket({ linkType: 1, tsResolution: 9 }, { interfaceId: 0, tsSec: 1, data: d1 }),
      pcapngBlock(0x1234, new Uint8Array(300)),
      pcapngEnhancedPacket({ linkType: 1, tsResolution: 9 }, { interfaceId: 0, tsSec: 2, data: d2 }),
      pcapngSimplePacket(d3),
    ]),
  };
  for (const [name, bytes] of Object.entries(files)) {
    it(`${name}: any chunk size yields the same frames`, () => {
      const whole = parse(bytes).frames;
      expect(whole).toHaveLength(3);
      for (let chunk = 1; chunk <= 120; chunk++) expect(parse(bytes, chunk).frames).toEqual(whole);
    });

    it(`${name}: end() inside a record throws CAPTURE_TRUNCATED, frames before it are delivered`, () => {
      for (const cut of [1, 3, 20, bytes.length - 1]) {
        const frames: CaptureFrame[] = [];
        const p = new CaptureParser((f) => frames.push(f), 'cut.cap');
        p.push(bytes.subarray(0, cut));
        const e = captureError(() => p.end());
        expect(e.code).toBe('CAPTURE_TRUNCATED');
        expect(() => p.end()).toThrow(e); // sticky
      }
    });
  }

  it('rejects unknown magic and hints at gzip', () => {
    expect(captureError(() => parse(Uint8Array.of(1, 2, 3, 4, 5, 6)))).toMatchObject({ code: 'CAPTURE_BAD_MAGIC', offset: 0 });
    expect(captureError(() => parse(Uint8Array.of(0x1f, 0x8b, 8, 0))).message).toMatch(/gzip/);
    const badBom = pcapngSectionHeader();
    badBom[8] = 0;
    expect(captureError(() => parse(badBom)).code).toBe('CAPTURE_BAD_MAGIC');
  });

  it('stays failed after onFrame throws (its position in the stream is lost)', () => {
    const boom = new Error('consumer failed');
    const p = new CaptureParser(() => {
      throw boom;
    });
    const bytes = encodePcap([{ tsSec: 1, data: d1 }, { tsSec: 2, data: d1 }]);
    expect(() => p.push(bytes)).toThrow(boom);
    expect(() => p.push(bytes)).toThrow(boom);
    expect(() => p.end()).toThrow(boom);
  });

  it('reports empty input as truncated', () => {
    expect(captureError(() => new CaptureParser(() => {}).end()).code).toBe('CAPTURE_TRUNCATED');
  });
});

describe('readCaptureFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l7mesh-capture-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('streams a file in small chunks with progress', async () => {
    const frames = Array.from({ length: 500 }, (_, i) => ({ tsSec: i, data: new Uint8Array(60 + (i % 40)).fill(i & 0xff) }));
    const bytes = encodePcap(frames);
    const path = join(dir, 'a.pcap');
    await writeFile(path, bytes);
    const got: number[] = [];
    const progress: number[] = [];
    const r = await readCaptureFile(path, (f) => got.push(f.tsSec * 1000 + f.data.length), {
      chunkSize: 777,
      onProgress: (read, total) => {
        expect(total).toBe(bytes.length);
        progress.push(read);
      },
    });
    expect(r).toEqual({ format: 'pcap', frames: 500, bytes: bytes.length });
    expect(got).toEqual(frames.map((f) => f.tsSec * 1000 + f.data.length));
    expect(progress.at(-1)).toBe(bytes.length);
    expect(progress.length).toBe(Math.ceil(bytes.length / 777));
  });

  it('delivers frames before a corrupt record, then throws with the file name', async () => {
    const bytes = encodePcapng([{ linkType: 1 }], [
      { interfaceId: 0, tsSec: 1, data: d1 },
      { interfaceId: 0, tsSec: 2, data: d1 },
    ]);
    bytes[bytes.length - 1] = 0x7f;
    const path = join(dir, 'bad.pcapng');
    await writeFile(path, bytes);
    const got: number[] = [];
    const err = await readCaptureFile(path, (f) => got.push(f.tsSec), { chunkSize: 16 }).catch((e: unknown) => e);
    expect(got).toEqual([1]);
    expect(err).toBeInstanceOf(CaptureError);
    expect(err).toMatchObject({ code: 'CAPTURE_CORRUPT', file: path, offset: 48 + 40 });
    expect((err as Error).message).toContain(path);
  });

  it('skips a multi-megabyte unknown block across many reads', async () => {
    const big = pcapngBlock(0x40000bad, new Uint8Array(3 * 1024 * 1024 + 5));
    const epb = (ts: number) => pcapngEnhancedPacket({ linkType: 1 }, { interfaceId: 0, tsSec: ts, data: d2 });
    const bytes = concatBytes([pcapngSectionHeader(), pcapngInterface({ linkType: 1 }), epb(1), big, epb(2)]);
    const path = join(dir, 'big.pcapng');
    await writeFile(path, bytes);
    const got: number[] = [];
    const r = await readCaptureFile(path, (f) => got.push(f.tsSec), { chunkSize: 65536 });
    expect(got).toEqual([1, 2]);
    expect(r).toEqual({ format: 'pcapng', frames: 2, bytes: bytes.length });
  });

  it('maps file system errors to CAPTURE_IO', async () => {
    await expect(readCaptureFile(join(dir, 'missing.pcap'), () => {})).rejects.toMatchObject({ code: 'CAPTURE_IO' });
    await expect(readCaptureFile(dir, () => {})).rejects.toMatchObject({ code: 'CAPTURE_IO' });
  });

  it('reports a truncated file', async () => {
    const path = join(dir, 'short.pcap');
    const bytes = encodePcap([{ tsSec: 1, data: d2 }]);
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    await expect(readCaptureFile(path, () => {})).rejects.toMatchObject({ code: 'CAPTURE_TRUNCATED', offset: 24 });
  });
});
