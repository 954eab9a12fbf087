/**
 * The HTTP API on a seeded database (fresh, real PostgreSQL): the token,
 * the schema's refusals naming the parameter, the bounds on ranges and
 * sizes, SQL-injection text inert in every filter, and the answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '@l7mesh/control';
import { writeAccountingDeltas, writeFlowRecords, rollupAccounting } from '@l7mesh/store';
import { createTestDatabase, type TestDatabase } from '../../../packages/store/test/testDatabase.js';

const TOKEN = 'test-token-0123456789abcdef';
const NOW = Date.now();
const MIN = 60_000;
const minuteAgo = (n: number) => new Date(Math.floor((NOW - n * MIN) / MIN) * MIN);

let db: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  const flows = [
    { src: '198.18.0.10', dst: '198.19.0.80', dstPort: 80, l7: 'http', bytes: 5000, edge: 'edge-a' },
    { src: '198.18.0.11', dst: '198.19.0.22', dstPort: 22, l7: 'ssh', bytes: 9000, edge: 'edge-b' },
    { src: '198.18.0.10', dst: '198.19.0.53', dstPort: 53, l7: 'dns', bytes: 300, edge: 'edge-a' },
  ];
  await writeFlowRecords(
    db.pool,
    flows.map((f, i) => ({
      eventId: `f${i}`,
      zone: 0,
      protocol: f.dstPort === 53 ? 17 : 6,
      src: f.src,
      srcPort: 40000 + i,
      dst: f.dst,
      dstPort: f.dstPort,
      firstSeen: minuteAgo(30 - i),
      lastSeen: minuteAgo(29 - i),
      state: i === 0 ? 'live' : 'ended',
      origPackets: 5,
      origBytes: f.bytes / 5,
      replyPackets: 5,
      replyBytes: (4 * f.bytes) / 5,
      l7: f.l7,
      decidedBy: `${f.l7}.pat`,
      mark: 0,
      ruleSetVersion: 0,
      edges: [f.edge],
    })),
  );
  await writeAccountingDeltas(
    db.pool,
    flows.flatMap((f, i) => [
      { eventId: `a${i}`, minute: minuteAgo(30 - i), edge: f.edge, iface: 'eth1', l7: f.l7, direction: 'out' as const, flows: 1, packets: 5, bytes: f.bytes / 5 },
      { eventId: `a${i}`, minute: minuteAgo(30 - i), edge: f.edge, iface: 'eth1', l7: f.l7, direction: 'in' as const, flows: 0, packets: 5, bytes: (4 * f.bytes) / 5 },
    ]),
  );
  await rollupAccounting(db.pool);
  app = buildApi({ pool: db.pool, token: TOKEN });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

/** GET with the token (null: no Authorization header). */
async function get(url: string, token: string | null = TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await app.inject({ method: 'GET', url, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: r.statusCode, body: r.json() as Record<string, unknown> };
}

describe('the API token', () => {
  it('refuses a request without a token or with another one (401, before any parameter is read), and /health needs none', async () => {
    for (const token of [null, 'wrong-token-0123456789abcdef', '']) {
      const r = await get('/top?by=nonsense', token);
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('UNAUTHORIZED');
    }
    const basic = await app.inject({ method: 'GET', url: '/top?by=protocol', headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
    expect(basic.statusCode).toBe(401);
    expect(basic.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await get('/health', null)).status).toBe(200);
    expect(() => buildApi({ pool: db.pool, token: 'short' })).toThrow(/at least 16/);
  });
});

describe('GET /top', () => {
  it('answers per protocol, edge and host, by bytes', async () => {
    const r = await get('/top?by=protocol&since=2h');
    expect(r.status).toBe(200);
    expect(r.body.rows).toEqual([
      { key: 'ssh', flows: 1, packets: 10, bytes: 9000 },
      { key: 'http', flows: 1, packets: 10, bytes: 5000 },
      { key: 'dns', flows: 1, packets: 10, bytes: 300 },
    ]);
    expect((await get('/top?by=edge&since=2h&limit=1')).body.rows).toEqual([{ key: 'edge-b', flows: 1, packets: 10, bytes: 9000 }]);
    expect((await get('/top?by=src&since=2h&edge=edge-a')).body.rows).toEqual([{ key: '198.18.0.10', zone: 0, flows: 2, packets: 20, bytes: 5300 }]);
  });

  it('refuses bad parameters with 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['/top', 'by'],
      ['/top?by=colour', 'by'],
      ['/top?by=protocol&limit=0', 'limit'],
      ['/top?by=protocol&limit=1001', 'limit'],
      ['/top?by=protocol&limit=ten', 'limit'],
      ['/top?by=protocol&since=yesterday', 'since'],
      ['/top?by=protocol&until=2024-13-45T99:99', 'until'],
      ['/top?by=protocol&colour=red', 'colour'],
      ['/top?by=protocol&edge=', 'edge'],
      ['/top?by=protocol&since=1h&until=2h', 'until'],
    ];
    for (const [url, field] of cases) {
      const r = await get(url);
      expect({ url, status: r.status, field: r.body.field }).toEqual({ url, status: 400, field });
      expect(String(r.body.message)).toContain(field);
    }
  });

  it('refuses time ranges wider than the store allows', async () => {
    const r = await get('/top?by=src&since=40d');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'STORE_RANGE_TOO_WIDE', field: 'since' });
    expect((await get('/accounting?since=40d&window=1h')).body).toMatchObject({ code: 'STORE_RANGE_TOO_WIDE', field: 'since' });
  });
});

