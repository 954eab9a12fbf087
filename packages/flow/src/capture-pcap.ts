import { rd32 } from './capture-bytes.js';
import { CaptureError } from './capture-error.js';
import { MAX_CAPLEN, SNAPLEN_SLACK, type FormatReader, type FrameSink } from './capture-frame.js';

/** Magic numbers as read little-endian from the first four bytes of a classic pcap file. */
export const PCAP_MAGIC_LE_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_BE_USEC = 0xd4c3b2a1;
export const PCAP_MAGIC_LE_NSEC = 0xa1b23c4d;
export const PCAP_MAGIC_BE_NSEC = 0x4d3cb2a1;
/** Alexey Kuznetzov's patched libpcap: 8 extra bytes per record header (ifindex, protocol, pkt_type). */
export const PCAP_MAGIC_LE_KUZNETZOV = 0xa1b2cd34;
export const PCAP_MAGIC_BE_KUZNETZOV = 0x34cdb2a1;

const FILE_HEADER = 24;

export function isPcapMagic(m: number): boolean {
  return (
    m === PCAP_MAGIC_LE_USEC ||
    m === PCAP_MAGIC_BE_USEC ||
    m === PCAP_MAGIC_LE_NSEC ||
    m === PCAP_MAGIC_BE_NSEC ||
    m === PCAP_MAGIC_LE_KUZNETZOV ||
    m === PCAP_MAGIC_BE_KUZNETZOV
  );
}

/** Classic libpcap format: a 24-byte file header, then (16-byte header + data) records. */
export class PcapReader implements FormatReader {
  readonly format = 'pcap' as const;
  readonly openBlockOffset = -1;
  needed = 0;
  private headerDone = false;
  private le = true;
  private nsec = false;
  private recordHeader = 16;
  private linkType = 0;
  private maxCaplen = MAX_CAPLEN;

  constructor(
    private readonly sink: FrameSink,
    private readonly source: string | undefined,
  ) {}

  step(b: Uint8Array, off: number, avail: number, fileOffset: number): number {
    if (!this.headerDone) return this.fileHeader(b, off, avail, fileOffset);
    const hdr = this.recordHeader;
    if (avail < hdr) {
      this.needed = hdr;
      return 0;
    }
    const le = this.le;
    const caplen = rd32(b, off + 8, le);
    if (caplen > this.maxCaplen) {
      throw new CaptureError(
        'CAPTURE_CORRUPT',
        `pcap record captured length ${caplen} exceeds the limit ${this.maxCaplen}`,
        fileOffset,
        this.source,
      );
    }
    const total = hdr + caplen;
    if (avail < total) {
      this.needed = total;
      return 0;
    }
    let sec = rd32(b, off, le);
    let ns = rd32(b, off + 4, le);
    if (!this.nsec) ns *= 1000;
    // Writers occasionally emit a sub-second field >= 1 s; carry it rather than fail.
    if (ns >= 1e9) {
      sec += Math.floor(ns / 1e9);
      ns %= 1e9;
    }
    this.sink.emit(this.linkType, sec, ns, b, off + hdr, caplen, rd32(b, off + 12, le), fileOffset, 0);
    return total;
  }

  private fileHeader(b: Uint8Array, off: number, avail: number, fileOffset: number): number {
    if (avail < FILE_HEADER) {
      this.needed = FILE_HEADER;
      return 0;
    }
    const magic = rd32(b, off, true);
    switch (magic) {
      case PCAP_MAGIC_LE_USEC:
        break;
      case PCAP_MAGIC_BE_USEC:
        this.le = false;
        break;
      case PCAP_MAGIC_LE_NSEC:
        this.nsec = true;
        break;
      case PCAP_MAGIC_BE_NSEC:
        this.le = false;
        this.nsec = true;
        break;
      case PCAP_MAGIC_LE_KUZNETZOV:
        this.recordHeader = 24;
        break;
      case PCAP_MAGIC_BE_KUZNETZOV:
        this.le = false;
        this.recordHeader = 24;
        break;
      default:
        throw new CaptureError('CAPTURE_BAD_MAGIC', `bad pcap magic 0x${magic.toString(16)}`, fileOffset, this.source);
    }
    const snaplen = rd32(b, off + 16, this.le);
    // Upper bits of the link-type word carry FCS information (libpcap LT_LINKTYPE).
    this.linkType = rd32(b, off + 20, this.le) & 0x03ffffff;
    if (snaplen > 0 && snaplen + SNAPLEN_SLACK < MAX_CAPLEN) this.maxCaplen = snaplen + SNAPLEN_SLACK;
    this.headerDone = true;
    return FILE_HEADER;
  }
}
