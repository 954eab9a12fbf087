/** Connections: round trip, failures, reconnect after a server restart, TLS, user/password, slow-consumer status. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { busNames, connectBus, freePort, noCutoffSubscription, startNatsServer, type Bus, type BusStatus, type NatsServerProcess } from '@l7mesh/bus';
import { Inbox, roundTrip, until } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});
function track<T extends Bus | NatsServerProcess>(x: T): T {
  cleanups.push(() => ('nc' in x ? x.close() : x.stop()));
  return x;
}

describe('connectBus', () => {
  it('connects, publishes and subscribes', async () => {
    const srv = track(await startNatsServer({ jetstream: false }));
    const names = busNames('rt');
    const bus = track(await connectBus({ servers: srv.url, name: 'rt-test' }, names));
    expect(bus.connected).toBe(true);
    expect(bus.names).toBe(names);
    const inbox = new Inbox(bus.nc.subscribe(names.headWildcard));
    await bus.nc.flush();
    await roundTrip(bus, inbox, names.head(5), 'hello');
    await bus.close();
    await bus.close();
    expect(bus.connected).toBe(false);
    expect(bus.nc.isClosed()).toBe(true);
  });

  it('fails with BUS_CONNECT on a dead port, naming the servers, rather than waiting for a server', async () => {
    const port = await freePort();
    const err = await connectBus({ servers: [`nats://127.0.0.1:${port}`], maxReconnectAttempts: 0, connectTimeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BUS_CONNECT', servers: [`nats://127.0.0.1:${port}`] });
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    // The default (reconnect forever) does not wait for a server on the first connect either.
    await expect(connectBus({ servers: `127.0.0.1:${port}` })).rejects.toMatchObject({ code: 'BUS_CONNECT' });
  });

  it('rejects bad options with BUS_BAD_OPTION before connecting', async () => {
    await expect(connectBus({ servers: [] })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'servers' });
    await expect(connectBus({ servers: 'http://x:1/y' })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'servers' });
    await expect(connectBus({ servers: '127.0.0.1:1', token: 't', user: 'u' })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'token' });
    await expect(connectBus({ servers: '127.0.0.1:1', credsFile: '/nonexistent/x.creds' })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'credsFile' });
  });

  it('works again after the server is killed and restarted on the same port', async () => {
    const srv = track(await startNatsServer({ jetstream: false }));
    const statuses: BusStatus[] = [];
    const bus = track(await connectBus({ servers: srv.url, reconnectTimeWaitMs: 100, onStatus: (s) => statuses.push(s) }));
    const inbox = new Inbox(bus.nc.subscribe('re.x'));
    await roundTrip(bus, inbox, 're.x', 'before');
    const port = srv.port;
    await srv.kill();
    await until(() => statuses.some((s) => s.type === 'disconnect'), 5_000, 'a disconnect status');
    expect(bus.connected).toBe(false);
    await srv.restart();
    expect(srv.port).toBe(port);
    await until(() => statuses.some((s) => s.type === 'reconnect'), 10_000, 'a reconnect status');
    expect(bus.connected).toBe(true);
    expect(statuses.find((s) => s.type === 'reconnect')?.data).toContain(String(port));
    await roundTrip(bus, inbox, 're.x', 'after');
  });

  it('reports a slowConsumer status when an iterator subscription falls behind (client side, nothing dropped)', async () => {
    const srv = track(await startNatsServer({ jetstream: false }));
    const statuses: BusStatus[] = [];
    const bus = track(await connectBus({ servers: srv.url, onStatus: (s) => statuses.push(s) }));
    const sub = bus.nc.subscribe('slow.x', noCutoffSubscription({ slowPendingMsgs: 10 }));
    for (let i = 0; i < 50; i++) bus.nc.publish('slow.x', String(i));
    await bus.nc.flush();
    await until(() => statuses.some((s) => s.type === 'slowConsumer'), 5_000, 'a slowConsumer status');
    expect(sub.getPending()).toBe(50);
    const inbox = new Inbox(sub);
    for (let i = 0; i < 50; i++) expect((await inbox.next()).string()).toBe(String(i));
  });
});

describe('authentication', () => {
  it('takes the right user/password and refuses wrong ones with BUS_CONNECT', async () => {
    const srv = track(await startNatsServer({ user: 'edge', pass: 's3cret' }));
    const bus = track(await connectBus({ servers: srv.url, user: 'edge', pass: 's3cret' }));
    const inbox = new Inbox(bus.nc.subscribe('auth.x'));
    await roundTrip(bus, inbox, 'auth.x', 'ok');
    await expect(connectBus({ servers: srv.url, user: 'edge', pass: 'wrong', maxReconnectAttempts: 0 })).rejects.toMatchObject({ code: 'BUS_CONNECT' });
    await expect(connectBus({ servers: srv.url, maxReconnectAttempts: 0 })).rejects.toMatchObject({ code: 'BUS_CONNECT' });
  });
});

describe('TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'l7mesh-bus-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => join(dir, n);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

  it('connects with the CA and refuses a client that lacks it', async () => {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=l7mesh test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
    writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
    openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f('server.pem'), '-days', '1', '-extfile', f('ext.cnf'));

    const srv = track(await startNatsServer({ tls: { certFile: f('server.pem'), keyFile: f('server.key'), verify: false } }));
    expect(srv.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const bus = track(await connectBus({ servers: srv.url, tls: { caFile: f('ca.pem') } }));
    const inbox = new Inbox(bus.nc.subscribe('tls.x'));
    await roundTrip(bus, inbox, 'tls.x', 'secret');
    await expect(connectBus({ servers: srv.url, maxReconnectAttempts: 0 })).rejects.toMatchObject({ code: 'BUS_CONNECT' });
    await expect(connectBus({ servers: `nats://127.0.0.1:${srv.port}`, maxReconnectAttempts: 0 })).rejects.toMatchObject({ code: 'BUS_CONNECT' });

    // A certificate from the right CA but for another IP is refused too.
    openssl('req', ...ec, '-keyout', f('other.key'), '-out', f('other.csr'), '-subj', '/CN=127.0.0.2');
    writeFileSync(f('other.cnf'), 'subjectAltName=IP:127.0.0.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
    openssl('x509', '-req', '-in', f('other.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f('other.pem'), '-days', '1', '-extfile', f('other.cnf'));
    const other = track(await startNatsServer({ jetstream: false, tls: { certFile: f('other.pem'), keyFile: f('other.key') } }));
    const err = await connectBus({ servers: other.url, tls: { caFile: f('ca.pem') }, maxReconnectAttempts: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BUS_CONNECT' });
    expect((err as Error).message).toContain('127.0.0.1');
  });
});
