/** The events stream and the KV buckets: created once, idempotent, updated to new settings; Nats-Msg-Id dedupe. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busNames,
  connectBus,
  ensureEventsStream,
  openMembersBucket,
  openVerdictsBucket,
  startNatsServer,
  verdictCacheKey,
  type Bus,
  type NatsServerProcess,
} from '@l7mesh/bus';

const NS = 1_000_000_000;
let srv: NatsServerProcess;
let bus: Bus;

beforeAll(async () => {
  srv = await startNatsServer();
  bus = await connectBus({ servers: srv.url }, busNames('jst'));
});
afterAll(async () => {
  await bus?.close();
  await srv?.stop();
});

describe('ensureEventsStream', () => {
  it('creates the stream, is idempotent, and updates it to other settings', async () => {
    const jsm = await bus.jetstreamManager();
    await ensureEventsStream(bus);
    await ensureEventsStream(bus);
    let cfg = (await jsm.streams.info('JST_EVENTS')).config;
    expect(cfg).toMatchObject({ subjects: ['jst.events.verdict'], storage: 'file', retention: 'limits', num_replicas: 1 });
    expect(cfg.max_age).toBe(86_400 * NS);
    expect(cfg.duplicate_window).toBe(120 * NS);

    await ensureEventsStream(bus, { maxAgeSec: 60, duplicateWindowSec: 5 });
    cfg = (await jsm.streams.info('JST_EVENTS')).config;
    expect(cfg.max_age).toBe(60 * NS);
    expect(cfg.duplicate_window).toBe(5 * NS);
    await ensureEventsStream(bus, { maxAgeSec: 60, duplicateWindowSec: 5 });
    // Only the one subject is stored.
    const names = (await jsm.streams.info('JST_EVENTS')).config.subjects;
    expect(names).toEqual([bus.names.eventsSubject]);
  });

  it('stores a message published twice with one Nats-Msg-Id once', async () => {
    await ensureEventsStream(bus);
    const js = bus.jetstream();
    const jsm = await bus.jetstreamManager();
    await jsm.streams.purge(bus.names.eventsStream);
    const a = await js.publish(bus.names.eventsSubject, '{"flow":1}', { msgID: 'edge1:flow1:v1' });
    const b = await js.publish(bus.names.eventsSubject, '{"flow":1}', { msgID: 'edge1:flow1:v1' });
    const c = await js.publish(bus.names.eventsSubject, '{"flow":2}', { msgID: 'edge1:flow2:v1' });
    expect(a.duplicate).toBe(false);
    expect(b).toMatchObject({ duplicate: true, seq: a.seq });
    expect(c.duplicate).toBe(false);
    expect((await jsm.streams.info(bus.names.eventsStream)).state.messages).toBe(2);
  });

  it('refuses bad settings with BUS_BAD_OPTION, and replicas the server cannot give with BUS_STREAM', async () => {
    await expect(ensureEventsStream(bus, { maxAgeSec: 10, duplicateWindowSec: 20 })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'duplicateWindowSec' });
    await expect(ensureEventsStream(bus, { replicas: 0 })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'replicas' });
    await expect(ensureEventsStream(bus, { maxAgeSec: -1 })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'maxAgeSec' });
    const other = await connectBus({ servers: srv.url }, busNames('jst_r3'));
    try {
      await expect(ensureEventsStream(other, { replicas: 3 })).rejects.toMatchObject({ code: 'BUS_STREAM' });
    } finally {
      await other.close();
    }
  });

  it('fails with BUS_STREAM on a server without JetStream', async () => {
    const plain = await startNatsServer({ jetstream: false });
    const b = await connectBus({ servers: plain.url });
    try {
      await expect(ensureEventsStream(b)).rejects.toMatchObject({ code: 'BUS_STREAM' });
      await expect(openMembersBucket(b)).rejects.toMatchObject({ code: 'BUS_KV' });
    } finally {
      await b.close();
      await plain.stop();
    }
  });
});

describe('KV buckets', () => {
  it('opens the members and verdicts buckets idempotently with their defaults', async () => {
    const jsm = await bus.jetstreamManager();
    const m1 = await openMembersBucket(bus);
    const m2 = await openMembersBucket(bus);
    await m1.put('worker-1', '{"at":1}');
    expect((await m2.get('worker-1'))?.string()).toBe('{"at":1}');
    const ms = (await jsm.streams.info('KV_jst_members')).config;
    expect(ms).toMatchObject({ storage: 'memory', max_msgs_per_subject: 1, num_replicas: 1, max_age: 60 * NS });

    const v = await openVerdictsBucket(bus);
    await openVerdictsBucket(bus);
    const key = verdictCacheKey(3, '\x06\x0a\x00\x00\x01\xff');
    await v.put(key, 'http');
    await v.put(key, 'ssl');
    expect((await v.get(key))?.string()).toBe('ssl');
    const vs = await jsm.streams.info('KV_jst_verdicts');
    expect(vs.config).toMatchObject({ storage: 'memory', max_msgs_per_subject: 1, max_age: 300 * NS });
    expect(vs.state.messages).toBe(1);
  });

  it('updates an existing bucket to other settings', async () => {
    const jsm = await bus.jetstreamManager();
    await openVerdictsBucket(bus);
    const kv = await openVerdictsBucket(bus, { ttlSec: 30 });
    let cfg = (await jsm.streams.info('KV_jst_verdicts')).config;
    expect(cfg.max_age).toBe(30 * NS);
    expect(cfg.duplicate_window).toBeLessThanOrEqual(30 * NS);
    await kv.put('1.00', 'x');
    expect((await kv.get('1.00'))?.string()).toBe('x');
    await openVerdictsBucket(bus, { ttlSec: 600 });
    cfg = (await jsm.streams.info('KV_jst_verdicts')).config;
    expect(cfg.max_age).toBe(600 * NS);
    await expect(openMembersBucket(bus, { ttlSec: 0 })).rejects.toMatchObject({ code: 'BUS_BAD_OPTION', field: 'ttlSec' });
  });

  it('ages entries out after the ttl (silently: 2.9 writes no delete marker)', async () => {
    const b = await connectBus({ servers: srv.url }, busNames('jst_ttl'));
    try {
      const kv = await openMembersBucket(b, { ttlSec: 1 });
      await kv.put('w1', 'alive');
      expect((await kv.get('w1'))?.string()).toBe('alive');
      await new Promise((r) => setTimeout(r, 2_200));
      expect(await kv.get('w1')).toBeNull();
    } finally {
      await b.close();
    }
  });
});
