import { CaptureError, formatIpAddress, IPPROTO_TCP, PacketDecoder, readCaptureFile, type DecodedPacket } from '@l7mesh/flow';
import { FlowClassifier } from './classifier.js';
import { classifyCapture } from './classifyCapture.js';
import type { FlowRecord } from './flowRecord.js';
import type { HeadScanner } from './headScanner.js';
import type { LabCapture } from './labCaptures.js';
import type { PatternSet } from './patternSet.js';

/** l7-filter's limits, as `classify` takes them; defaults are l7-filter's. */
export interface ClassifierLimits {
  maxPackets?: number;
  maxDataLen?: number;
}

/**
 * A capture read once for what the classifier does not report: when each
 * connection carried payload. Times are seconds rounded to microseconds, as
 * FlowRecord's first_ts/last_ts are, keyed by the undirected 5-tuple.
 */
export interface PreparedCapture {
  capture: LabCapture;
  payloadTimes: Map<string, number[]>;
  /**
   * The decoded packets, copied: the overmatch matrix replays each capture
   * once per pattern, and reading and decoding the file every time would
   * cost far more than classifying its few flows.
   */
  packets: DecodedPacket[];
  /** Set when the capture is truncated or corrupt; the flows before the damage still count. */
  readError?: string;
}

const seconds = (sec: number, nsec: number) => Math.round((sec + nsec / 1e9) * 1e6) / 1e6;

function tupleKey(proto: string, a: string, aPort: number, b: string, bPort: number): string {
  const x = `${a}#${aPort}`;
  const y = `${b}#${bPort}`;
  return x < y ? `${proto} ${x} ${y}` : `${proto} ${y} ${x}`;
}

/** The decoder reuses one packet whose payload is a getter over a shared buffer: copy field by field. */
function copyPacket(p: DecodedPacket): DecodedPacket {
  const payload = p.payload.slice();
  return {
    tsSec: p.tsSec,
    tsNsec: p.tsNsec,
    ipVersion: p.ipVersion,
    protocol: p.protocol,
    srcAddr: p.srcAddr.slice(),
    dstAddr: p.dstAddr.slice(),
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    tcpFlags: p.tcpFlags,
    tcpSeq: p.tcpSeq,
    tcpAck: p.tcpAck,
    ipLength: p.ipLength,
    payload,
    payloadLength: payload.length,
  };
}

export async function prepareCapture(capture: LabCapture): Promise<PreparedCapture> {
  const payloadTimes = new Map<string, number[]>();
  const decoder = new PacketDecoder();
  const packets: DecodedPacket[] = [];
  const prepared: PreparedCapture = { capture, payloadTimes, packets };
  try {
    await readCaptureFile(capture.file, (frame) => {
      const p = decoder.decodeFrame(frame);
      if (!p) return;
      packets.push(copyPacket(p));
      if (p.payloadLength === 0) return;
      const proto = p.protocol === IPPROTO_TCP ? 'tcp' : 'udp';
      const key = tupleKey(proto, formatIpAddress(p.srcAddr), p.srcPort, formatIpAddress(p.dstAddr), p.dstPort);
      let times = payloadTimes.get(key);
      if (!times) payloadTimes.set(key, (times = []));
      times.push(seconds(p.tsSec, p.tsNsec));
    });
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    prepared.readError = err.message;
  }
  return prepared;
}

/**
 * True when the flow carried payload. A tuple can be reused by a later
 * connection (a new SYN after FIN), so the payload must fall within the
 * flow's own lifetime.
 */
export function carriesPayload(prepared: PreparedCapture, r: FlowRecord): boolean {
  const times = prepared.payloadTimes.get(tupleKey(r.proto, r.src, r.sport, r.dst, r.dport));
  return times !== undefined && times.some((t) => t >= r.first_ts && t <= r.last_ts);
}

export interface ClaimedFlows {
  /** Every flow of the capture. */
  records: FlowRecord[];
  /**
   * The flows the capture claims for its protocol: every flow that carried
   * payload. The lab records one protocol per capture, so there is no
   * incidental traffic to leave out; flows without payload (a refused
   * connection, an empty FTP data connection) give the classifier nothing
   * to judge and prove nothing either way.
   */
  claimed: FlowRecord[];
}

/** Classifies a capture through the real path (classifyCapture, both directions) and picks its claimed flows. */
export async function classifyClaimedFlows(prepared: PreparedCapture, set: PatternSet, limits: ClassifierLimits = {}): Promise<ClaimedFlows> {
  const records: FlowRecord[] = [];
  try {
    await classifyCapture(prepared.capture.file, set, { ...limits, engine: 'hyperscan', onFlow: (r) => records.push(r) });
  } catch (err) {
    // Already recorded by prepareCapture; the flows read before the damage still count.
    if (!(err instanceof CaptureError)) throw err;
  }
  return { records, claimed: records.filter((r) => carriesPayload(prepared, r)) };
}

/**
 * The same classifier over the capture's packets kept in memory, for the
 * many runs of the overmatch matrix. The scanner is shared between runs:
 * every flow releases its scan state when it leaves the table.
 */
export function replayClaimedFlows(prepared: PreparedCapture, set: PatternSet, scanner: HeadScanner, limits: ClassifierLimits = {}): ClaimedFlows {
  const records: FlowRecord[] = [];
  const classifier = new FlowClassifier(set, scanner, { ...limits, onFlow: (r) => records.push(r) });
  for (const p of prepared.packets) classifier.process(p);
  classifier.finish();
  return { records, claimed: records.filter((r) => carriesPayload(prepared, r)) };
}
