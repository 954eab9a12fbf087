/**
 * nats-server as a child process, for `l7mesh up` and tests: a config file
 * in a fresh temp dir, a JetStream store (a temp dir unless given), readiness
 * (accepts connections; with JetStream, $JS.API.INFO answers), and children
 * that never outlive this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { BusError, badOption, messageOf } from './errors.js';

export interface NatsServerOptions {
  /** Port to listen on (default: a free loopback port). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Enable JetStream (default true); store dir: a fresh temp dir unless storeDir given. */
  jetstream?: boolean;
  storeDir?: string;
  /** A server of a cluster: its cluster name, its cluster port, and the routes to the others (nats-route://host:port). */
  cluster?: { name: string; port: number; routes: string[] };
  /** Server name (required and unique per server for JetStream clustering; default: generated). */
  serverName?: string;
  /** TLS for clients; verify asks clients for a certificate signed by caFile. */
  tls?: { certFile: string; keyFile: string; caFile?: string; verify?: boolean };
  /** Simple authentication (every client must send these). */
  user?: string;
  pass?: string;
  /** Largest message the server takes (server default 1 MiB). */
  maxPayload?: number;
  /** Per-client outbound buffer before the server cuts the client off as a slow consumer (server default 64 MiB). See slow.ts. */
  maxPendingBytes?: number;
  /** How long a write to a client may block before it is cut off as a slow consumer (server default 10 s). See slow.ts. */
  writeDeadlineSec?: number;
  /** Path of the executable, or a name looked up on PATH (default 'nats-server'; /usr/sbin and /usr/local/sbin are searched too). */
  binary?: string;
  /** Server log file (default: the log is kept in memory, for error messages). */
  logFile?: string;
  /** HTTP monitoring port on the server's host (/varz, /connz); default: none. */
  monitorPort?: number;
  /** How long start and restart wait for readiness (default 20 000 ms). */
  readyTimeoutMs?: number;
}

export interface NatsServerProcess {
  /** nats://host:port (tls:// with TLS); 127.0.0.1 when listening on 0.0.0.0. */
  readonly url: string;
  readonly port: number;
  /** The current child's pid (-1 before a restart finished). */
  readonly pid: number;
  /** The server's name (serverName or generated). */
  readonly name: string;
  /** Its HTTP monitoring URL (/varz, /connz), when it has one. */
  readonly monitorUrl: string | undefined;
  /** Is the child running? */
  readonly running: boolean;
  /** Last lines of the server's log. */
  logTail(lines?: number): string;
  /** SIGTERM and wait (SIGKILL after 10 s); stop twice is fine. */
  stop(): Promise<void>;
  /** SIGKILL (for failure tests) and wait for exit. */
  kill(): Promise<void>;
  /** Start again on the same port and store dir (stops a running server first); waits until it accepts connections and, standalone with JetStream, until JetStream answers. */
  restart(): Promise<void>;
}

const NO_BINARY_HINT = 'bash infra/setup.sh installs it';
const LOG_KEEP = 64 * 1024;
/** Debian puts nats-server in /usr/sbin, which a non-root PATH often lacks. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

// ---- children never outlive this process -----------------------------------

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooksInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killAllSync(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function removeTempDirs(): void {
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  tempDirs.clear();
}

function onExit(): void {
  killAllSync();
  removeTempDirs();
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else handles this signal (e.g. `l7mesh up` stopping gracefully):
  // leave the servers to them; the exit hook still kills what is left.
  if (process.listenerCount(signal) > 1) return;
  // Otherwise do what the default action would have done, after killing the
  // servers (and reaping them, at most 1 s) and removing their temp dirs.
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  const children = [...live];
  killAllSync();
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    removeTempDirs();
    process.kill(process.pid, signal);
  };
  const timer = setTimeout(finish, 1_000);
  void Promise.all(
    children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
  ).then(finish);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

// ---- helpers -----------------------------------------------------------------

/** A free TCP port on the loopback (the OS picks it; free when this returns, not reserved). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Finds the nats-server executable; BUS_NO_SERVER_BINARY if it is not there. */
export function resolveServerBinary(binary = 'nats-server'): string {
  if (binary.includes('/')) {
    if (isExecutable(binary)) return binary;
    throw new BusError('BUS_NO_SERVER_BINARY', `nats-server not found at ${binary}: ${NO_BINARY_HINT}`);
  }
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  for (const dir of [...dirs, ...EXTRA_DIRS]) {
    const p = join(dir, binary);
    if (isExecutable(p)) return p;
  }
  throw new BusError('BUS_NO_SERVER_BINARY', `${binary} not found on PATH: ${NO_BINARY_HINT}`);
}

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const q = (s: string) => JSON.stringify(s);

