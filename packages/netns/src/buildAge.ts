import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Processes started in the lab run built code (dist/, build/Release), not
// the sources vitest reads: tests compare these times to rebuild what is stale.

/** Modification time of `path` in ms; 0 when it does not exist. */
export function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** The newest modification time (ms) of the files directly in `dir` whose names end with `ext`; 0 for none. */
export function newestMtimeMs(dir: string, ext = ''): number {
  return Math.max(
    0,
    ...readdirSync(dir)
      .filter((f) => f.endsWith(ext))
      .map((f) => mtimeMs(join(dir, f))),
  );
}
