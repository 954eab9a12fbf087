import { open, type FileHandle } from 'node:fs/promises';
import { CaptureError } from './capture-error.js';
import type { CaptureFormat, CaptureFrame } from './capture-frame.js';
import { CaptureParser } from './capture-parser.js';

export interface ReadCaptureOptions {
  /** Bytes per read (default 4 MiB); memory use is about this plus one record. */
  chunkSize?: number;
  /**
   * Called after every chunk. When it returns a promise, parsing waits for
   * it (the next read is already under way): back-pressure, e.g. for output
   * that cannot keep up.
   */
  onProgress?: (bytesRead: number, totalBytes: number) => void | Promise<void>;
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
 * Streams a capture file through CaptureParser in bounded memory (two reusable
 * read buffers), so multi-gigabyte captures work. Frames before an error are
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
    // Two buffers: the next read runs while the parser works through the
    // current chunk, so the disk and the CPU overlap. The parser copies any
    // partial record it keeps, so a buffer can be refilled once parsed.
    const buffers = [new Uint8Array(chunkSize), new Uint8Array(chunkSize)];
    const parser = new CaptureParser(onFrame, path);
    const readAt = (buf: Uint8Array, offset: number) =>
      fh.read(buf, 0, chunkSize, offset).then(
        (r) => r.bytesRead,
        (e: unknown) => {
          throw ioError(path, 'read', offset, e);
        },
      );
    let read = 0;
    let which = 0;
    let pending = readAt(buffers[0]!, 0);
    for (;;) {
      const n = await pending;
      if (n === 0) break;
      const current = buffers[which]!;
      which ^= 1;
      pending = readAt(buffers[which]!, read + n);
      try {
        parser.push(current.subarray(0, n));
      } catch (e) {
        await pending.catch(() => undefined); // let the read in flight finish before closing
        throw e;
      }
      read += n;
      const wait = options.onProgress?.(read, Math.max(total, read));
      if (wait) {
        try {
          await wait;
        } catch (e) {
          await pending.catch(() => undefined);
          throw e;
        }
      }
    }
    parser.end();
    return { format: parser.format!, frames: parser.frames, bytes: read };
  } finally {
    await fh.close().catch(() => undefined);
  }
}
