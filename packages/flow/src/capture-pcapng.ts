import { pad4, rd16, rd32 } from './capture-bytes.js';
import { CaptureError } from './capture-error.js';
import { MAX_CAPLEN, SNAPLEN_SLACK, type FormatReader, type FrameSink } from './capture-frame.js';
import { TimestampUnits } from './capture-timestamp.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 1;
export const PCAPNG_PB = 2;
export const PCAPNG_SPB = 3;
export const PCAPNG_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

/** Option codes in an Interface Description Block. */
const OPT_END = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;

/**
 * Blocks we interpret are buffered whole; anything bigger than this is corrupt
 * (a packet block holds at most MAX_CAPLEN bytes plus modest options). Blocks of
 * other types are skipped by length, however large, without buffering.
 */
const MAX_PARSED_BLOCK = MAX_CAPLEN + 64 * 1024;

interface Interface {
  linkType: number;
  snaplen: number;
  ts: TimestampUnits;
}

/**
 * pcapng reader: sections (SHB) with their own byte order and interface table
 * (IDB), packets from EPB, SPB and the obsolete PB; other blocks are skipped.
 */
export class PcapngReader implements FormatReader {
  readonly format = 'pcapng' as const;
  needed = 0;
  openBlockOffset = -1;
  private le = true;
  private sections = 0;
  private interfaces: Interface[] = [];
  /** Total length a skipped block's trailer must repeat, or -1 when not inside a skipped block. */
  private trailerExpected = -1;

  constructor(
    private readonly sink: FrameSink,
    private readonly source: string | undefined,
  ) {}

