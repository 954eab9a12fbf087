import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions, type Status } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { BusError, badOption, messageOf } from './errors.js';
import { busNames, type BusNames } from './names.js';

export interface BusStatus {
  /**
   * nats.js status type: 'disconnect', 'reconnecting', 'reconnect', 'update'
   * (cluster membership gossiped), 'ldm' (server in lame duck mode), 'error',
   * 'staleConnection', 'slowConsumer' (see slow.ts), 'ping', 'forceReconnect',
   * 'close'.
   */
  type: string;
  /** The server (host:port) for disconnect/reconnect/ldm, the Error for 'error', otherwise the whole nats.js Status. */
  data?: unknown;
}

export interface BusOptions {
  /** nats://host:port, tls://host:port (TLS required) or host:port; several for a cluster. */
  servers: string | string[];
  /** Connection name, shown by the server's monitoring (connz). */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** NATS .creds file (JWT + nkey seed); read again on every (re)connect, so a rotated file is picked up. */
  credsFile?: string;
  /** TLS: the CA to trust for the server's certificate, and a client certificate for servers that verify clients. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Reconnect attempts per server; -1 (default) reconnects forever. The first connect never retries. */
  maxReconnectAttempts?: number;
  /** Wait between reconnect attempts to one server (default 1000 ms, plus up to 100 ms jitter). */
  reconnectTimeWaitMs?: number;
  /** Handshake timeout per server on connect (default 5000 ms); also the default JetStream API timeout. */
  connectTimeoutMs?: number;
  /**
   * Client pings every this many ms (default 10 000); after 3 unanswered the
   * connection counts as stale and is re-made. nats.js defaults to 2 min,
   * which leaves a half-open connection (peer vanished without a FIN) dead
   * for minutes.
   */
  pingIntervalMs?: number;
  /** Try the servers in the order given (a site's preferred server first) instead of a random order. */
  noRandomize?: boolean;
  /** Called on connection status changes (disconnect, reconnect, ...), for logs and counters. */
  onStatus?: (status: BusStatus) => void;
}

export interface Bus {
  readonly nc: NatsConnection;
  readonly names: BusNames;
  /** The JetStream client of this connection (one, made on first use). */
  jetstream(): JetStreamClient;
  /** The JetStream manager; BUS_STREAM when the server has no JetStream. */
  jetstreamManager(): Promise<JetStreamManager>;
  /** Drain (deliver what was received, flush what was published), then close; at most a few seconds. Twice is fine. */
  close(): Promise<void>;
  /** Connected now (false while reconnecting and after close)? */
  readonly connected: boolean;
}

const DRAIN_TIMEOUT_MS = 5_000;

function serverList(servers: string | string[]): string[] {
  const list = typeof servers === 'string' ? servers.split(',').map((s) => s.trim()) : servers;
  if (!Array.isArray(list) || list.length === 0) throw badOption('servers', 'at least one server URL is needed');
  for (const s of list) {
    if (typeof s !== 'string' || !/^((nats|tls):\/\/)?[^\s/]+(:\d+)?\/?$/.test(s)) {
      throw badOption('servers', `${JSON.stringify(s)} is not a nats://host:port, tls://host:port or host:port URL`);
    }
  }
  return list;
}

function positiveInt(field: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw badOption(field, `${v} must be an integer >= ${min}`);
}