function checkPort(field: string, p: number | undefined): void {
  if (p !== undefined && (!Number.isSafeInteger(p) || p < 1 || p > 65535)) throw badOption(field, `${p} is not a port`);
}

function renderConfig(o: NatsServerOptions, name: string, host: string, port: number, storeDir: string | undefined): string {
  const lines = [`server_name: ${q(name)}`, `host: ${q(host)}`, `port: ${port}`];
  if (o.maxPayload !== undefined) lines.push(`max_payload: ${o.maxPayload}`);
  if (o.maxPendingBytes !== undefined) lines.push(`max_pending: ${o.maxPendingBytes}`);
  if (o.writeDeadlineSec !== undefined) lines.push(`write_deadline: ${q(`${o.writeDeadlineSec}s`)}`);
  if (o.logFile !== undefined) lines.push(`log_file: ${q(o.logFile)}`);
  if (o.monitorPort !== undefined) lines.push(`http: ${q(`${host}:${o.monitorPort}`)}`);
  if (storeDir !== undefined) lines.push(`jetstream {`, `  store_dir: ${q(storeDir)}`, `}`);
  if (o.cluster) {
    lines.push(`cluster {`, `  name: ${q(o.cluster.name)}`, `  host: ${q(host)}`, `  port: ${o.cluster.port}`);
    lines.push(`  routes: [${o.cluster.routes.map(q).join(', ')}]`, `}`);
  }
  if (o.tls) {
    lines.push(`tls {`, `  cert_file: ${q(o.tls.certFile)}`, `  key_file: ${q(o.tls.keyFile)}`);
    if (o.tls.caFile !== undefined) lines.push(`  ca_file: ${q(o.tls.caFile)}`);
    lines.push(`  verify: ${o.tls.verify ? 'true' : 'false'}`, `}`);
  }
  if (o.user !== undefined) lines.push(`authorization {`, `  user: ${q(o.user)}`, `  password: ${q(o.pass ?? '')}`, `}`);
  return lines.join('\n') + '\n';
}

function validate(o: NatsServerOptions): void {
  checkPort('port', o.port);
  if (o.cluster) {
    checkPort('cluster.port', o.cluster.port);
    if (!/^[A-Za-z0-9_-]+$/.test(o.cluster.name)) throw badOption('cluster.name', `${JSON.stringify(o.cluster.name)} must match [A-Za-z0-9_-]+`);
    if (o.jetstream !== false && o.serverName === undefined) throw badOption('serverName', 'a JetStream cluster needs a server name per server');
  }
  if (o.pass !== undefined && o.user === undefined) throw badOption('pass', 'pass needs user');
  for (const [f, v] of [['maxPayload', o.maxPayload], ['maxPendingBytes', o.maxPendingBytes], ['writeDeadlineSec', o.writeDeadlineSec]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) throw badOption(f, `${v} must be an integer > 0`);
  }
}

/**
 * Resolves true once the port answers with the NATS INFO line of the server
 * named `name` (not of another server that holds the port).
 */
function probeInfo(host: string, port: number, name: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host, port });
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      const end = buf.indexOf('\r\n');
      if (end < 0) return;
      let ours = false;
      try {
        ours = buf.startsWith('INFO ') && (JSON.parse(buf.slice(5, end)) as { server_name?: unknown }).server_name === name;
      } catch {
        // not a NATS server
      }
      done(ours);
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}

/** Connection options a probe uses to reach a server it started. */
function probeOptions(o: NatsServerOptions, host: string, port: number): NodeConnectionOptions {
  const opts: NodeConnectionOptions = { servers: [hostPort(host, port)], maxReconnectAttempts: 0, reconnect: false, timeout: 2_000 };
  if (o.user !== undefined) {
    opts.user = o.user;
    opts.pass = o.pass ?? '';
  }
  // Our own server on loopback: no need to verify its certificate.
  if (o.tls) opts.tls = { rejectUnauthorized: false };
  return opts;
}

/** Does JetStream answer $JS.API.INFO without an error (a cluster: once a meta leader is elected)? */
async function jetStreamAnswers(nc: NatsConnection): Promise<boolean> {
  try {
    const m = await nc.request('$JS.API.INFO', '', { timeout: 1_000 });
    const r = m.json<{ error?: unknown }>();
    return r.error === undefined;
  } catch {
    return false;
  }
}

// ---- one server ----------------------------------------------------------------

class ServerProc implements NatsServerProcess {
  readonly url: string;
  readonly monitorUrl: string | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';