  step(b: Uint8Array, off: number, avail: number, fileOffset: number): number {
    if (this.trailerExpected >= 0) return this.skippedTrailer(b, off, avail);
    if (avail < 8) {
      this.needed = 8;
      return 0;
    }
    // The SHB type reads the same in both byte orders; its body then fixes the order.
    const type = rd32(b, off, this.le);
    let le = this.le;
    if (type === PCAPNG_SHB) {
      if (avail < 12) {
        this.needed = 12;
        return 0;
      }
      const bom = rd32(b, off + 8, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (bom === BYTE_ORDER_MAGIC_SWAPPED) le = false;
      else {
        const code = this.sections === 0 ? 'CAPTURE_BAD_MAGIC' : 'CAPTURE_CORRUPT';
        throw this.error(code, `bad pcapng byte-order magic 0x${bom.toString(16)}`, fileOffset);
      }
    }
    const len = rd32(b, off + 4, le);
    if (len < 12 || (len & 3) !== 0) {
      throw this.error('CAPTURE_CORRUPT', `pcapng block length ${len} is not a multiple of 4 >= 12`, fileOffset);
    }
    const parsed =
      type === PCAPNG_SHB || type === PCAPNG_IDB || type === PCAPNG_EPB || type === PCAPNG_SPB || type === PCAPNG_PB;
    if (!parsed) return this.skipBlock(b, off, avail, len, fileOffset);
    if (len > MAX_PARSED_BLOCK) {
      throw this.error('CAPTURE_CORRUPT', `pcapng block type ${type} length ${len} exceeds ${MAX_PARSED_BLOCK}`, fileOffset);
    }
    if (avail < len) {
      this.needed = len;
      return 0;
    }
    const trailer = rd32(b, off + len - 4, le);
    if (trailer !== len) {
      throw this.error('CAPTURE_CORRUPT', `pcapng block length ${len} but trailing length ${trailer}`, fileOffset);
    }
    switch (type) {
      case PCAPNG_SHB:
        this.sectionHeader(len, le, fileOffset);
        break;
      case PCAPNG_IDB:
        this.interfaceDescription(b, off, len, fileOffset);
        break;
      case PCAPNG_EPB:
        this.packet(b, off, len, fileOffset, rd32(b, off + 8, le), 32);
        break;
      case PCAPNG_PB:
        this.packet(b, off, len, fileOffset, rd16(b, off + 8, le), 32);
        break;
      default:
        this.simplePacket(b, off, len, fileOffset);
    }
    return len;
  }

  private sectionHeader(len: number, le: boolean, fileOffset: number): void {
    if (len < 28) throw this.error('CAPTURE_CORRUPT', `pcapng section header length ${len} < 28`, fileOffset);
    // A new section restarts interface numbering and may switch byte order.
    this.le = le;
    this.interfaces = [];
    this.sections++;
  }

  private interfaceDescription(b: Uint8Array, off: number, len: number, fileOffset: number): void {
    const le = this.le;
    if (len < 20) throw this.error('CAPTURE_CORRUPT', `pcapng interface block length ${len} < 20`, fileOffset);
    let tsresol = 6;
    let tsoffset = 0;
    const end = off + len - 4;
    let p = off + 16;
    while (p + 4 <= end) {
      const code = rd16(b, p, le);
      const olen = rd16(b, p + 2, le);
      if (code === OPT_END) break;
      if (p + 4 + olen > end) {
        throw this.error('CAPTURE_CORRUPT', `pcapng interface option ${code} overruns its block`, fileOffset);
      }
      if (code === IF_TSRESOL && olen >= 1) tsresol = b[p + 4]!;
      else if (code === IF_TSOFFSET && olen === 8) {
        // Signed 64-bit seconds; the word order follows the section's byte order.
        const w0 = rd32(b, p + 4, le);
        const w1 = rd32(b, p + 8, le);
        tsoffset = le ? (w1 | 0) * 4294967296 + w0 : (w0 | 0) * 4294967296 + w1;
      }
      p += 4 + pad4(olen);
    }
    this.interfaces.push({
      linkType: rd16(b, off + 8, le),
      snaplen: rd32(b, off + 12, le),
      ts: new TimestampUnits(tsresol, tsoffset),
    });
  }

  /** EPB and obsolete PB share the layout after the interface id: ts high, ts low, caplen, origlen, data. */
  private packet(b: Uint8Array, off: number, len: number, fileOffset: number, ifid: number, minLen: number): void {
    const le = this.le;
    if (len < minLen) throw this.error('CAPTURE_CORRUPT', `pcapng packet block length ${len} < ${minLen}`, fileOffset);
    const itf = this.iface(ifid, fileOffset);
    const caplen = rd32(b, off + 20, le);
    this.checkCaplen(caplen, itf, fileOffset);
    if (28 + pad4(caplen) + 4 > len) {
      throw this.error('CAPTURE_CORRUPT', `pcapng packet captured length ${caplen} overruns block length ${len}`, fileOffset);
    }
    const ts = itf.ts;
    ts.convert(rd32(b, off + 12, le), rd32(b, off + 16, le));
    this.sink.emit(itf.linkType, ts.sec, ts.nsec, b, off + 28, caplen, rd32(b, off + 24, le), fileOffset, ifid);
  }

  /** SPB: interface 0, no timestamp; captured length is implied by the block length and snaplen. */
  private simplePacket(b: Uint8Array, off: number, len: number, fileOffset: number): void {
    if (len < 16) throw this.error('CAPTURE_CORRUPT', `pcapng simple packet block length ${len} < 16`, fileOffset);
    const itf = this.iface(0, fileOffset);
    const orig = rd32(b, off + 8, this.le);
    let caplen = Math.min(orig, len - 16);
    if (itf.snaplen > 0 && caplen > itf.snaplen) caplen = itf.snaplen;
    this.checkCaplen(caplen, itf, fileOffset);
    this.sink.emit(itf.linkType, 0, 0, b, off + 12, caplen, orig, fileOffset, 0);
  }

  private skipBlock(b: Uint8Array, off: number, avail: number, len: number, fileOffset: number): number {
    if (avail >= len) {
      const trailer = rd32(b, off + len - 4, this.le);
      if (trailer !== len) {
        throw this.error('CAPTURE_CORRUPT', `pcapng block length ${len} but trailing length ${trailer}`, fileOffset);
      }
      return len;
    }
    // Too big for this chunk: let the parser drop the body unbuffered, then check the trailer.
    this.trailerExpected = len;
    this.openBlockOffset = fileOffset;
    return len - 4;
  }

  private skippedTrailer(b: Uint8Array, off: number, avail: number): number {
    if (avail < 4) {
      this.needed = 4;
      return 0;
    }
    const trailer = rd32(b, off, this.le);
    if (trailer !== this.trailerExpected) {
      throw this.error(
        'CAPTURE_CORRUPT',
        `pcapng block length ${this.trailerExpected} but trailing length ${trailer}`,
        this.openBlockOffset,
      );
    }
    this.trailerExpected = -1;
    this.openBlockOffset = -1;
    return 4;
  }

  private iface(id: number, fileOffset: number): Interface {
    const itf = this.interfaces[id];
    if (itf === undefined) {
      throw this.error(
        'CAPTURE_CORRUPT',
        `pcapng packet refers to interface ${id} but the section declares ${this.interfaces.length}`,
        fileOffset,
      );
    }
    return itf;
  }

  private checkCaplen(caplen: number, itf: Interface, fileOffset: number): void {
    const limit = itf.snaplen > 0 && itf.snaplen + SNAPLEN_SLACK < MAX_CAPLEN ? itf.snaplen + SNAPLEN_SLACK : MAX_CAPLEN;
    if (caplen > limit) {
      throw this.error('CAPTURE_CORRUPT', `pcapng packet captured length ${caplen} exceeds the limit ${limit}`, fileOffset);
    }
  }

  private error(code: 'CAPTURE_BAD_MAGIC' | 'CAPTURE_CORRUPT', detail: string, offset: number): CaptureError {
    return new CaptureError(code, detail, offset, this.source);
  }
}
