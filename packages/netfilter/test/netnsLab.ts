/**
 * Throw-away network namespaces for the netfilter tests: unique names
 * (`l7nf-<pid>-<n>`), addresses from 198.18.0.0/15 only, every process and
 * namespace removed by cleanup() (call it from afterAll, it runs after a
 * failure too), every wait bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { runCommand, type CommandResult } from '../src/command.js';

let counter = 0;

/** True when `cidr` (a.b.c.d or a.b.c.d/len) lies in 198.18.0.0/15. */
function inBenchmarkRange(addr: string): boolean {
  const m = /^198\.(18|19)\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/.exec(addr);
  return m !== null && Number(m[2]) < 256 && Number(m[3]) < 256 && (m[5] === undefined || Number(m[5]) >= 15);
}

export class NetnsLab {
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  /** Runs argv on the host; throws with stderr unless it succeeds (or allowFail). */
  async sh(argv: readonly string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<CommandResult> {
    const result = await runCommand(argv, { input: opts.input, timeoutMs: opts.timeoutMs ?? 10_000 });
    if (result.code !== 0 && !opts.allowFail) {
      throw new Error(`${argv.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
    }
    return result;
  }

  /** Runs argv inside namespace ns. */
  exec(ns: string, argv: readonly string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<CommandResult> {
    return this.sh(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** Creates a namespace with lo up and returns its name. */
  async ns(): Promise<string> {
    const name = `l7nf-${process.pid}-${++counter}`;
    await this.sh(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await this.sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A veth pair between two namespaces, created directly inside them, with addresses. */
  async link(a: string, ifA: string, addrA: string, b: string, ifB: string, addrB: string): Promise<void> {
    for (const addr of [addrA, addrB]) {
      if (!inBenchmarkRange(addr)) throw new Error(`${addr} is outside 198.18.0.0/15`);
    }
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

  /**
   * Starts a long-running node script inside ns and waits (bounded) until
   * it prints `ready`.
   */
  async spawnNode(ns: string, script: string, timeoutMs = 5_000): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "ready" from node in ${ns} within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      let out = '';
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`node in ${ns} exited (${code}) before "ready": ${stderr}`));
      });
    });
    return child;
  }

  /** Runs a node script to completion inside ns and returns its stdout. */
  async runNode(ns: string, script: string, timeoutMs = 10_000): Promise<string> {
    const result = await this.exec(ns, [process.execPath, '-e', script], { timeoutMs });
    return result.stdout;
  }

  /** Kills what we started and deletes our namespaces; never throws. */
  async cleanup(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const ns of this.namespaces.splice(0)) {
      // Anything else still living in one of our namespaces was started by
      // this test (the namespaces are ours alone).
      const pids = await runCommand(['ip', 'netns', 'pids', ns], { timeoutMs: 5_000 }).catch(() => undefined);
      for (const pid of (pids?.stdout ?? '').split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await runCommand(['ip', 'netns', 'del', ns], { timeoutMs: 5_000 }).catch(() => undefined);
    }
  }
}

/** Packet counter of the first rule in `chain` whose spec contains `needle`, from `iptables-save -c`. */
export function ruleCounter(saveWithCounters: string, chain: string, needle: string): number {
  for (const line of saveWithCounters.split('\n')) {
    const m = /^\[(\d+):\d+\] -A (\S+) (.*)$/.exec(line.trim());
    if (m && m[2] === chain && m[3]!.includes(needle)) return Number(m[1]);
  }
  throw new Error(`no rule in ${chain} containing ${JSON.stringify(needle)} in:\n${saveWithCounters}`);
}

/** The `-A` lines of a chain from iptables-save output, in order. */
export function chainRules(save: string, chain: string): string[] {
  return save
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`-A ${chain} `));
}
