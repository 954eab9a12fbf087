import { CaptureRecord, type CaptureFrame } from './capture-frame.js';
import { SharedPacket } from './decoder-packet.js';
import { Status, L3_IPV4, LayerState } from './decoder-state.js';
import { FragmentReassembler } from './defrag.js';
import { decodeTransport } from './ip-transport.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6, mayCarryTransport, walkIpv6Headers } from './ipv6.js';
import { locateNetworkLayer } from './link.js';
import { IPPROTO_TCP, IPPROTO_UDP } from './packet.js';

export { LinkType } from './link.js';
export { SharedPacket } from './decoder-packet.js';

/**
 * Counters since construction. Every decode call counts in `frames` and in
 * exactly one of decoded, notIp, notTcpUdp, malformed, unsupportedLinkType,
 * except a fragment held for reassembly, which counts only in `fragments`.
 * `fragments` counts every fragment seen, `reassembled` the datagrams they
 * completed, `fragmentsDropped` the fragments discarded by timeout, eviction
 * or inconsistent lengths.
 */
export interface DecodeStats {
  frames: number;
  decoded: number;
  notIp: number;
  notTcpUdp: number;
  malformed: number;
  fragments: number;
  reassembled: number;
  fragmentsDropped: number;
  unsupportedLinkType: number;
}

export interface PacketDecoderOptions {
  /** Datagrams reassembled concurrently; the oldest is evicted beyond this (default 1024, 0 disables reassembly). */
  maxFragmentQueues?: number;
  /** Seconds of capture time a datagram may wait for its fragments (default 30, like Linux ipfrag_time). */
  fragmentTimeoutSec?: number;
}

/** IPv4 total length and IPv6 payload length are 16-bit: a reassembled datagram must fit. */
const MAX_DATAGRAM = 65535;

/**
 * Decodes link-layer frames down to TCP/UDP. Every call fills and returns the
 * same SharedPacket (addresses copied into reused arrays, payload view created
 * only if read), so the hot path does not allocate. Use decodeFrame() for
 * CaptureParser frames: it reads the capture chunk directly. Never throws on
 * bad bytes: failures return null, are counted in stats, and set lastError.
 */
export class PacketDecoder {
  readonly stats: DecodeStats = {
    frames: 0,
    decoded: 0,
    notIp: 0,
    notTcpUdp: 0,
    malformed: 0,
    fragments: 0,
    reassembled: 0,
    fragmentsDropped: 0,
    unsupportedLinkType: 0,
  };
  private readonly st = new LayerState();
  private readonly reasm: FragmentReassembler;
  private readonly src4 = new Uint8Array(4);
  private readonly dst4 = new Uint8Array(4);
  private readonly src16 = new Uint8Array(16);
  private readonly dst16 = new Uint8Array(16);
  private readonly pkt: SharedPacket;
  private failed = false;

  constructor(options: PacketDecoderOptions = {}) {
    const maxQueues = options.maxFragmentQueues ?? 1024;
    const timeout = options.fragmentTimeoutSec ?? 30;
    if (!Number.isInteger(maxQueues) || maxQueues < 0) throw new RangeError(`maxFragmentQueues must be an integer >= 0, got ${maxQueues}`);
    if (!(timeout > 0)) throw new RangeError(`fragmentTimeoutSec must be > 0, got ${timeout}`);
    this.reasm = new FragmentReassembler(maxQueues, timeout, this.stats);
    this.pkt = new SharedPacket(this.src4, this.dst4);
  }

  /** Why the most recent null was returned (e.g. 'ipv4: total length 60 > captured 54'). */
  get lastError(): string | undefined {
    return this.failed ? this.st.message() : undefined;
  }

  /** Datagrams currently awaiting more fragments. */
  get pendingFragmentQueues(): number {
    return this.reasm.pending;
  }

  /**
   * Decodes one frame. Returns the shared packet (valid until the next call),
   * or null when the frame is not a complete TCP/UDP packet (including a
   * fragment still waiting for the rest of its datagram).
   */
  decode(linkType: number, frame: Uint8Array, tsSec: number, tsNsec: number): SharedPacket | null {
    return this.decodeRange(linkType, frame, 0, frame.length, tsSec, tsNsec);
  }

  /** Decodes a CaptureParser frame without materialising its data view. */
  decodeFrame(f: CaptureFrame): SharedPacket | null {
    if (f instanceof CaptureRecord) return this.decodeRange(f.linkType, f.bytes, f.start, f.end, f.tsSec, f.tsNsec);
    return this.decodeRange(f.linkType, f.data, 0, f.data.length, f.tsSec, f.tsNsec);
  }

