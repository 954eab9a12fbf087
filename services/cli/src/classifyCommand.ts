import { classifyCapture, type EngineKind, type FlowRecord } from '@l7mesh/engine';
import { CaptureError } from '@l7mesh/flow';
import { flowJsonMaxBytes, writeFlowJson } from './flowJson.js';
import { formatFlowLine } from './flowListing.js';
import { blockingWrites, LineOutput } from './output.js';
import { loadPatternSet } from './patternSource.js';
import { captureProgress } from './progress.js';
import { ProtocolSummary } from './summary.js';

export interface ClassifyOptions {
  pcap: string[];
  patterns?: string[];
  order?: string[];
  maxPackets: number;
  maxBytes: number;
  json?: boolean;
  engine: EngineKind;
}

/** `l7mesh classify`: returns the exit code (1 when a capture could not be read to its end). */
export async function runClassify(opts: ClassifyOptions): Promise<number> {
  const { set, problems, notices } = loadPatternSet(opts.patterns, opts.order);
  for (const n of notices) process.stderr.write(`notice: ${n}\n`);
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  const summary = new ProtocolSummary();
  blockingWrites(process.stdout);
  const out = new LineOutput(process.stdout);
  // The summary is for captures that were read, if only in part: a missing file gets its error alone.
  let read = false;
  let exitCode = 0;
  for (const file of opts.pcap) {
    let flows = 0;
    const capture = opts.pcap.length > 1 ? file : undefined;
    const emit = (r: FlowRecord) => {
      flows++;
      summary.add(r);
      if (!opts.json) {
        out.line(formatFlowLine(r));
        return;
      }
      const at = out.reserve(flowJsonMaxBytes(r, capture)); // first: it may move to a new buffer
      const end = writeFlowJson(out.buffer, at, r, capture);
      if (end >= 0) out.endLine(end);
      else out.line(JSON.stringify(capture !== undefined ? { capture, ...r } : r));
    };
    const progress = captureProgress(file);
    try {
      const s = await classifyCapture(file, set, {
        engine: opts.engine,
        maxPackets: opts.maxPackets,
        maxDataLen: opts.maxBytes,
        onFlow: emit,
        onProgress: (bytes, total, frames) => {
          progress.onProgress?.(bytes, total, frames);
          return out.ready();
        },
      });
      progress.stop();
      await out.end();
      read = true;
      const d = s.decode;
      process.stderr.write(`${file}: ${s.format}, ${s.frames} frames, ${s.packets} TCP/UDP packets; skipped: ${d.malformed} malformed, ${d.notIp} not IP, ${d.notTcpUdp} not TCP/UDP, ${d.unsupportedLinkType} unsupported link type\n`);
    } catch (err) {
      progress.stop();
      await out.end();
      if (!(err instanceof CaptureError)) throw err;
      if (flows > 0) read = true;
      process.stderr.write(`error: ${err.message}${flows > 0 ? ` (the ${flows} flows read before it are reported)` : ''}\n`);
      exitCode = 1;
    }
  }
  if (read) process.stderr.write(`${summary.render()}\n`);
  return exitCode;
}
