import type { FlowRecord, PatternSet } from '@l7mesh/engine';
import { readCaptureFile, type CaptureFormat } from '@l7mesh/flow';
import type { EdgeConfig } from './config.js';
import { EdgeCore, type EdgeFlow } from './core.js';
import { MarkPolicy } from './markPolicy.js';
import { edgeStats, type EdgeStats } from './stats.js';

/** Packets per replay batch: what one NFQUEUE callback typically hands over. */
export const REPLAY_BATCH = 256;

/** A flow record of the replay, with the mark the edge would have set. */
export interface ReplayRecord extends FlowRecord {
  mark?: string;
  mark_state?: EdgeFlow['state'];
}

export interface ReplayResult {
  file: string;
  format: CaptureFormat;
  frames: number;
  stats: EdgeStats;
}

export interface ReplayOptions {
  onFlow?: (record: ReplayRecord) => void;
  batchSize?: number;
}

/**
 * Replay mode: the packets of a capture through the same EdgeCore as NFQUEUE
 * batches (decode, classify, one flush per batch, verdict marks), with no
 * verdicts to send and no conntrack to update. Flows are reported as they
 * leave the table; a read error (CaptureError) is thrown after the flows read
 * before it were reported.
 */
export async function replayCapture(file: string, config: EdgeConfig, set: PatternSet, options: ReplayOptions = {}): Promise<ReplayResult> {
  const startedAt = Date.now();
  const policy = new MarkPolicy(config.marks);
  const core = new EdgeCore({
    set,
    config,
    policy,
    onFlowEnd: (record, st) => {
      if (!options.onFlow) return;
      const r: ReplayRecord = { ...record };
      if (st?.mark !== undefined) r.mark = `0x${st.mark.toString(16)}`;
      if (st) r.mark_state = st.state;
      options.onFlow(r);
    },
  });
  const batch = options.batchSize ?? REPLAY_BATCH;
  let inBatch = 0;
  try {
    const read = await readCaptureFile(file, (frame) => {
      core.ingestFrame(frame);
      if (++inBatch === batch) {
        core.endBatch();
        inBatch = 0;
      }
    });
    core.finish();
    return { file, format: read.format, frames: read.frames, stats: edgeStats(core, { mode: 'replay', startedAt, config }) };
  } finally {
    core.finish();
  }
}
