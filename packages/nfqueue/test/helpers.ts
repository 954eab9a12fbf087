// Test plumbing: build freshness, network namespaces, child processes that
// talk JSON lines, iptables counters. Addresses come from 198.18.0.0/15 only.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mtimeMs, NetnsLab, newestMtimeMs, sleep } from '@l7mesh/netns';

export const pkgDir = fileURLToPath(new URL('..', import.meta.url));
export const repoDir = fileURLToPath(new URL('../../..', import.meta.url));
export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/**
 * The namespace fixtures run the built package (dist/ + build/Release), so
 * rebuild whichever of the two is older than its sources.
 */
export function ensureBuilt(): void {
  // A build wipes build/ first: builds (here and elsewhere) take this lock, and one under way is waited for before looking.
  const lock = '/tmp/l7mesh-nfqueue-build.lock';
  execFileSync('flock', [lock, 'true'], { timeout: 300_000 });
  const addon = mtimeMs(`${pkgDir}build/Release/l7nfq.node`);
  if (addon < Math.max(newestMtimeMs(`${pkgDir}native`, '.cc'), newestMtimeMs(`${pkgDir}native`, '.h'), mtimeMs(`${pkgDir}binding.gyp`))) {
    execFileSync('flock', [lock, 'npm', 'run', 'build', '--workspace', '@l7mesh/nfqueue'], { cwd: repoDir, stdio: 'pipe', timeout: 300_000 });
  }
  if (mtimeMs(`${pkgDir}dist/index.js`) < newestMtimeMs(`${pkgDir}src`, '.ts')) {
    execFileSync('npx', ['tsc', '-p', 'packages/nfqueue'], { cwd: repoDir, stdio: 'pipe', timeout: 120_000 });
  }
}

/**
 * ensureBuilt, then waits until build/ has the addon: a build not taken
 * under the lock may have wiped it meanwhile.
 */
export async function ensureBuiltLocked(): Promise<void> {
  ensureBuilt();
  const addon = `${pkgDir}build/Release/l7nfq.node`;
  for (let waited = 0; mtimeMs(addon) === 0; waited += 1000) {
    if (waited > 180_000) throw new Error(`${addon} missing`);
    await sleep(1000);
  }
}

export function sh(cmd: string, args: string[], timeout = 10_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function inNs(ns: string, cmd: string, args: string[], timeout = 10_000): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], timeout);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** A child process that prints JSON lines on stdout and reads them on stdin. */
export class Proc {
  static readonly all = new Set<Proc>();
  readonly child: ChildProcess;
  readonly lines: Json[] = [];
  stderr = '';
  exitCode: number | null | undefined = undefined;
  #waiters: Array<() => void> = [];

  constructor(ns: string, script: string, args: string[]) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'node', fixture(script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    Proc.all.add(this);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        this.lines.push({ event: 'raw', line });
      }
      this.#wake();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.child.on('exit', (code) => {
      this.exitCode = code;
      Proc.all.delete(this);
      this.#wake();
    });
    this.child.stdin!.on('error', () => {});
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Waits for (and consumes) the first line matching `pred`. */
  async next(pred: (l: Json) => boolean, timeoutMs = 5_000): Promise<Json> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex(pred);
      if (i >= 0) return this.lines.splice(i, 1)[0];
      if (this.exitCode !== undefined) {
        throw new Error(`process exited (${this.exitCode}) before the expected line; stderr: ${this.stderr}`);
      }
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a line; have ${JSON.stringify(this.lines)}; stderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(o: Json): void {
    this.child.stdin!.write(typeof o === 'string' ? `${o}\n` : `${JSON.stringify(o)}\n`);
  }

  async request(cmd: string, extra: Json = {}, timeoutMs = 5_000): Promise<Json> {
    this.send({ cmd, ...extra });
    return this.next((l) => l.event === 'reply' && l.cmd === cmd, timeoutMs);
  }

  /** Resolves with the exit code, or 'timeout'. */
  async exited(timeoutMs: number): Promise<number | null | 'timeout'> {
    const end = Date.now() + timeoutMs;
    while (this.exitCode === undefined && Date.now() < end) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.exitCode === undefined ? 'timeout' : this.exitCode;
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }

  static killAll(): void {
    for (const p of Proc.all) p.kill();
  }
}

/** Two namespaces joined by a veth pair: client 198.18.50.1 <-> server 198.18.50.2. */
export class NetLab {
  readonly clientIp = '198.18.50.1';
  readonly serverIp = '198.18.50.2';
  readonly #lab = new NetnsLab('l7nfq');
  client = '';
  server = '';

