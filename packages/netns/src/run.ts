import { execFile } from 'node:child_process';

export interface Run {
  /** Exit status; null when the command was killed (its time ran out) or could not start. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv (no shell) to completion within a time limit; never rejects. */
export function run(argv: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<Run> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const child = execFile(file!, args, { timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === null ? String(err.message) : '') });
    });
    // A command that exits without reading stdin must not fail the run with EPIPE.
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `probe` gives a truthy value or the time is up (then returns the last value). */
export async function poll<T>(probe: () => Promise<T> | T, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await probe();
  while (!v && Date.now() < end) {
    await sleep(everyMs);
    v = await probe();
  }
  return v;
}