describe('GET /flows', () => {
  it('lists flows newest first, filtered, bounded by limit', async () => {
    const all = await get('/flows');
    expect(all.status).toBe(200);
    const flows = all.body.flows as Record<string, unknown>[];
    expect(flows.map((f) => f.l7)).toEqual(['dns', 'ssh', 'http']);
    expect(flows[0]).toMatchObject({ src: '198.18.0.10', dst: '198.19.0.53', protocol: 17, state: 'ended', origBytes: 60, replyBytes: 240, edges: ['edge-a'] });
    expect(((await get('/flows?live=true')).body.flows as unknown[]).length).toBe(1);
    expect(((await get('/flows?dst=198.19.0.0/24&proto=ssh')).body.flows as { l7: string }[]).map((f) => f.l7)).toEqual(['ssh']);
    expect(((await get('/flows?limit=2')).body.flows as unknown[]).length).toBe(2);
    expect((await get('/flows?limit=10001')).body.field).toBe('limit');
    expect((await get('/flows?src=not-an-address')).body.field).toBe('src');
    expect((await get('/flows?src=198.18.0.0/40')).body.field).toBe('src');
    expect((await get('/flows?zone=-1')).body.field).toBe('zone');
    expect((await get('/flows?live=perhaps')).body.field).toBe('live');
  });
});

describe('GET /accounting', () => {
  it('answers a series grouped as asked', async () => {
    const r = await get('/accounting?groupBy=proto,direction&window=1h&since=3h');
    expect(r.status).toBe(200);
    const points = r.body.points as { proto: string; direction: string; bytes: number }[];
    const bytes = Object.fromEntries(points.map((p) => [`${p.proto}/${p.direction}`, p.bytes]).reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + (v as number)), new Map()));
    expect(bytes).toEqual({ 'dns/in': 240, 'dns/out': 60, 'http/in': 4000, 'http/out': 1000, 'ssh/in': 7200, 'ssh/out': 1800 });
    expect(r.body.windowSec).toBe(3600);
    for (const [url, field] of [
      ['/accounting?groupBy=colour', 'groupBy'],
      ['/accounting?window=5s', 'window'],
      ['/accounting?window=0m', 'window'],
      ['/accounting?direction=up', 'direction'],
      ['/accounting?maxRows=100001', 'maxRows'],
    ] as const) {
      expect({ url, field: (await get(url)).body.field }).toEqual({ url, field });
    }
    // More rows than maxRows allows is refused, not cut.
    expect((await get('/accounting?groupBy=proto&window=1m&since=2h&maxRows=1')).body).toMatchObject({ code: 'STORE_TOO_MANY_ROWS', field: 'maxRows' });
  });
});

describe('SQL-injection text', () => {
  it('is inert in every filter: no rows, no error, and the tables are intact afterwards', async () => {
    const evil = ["x' OR '1'='1", "'; DROP TABLE flows; --", 'ssh") OR 1=1 --'];
    for (const e of evil) {
      const q = encodeURIComponent(e);
      for (const url of [`/top?by=protocol&since=2h&proto=${q}`, `/top?by=src&since=2h&edge=${q}`, `/top?by=edge&since=2h&interface=${q}`, `/flows?proto=${q}`, `/flows?edge=${q}`, `/accounting?since=2h&proto=${q}&edge=${q}&interface=${q}`]) {
        const r = await get(url);
        expect({ url, status: r.status }).toEqual({ url, status: 200 });
        const rows = (r.body.rows ?? r.body.flows ?? r.body.points) as unknown[];
        expect({ url, rows: rows.length }).toEqual({ url, rows: 0 });
      }
      // Address filters only take address characters.
      expect((await get(`/flows?src=${q}`)).status).toBe(400);
    }
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM flows');
    expect(rows[0]!.n).toBe('3');
  });
});

describe('PostgreSQL unreachable', () => {
  it('answers 503', async () => {
    const dead = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
    dead.on('error', () => undefined);
    const down = buildApi({ pool: dead, token: TOKEN });
    try {
      const r = await down.inject({ method: 'GET', url: '/top?by=protocol', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      await down.close();
      await dead.end();
    }
  });
});
