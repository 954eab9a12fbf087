import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { createRequire } from 'node:module';

/** Captures at least this large get a progress bar on a terminal. */
export const PROGRESS_MIN_BYTES = 32 << 20;

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in binary units, as pv and curl show them: `512 B`, `16.0 MiB`, `483.7 MiB`, `1.25 GiB`. */
export function humanBytes(n: number): string {
  let unit = 0;
  while (n >= 1024 && unit < BYTE_UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(n)} B`;
  return `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A rate with an SI prefix: `950`, `12.3k`, `1.02M`. */
export function humanCount(n: number): string {
  if (n < 1000) return `${Math.round(n)}`;
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 2 : 1)}k`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)}M`;
}

/** Seconds as `m:ss`, or `h:mm:ss` from an hour on; `--:--` when unknown. */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const two = (v: number) => String(v).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

export interface ProgressSample {
  /** Bytes of the file read so far, and its size. */
  read: number;
  total: number;
  /** Frames (packets) read so far. */
  frames: number;
  /** Seconds since reading began. */
  elapsed: number;
}

/**
 * The figures of one progress line, pv-style: done / size, the average
 * byte and packet rates, the elapsed time and the time left at that rate.
 * (Not named eta/duration: cli-progress fills those tokens itself.)
 */
export function progressFields(s: ProgressSample): { done: string; size: string; rate: string; pps: string; elapsed: string; remaining: string } {
  const secs = Math.max(s.elapsed, 1e-3);
  const byteRate = s.read / secs;
  return {
    done: humanBytes(s.read),
    size: humanBytes(s.total),
    rate: `${humanBytes(byteRate)}/s`,
    pps: `${humanCount(s.frames / secs)} pkt/s`,
    elapsed: humanDuration(s.elapsed),
    remaining: byteRate > 0 ? humanDuration((s.total - s.read) / byteRate) : '--:--',
  };
}

export interface CaptureProgress {
  onProgress?: (read: number, total: number, frames: number) => void;
  stop(): void;
}

/** A progress bar on stderr for a large capture when stderr is a terminal; otherwise nothing. */
export function captureProgress(file: string): CaptureProgress {
  if (!process.stderr.isTTY) return { stop() {} };
  try {
    if (statSync(file).size < PROGRESS_MIN_BYTES) return { stop() {} };
  } catch {
    return { stop() {} }; // classify reports the file's error itself
  }
  // Loaded only for a bar: most runs (stderr not a terminal, small captures) never draw one.
  const { SingleBar } = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  const bar = new SingleBar({
    format: `${basename(file)} [{bar}] {percentage}% {done} / {size}  {rate}  {pps}  {elapsed}  ETA {remaining}`,
    stream: process.stderr,
    barsize: 24,
    hideCursor: true,
  });
  const started = process.hrtime.bigint();
  let running = false;
  return {
    onProgress(read, total, frames) {
      const fields = progressFields({ read, total, frames, elapsed: Number(process.hrtime.bigint() - started) / 1e9 });
      if (!running) bar.start(total, read, fields);
      else bar.update(read, fields);
      running = true;
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}
