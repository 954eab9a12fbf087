import { open, type FileHandle } from 'node:fs/promises';
import { CaptureError } from './capture-error.js';
import type { CaptureFormat, CaptureFrame } from './capture-frame.js';
import { CaptureParser } from './capture-parser.js';

export interface ReadCaptureOptions {
  /** Bytes per read (default 4 MiB); memory use is about this plus one record. */
  chunkSize?: number;
  /** Called after every chunk. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
}

export interface ReadCaptureResult {
  format: CaptureFormat;
  frames: number;
  bytes: number;
}

const DEFAULT_CHUNK = 4 * 1024 * 1024;

function ioError(path: string, action: string, offset: number, cause: unknown): CaptureError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new CaptureError('CAPTURE_IO', `cannot ${action}: ${why}`, offset, path, { cause });
}

/**
 * Streams a capture file through CaptureParser in bounded memory (one reusable
 * read buffer), so multi-gigabyte captures work. Frames before an error are
 * delivered before the CaptureError is thrown. onFrame's frame object and data
 * view are reused: copy what you keep.
 */
export async function readCaptureFile(
  path: string,
  onFrame: (frame: CaptureFrame) => void,
  options: ReadCaptureOptions = {},
): Promise<ReadCaptureResult> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(path, 'open', 0, e);
  }
  try {
    let total: number;
    try {
      total = (await fh.stat()).size;
    } catch (e) {
      throw ioError(path, 'stat', 0, e);
    }
    // The parser copies any partial record it keeps, so one buffer serves every read.
    const buf = new Uint8Array(chunkSize);
    const parser = new CaptureParser(onFrame, path);
    let read = 0;
    for (;;) {
      let n: number;
      try {
        n = (await fh.read(buf, 0, chunkSize, read)).bytesRead;
      } catch (e) {
        throw ioError(path, 'read', read, e);
      }
      if (n === 0) break;
      parser.push(buf.subarray(0, n));
      read += n;
      options.onProgress?.(read, Math.max(total, read));
    }
    parser.end();
    return { format: parser.format!, frames: parser.frames, bytes: read };
  } finally {
    await fh.close().catch(() => undefined);
  }
}
