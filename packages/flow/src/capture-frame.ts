/** Container formats the parser understands. */
export type CaptureFormat = 'pcap' | 'pcapng';

/**
 * One captured record. The parser reuses a single CaptureFrame object and
 * `data` is a view into its input (or carry) buffer, so both are valid only
 * during the onFrame callback: copy (`{ ...frame, data: frame.data.slice() }`)
 * what you keep.
 */
export interface CaptureFrame {
  /** LINKTYPE_* value of the interface that captured the record. */
  linkType: number;
  tsSec: number;
  tsNsec: number;
  /** Captured bytes (possibly fewer than originalLength when a snaplen applied). */
  data: Uint8Array;
  originalLength: number;
  /** Byte offset of the record (pcap record header / pcapng block) in the file. */
  fileOffset: number;
  /** pcapng interface id within the current section; 0 for pcap. */
  interfaceId: number;
}

/** Largest captured length accepted before calling a record corrupt (libpcap's MAXIMUM_SNAPLEN). */
export const MAX_CAPLEN = 256 * 1024;
/**
 * Captured lengths may exceed the declared snaplen a little in real captures
 * (snaplen set to the IP MTU, VLAN tags and FCS added, TSO super-frames), so only
 * a caplen beyond snaplen + this slack is treated as corruption.
 */
export const SNAPLEN_SLACK = 1024;

const EMPTY = new Uint8Array(0);

/**
 * The parser's reusable CaptureFrame. `data` is a prototype getter creating
 * its view on first read (a view costs 50-100 ns in V8), and
 * PacketDecoder.decodeFrame() reads `bytes[start, end)` without any view, so
 * the capture -> decode path allocates nothing per frame. Being an accessor,
 * `data` is not copied by `{ ...frame }`: copy it explicitly.
 */
export class CaptureRecord implements CaptureFrame {
  linkType = 0;
  tsSec = 0;
  tsNsec = 0;
  originalLength = 0;
  fileOffset = 0;
  interfaceId = 0;
  #bytes: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #view: Uint8Array | null = EMPTY;

  /** Captured bytes: a view valid only during the callback. */
  get data(): Uint8Array {
    if (this.#view === null) this.#view = this.#bytes.subarray(this.#start, this.#end);
    return this.#view;
  }

  set data(v: Uint8Array) {
    this.set(v, 0, v.length);
    this.#view = v;
  }

  /** The buffer holding the captured bytes at [start, end); valid only during the callback. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }
  get start(): number {
    return this.#start;
  }
  get end(): number {
    return this.#end;
  }

  set(bytes: Uint8Array, start: number, end: number): void {
    this.#bytes = bytes;
    this.#start = start;
    this.#end = end;
    this.#view = null;
  }
}

/** Fills the parser's one reusable frame and hands it to the consumer: no allocation per frame. */
export class FrameSink {
  readonly frame = new CaptureRecord();
  count = 0;

  constructor(private readonly onFrame: (frame: CaptureFrame) => void) {}

  emit(
    linkType: number,
    tsSec: number,
    tsNsec: number,
    buf: Uint8Array,
    start: number,
    caplen: number,
    originalLength: number,
    fileOffset: number,
    interfaceId: number,
  ): void {
    const f = this.frame;
    f.linkType = linkType;
    f.tsSec = tsSec;
    f.tsNsec = tsNsec;
    f.set(buf, start, start + caplen);
    f.originalLength = originalLength;
    f.fileOffset = fileOffset;
    f.interfaceId = interfaceId;
    this.count++;
    this.onFrame(f);
  }
}

/**
 * A container-format reader driven by CaptureParser. `step` consumes one unit
 * (header, record, block, or a block's trailer) starting at buf[off]:
 * - returns the bytes consumed; a value larger than `avail` asks the parser to
 *   skip the excess without buffering it (huge blocks we do not interpret);
 * - or returns 0 after setting `needed` (> avail) to the bytes it must see first.
 */
export interface FormatReader {
  readonly format: CaptureFormat;
  needed: number;
  step(buf: Uint8Array, off: number, avail: number, fileOffset: number): number;
  /** File offset of a block whose tail has not been seen yet, or -1. */
  readonly openBlockOffset: number;
}
