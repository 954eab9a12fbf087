import { basename } from 'node:path';
import type { FlowRecord, PatternSet } from '@l7mesh/engine';
import { CaptureError, readCaptureFile, type CaptureFormat } from '@l7mesh/flow';
import type { EdgeConfig } from './config.js';
import { EdgeCore, type EdgeFlow } from './core.js';
import { CustomerSide } from './customerSide.js';
import { MarkPolicy } from './markPolicy.js';
import { EdgeRecords, type EdgeRecordsCounters } from './records.js';
import { connectRemoteEdge, type RemoteEdge } from './remote.js';
import { edgeStats, type EdgeStats } from './stats.js';

/** Packets per replay batch: what one NFQUEUE callback typically hands over. */
export const REPLAY_BATCH = 256;
/** Bytes read at a time in a paced replay: the pace is kept per read. */
const PACED_CHUNK = 2048;

/** A flow record of the replay, with the mark the edge would have set. */
export interface ReplayRecord extends FlowRecord {
  mark?: string;
  mark_state?: EdgeFlow['state'];
}

export interface ReplayResult {
  file: string;
  /** Undefined when the file could not be read as a capture at all. */
  format: CaptureFormat | undefined;
  frames: number;
  stats: EdgeStats;
  /** The read error that ended the capture early (its flows read before were reported). */
  error?: CaptureError;
  /** Remote mode with records: the flow records and accounting deltas this capture's replay reported. */
  records?: EdgeRecordsCounters;
}

export interface ReplayOptions {
  /** Every flow as it leaves the edge's table (in remote mode: once its verdict came), with its capture. */
  onFlow?: (record: ReplayRecord, capture: string) => void;
  /** Told of every verdict as the edge gets it (in remote mode, as it arrives from a worker). */
  onDecision?: (flow: EdgeFlow) => void;
  batchSize?: number;
  /** Remote mode: wait this long (ms) after joining the cluster before the first packet. */
  startDelayMs?: number;
  /**
   * Replay at this multiple of the capture's own pace (1: as recorded),
   * like tcpreplay; default: as fast as possible. Each capture starts at
   * once after the one before.
   */
  speed?: number;
  /** Remote mode: progress and warnings (default: stderr). */
  log?: (line: string) => void;
}

/**
 * Replay mode: the packets of a capture through the same EdgeCore as NFQUEUE
 * batches (decode, classify, one flush per batch, verdict marks), with no
 * verdicts to send and no conntrack to update. Flows are reported as they
 * leave the table; a read error (CaptureError) is thrown after the flows read
 * before it were reported. With `cluster` in the config the edge is in
 * remote mode (see replayCaptures).
 */
export async function replayCapture(file: string, config: EdgeConfig, set: PatternSet, options: ReplayOptions = {}): Promise<ReplayResult> {
  const [result] = await replayCaptures([file], config, set, options);
  if (result!.error) throw result!.error;
  return result!;
}

/**
 * Replays captures one after another, each with its own flow table. In
 * remote mode they share one cluster link, and each capture is its own
 * zone (the config's zone plus the capture's index): captures made apart may
 * reuse addresses and ports, and two edges replaying the two directions of
 * the same capture list must agree on it. Segments go to the cluster's
 * workers as the packets are read; the replay ends once every flow of every
 * capture has its verdict (or timed out), and only then are the stats read.
 * A capture's read error is in its result, after its flows were reported.
 */
