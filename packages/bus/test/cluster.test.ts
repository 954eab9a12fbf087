/** A three-server JetStream cluster: replicated stream and buckets, and a client that survives losing its server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busNames,
  connectBus,
  ensureEventsStream,
  openMembersBucket,
  openVerdictsBucket,
  startNatsCluster,
  type Bus,
  type BusStatus,
  type NatsCluster,
} from '@l7mesh/bus';
import { Inbox, roundTrip, until } from './helpers.js';

let cluster: NatsCluster;
let bus: Bus;
const statuses: BusStatus[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  bus = await connectBus({ servers: cluster.urls, reconnectTimeWaitMs: 200, onStatus: (s) => statuses.push(s) }, busNames('cl'));
});
afterAll(async () => {
  await bus?.close();
  await cluster?.stop();
});

describe('startNatsCluster', () => {
  it('runs three servers with routes between them', () => {
    expect(cluster.servers).toHaveLength(3);
    expect(new Set(cluster.urls).size).toBe(3);
    expect(bus.nc.info?.cluster).toBe('l7mesh');
  });

  it('creates the stream and buckets with 3 replicas, idempotently, and scales 1 -> 3', async () => {
    await ensureEventsStream(bus, { replicas: 3 });
    await ensureEventsStream(bus, { replicas: 3 });
    await openMembersBucket(bus, { replicas: 3 });
    await openVerdictsBucket(bus, { replicas: 3 });
    await openVerdictsBucket(bus, { replicas: 3 });
    const jsm = await bus.jetstreamManager();
    for (const stream of ['CL_EVENTS', 'KV_cl_members', 'KV_cl_verdicts']) {
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas, stream).toBe(3);
      expect(info.cluster?.replicas ?? [], stream).toHaveLength(2);
    }
    const other = await connectBus({ servers: cluster.urls }, busNames('cl_scale'));
    try {
      await ensureEventsStream(other, { replicas: 1 });
      await ensureEventsStream(other, { replicas: 3 });
      expect((await jsm.streams.info('CL_SCALE_EVENTS')).config.num_replicas).toBe(3);
    } finally {
      await other.close();
    }
  });

  it('keeps working after the server the client is connected to is killed', async () => {
    await ensureEventsStream(bus, { replicas: 3 });
    const members = await openMembersBucket(bus, { replicas: 3 });
    const js = bus.jetstream();
    const inbox = new Inbox(bus.nc.subscribe('cl.head.*'));
    await roundTrip(bus, inbox, 'cl.head.1', 'before');
    expect((await js.publish(bus.names.eventsSubject, 'e1', { msgID: 'e1' })).duplicate).toBe(false);
    await members.put('w1', 'before');

    const port = Number(bus.nc.getServer().split(':').pop());
    const victim = cluster.servers.find((s) => s.port === port);
    expect(victim, `connected to ${bus.nc.getServer()}`).toBeDefined();
    await victim!.kill();
    await until(() => statuses.some((s) => s.type === 'reconnect'), 10_000, 'a reconnect to another server');
    expect(Number(bus.nc.getServer().split(':').pop())).not.toBe(port);

    // Stream publish acks arrive again once the stream has a leader among the two left.
    const deadline = Date.now() + 20_000;
    let seq = 0;
    for (let i = 0; !seq; i++) {
      try {
        seq = (await js.publish(bus.names.eventsSubject, `after-${i}`, { msgID: `after-${i}`, timeout: 2_000 })).seq;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(seq).toBeGreaterThan(1);
    await until(async () => (await members.put('w1', 'after').catch(() => 0)) > 0, 20_000, 'a KV put after the failover');
    expect((await members.get('w1'))?.string()).toBe('after');
    await roundTrip(bus, inbox, 'cl.head.1', 'after');
  });
});
