import { spawn } from 'node:child_process';
import { invalidConfig } from './errors.js';

/** Where and how the netfilter commands run. */
export interface NetfilterTarget {
  /**
   * Run every command inside this network namespace (`ip netns exec NS …`):
   * for tests, and for an edge whose router lives in a namespace. Without
   * it, the commands act on the caller's own namespace.
   */
  readonly netns?: string;
  /** Per-command time limit in milliseconds (default 15000). */
  readonly timeoutMs?: number;
}

export interface CommandResult {
  readonly argv: readonly string[];
  /** Exit status; null when killed by a signal (e.g. at the time limit). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** The argv that runs `argv` in the target's namespace. */
export function targetArgv(target: NetfilterTarget, argv: readonly string[]): string[] {
  if (target.netns === undefined) return [...argv];
  // `ip netns exec` takes any name it can find under /run/netns; refuse
  // names that would point elsewhere or read as an option.
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(target.netns) || target.netns === '.' || target.netns === '..') {
    throw invalidConfig('netns', `${JSON.stringify(target.netns)} is not a network namespace name`);
  }
  return ['ip', 'netns', 'exec', target.netns, ...argv];
}

/**
 * Runs a command (no shell), feeding `input` on stdin; resolves with its
 * exit status and output, rejects only when it cannot be started at all.
 */
export function runCommand(argv: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        argv,
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    // A command that exits without reading stdin makes the write fail with
    // EPIPE; its exit status tells the story, so the write error is ignored.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** A one-line account of a failed command, for error messages. */
export function describeFailure(result: CommandResult): string {
  if (result.timedOut) return `${result.argv.join(' ')} did not finish in time`;
  const status = result.code === null ? 'was killed' : `exited with status ${result.code}`;
  return `${result.argv.join(' ')} ${status}`;
}
