/** The nats-server launcher: missing binary, start failures, stop/restart, children killed at exit, slow-consumer limits. */
import { execFile } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connectBus, ensureEventsStream, startNatsServer } from '@l7mesh/bus';
import { until } from './helpers.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startNatsServer', () => {
  it('fails with BUS_NO_SERVER_BINARY when the binary does not exist', async () => {
    await expect(startNatsServer({ binary: '/nonexistent/nats-server' })).rejects.toMatchObject({
      code: 'BUS_NO_SERVER_BINARY',
      message: 'nats-server not found at /nonexistent/nats-server: bash infra/setup.sh installs it',
    });
    await expect(startNatsServer({ binary: 'nats-server-l7mesh-missing' })).rejects.toMatchObject({
      code: 'BUS_NO_SERVER_BINARY',
      message: 'nats-server-l7mesh-missing not found on PATH: bash infra/setup.sh installs it',
    });
  });

  it('fails with BUS_SERVER_START and the log when the server exits during start', async () => {
    const first = await startNatsServer({ jetstream: false });
    try {
      const err = await startNatsServer({ jetstream: false, port: first.port }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'BUS_SERVER_START' });
      expect((err as Error).message).toMatch(/address already in use/);
      await expect(startNatsServer({ port: 70000 })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'port' });
    } finally {
      await first.stop();
    }
  });

  it('stops twice, restarts on the same port with the same JetStream store', async () => {
    const srv = await startNatsServer();
    const pid = srv.pid;
    let bus = await connectBus({ servers: srv.url });
    await ensureEventsStream(bus);
    await bus.jetstream().publish(bus.names.eventsSubject, 'kept');
    await bus.close();
    await srv.stop();
    await srv.stop();
    expect(srv.running).toBe(false);
    expect(alive(pid)).toBe(false);
    await srv.restart();
    expect(srv.pid).not.toBe(pid);
    bus = await connectBus({ servers: srv.url });
    const jsm = await bus.jetstreamManager();
    expect((await jsm.streams.info(bus.names.eventsStream)).state.messages).toBe(1);
    await bus.close();
    await srv.kill();
    await srv.kill();
    expect(srv.running).toBe(false);
  });

  it('kills its servers when the process that started them exits or is terminated', async () => {
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = (end: string) =>
      `import { startNatsServer } from ${JSON.stringify(dist)};` +
      `const s = await startNatsServer({ jetstream: false }); console.log(s.pid); ${end}`;
    const run = (end: string) =>
      new Promise<number>((resolve, reject) => {
        execFile(process.execPath, ['--input-type=module', '-e', script(end)], { timeout: 20_000 }, (err, stdout) => {
          const pid = Number(stdout.trim());
          if (pid > 0) resolve(pid);
          else reject(err ?? new Error(`no pid: ${stdout}`));
        });
      });
    const exited = await run('process.exit(0);');
    await until(() => !alive(exited), 3_000, `nats-server ${exited} to go after process.exit`);
    const terminated = await run('process.kill(process.pid, "SIGTERM"); setTimeout(() => {}, 10_000);');
    await until(() => !alive(terminated), 3_000, `nats-server ${terminated} to go after SIGTERM`);
  });

  it('applies maxPendingBytes and writeDeadlineSec: a client that stops reading is cut off as a slow consumer', async () => {
    const srv = await startNatsServer({ jetstream: false, maxPendingBytes: 1 << 20, maxPayload: 64 << 10, writeDeadlineSec: 2 });
    const sock = tcpConnect({ host: '127.0.0.1', port: srv.port });
    try {
      let got = '';
      sock.on('data', (b: Buffer) => (got += b.toString('latin1')));
      sock.on('error', () => {});
      sock.write('CONNECT {"verbose":false,"pedantic":false}\r\nSUB slow.raw 1\r\nPING\r\n');
      await until(() => got.includes('PONG'), 5_000, 'PONG from the server');
      sock.pause(); // never read again
      const bus = await connectBus({ servers: srv.url });
      const chunk = new Uint8Array(32 << 10);
      for (let i = 0; i < 1024 && !/Slow Consumer/i.test(srv.logTail(50)); i++) {
        for (let j = 0; j < 32; j++) bus.nc.publish('slow.raw', chunk);
        await bus.nc.flush();
      }
      await until(() => /Slow Consumer Detected/i.test(srv.logTail(50)), 5_000, 'the server to cut the reader off');
      // The publisher was only held back (stalled), never cut off.
      expect(bus.connected).toBe(true);
      await bus.nc.flush();
      await bus.close();
    } finally {
      sock.destroy();
      await srv.stop();
    }
  });
});
