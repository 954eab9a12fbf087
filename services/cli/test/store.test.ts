/**
 * `l7mesh top`, `flows` and `accounting` as an operator runs them (the
 * built command, npm test builds first) on a seeded database of their own,
 * and `l7mesh up --once --no-split` end to end: its PostgreSQL totals equal
 * classify's on the same capture.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollupAccounting, writeAccountingDeltas, writeFlowRecords } from '@l7mesh/store';
import { createTestDatabase, type TestDatabase } from '../../../packages/store/test/testDatabase.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');

function l7mesh(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 150_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const DAY0 = Date.UTC(2024, 2, 10);
const at = (min: number) => new Date(DAY0 + 10 * 3_600_000 + min * 60_000);
const RANGE = ['--since', '2024-03-10T00:00:00Z', '--until', '2024-03-11T00:00:00Z'];

let db: TestDatabase;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  env = { DATABASE_URL: db.url };
  const flows = [
    { src: '198.18.0.10', sport: 40000, dst: '198.19.0.80', dport: 80, l7: 'http', edge: 'edge-a', ob: 400, rb: 4600, live: true },
    { src: '198.18.0.11', sport: 40001, dst: '198.19.0.22', dport: 22, l7: 'ssh', edge: 'edge-b', ob: 2000, rb: 7000, live: false },
    { src: '2001:db8::10', sport: 5353, dst: '2001:db8:1::53', dport: 53, l7: 'dns', edge: 'edge-a', ob: 60, rb: 240, live: false },
  ];
  await writeFlowRecords(
    db.pool,
    flows.map((f, i) => ({
      eventId: `f${i}`,
      zone: 0,
      protocol: f.dport === 53 ? 17 : 6,
      src: f.src,
      srcPort: f.sport,
      dst: f.dst,
      dstPort: f.dport,
      firstSeen: at(i),
      lastSeen: at(i + 1),
      state: f.live ? 'live' : 'ended',
      origPackets: 4,
      origBytes: f.ob,
      replyPackets: 6,
      replyBytes: f.rb,
      l7: f.l7,
      decidedBy: `${f.l7}.pat`,
      mark: i === 0 ? 0x100 : 0,
      ruleSetVersion: 0,
      edges: [f.edge],
    })),
  );
  await writeAccountingDeltas(
    db.pool,
    flows.flatMap((f, i) => [
      { eventId: `a${i}`, minute: at(i), edge: f.edge, iface: 'eth1', l7: f.l7, direction: 'out' as const, flows: 1, packets: 4, bytes: f.ob },
      { eventId: `a${i}`, minute: at(i + 7), edge: f.edge, iface: 'eth1', l7: f.l7, direction: 'in' as const, flows: 0, packets: 6, bytes: f.rb },
    ]),
  );
  await rollupAccounting(db.pool);
});
afterAll(async () => {
  await db?.drop();
});

describe('l7mesh top', () => {
  it('prints the top protocols, edges and hosts as a table and as JSON', async () => {
    const r = await l7mesh(['top', '--by', 'protocol', ...RANGE], env);
    expect(r.code, r.stderr).toBe(0);
    const rows = [...r.stdout.matchAll(/│ (\w+) +│ +(\d+) │ +(\d+) │ +(\d+) │ +([\d.]+%) │/g)].map((m) => m.slice(1).join(' '));
    expect(rows).toEqual(['ssh 1 10 9000 62.9%', 'http 1 10 5000 35.0%', 'dns 1 10 300 2.1%']);
    const json = await l7mesh(['top', '--by', 'dst', '--edge', 'edge-a', '--json', ...RANGE], env);
    expect(JSON.parse(json.stdout)).toEqual([
      { key: '198.19.0.80', zone: 0, flows: 1, packets: 10, bytes: 5000 },
      { key: '2001:db8:1::53', zone: 0, flows: 1, packets: 10, bytes: 300 },
    ]);
    const one = await l7mesh(['top', '--by', 'edge', '--limit', '1', '--json', ...RANGE], env);
    expect(JSON.parse(one.stdout)).toEqual([{ key: 'edge-b', flows: 1, packets: 10, bytes: 9000 }]);
  });

  it('says what is wrong: no database, a bad option, a range the store refuses', async () => {
    const none = await l7mesh(['top'], { DATABASE_URL: '' });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/NO_DATABASE: no database: set DATABASE_URL/);
    const bad = await l7mesh(['top', '--by', 'colour'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--by <what>.*colour.*Allowed choices are protocol, edge, src, dst/s);
    const wide = await l7mesh(['top', '--by', 'src', '--since', '60d'], env);
    expect(wide.code).toBe(2);
    expect(wide.stderr).toMatch(/STORE_RANGE_TOO_WIDE: since: the range since\.\.until may span at most 31 days/);
  });
});

describe('l7mesh flows', () => {
  it('lists flows like conntrack -L, newest first, with filters and as JSON', async () => {
    const r = await l7mesh(['flows', ...RANGE], env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(
      'ipv6     10 udp      17 ENDED src=2001:db8::10 dst=2001:db8:1::53 sport=5353 dport=53 packets=4 bytes=60 src=2001:db8:1::53 dst=2001:db8::10 sport=53 dport=5353 packets=6 bytes=240 ' +
        `l7=dns by=dns.pat mark=0x0 zone=0 edges=edge-a first=${at(2).toISOString()} last=${at(3).toISOString()}`,
    );
    expect(lines[2]).toMatch(/^ipv4     2 tcp      6 LIVE src=198\.18\.0\.10 dst=198\.19\.0\.80 sport=40000 dport=80 packets=4 bytes=400 src=198\.19\.0\.80 dst=198\.18\.0\.10 sport=80 dport=40000 packets=6 bytes=4600 l7=http by=http\.pat mark=0x100 /);
    expect(r.stderr).toMatch(/3 flow entries have been shown/);
    const live = await l7mesh(['flows', '--live'], env);
    expect(live.stdout.trim().split('\n').map((l) => / l7=(\w+)/.exec(l)![1])).toEqual(['http']);
    const json = await l7mesh(['flows', '--json', '--src', '198.18.0.0/16', '--proto', 'ssh', ...RANGE], env);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ src: '198.18.0.11', dstPort: 22, l7: 'ssh', origBytes: 2000, replyBytes: 7000, edges: ['edge-b'] })]);
  });
});

describe('l7mesh accounting', () => {
  it('prints a time series grouped as asked: table, CSV, JSON', async () => {
    const table = await l7mesh(['accounting', '--group-by', 'proto,edge', '--window', '5m', ...RANGE], env);
    expect(table.code, table.stderr).toBe(0);
    const rows = [...table.stdout.matchAll(/│ (\S+) +│ (\w+) +│ ([\w-]+) +│ +(\d+) │ +(\d+) │ +(\d+) │/g)].map((m) => m.slice(1).join(' '));
    expect(rows).toEqual([
      '2024-03-10T10:00:00.000Z dns edge-a 1 4 60',
      '2024-03-10T10:00:00.000Z http edge-a 1 4 400',
      '2024-03-10T10:00:00.000Z ssh edge-b 1 4 2000',
      '2024-03-10T10:05:00.000Z dns edge-a 0 6 240',
      '2024-03-10T10:05:00.000Z http edge-a 0 6 4600',
      '2024-03-10T10:05:00.000Z ssh edge-b 0 6 7000',
    ]);
    const csv = await l7mesh(['accounting', '--group-by', 'direction', '--window', '1h', '--csv', ...RANGE], env);
    expect(csv.stdout).toBe('start,direction,flows,packets,bytes\r\n2024-03-10T10:00:00.000Z,in,0,18,11840\r\n2024-03-10T10:00:00.000Z,out,3,12,2460\r\n');
    const json = JSON.parse((await l7mesh(['accounting', '--group-by', 'proto', '--window', '1d', '--json', '--proto', 'ssh', ...RANGE], env)).stdout);
    expect(json).toEqual({ resolution: 'day', windowSec: 86400, points: [{ start: '2024-03-10T00:00:00.000Z', proto: 'ssh', flows: 1, packets: 10, bytes: 9000 }] });
    const bad = await l7mesh(['accounting', '--window', '90s'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--window.*expected a window of whole minutes/);
  });
});

describe('l7mesh up with its own PostgreSQL', () => {
  it('--no-split --once: the per-protocol totals in PostgreSQL equal classify on the same capture', async () => {
    const classify = await l7mesh(['classify', '--pcap', join(repo, 'test/captures/mixed/lab-mixed.pcap')]);
    const want = [...classify.stderr.matchAll(/│ (\w+) +│ +(\d+) │ +(\d+) │ +(\d+) │/g)].map((m) => m.slice(1).join(' ')).filter((l) => !l.startsWith('total'));
    expect(want.length).toBeGreaterThan(3);
    const r = await l7mesh(['up', '--once', '--workers', '1', '--no-split'], { DATABASE_URL: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/up: no DATABASE_URL: started PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres/);
    const store = r.stderr.slice(r.stderr.indexOf('accounting in PostgreSQL'));
    const got = [...store.matchAll(/│ (\w+) +│ +(\d+) │ +(\d+) │ +(\d+) │/g)].map((m) => m.slice(1).join(' '));
    expect(got.sort()).toEqual(want.sort());
  }, 160_000);
});
