import { PacketDecoder, readCaptureFile, type DecodeStats } from '@l7mesh/flow';
import { FlowClassifier, type ClassifierOptions } from './classifier.js';
import type { HeadScanner } from './headScanner.js';
import { HyperscanHeadScanner } from './hyperscanScanner.js';
import type { PatternSet } from './patternSet.js';
import { ReferenceHeadScanner } from './referenceScanner.js';

export type EngineKind = 'hyperscan' | 'reference';

export function createHeadScanner(kind: EngineKind, set: PatternSet, maxDataLen?: number): HeadScanner & { close?(): void } {
  return kind === 'hyperscan' ? new HyperscanHeadScanner(set) : new ReferenceHeadScanner(set, maxDataLen);
}

export interface ClassifyCaptureOptions extends ClassifierOptions {
  engine?: EngineKind;
  /**
   * Called after every chunk of the file with the bytes and frames read so
   * far. When it returns a promise, reading waits for it (back-pressure).
   */
  onProgress?: (bytesRead: number, totalBytes: number, frames: number) => void | Promise<void>;
}

export interface CaptureSummary {
  file: string;
  format: 'pcap' | 'pcapng';
  frames: number;
  /** TCP/UDP packets that reached the classifier. */
  packets: number;
  decode: DecodeStats;
}

/**
 * Classifies one capture file in one process: read -> decode -> classify.
 * Every flow is reported through `onFlow`, including those collected before a
 * read error, which is then rethrown (a CaptureError naming the byte offset).
 */
export async function classifyCapture(file: string, set: PatternSet, options: ClassifyCaptureOptions): Promise<CaptureSummary> {
  const scanner = createHeadScanner(options.engine ?? 'hyperscan', set, options.maxDataLen);
  const classifier = new FlowClassifier(set, scanner, options);
  const decoder = new PacketDecoder();
  const onProgress = options.onProgress;
  try {
    const read = await readCaptureFile(
      file,
      (frame) => {
        const packet = decoder.decodeFrame(frame);
        if (packet) classifier.process(packet);
      },
      { onProgress: onProgress && ((read, total) => onProgress(read, total, decoder.stats.frames)) },
    );
    return { file, format: read.format, frames: read.frames, packets: classifier.packets, decode: decoder.stats };
  } finally {
    classifier.finish();
    scanner.close?.();
  }
}
