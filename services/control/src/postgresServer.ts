/**
 * PostgreSQL as a child process, for `l7mesh up` with no DATABASE_URL and
 * for tests that stop and start their own server: Debian's `initdb` and
 * `postgres` (the `postgresql` package that infra/setup.sh installs), a data
 * directory of its own, a free loopback port, TCP only (no Unix socket).
 *
 * initdb refuses to run as root, so under root both run as the `postgres`
 * system user (the data directory is given to it). The server is started
 * through util-linux's `setpriv --pdeathsig`, so it goes down with this
 * process however this process ends (a server left behind would hold its
 * port and directory); its backends follow their postmaster.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants as fsConstants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ControlError } from './errors.js';

/** Where Debian installs the server binaries of PostgreSQL 15. */
export const DEFAULT_POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';
const SETPRIV = '/usr/bin/setpriv';
const LOG_KEEP = 32 * 1024;
const HINT = 'bash infra/setup.sh installs PostgreSQL (Debian package postgresql)';

export interface PostgresServerOptions {
  /** Where initdb and postgres are (default DEFAULT_POSTGRES_BIN_DIR). */
  binDir?: string;
  /** The data directory: initialised when empty or missing; default a fresh temp dir, removed at stop. */
  dataDir?: string;
  /** Port (default: a free loopback port). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** fsync (default true). Tests turn it off: they do not survive a power cut anyway. */
  fsync?: boolean;
  /** How long start waits for the server to accept connections (default 60 s). */
  readyTimeoutMs?: number;
}

export interface PostgresServerProcess {
  /** postgres://postgres@host:port/postgres (trust authentication on loopback). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly running: boolean;
  /** The last lines the server printed. */
  logTail(lines?: number): string;
  /** Fast shutdown (SIGINT: sessions are ended) and wait; again is fine. Removes a temp data dir unless `keepData`. */
  stop(keepData?: boolean): Promise<void>;
  /** Starts again on the same port and data directory (stopping it first if running). */
  restart(): Promise<void>;
}

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of children) {
      try {
        c.kill('SIGQUIT');
      } catch {
        // gone
      }
    }
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** The postgres system user's uid and gid, when this process is root (initdb refuses root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch (err) {
    throw new ControlError('CONTROL_PG_START', `running as root, PostgreSQL must run as the postgres system user, and there is none: ${HINT}`, { cause: err });
  }
}

function binary(binDir: string, name: string): string {
  const path = join(binDir, name);
  try {
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw new ControlError('CONTROL_PG_NO_BINARY', `${name} not found in ${binDir}: ${HINT}`);
  }
  return path;
}

class PostgresProc implements PostgresServerProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';

  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly host: string,
    private readonly postgres: string,
    private readonly user: { uid: number; gid: number } | undefined,
    private readonly options: PostgresServerOptions,
    /** The temp directory holding the data directory, removed at stop (undefined: the caller's directory, kept). */
    private readonly ownedDir: string | undefined,
  ) {}

  get url(): string {
    return `postgres://postgres@${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}/postgres`;
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  logTail(lines = 20): string {
    return this.#log.trimEnd().split('\n').slice(-lines).join('\n');
  }

  async start(): Promise<void> {
    hookExit();
    const args = [
      '-D', this.dataDir,
      '-p', String(this.port),
      '-c', `listen_addresses=${this.host}`,
      '-c', 'unix_socket_directories=',
      '-c', `fsync=${this.options.fsync === false ? 'off' : 'on'}`,
      '-c', 'max_connections=100',
    ];
    // setpriv keeps the parent-death signal across its exec of postgres; the uid was already changed by spawn.
    const viaSetpriv = existsSync(SETPRIV);
    const child = spawn(viaSetpriv ? SETPRIV : this.postgres, viaSetpriv ? ['--pdeathsig', 'SIGQUIT', '--', this.postgres, ...args] : args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.user ? { uid: this.user.uid, gid: this.user.gid } : {}),
    });
    this.#child = child;
    children.add(child);
    const keep = (b: Buffer) => {
      this.#log += b.toString('utf8');
      if (this.#log.length > LOG_KEEP) this.#log = this.#log.slice(-LOG_KEEP);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let spawnError: Error | undefined;
    this.#exited = new Promise((resolve) => {
      child.on('error', (err) => {
        spawnError = err;
        children.delete(child);
        resolve();
      });
      child.on('exit', () => {
        children.delete(child);
        resolve();
      });
    });
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (spawnError || !this.running) {
        throw new ControlError('CONTROL_PG_START', `postgres exited during start${spawnError ? ` (${spawnError.message})` : ''}; its last lines:\n${this.logTail()}`, { log: this.logTail() });
      }
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
      }
      if (Date.now() > deadline) {
        child.kill('SIGQUIT');
        throw new ControlError('CONTROL_PG_START', `postgres did not accept connections in time; its last lines:\n${this.logTail()}`, { log: this.logTail() });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(keepData = false): Promise<void> {
    const child = this.#child;
    if (child && this.running) {
      // Fast shutdown: sessions are ended, the data is flushed; immediate if it takes too long.
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGQUIT'), 30_000);
      try {
        await this.#exited;
      } finally {
        clearTimeout(timer);
      }
    }
    if (this.ownedDir !== undefined && !keepData) {
      rmSync(this.ownedDir, { recursive: true, force: true });
      tempDirs.delete(this.ownedDir);
    }
  }

  async restart(): Promise<void> {
    await this.stop(true);
    this.#log += '--- restart ---\n';
    await this.start();
  }
}

/**
 * Initialises a data directory (when it has none) and starts postgres on
 * it; resolves once it accepts connections. CONTROL_PG_NO_BINARY when the
 * binaries are missing, CONTROL_PG_START (with the server's last lines) when
 * initdb or the server fails.
 */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServerProcess> {
  const binDir = options.binDir ?? DEFAULT_POSTGRES_BIN_DIR;
  const initdb = binary(binDir, 'initdb');
  const postgres = binary(binDir, 'postgres');
  const user = serverUser();
  const host = options.host ?? '127.0.0.1';
  let ownedDir: string | undefined;
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    // A parent of our own, so that the data directory (initdb's to create, 0700) sits in a directory the server user may enter.
    ownedDir = mkdtempSync(join(tmpdir(), 'l7mesh-pg-'));
    tempDirs.add(ownedDir);
    hookExit();
    if (user) chownSync(ownedDir, user.uid, user.gid);
    dataDir = join(ownedDir, 'data');
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    try {
      execFileSync(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions', ...(options.fsync === false ? ['--no-sync'] : [])], {
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      });
    } catch (err) {
      const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
      const log = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`.trim();
      throw new ControlError('CONTROL_PG_START', `initdb failed for ${dataDir}: ${log || e.message}`, { log, cause: err });
    }
  }
  for (let attempt = 0; ; attempt++) {
    const port = options.port ?? (await freePort(host));
    const proc = new PostgresProc(port, dataDir, host, postgres, user, options, ownedDir);
    try {
      await proc.start();
      return proc;
    } catch (err) {
      // A port we picked may be taken before the server binds it: try another.
      const inUse = err instanceof ControlError && /could not bind|address already in use/i.test(err.log ?? '');
      if (options.port !== undefined || !inUse || attempt >= 3) {
        await proc.stop().catch(() => undefined);
        throw err;
      }
    }
  }
}
