import type { ChildProcess } from 'node:child_process';
import { sleep } from './run.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A long-running process of the lab, its output collected as it comes. */
export class Spawned {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits (bounded) until stdout or stderr contains `text`. */
  async waitFor(text: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    const what = () => `${this.child.spawnargs.join(' ')}:\n${this.stderr}${this.stdout}`;
    while (!this.stdout.includes(text) && !this.stderr.includes(text)) {
      if (!this.running) throw new Error(`exited before printing ${JSON.stringify(text)}: ${what()}`);
      if (Date.now() > end) throw new Error(`no ${JSON.stringify(text)} within ${timeoutMs} ms from ${what()}`);
      await sleep(20);
    }
  }

  /** Sends `signal` (unless it has exited) and waits (bounded) for the exit; SIGKILL when the time is up. */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<Exit> {
    if (this.running) this.child.kill(signal);
    return this.exit(timeoutMs);
  }

  /** Waits (bounded) for the exit; SIGKILL when the time is up. */
  async exit(timeoutMs: number): Promise<Exit> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