/** Turns BusOptions into nats.js options (no I/O except reading nothing; the creds file is read by the authenticator). */
function natsOptions(options: BusOptions, servers: string[]): NodeConnectionOptions {
  positiveInt('maxReconnectAttempts', options.maxReconnectAttempts, -1);
  positiveInt('reconnectTimeWaitMs', options.reconnectTimeWaitMs, 0);
  positiveInt('connectTimeoutMs', options.connectTimeoutMs, 1);
  positiveInt('pingIntervalMs', options.pingIntervalMs, 1);
  if (options.token !== undefined && (options.user !== undefined || options.pass !== undefined)) {
    throw badOption('token', 'token and user/pass are exclusive');
  }
  if (options.pass !== undefined && options.user === undefined) throw badOption('pass', 'pass needs user');
  if (options.credsFile !== undefined && (options.token !== undefined || options.user !== undefined)) {
    throw badOption('credsFile', 'credsFile excludes token and user/pass');
  }
  const o: NodeConnectionOptions = {
    servers,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1_000,
    timeout: options.connectTimeoutMs ?? 5_000,
    pingInterval: options.pingIntervalMs ?? 10_000,
    maxPingOut: 3,
    noRandomize: options.noRandomize ?? false,
  };
  if (options.name !== undefined) o.name = options.name;
  if (options.user !== undefined) o.user = options.user;
  if (options.pass !== undefined) o.pass = options.pass;
  if (options.token !== undefined) o.token = options.token;
  if (options.credsFile !== undefined) {
    const file = options.credsFile;
    try {
      readFileSync(file);
    } catch (err) {
      throw new BusError('BUS_BAD_OPTION', `credsFile: cannot read ${file}: ${messageOf(err)}`, { field: 'credsFile', cause: err });
    }
    o.authenticator = credsAuthenticator(() => new Uint8Array(readFileSync(file)));
  }
  const wantsTls = options.tls !== undefined || servers.some((s) => s.startsWith('tls://'));
  if (wantsTls) {
    const t = options.tls ?? {};
    o.tls = {};
    if (t.caFile !== undefined) o.tls.caFile = t.caFile;
    if (t.certFile !== undefined) o.tls.certFile = t.certFile;
    if (t.keyFile !== undefined) o.tls.keyFile = t.keyFile;
    if ((t.certFile === undefined) !== (t.keyFile === undefined)) throw badOption('tls', 'certFile and keyFile go together');
    // nats.js 3.4 gives Node no servername for a server addressed by IP
    // (nats://10.0.0.1:4222), so Node checks the certificate against
    // 'localhost'. Remember the server each attempt dials (the handler sees
    // the pick at pool[0] and keeps it), and check an IP target's
    // certificate against that IP (its SAN IP entry) instead.
    let target = '';
    o.reconnectToServer = (pool) => {
      target = (pool[0]?.hostname ?? '').replace(/^\[(.*)\]$/, '$1');
      return null;
    };
    Object.assign(o.tls, {
      checkServerIdentity: (host: string, cert: PeerCertificate) =>
        checkServerIdentity(host === 'localhost' && isIP(target) !== 0 ? target : host, cert),
    });
  }
  return o;
}

/** Connects to NATS; BUS_CONNECT (with the servers in the message) when no server takes the connection. */
export async function connectBus(options: BusOptions, names: BusNames = busNames()): Promise<Bus> {
  const servers = serverList(options.servers);
  const opts = natsOptions(options, servers);
  let nc: NatsConnection;
  try {
    nc = await connect(opts);
  } catch (err) {
    throw new BusError('BUS_CONNECT', `cannot connect to NATS at ${servers.join(', ')}: ${messageOf(err)}`, { servers, cause: err });
  }
  return new BusImpl(nc, names, options.onStatus);
}

class BusImpl implements Bus {
  #connected = true;
  #js: JetStreamClient | undefined;
  #jsm: Promise<JetStreamManager> | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    readonly nc: NatsConnection,
    readonly names: BusNames,
    onStatus: ((status: BusStatus) => void) | undefined,
  ) {
    void this.#watch(onStatus);
  }

  get connected(): boolean {
    return this.#connected && !this.nc.isClosed();
  }

  async #watch(onStatus: ((status: BusStatus) => void) | undefined): Promise<void> {
    const report = (s: BusStatus) => {
      if (!onStatus) return;
      try {
        onStatus(s);
      } catch {
        // A failing status listener must not stop the watch.
      }
    };
    let sawClose = false;
    try {
      for await (const s of this.nc.status()) {
        if (s.type === 'close') sawClose = true;
        if (s.type === 'disconnect' || s.type === 'reconnecting' || s.type === 'close') this.#connected = false;
        else if (s.type === 'reconnect') this.#connected = true;
        report({ type: s.type, data: statusData(s) });
      }
    } catch {
      // The iterator ends (or fails) with the connection.
    }
    this.#connected = false;
    if (!sawClose) {
      const err = await this.nc.closed();
      report({ type: 'close', data: err ?? undefined });
    }
  }

  jetstream(): JetStreamClient {
    this.#js ??= jetstream(this.nc);
    return this.#js;
  }

  jetstreamManager(): Promise<JetStreamManager> {
    if (!this.#jsm) {
      this.#jsm = jetstreamManager(this.nc).catch((err: unknown) => {
        this.#jsm = undefined;
        throw new BusError('BUS_STREAM', `JetStream is not available on ${this.nc.getServer()}: ${messageOf(err)}`, { cause: err });
      });
    }
    return this.#jsm;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.nc.isClosed()) return;
      // Draining needs the server; while reconnecting it would wait for it.
      if (!this.#connected) {
        await this.nc.close().catch(() => {});
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.nc.drain(),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS))),
        ]);
      } catch {
        // Draining a connection that is already closing fails; close below.
      } finally {
        clearTimeout(timer);
      }
      if (!this.nc.isClosed()) await this.nc.close().catch(() => {});
      this.#connected = false;
    })();
    return this.#closing;
  }
}

function statusData(s: Status): unknown {
  switch (s.type) {
    case 'disconnect':
    case 'reconnect':
    case 'ldm':
      return s.server;
    case 'error':
      return s.error;
    default:
      return s;
  }
}