  /** Decodes the frame occupying buf[start, end). */
  decodeRange(linkType: number, buf: Uint8Array, start: number, end: number, tsSec: number, tsNsec: number): SharedPacket | null {
    this.stats.frames++;
    const st = this.st;
    if (start < 0 || end > buf.length || start > end) {
      return this.reject(st.fail(Status.MALFORMED, 'frame: range %a..%b outside the buffer', start, end));
    }
    let r = locateNetworkLayer(linkType, buf, start, end, st);
    if (r !== Status.OK) return this.reject(r);
    const now = tsSec + tsNsec * 1e-9;
    if (now >= this.reasm.nextDeadline) this.reasm.expire(now);
    const v4 = st.l3Kind === L3_IPV4;
    r = v4 ? decodeIpv4(buf, st.l3Offset, end, st) : decodeIpv6(buf, st.l3Offset, end, st);
    if (r === Status.FRAGMENT) return this.fragment(buf, v4, now, tsSec, tsNsec);
    if (r !== Status.OK) return this.reject(r);
    r = decodeTransport(buf, st.l4Offset, st.l4End, st.protocol, this.pkt, st);
    if (r !== Status.OK) return this.reject(r);
    return this.finish(buf, v4, st.ipLength, tsSec, tsNsec);
  }

  private fragment(frame: Uint8Array, v4: boolean, now: number, tsSec: number, tsNsec: number): SharedPacket | null {
    const st = this.st;
    this.stats.fragments++;
    // Fragments that cannot become TCP/UDP are not worth buffering.
    if (v4 ? st.protocol !== IPPROTO_TCP && st.protocol !== IPPROTO_UDP : !mayCarryTransport(st.fragNext)) {
      return this.reject(st.fail(Status.NOT_TCP_UDP, 'ip: fragment of protocol %a is not TCP/UDP', st.fragNext));
    }
    const len = st.l4End - st.l4Offset;
    if (st.fragMore && (len & 7) !== 0) {
      return this.reject(st.fail(Status.MALFORMED, 'ip: non-final fragment length %a is not a multiple of 8', len));
    }
    // IPv4 total length / IPv6 payload length must still fit 16 bits once reassembled.
    const limit = MAX_DATAGRAM - (v4 ? st.fragHeaderLength : st.fragHeaderLength - 40);
    if (st.fragOffset + len > limit) {
      return this.reject(st.fail(Status.MALFORMED, 'ip: fragment end %a exceeds %b', st.fragOffset + len, limit));
    }
    const data = this.reasm.add(
      this.fragmentKey(frame, v4),
      now,
      st.fragOffset,
      st.fragMore,
      frame,
      st.l4Offset,
      st.l4End,
      st.fragHeaderLength,
      st.fragNext,
    );
    if (data === null) {
      st.fail(Status.FRAGMENT, 'ip: fragment held for reassembly');
      this.failed = true;
      return null;
    }
    this.stats.reassembled++;
    const headerLength = this.reasm.headerLength;
    let r: Status = Status.OK;
    let l4 = 0;
    if (v4) st.protocol = this.reasm.nextHeader;
    else {
      r = walkIpv6Headers(data, 0, data.length, this.reasm.nextHeader, st, -1);
      l4 = st.l4Offset;
    }
    if (r === Status.OK) r = decodeTransport(data, l4, data.length, st.protocol, this.pkt, st);
    if (r !== Status.OK) return this.reject(r);
    return this.finish(frame, v4, headerLength + data.length, tsSec, tsNsec);
  }

  /** Reassembly key: (src, dst, id, protocol) for IPv4, (src, dst, id) for IPv6. Built only for fragments. */
  private fragmentKey(b: Uint8Array, v4: boolean): string {
    const o = this.st.l3Offset;
    if (v4) return `4 ${word(b, o + 12)} ${word(b, o + 16)} ${this.st.fragId} ${this.st.protocol}`;
    return `6 ${word(b, o + 8)} ${word(b, o + 12)} ${word(b, o + 16)} ${word(b, o + 20)} ${word(b, o + 24)} ${word(b, o + 28)} ${word(b, o + 32)} ${word(b, o + 36)} ${this.st.fragId}`;
  }

  private finish(frame: Uint8Array, v4: boolean, ipLength: number, tsSec: number, tsNsec: number): SharedPacket {
    const pkt = this.pkt;
    const o = this.st.l3Offset;
    if (v4) {
      const s = this.src4;
      const d = this.dst4;
      for (let i = 0; i < 4; i++) {
        s[i] = frame[o + 12 + i]!;
        d[i] = frame[o + 16 + i]!;
      }
      pkt.ipVersion = 4;
      pkt.srcAddr = s;
      pkt.dstAddr = d;
    } else {
      const s = this.src16;
      const d = this.dst16;
      for (let i = 0; i < 16; i++) {
        s[i] = frame[o + 8 + i]!;
        d[i] = frame[o + 24 + i]!;
      }
      pkt.ipVersion = 6;
      pkt.srcAddr = s;
      pkt.dstAddr = d;
    }
    pkt.tsSec = tsSec;
    pkt.tsNsec = tsNsec;
    pkt.ipLength = ipLength;
    this.stats.decoded++;
    return pkt;
  }

  private reject(r: Status): null {
    const s = this.stats;
    if (r === Status.MALFORMED) s.malformed++;
    else if (r === Status.NOT_IP) s.notIp++;
    else if (r === Status.NOT_TCP_UDP) s.notTcpUdp++;
    else if (r === Status.UNSUPPORTED_LINK) s.unsupportedLinkType++;
    this.failed = true;
    return null;
  }
}

function word(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
