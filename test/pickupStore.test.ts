/**
 * Mid-stream pickup past the verdict cache: a worker (real nats-server,
 * real PostgreSQL) that neither knows a picked-up flow nor finds it in the
 * cache recalls its verdict from the central store's flow table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busNames, connectBus, startNatsServer, type Bus, type NatsServerProcess } from '@l7mesh/bus';
import type { RunningWorker } from '@l7mesh/classifier';
import { endpointsOfKey, flowKeyOfEndpoints, IPPROTO_TCP } from '@l7mesh/flow';
import { lookupVerdict, writeFlowRecords } from '@l7mesh/store';
import { decodeVerdictBatch, Direction, encodeHeadBatch, partitionOf, SegmentFlag, type Verdict } from '@l7mesh/wire';
import { createTestDatabase, type TestDatabase } from '../packages/store/test/testDatabase.js';
import { projectPatternSet } from './captureCorpus.js';
import { inProcessWorker, until } from './clusterLab.js';

const STORED = { protocol: IPPROTO_TCP, src: '198.18.5.1', sport: 40000, dst: '198.18.5.2', dport: 80 };
const UNSEEN = { ...STORED, sport: 40001 };

let server: NatsServerProcess;
let db: TestDatabase;
let worker: RunningWorker;
let bus: Bus;
const verdicts: Verdict[] = [];

/** One mid-stream TCP segment (no SYN, a payload no pattern claims) of the flow, flagged as picked up. */
function pickup(flow: typeof STORED, batchSeq: number): Uint8Array {
  const key = flowKeyOfEndpoints(flow);
  const low = endpointsOfKey(key, true);
  const now = Math.floor(Date.now() / 1000);
  return encodeHeadBatch({
    edge: 'edge-b',
    partition: partitionOf(0, key, 1024),
    batchSeq,
    watermarkSec: now,
    watermarkNsec: 0,
    segments: [
      {
        zone: 0,
        key,
        direction: low.src === flow.src ? Direction.LowToHigh : Direction.HighToLow,
        generation: 1,
        counter: 1,
        flags: SegmentFlag.Pickup,
        tcpFlags: 0x10,
        seq: 1000,
        ack: 2000,
        tsSec: now,
        tsNsec: 0,
        ipLength: 52 + 12,
        payload: new TextEncoder().encode('\x00\x01zq8x mid-stream'),
      },
    ],
  });
}

beforeAll(async () => {
  server = await startNatsServer();
  db = await createTestDatabase({ migrated: true });
  await writeFlowRecords(db.pool, [
    {
      eventId: 'stored-1',
      zone: 0,
      protocol: IPPROTO_TCP,
      src: STORED.src,
      srcPort: STORED.sport,
      dst: STORED.dst,
      dstPort: STORED.dport,
      firstSeen: new Date(Date.now() - 3_600_000),
      lastSeen: new Date(),
      state: 'live',
      origPackets: 10,
      origBytes: 1000,
      replyPackets: 10,
      replyBytes: 9000,
      l7: 'http',
      decidedBy: 'http.pat',
      mark: 0,
      ruleSetVersion: 1,
      edges: ['edge-a'],
    },
  ]);
  worker = await inProcessWorker('w1', [server.url], projectPatternSet(), {
    partitions: 1024,
    holdMs: 200,
    recallStored: async (zone, key) => {
      const e = endpointsOfKey(key, true);
      const v = await lookupVerdict(db.pool, { zone, protocol: e.protocol, a: e.src, aPort: e.sport, b: e.dst, bPort: e.dport });
      return v && { l7: v.l7, decidedBy: v.decidedBy, decidedAtPacket: 0, mark: v.mark, ruleSetVersion: v.ruleSetVersion, epoch: 0 };
    },
  });
  await until(() => worker.owned().length === 1024, 10_000, 'the worker to own every partition');
  await worker.flush();
  bus = await connectBus({ servers: server.url, name: 'pickup-store-test' }, busNames());
  bus.nc.subscribe(bus.names.verdict('edge-b'), {
    callback: (_e, m) => {
      verdicts.push(...decodeVerdictBatch(m.data).verdicts);
    },
  });
  await bus.nc.flush();
}, 60_000);

afterAll(async () => {
  await bus?.close();
  await worker?.stop();
  await server?.stop();
  await db?.drop();
});

describe('pickup with an empty verdict cache', () => {
  it('a flow in the store: its verdict is recalled from there', async () => {
    bus.nc.publish(bus.names.head(partitionOf(0, flowKeyOfEndpoints(STORED), 1024)), pickup(STORED, 1));
    await until(() => verdicts.length >= 1, 10_000, 'the verdict');
    expect(verdicts[0]).toMatchObject({ key: flowKeyOfEndpoints(STORED), l7: 'http', decidedBy: 'http.pat', recalled: true, final: true });
    expect(worker.counters.storeLookups).toMatchObject({ hits: 1, errors: 0 });
  });

  it('a flow the store does not know is classified from what the edge sent (not recalled)', async () => {
    bus.nc.publish(bus.names.head(partitionOf(0, flowKeyOfEndpoints(UNSEEN), 1024)), pickup(UNSEEN, 2));
    await until(() => worker.counters.storeLookups.misses === 1, 10_000, 'the store lookup');
    expect(verdicts.filter((v) => v.key === flowKeyOfEndpoints(UNSEEN) && v.recalled)).toEqual([]);
  });
});
