import { spawn, type ChildProcess } from 'node:child_process';
import { inBenchmarkRange } from './range.js';
import { run, type Run } from './run.js';
import { Spawned } from './spawned.js';

export interface ShOptions {
  timeoutMs?: number;
  /** Resolve with a failed run instead of throwing. */
  allowFail?: boolean;
  input?: string;
}

/**
 * Throw-away network namespaces: names unique to this process
 * (`<tag>-<pid>-<random>-<name>`), addresses from 198.18.0.0/15 only
 * (anything else is refused before it is configured), every command bounded
 * in time. cleanup() kills every process started in them and deletes them;
 * call it from afterAll (it runs after a failure too) and it never throws.
 */
export class NetnsLab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private unnamed = 0;

  constructor(tag = 'l7lab') {
    this.prefix = `${tag}-${process.pid}-${Math.random().toString(36).slice(2, 6)}-`;
  }

  /** Runs argv on the host; throws with its stderr unless it succeeds (or allowFail). */
  async sh(argv: readonly string[], opts: ShOptions = {}): Promise<Run> {
    const r = await run(argv, opts);
    if (r.code !== 0 && !opts.allowFail) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r;
  }

  /** Runs argv inside namespace ns. */
  exec(ns: string, argv: readonly string[], opts: ShOptions = {}): Promise<Run> {
    return this.sh(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** A new namespace with lo up (and IPv6 off unless asked for); returns its full name. */
  async ns(name = `n${++this.unnamed}`, opts: { ipv6?: boolean } = {}): Promise<string> {
    const full = `${this.prefix}${name}`;
    await this.sh(['ip', 'netns', 'add', full]);
    this.namespaces.push(full);
    if (!opts.ipv6) await this.exec(full, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await this.sh(['ip', '-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  /** A veth pair between two namespaces, created directly inside them, with an address on each end. */
  async link(a: string, ifA: string, addrA: string, b: string, ifB: string, addrB: string): Promise<void> {
    for (const addr of [addrA, addrB]) if (!inBenchmarkRange(addr)) throw new Error(`${addr} is outside 198.18.0.0/15 and 2001:db8::/32`);
    await this.sh(['ip', 'link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b]);
    await this.sh(['ip', '-n', a, 'addr', 'add', addrA, 'dev', ifA]);
    await this.sh(['ip', '-n', b, 'addr', 'add', addrB, 'dev', ifB]);
    await this.sh(['ip', '-n', a, 'link', 'set', ifA, 'up']);
    await this.sh(['ip', '-n', b, 'link', 'set', ifB, 'up']);
  }

  /** An extra address on an interface. */
  async address(ns: string, dev: string, addr: string): Promise<void> {
    if (!inBenchmarkRange(addr)) throw new Error(`${addr} is outside 198.18.0.0/15 and 2001:db8::/32`);
    // IPv6: no duplicate address detection, so the address is usable at once (the lab has no duplicates).
    await this.sh(['ip', '-n', ns, 'addr', 'add', addr, 'dev', dev, ...(addr.includes(':') ? ['nodad'] : [])]);
  }

  async route(ns: string, dest: string, via: string): Promise<void> {
    if (!inBenchmarkRange(dest) || !inBenchmarkRange(via)) throw new Error(`route ${dest} via ${via} leaves 198.18.0.0/15 and 2001:db8::/32`);
    await this.sh(['ip', '-n', ns, 'route', 'add', dest, 'via', via]);
  }

  /** Starts argv inside ns; its output is collected in the returned object. */
  spawn(ns: string, argv: readonly string[], opts: { cwd?: string; stdin?: boolean } = {}): Spawned {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      cwd: opts.cwd,
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.children.push(child);
    return new Spawned(child);
  }

  /** Kills what we started and deletes our namespaces; never throws. */
  async cleanup(): Promise<void> {
    for (const child of this.children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const ns of this.namespaces.splice(0)) {
      // Whatever still lives in one of our namespaces was started by us (daemons that forked included).
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
