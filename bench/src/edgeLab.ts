/**
 * Throw-away network namespaces for the edge benchmark: unique names per
 * run, addresses from 198.18.0.0/15 (the benchmarking range) only, every
 * process started in them and the namespaces themselves removed by
 * cleanup(), every command bounded in time.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(argv: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<Run> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const child = execFile(file!, args, { timeout: opts.timeoutMs ?? 15_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === null ? String(err.message) : '') });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** True when `addr` (a.b.c.d or a.b.c.d/len) lies in 198.18.0.0/15. */
export function inBenchmarkRange(addr: string): boolean {
  const m = /^198\.(18|19)\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/.exec(addr);
  return m !== null && Number(m[2]) < 256 && Number(m[3]) < 256 && (m[5] === undefined || (Number(m[5]) >= 15 && Number(m[5]) <= 32));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Spawned {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (b: Buffer) => (this.stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString()));
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
    while (!this.stdout.includes(text) && !this.stderr.includes(text)) {
      if (!this.running) throw new Error(`${this.child.spawnargs.join(' ')} exited before printing ${JSON.stringify(text)}:\n${this.stderr}${this.stdout}`);
      if (Date.now() > end) throw new Error(`no ${JSON.stringify(text)} within ${timeoutMs} ms from ${this.child.spawnargs.join(' ')}:\n${this.stderr}${this.stdout}`);
      await sleep(20);
    }
  }

  /** Sends `signal` and waits (bounded) for the exit; SIGKILL when the time is up. */
  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export class NetnsLab {
  readonly prefix = `l7bench-${process.pid}-${Math.random().toString(36).slice(2, 6)}-`;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  async sh(argv: readonly string[], opts: { timeoutMs?: number; allowFail?: boolean; input?: string } = {}): Promise<Run> {
    const r = await run(argv, opts);
    if (r.code !== 0 && !opts.allowFail) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r;
  }

  exec(ns: string, argv: readonly string[], opts: { timeoutMs?: number; allowFail?: boolean; input?: string } = {}): Promise<Run> {
    return this.sh(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** A namespace with lo up and IPv6 off. */
  async ns(name: string): Promise<string> {
    const full = `${this.prefix}${name}`;
    await this.sh(['ip', 'netns', 'add', full]);
    this.namespaces.push(full);
    await this.exec(full, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await this.sh(['ip', '-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  async link(a: string, ifA: string, addrA: string, b: string, ifB: string, addrB: string): Promise<void> {
    for (const addr of [addrA, addrB]) if (!inBenchmarkRange(addr)) throw new Error(`${addr} is outside 198.18.0.0/15`);
    await this.sh(['ip', 'link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b]);
    await this.sh(['ip', '-n', a, 'addr', 'add', addrA, 'dev', ifA]);
    await this.sh(['ip', '-n', b, 'addr', 'add', addrB, 'dev', ifB]);
    await this.sh(['ip', '-n', a, 'link', 'set', ifA, 'up']);
    await this.sh(['ip', '-n', b, 'link', 'set', ifB, 'up']);
  }

  async route(ns: string, dest: string, via: string): Promise<void> {
    if (!inBenchmarkRange(dest) || !inBenchmarkRange(via)) throw new Error(`route ${dest} via ${via} leaves 198.18.0.0/15`);
    await this.sh(['ip', '-n', ns, 'route', 'add', dest, 'via', via]);
  }

  /** Starts argv inside ns; its output is collected in the returned object. */
  spawn(ns: string, argv: readonly string[], opts: { cwd?: string } = {}): Spawned {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: { ...process.env, LC_ALL: 'C' } });
    this.children.push(child);
    return new Spawned(child);
  }

  /** Kills what we started and deletes our namespaces; never throws. */
  async cleanup(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const ns of this.namespaces.splice(0)) {
      // Whatever still lives in one of our namespaces was started by this benchmark.
      const pids = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 5_000 });
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await run(['ip', 'netns', 'del', ns], { timeoutMs: 5_000 });
    }
  }
}
