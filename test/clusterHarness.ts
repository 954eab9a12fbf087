/**
 * The cluster's classification path in one process, without NATS: edges
 * (the edge's RemoteClassifier, as in remote mode) turn a capture's packets
 * into head segments, batched per partition as the ClusterLink batches
 * them; a MergingClassifier (the worker's core) merges and classifies
 * them; its verdicts go back to the edges. The tests deliver the batches in
 * whatever order they want to prove.
 */
import { MergingClassifier, type CachedVerdict } from '@l7mesh/classifier';
import { RemoteClassifier } from '@l7mesh/edge';
import type { FlowRecord, PatternSet } from '@l7mesh/engine';
import { PacketDecoder, readCaptureFile, type DecodedPacket } from '@l7mesh/flow';
import { partitionOf, type HeadBatch, type HeadSegment } from '@l7mesh/wire';

export const PARTITIONS = 64;

/** A fake wall clock both sides share. */
export class FakeClock {
  ms = 1_000_000;
  now = (): number => this.ms;
}

/** Which packets an edge sees: all, or one direction of every flow (the originator's, or the responder's). */
export type EdgeView = 'both' | 'orig' | 'reply';

export interface SimEdge {
  id: string;
  remote: RemoteClassifier;
  /** Batches in the order the edge published them. */
  batches: HeadBatch[];
  records: FlowRecord[];
  /** Publishes what the edge's remote classifier sent since the last batch. */
  flush(): void;
}

/** Packets of a capture, copied out of the decoder, with who opened each flow. */
export async function capturePackets(file: string): Promise<{ p: DecodedPacket; fromOrig: boolean }[]> {
  const decoder = new PacketDecoder();
  const opener = new Map<string, string>();
  const out: { p: DecodedPacket; fromOrig: boolean }[] = [];
  await readCaptureFile(file, (frame) => {
    const p = decoder.decodeFrame(frame);
    if (!p) return;
    const src = `${p.protocol}|${p.srcAddr.join('.')}|${p.srcPort}`;
    const dst = `${p.protocol}|${p.dstAddr.join('.')}|${p.dstPort}`;
    const pair = src < dst ? `${src}>${dst}` : `${dst}>${src}`;
    if (!opener.has(pair)) opener.set(pair, src);
    out.push({ p: { ...p, srcAddr: p.srcAddr.slice(), dstAddr: p.dstAddr.slice(), payload: p.payload.slice(), payloadLength: p.payloadLength }, fromOrig: opener.get(pair) === src });
  });
  return out;
}

/**
 * Runs one edge over the packets it sees, collecting its segments in
 * batches of at most `batchSize` packets' worth (one batch per partition
 * touched, as the link flushes them), each with the edge's watermark.
 */
export function runEdge(id: string, packets: { p: DecodedPacket; fromOrig: boolean }[], view: EdgeView, clock: FakeClock, batchSize = 16): SimEdge {
  const pending = new Map<number, HeadSegment[]>();
  const edge: SimEdge = { id, remote: undefined as unknown as RemoteClassifier, batches: [], records: [], flush: () => undefined };
  let seq = 0;
  let wmSec = 0;
  let wmNsec = 0;
  const flush = () => {
    for (const [partition, segments] of pending) edge.batches.push({ edge: id, partition, batchSeq: ++seq, watermarkSec: wmSec, watermarkNsec: wmNsec, segments });
    pending.clear();
  };
  edge.flush = flush;
  const send = (s: HeadSegment) => {
    const p = partitionOf(s.zone, s.key, PARTITIONS);
    let list = pending.get(p);
    if (!list) pending.set(p, (list = []));
    list.push({ ...s });
  };
  edge.remote = new RemoteClassifier({
    zone: 7,
    resendMs: 2_000,
    verdictTimeoutMs: 60_000,
    now: clock.now,
    sink: {
      send: (s) => send(s),
      sendTogether: (segments) => segments.forEach(send),
    },
    onFlow: (r) => edge.records.push(r),
  });
  let n = 0;
  for (const { p, fromOrig } of packets) {
    if (view === 'orig' && !fromOrig) continue;
    if (view === 'reply' && fromOrig) continue;
    edge.remote.process(p);
    wmSec = p.tsSec;
    wmNsec = p.tsNsec;
    if (++n % batchSize === 0) flush();
  }
  flush();
  return edge;
}

/** The edge's re-sends after `ms` without verdicts: the batches they make. */
export function resendAfter(edge: SimEdge, clock: FakeClock, ms: number): HeadBatch[] {
  clock.ms += ms;
  const before = edge.batches.length;
  edge.remote.tick();
  edge.flush();
  return edge.batches.slice(before);
}

/** What the verdict cache (a KV bucket) holds, shared by the workers of a test. */
export type VerdictCache = Map<string, CachedVerdict>;

export function newWorker(set: PatternSet, clock: FakeClock, edges: SimEdge[], cache: VerdictCache = new Map()): MergingClassifier {
  const byId = new Map(edges.map((e) => [e.id, e]));
  return new MergingClassifier({
    set,
    ruleSetVersion: 1,
    epoch: () => 1,
    now: clock.now,
    onVerdict: (edge, v) => byId.get(edge)!.remote.applyVerdict(v),
    onDecided: (zone, key, v) => cache.set(`${zone}/${key}`, v),
    lookupCache: (zone, key) => Promise.resolve(cache.get(`${zone}/${key}`)),
  });
}

/** Lets pending cache look-ups settle. */
export async function settleLookups(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** A flow's identity across views: protocol and both endpoints, in sorted order, with its start. */
export function flowIdentity(r: Pick<FlowRecord, 'proto' | 'src' | 'sport' | 'dst' | 'dport'>): string {
  const a = `${r.src}:${r.sport}`;
  const b = `${r.dst}:${r.dport}`;
  return `${r.proto} ${a < b ? `${a} ${b}` : `${b} ${a}`}`;
}

/** Verdicts by flow identity (a reused tuple lists its verdicts in order). */
export function verdictsOf(records: readonly FlowRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of [...records].sort((x, y) => x.first_ts - y.first_ts)) {
    const id = flowIdentity(r);
    out.set(id, [...(out.get(id) ?? []), r.l7]);
  }
  return out;
}