  constructor(
    readonly port: number,
    readonly name: string,
    private readonly probeHost: string,
    private readonly binary: string,
    private readonly configFile: string,
    private readonly options: NatsServerOptions,
    private readonly waitForJetStream: boolean,
  ) {
    this.url = `${options.tls ? 'tls' : 'nats'}://${hostPort(probeHost, port)}`;
    this.monitorUrl = options.monitorPort === undefined ? undefined : `http://${hostPort(probeHost, options.monitorPort)}`;
  }

  get pid(): number {
    return this.#child?.pid ?? -1;
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  logTail(lines = 20): string {
    let text = this.#log;
    if (this.options.logFile !== undefined) {
      try {
        const data = readFileSync(this.options.logFile);
        text = data.subarray(Math.max(0, data.length - LOG_KEEP)).toString('utf8') + text;
      } catch {
        // no log file yet
      }
    }
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Spawns the child and waits until it is ready; BUS_SERVER_START if it exits or never gets ready. */
  async start(): Promise<void> {
    installHooks();
    let child: ChildProcess;
    try {
      child = spawn(this.binary, ['-c', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new BusError('BUS_NO_SERVER_BINARY', `cannot run ${this.binary}: ${messageOf(err)}: ${NO_BINARY_HINT}`, { cause: err });
    }
    this.#child = child;
    live.add(child);
    let spawnError: Error | undefined;
    const keep = (b: Buffer) => {
      this.#log += b.toString('utf8');
      if (this.#log.length > LOG_KEEP) this.#log = this.#log.slice(-LOG_KEEP);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => {
      child.on('error', (err) => {
        spawnError = err;
        live.delete(child);
        resolve();
      });
      child.on('exit', () => {
        live.delete(child);
        resolve();
      });
    });
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 20_000);
    const failed = (why: string) => {
      if (this.running) child.kill('SIGKILL');
      return new BusError('BUS_SERVER_START', `nats-server on port ${this.port} ${why}; last lines of its log:\n${this.logTail(20)}`, { log: this.logTail(20) });
    };
    // 1. It accepts connections.
    for (;;) {
      if (spawnError) {
        const code = (spawnError as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') throw new BusError('BUS_NO_SERVER_BINARY', `nats-server not found at ${this.binary}: ${NO_BINARY_HINT}`, { cause: spawnError });
        throw failed(`could not be started (${spawnError.message})`);
      }
      if (!this.running) {
        throw failed(`exited during start (${child.exitCode !== null ? `status ${child.exitCode}` : child.signalCode})`);
      }
      if (await probeInfo(this.probeHost, this.port, this.name, 500)) break;
      if (Date.now() > deadline) throw failed('did not accept connections in time');
      await sleep(25);
    }
    // 2. JetStream answers (standalone); a cluster member waits in startNatsCluster.
    if (!this.waitForJetStream) return;
    let nc: NatsConnection | undefined;
    try {
      for (;;) {
        if (!this.running) throw failed('exited during start');
        if (!nc || nc.isClosed()) nc = await connect(probeOptions(this.options, this.probeHost, this.port)).catch(() => undefined);
        if (nc && (await jetStreamAnswers(nc))) return;
        if (Date.now() > deadline) throw failed('did not get JetStream ready in time');
        await sleep(50);
      }
    } finally {
      await nc?.close().catch(() => {});
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return this.#exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    const child = this.#child;
    if (child && this.running) child.kill('SIGKILL');
    await this.#exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.#log += '--- restart ---\n';
    await this.start();
  }
}

function newTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'l7mesh-nats-'));
  tempDirs.add(dir);
  installHooks();
  return dir;
}

async function createServer_(o: NatsServerOptions, waitForJetStream: boolean): Promise<ServerProc> {
  validate(o);
  const binary = resolveServerBinary(o.binary);
  const host = o.host ?? '127.0.0.1';
  const probeHost = loopbackOf(host);
  const dir = newTempDir();
  const js = o.jetstream !== false;
  let storeDir: string | undefined;
  if (js) {
    storeDir = o.storeDir ?? join(dir, 'store');
    mkdirSync(storeDir, { recursive: true });
  }
  const name = o.serverName ?? `l7mesh-${process.pid}-${dir.slice(-6)}`;
  const configFile = join(dir, 'nats-server.conf');
  // A port we picked can be taken by someone else before the server binds it: try another.
  for (let attempt = 0; ; attempt++) {
    const port = o.port ?? (await freePort(probeHost));
    writeFileSync(configFile, renderConfig(o, name, host, port, storeDir));
    const srv = new ServerProc(port, name, probeHost, binary, configFile, o, js && waitForJetStream);
    try {
      await srv.start();
      return srv;
    } catch (err) {
      if (o.port !== undefined || !addressInUse(err) || attempt >= 3) throw err;
    }
  }
}

/** The address to reach a server listening on host (any address: loopback). */
function loopbackOf(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/** A server that did not start because a port it was given was taken. */
function addressInUse(err: unknown): boolean {
  return err instanceof BusError && err.code === 'BUS_SERVER_START' && /address already in use/i.test(err.log ?? '');
}

/**
 * Starts nats-server (a config file in a temp dir) and waits until it accepts
 * connections and, with JetStream and not part of a cluster, until JetStream
 * answers. BUS_NO_SERVER_BINARY when the executable is missing,
 * BUS_SERVER_START (with the last lines of its log) when it exits or does not
 * get ready in time.
 */
export function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerProcess> {
  return createServer_(options, options.cluster === undefined);
}

export interface NatsClusterOptions extends Omit<NatsServerOptions, 'port' | 'cluster' | 'serverName' | 'storeDir' | 'logFile' | 'monitorPort'> {
  /** Cluster name (default 'l7mesh'). */
  name?: string;
  /** Give every server an HTTP monitoring port (see NatsServerProcess.monitorUrl). */
  monitor?: boolean;
}

export interface NatsCluster {
  readonly servers: NatsServerProcess[];
  /** Client URLs of all servers, for BusOptions.servers. */
  readonly urls: string[];
  /** Stops every server (those already stopped too). */
  stop(): Promise<void>;
}

/**
 * `size` servers (default 3) on loopback with routes between them and
 * JetStream clustered, as a site runs it. Resolves once every server accepts
 * clients and (with JetStream) the cluster answers JetStream requests, i.e. a
 * meta leader is elected.
 */
export async function startNatsCluster(size = 3, options: NatsClusterOptions = {}): Promise<NatsCluster> {
  if (!Number.isSafeInteger(size) || size < 1 || size > 9) throw badOption('size', `${size} must be an integer 1..9`);
  // The ports picked can be taken before the servers bind them, by anyone: start again on others.
  for (let attempt = 0; ; attempt++) {
    try {
      const ports = await distinctFreePorts(size * (options.monitor ? 3 : 2), loopbackOf(options.host ?? '127.0.0.1'));
      return await startClusterOn(ports, size, options);
    } catch (err) {
      if (!addressInUse(err) || attempt >= 3) throw err;
    }
  }
}

/** n free ports, all different: each server's client, cluster and monitor ports. */
async function distinctFreePorts(n: number, host: string): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort(host);
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

/** The cluster with server i on ports[i] (clients), ports[size + i] (routes) and ports[2 * size + i] (monitoring). */
async function startClusterOn(ports: number[], size: number, options: NatsClusterOptions): Promise<NatsCluster> {
  const { name: clusterName = 'l7mesh', monitor, ...rest } = options;
  const clusterPorts = ports.slice(size, 2 * size);
  const monitorPorts: (number | undefined)[] = monitor ? ports.slice(2 * size) : [];
  const routeHost = loopbackOf(rest.host ?? '127.0.0.1');
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const results = await Promise.allSettled(
    clusterPorts.map((cport, i) =>
      createServer_(
        {
          ...rest,
          serverName: `${clusterName}-${i + 1}-${tag}`,
          port: ports[i],
          ...(monitorPorts[i] !== undefined ? { monitorPort: monitorPorts[i] } : {}),
          cluster: { name: clusterName, port: cport, routes: clusterPorts.filter((p) => p !== cport).map((p) => `nats-route://${hostPort(routeHost, p)}`) },
        },
        false,
      ),
    ),
  );
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await stop();
    throw failure.reason;
  }
  if (rest.jetstream !== false) {
    const deadline = Date.now() + (rest.readyTimeoutMs ?? 30_000);
    const ncs: NatsConnection[] = [];
    try {
      for (const s of servers) {
        ncs.push(await connect(probeOptions(rest, routeHost, s.port)));
      }
      for (;;) {
        const ok = await Promise.all(ncs.map(jetStreamAnswers));
        if (ok.every(Boolean)) break;
        if (Date.now() > deadline) {
          throw new BusError('BUS_SERVER_START', `JetStream cluster ${clusterName} elected no meta leader in time; last lines of the first server's log:\n${servers[0]!.logTail(20)}`, { log: servers[0]!.logTail(20) });
        }
        await sleep(100);
      }
    } catch (err) {
      await stop();
      throw err instanceof BusError ? err : new BusError('BUS_SERVER_START', `JetStream cluster ${clusterName} did not get ready: ${messageOf(err)}`, { cause: err });
    } finally {
      await Promise.all(ncs.map((nc) => nc.close().catch(() => {})));
    }
  }
  return { servers, urls: servers.map((s) => s.url), stop };
}