export async function replayCaptures(files: readonly string[], config: EdgeConfig, set: PatternSet, options: ReplayOptions = {}): Promise<ReplayResult[]> {
  const startedAt = Date.now();
  if (options.speed !== undefined && !(options.speed > 0)) throw new RangeError(`replay speed must be above 0, got ${options.speed}`);
  const policy = new MarkPolicy(config.marks);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const remote: RemoteEdge | undefined = config.cluster ? await connectRemoteEdge(config.cluster, false, log, config.records) : undefined;
  const customer = new CustomerSide(config.accounting.customerNetworks);
  try {
    if (options.startDelayMs) await new Promise((r) => setTimeout(r, options.startDelayMs));
    const runs: { core: EdgeCore; records: EdgeRecords | undefined; result: Omit<ReplayResult, 'stats'> }[] = [];
    for (const [i, file] of files.entries()) {
      const zone = config.cluster ? config.cluster.zone + i : 0;
      // The edge sees every packet of a capture: its own counters are whole ('edge'), and the capture is the interface.
      // A flow another edge opened (the other direction of a split capture) is that edge's to count.
      const records = remote?.records
        ? new EdgeRecords({
            sink: remote.records,
            zone,
            iface: config.accounting.interface ?? basename(file),
            intervalSec: config.accounting.intervalSec,
            customer,
            counters: 'edge',
            joinedFlow: remote.joinedFlows(zone),
          })
        : undefined;
      const core = newReplayCore(file, config, set, options, policy, remote, zone, records);
      runs.push({ core, records, result: await replayInto(file, core, options, remote, records) });
    }
    if (remote) {
      remote.finishReplay();
      await remote.settled();
    }
    // Every flow has ended and has its verdict: the last interval of each capture.
    for (const run of runs) run.records?.finish();
    return runs.map(({ core, records, result }) => ({
      ...result,
      ...(records ? { records: { ...records.counters } } : {}),
      stats: edgeStats(core, { mode: 'replay', startedAt, config, ...(remote ? { cluster: remote.counters } : {}) }),
    }));
  } finally {
    await remote?.close();
  }
}

function newReplayCore(
  file: string,
  config: EdgeConfig,
  set: PatternSet,
  options: ReplayOptions,
  policy: MarkPolicy,
  remote: RemoteEdge | undefined,
  zone: number,
  records: EdgeRecords | undefined,
): EdgeCore {
  const onDecision = options.onDecision;
  const core = new EdgeCore({
    set,
    config,
    policy,
    ...(remote ? { pipeline: remote.pipeline(zone) } : {}),
    ...(records
      ? {
          onDecision: (flow: EdgeFlow) => {
            records.flowDecided(flow);
            onDecision?.(flow);
          },
        }
      : onDecision
        ? { onDecision }
        : {}),
    onFlowEnd: (record, st) => {
      records?.flowEnded(st);
      if (!options.onFlow) return;
      const r: ReplayRecord = { ...record };
      if (st?.mark !== undefined) r.mark = `0x${st.mark.toString(16)}`;
      if (st) r.mark_state = st.state;
      options.onFlow(r, file);
    },
  });
  remote?.attach(core);
  return core;
}

async function replayInto(file: string, core: EdgeCore, options: ReplayOptions, remote: RemoteEdge | undefined, records: EdgeRecords | undefined): Promise<Omit<ReplayResult, 'stats'>> {
  const batch = options.batchSize ?? REPLAY_BATCH;
  let inBatch = 0;
  let tsSec = 0;
  let tsNsec = 0;
  let frames = 0;
  const endBatch = (): void => {
    core.endBatch();
    inBatch = 0;
    remote?.advance(tsSec, tsNsec);
    // Accounting intervals follow the capture's clock.
    records?.advance(tsSec);
  };
  // Paced replay: small reads, and after each the wait until its last frame is due.
  const speed = options.speed;
  let firstTs: number | undefined;
  const startMs = Date.now();
  const pace = (): Promise<void> | undefined => {
    if (firstTs === undefined) return undefined;
    if (inBatch > 0) endBatch();
    const dueMs = startMs + ((tsSec + tsNsec / 1e9 - firstTs!) * 1000) / speed!;
    const wait = dueMs - Date.now();
    return wait > 0 ? new Promise((r) => setTimeout(r, wait)) : undefined;
  };
  try {
    const read = await readCaptureFile(
      file,
      (frame) => {
        frames++;
        core.ingestFrame(frame);
        tsSec = frame.tsSec;
        tsNsec = frame.tsNsec;
        firstTs ??= tsSec + tsNsec / 1e9;
        if (++inBatch === batch) endBatch();
      },
      speed ? { chunkSize: PACED_CHUNK, onProgress: pace } : {},
    );
    if (inBatch > 0) endBatch();
    return { file, format: read.format, frames: read.frames };
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    return { file, format: undefined, frames, error: err };
  } finally {
    core.finish();
  }
}
