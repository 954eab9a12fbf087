/**
 * An edge on a source-NATing router reports flows under the tuple the
 * other routers see. client — router A (MASQUERADE on its uplink, an edge
 * in conntrack mode) — router B (an edge in conntrack mode, which sees the
 * external address) — server; nats-server and a worker in a management
 * namespace. A subscriber there records every verdict the worker sends:
 * with the translation, the worker answers one flow (one key) to both
 * edges; without it (natSide: internal) it answers two flows, one per edge.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, poll, type Spawned } from '@l7mesh/netns';
import { ensureBuilt, repo } from './routerLab.js';
import { HTTP_SERVER_JS, recordsOfPort } from './multihomedLab.js';

const bin = join(repo, 'services/cli/bin/l7mesh.js');
const lab = new NetnsLab('l7nat');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-nat-'));

const CLIENT = '198.18.110.2';
const EXTERNAL = '198.18.111.1';
const SERVER = '198.18.112.2';

let cli = '';
let ra = '';
let rb = '';
let srv = '';
let mgmt = '';
let verdicts: Spawned;

/** Prints every verdict batch's verdicts as JSON lines: edge, key (hex), l7. */
const RECORDER = `
import { connect } from '@nats-io/transport-node';
import { decodeVerdictBatch } from '${join(repo, 'packages/wire/dist/index.js')}';
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const sub = nc.subscribe('l7.verdict.>');
console.log('recording');
for await (const m of sub) {
  const edge = m.subject.split('.').pop();
  for (const v of decodeVerdictBatch(m.data).verdicts) console.log(JSON.stringify({ edge, key: Buffer.from(v.key, 'latin1').toString('hex'), l7: v.l7 }));
}
`;

function edgeConfig(router: 'ra' | 'rb', natSide: 'external' | 'internal'): string {
  const file = join(scratch, `${router}-${natSide}.yaml`);
  writeFileSync(
    file,
    [
      'queue: { num: 6 }',
      `netfilter: { natSide: ${natSide}, ftpHelper: false }`,
      'marks: { mask: 0x0000ff00, unknown: 0xf00, protocols: { http: 0x100 } }',
      'metrics: { port: 9917 }',
      'cluster:',
      `  servers: ["nats://${router === 'ra' ? '198.18.113.1' : '198.18.114.1'}:4222"]`,
      `  id: ${router}`,
      '',
    ].join('\n'),
  );
  return file;
}

interface Seen {
  edge: string;
  key: string;
  l7: string;
}

/** Runs the edges with `natSide` on A, fetches one page through both routers, and returns the verdicts of that connection. */
async function oneConnection(natSide: 'external' | 'internal', localPort: number): Promise<{ seen: Seen[]; stats: { cluster: { nat?: { translated: number } } } }> {
  const edges = [lab.spawn(ra, [process.execPath, bin, 'edge', 'run', '--config', edgeConfig('ra', natSide)]), lab.spawn(rb, [process.execPath, bin, 'edge', 'run', '--config', edgeConfig('rb', 'internal')])];
  try {
    for (const e of edges) await e.waitFor('metrics http', 20_000);
    const before = verdicts.stdout.length;
    const r = await lab.exec(cli, ['curl', '-s', '-S', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--local-port', String(localPort), `http://${SERVER}:8080/`], { timeoutMs: 15_000 });
    expect(r.stdout).toBe('200');
    const fresh = () =>
      verdicts.stdout
        .slice(before)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Seen);
    await poll(async () => new Set(fresh().map((v) => v.edge)).size === 2, 10_000);
    const stats = JSON.parse((await lab.exec(ra, [process.execPath, bin, 'edge', 'stats', '--config', edgeConfig('ra', natSide), '--json'])).stdout);
    return { seen: fresh(), stats };
  } finally {
    for (const e of edges) await e.stop('SIGTERM', 10_000);
  }
}

beforeAll(async () => {
  ensureBuilt();
  cli = await lab.ns('cli');
  ra = await lab.ns('ra');
  rb = await lab.ns('rb');
  srv = await lab.ns('srv');
  mgmt = await lab.ns('mgmt');
  await lab.link(cli, 'eth0', `${CLIENT}/24`, ra, 'inside', '198.18.110.1/24');
  await lab.link(ra, 'uplink', `${EXTERNAL}/24`, rb, 'west', '198.18.111.2/24');
  await lab.link(rb, 'east', '198.18.112.1/24', srv, 'eth0', `${SERVER}/24`);
  await lab.link(mgmt, 'to-a', '198.18.113.1/24', ra, 'mgmt', '198.18.113.2/24');
  await lab.link(mgmt, 'to-b', '198.18.114.1/24', rb, 'mgmt', '198.18.114.2/24');
  for (const r of [ra, rb]) await lab.exec(r, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await lab.route(cli, '198.18.112.0/24', '198.18.110.1');
  await lab.route(ra, '198.18.112.0/24', '198.18.111.2');
  // B knows no route to the inside network: only the external address, as on the internet.
  await lab.route(srv, '198.18.111.0/24', '198.18.112.1');
  await lab.exec(ra, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'uplink', '-j', 'MASQUERADE']);
  mkdirSync(join(scratch, 'js'));
  const nats = lab.spawn(mgmt, ['nats-server', '-a', '0.0.0.0', '-p', '4222', '-js', '-sd', join(scratch, 'js')]);
  await nats.waitFor('Server is ready', 10_000);
  const worker = lab.spawn(mgmt, [process.execPath, bin, 'worker', 'run', '--nats', 'nats://127.0.0.1:4222', '--id', 'w1']);
  await worker.waitFor('owning', 20_000);
  verdicts = lab.spawn(mgmt, [process.execPath, '--input-type=module', '-e', RECORDER], { cwd: repo });
  await verdicts.waitFor('recording', 10_000);
  const http = lab.spawn(srv, [process.execPath, '-e', HTTP_SERVER_JS]);
  await http.waitFor('ready', 10_000);
}, 90_000);

afterAll(async () => {
  await lab.cleanup();
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

describe('an edge behind its own MASQUERADE', () => {
  it('reports the connection under the external tuple: the worker merges both edges into one flow', async () => {
    const { seen, stats } = await oneConnection('external', 45200);
    const keys = new Set(seen.map((v) => v.key));
    expect(keys.size).toBe(1);
    expect(seen.map((v) => v.edge).sort()).toEqual(['ra', 'rb']);
    expect(seen.every((v) => v.l7 === 'http')).toBe(true);
    // The key holds the external address (198.18.111.1 = c6126f01), not the client's.
    expect([...keys][0]).toContain('c6126f01');
    expect(stats.cluster.nat?.translated).toBeGreaterThanOrEqual(1);
    // Its flow records too: both edges name the connection by that key (one row in the store).
    const records = (await lab.exec(mgmt, [process.execPath, '--input-type=module', '-e', recordsOfPort(45200)], { timeoutMs: 20_000 })).stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { edge: string; key: string; state: string });
    expect(new Set(records.map((r) => r.edge))).toEqual(new Set(['ra', 'rb']));
    expect(new Set(records.map((r) => r.key)), JSON.stringify(records)).toEqual(keys);
  }, 60_000);

  it('with natSide internal, the same connection is two flows to the worker (what the translation prevents)', async () => {
    const { seen } = await oneConnection('internal', 45201);
    expect(new Set(seen.map((v) => v.key)).size).toBe(2);
  }, 60_000);
});