  async setup(): Promise<void> {
    this.client = await this.#lab.ns('c');
    this.server = await this.#lab.ns('s');
    await this.#lab.link(this.client, 'veth0', `${this.clientIp}/24`, this.server, 'veth0', `${this.serverIp}/24`);
  }

  /** An extra address (198.18.50.0/24) on the client's veth. */
  async addClientAddress(ip: string): Promise<void> {
    if (!/^198\.18\.50\.\d{1,3}$/.test(ip)) throw new Error(`test addresses stay in 198.18.50.0/24, not ${ip}`);
    await this.#lab.address(this.client, 'veth0', `${ip}/24`);
  }

  iptables(ns: string, rule: string): void {
    inNs(ns, 'iptables', rule.split(/\s+/));
  }

  /** Packet counter of the rule tagged `-m comment --comment <tag>` in a mangle chain. */
  counter(chain: string, tag: string): number {
    const out = inNs(this.server, 'iptables', ['-t', 'mangle', '-L', chain, '-v', '-n', '-x']);
    const line = out.split('\n').find((l) => l.includes(`/* ${tag} */`));
    if (!line) throw new Error(`no rule tagged ${tag} in mangle ${chain}:\n${out}`);
    return Number(line.trim().split(/\s+/)[0]);
  }

  conntrack(args: string[]): string {
    return inNs(this.server, 'conntrack', ['-L', ...args]);
  }

  /** Sends datagrams from the client namespace and waits for the sender to finish. */
  send(cfg: Json, timeout = 20_000): Json {
    const out = inNs(this.client, 'node', [fixture('sender.mjs'), JSON.stringify({ host: this.serverIp, ...cfg })], timeout);
    return JSON.parse(out.trim().split('\n').pop()!);
  }

  /** Kills every child process and deletes both namespaces; never throws. */
  async destroy(): Promise<void> {
    Proc.killAll();
    await this.#lab.cleanup();
  }
}

/** errno values the kernel answers with, as the tests expect them. */
export const ERRNO = { EPERM: 1, ENOENT: 2, EINTR: 4, EINVAL: 22, ENFILE: 23 } as const;

/** The key types of the 5-tuple sets the set tests make. */
export const TUPLE_KEY = {
  V4: 'ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service',
  V6: 'ipv6_addr . inet_proto . inet_service . ipv6_addr . inet_service',
} as const;

/**
 * A namespace of `lab` (IPv6 on) whose loopback has the test's addresses,
 * and the fixture process `script` started in it, ready for requests.
 */
export async function startSetFixture(lab: NetnsLab, name: string, addresses: readonly string[], script: string): Promise<{ ns: string; proc: Proc }> {
  const ns = await lab.ns(name, { ipv6: true });
  for (const a of addresses) await lab.address(ns, 'lo', `${a}/32`);
  const proc = new Proc(ns, script, []);
  await proc.next((l) => l.event === 'ready', 10_000);
  return { ns, proc };
}

/**
 * Requests to a fixture process that a test starts in beforeAll (hence the
 * getter): `request` answers what it replied, `ok` throws when that is an
 * error, `run` runs nft commands through it.
 */
export function fixtureCalls(proc: () => Proc) {
  const request = (cmd: string, extra: Json = {}, timeoutMs = 30_000): Promise<Json> => proc().request(cmd, extra, timeoutMs);
  const ok = async (cmd: string, extra: Json = {}, timeoutMs = 30_000): Promise<Json> => {
    const r = await request(cmd, extra, timeoutMs);
    if (r.error) throw new Error(`${cmd} failed: ${r.error.code} ${r.error.message}`);
    return r;
  };
  const run = (commands: string, timeoutMs?: number): Promise<Json> => ok('run', { commands }, timeoutMs);
  return { request, ok, run };
}

/** The reply of fixtures/setwrite.mjs to one request, run in `ns` without CAP_NET_ADMIN (setpriv drops it). */
export async function replyWithoutNetAdmin(lab: NetnsLab, ns: string, req: Json): Promise<Json> {
  const r = await lab.exec(ns, ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin', 'node', fixture('setwrite.mjs')], {
    input: `${JSON.stringify(req)}\n{"cmd":"exit"}\n`,
    timeoutMs: 20_000,
  });
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Json)
    .find((l: Json) => l.event === 'reply');
}
