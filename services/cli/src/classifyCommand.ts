import { statSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { classifyCapture, type EngineKind, type FlowRecord } from '@l7mesh/engine';
import { CaptureError } from '@l7mesh/flow';
import { formatFlowLine } from './flowListing.js';
import { loadPatternSet } from './patternSource.js';
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

/** Captures at least this large get a progress bar on a terminal. */
const PROGRESS_MIN_BYTES = 32 << 20;

function progressBar(file: string): { onProgress?: (read: number, total: number) => void; stop(): void } {
  if (!process.stderr.isTTY || statSync(file).size < PROGRESS_MIN_BYTES) return { stop() {} };
  const bar = new SingleBar({ format: `${file} [{bar}] {percentage}% {value}/{total} bytes`, stream: process.stderr });
  let started = false;
  return {
    onProgress(read, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(read);
    },
    stop: () => started && bar.stop(),
  };
}

/** `l7mesh classify`: returns the exit code (1 when a capture could not be read to its end). */
export async function runClassify(opts: ClassifyOptions): Promise<number> {
  const { set, problems } = loadPatternSet(opts.patterns, opts.order);
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  const summary = new ProtocolSummary();
  let exitCode = 0;
  for (const file of opts.pcap) {
    let flows = 0;
    const emit = (r: FlowRecord) => {
      flows++;
      summary.add(r);
      const out = opts.json ? JSON.stringify(opts.pcap.length > 1 ? { capture: file, ...r } : r) : formatFlowLine(r);
      process.stdout.write(`${out}\n`);
    };
    const progress = progressBar(file);
    try {
      const s = await classifyCapture(file, set, {
        engine: opts.engine,
        maxPackets: opts.maxPackets,
        maxDataLen: opts.maxBytes,
        onFlow: emit,
        onProgress: progress.onProgress,
      });
      progress.stop();
      const d = s.decode;
      process.stderr.write(`${file}: ${s.format}, ${s.frames} frames, ${s.packets} TCP/UDP packets; skipped: ${d.malformed} malformed, ${d.notIp} not IP, ${d.notTcpUdp} not TCP/UDP, ${d.unsupportedLinkType} unsupported link type\n`);
    } catch (err) {
      progress.stop();
      if (!(err instanceof CaptureError)) throw err;
      process.stderr.write(`error: ${err.message}${flows > 0 ? ` (the ${flows} flows read before it are reported)` : ''}\n`);
      exitCode = 1;
    }
  }
  process.stderr.write(`${summary.render()}\n`);
  return exitCode;
}
