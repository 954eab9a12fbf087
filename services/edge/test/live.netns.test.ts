/**
 * The edge on a real router: client ns — router ns (ip_forward, the edge as
 * `l7mesh edge run` inside it, real iptables and NFQUEUE) — server ns, with
 * real HTTP (curl against a node HTTP server) and a TCP echo service.
 * Addresses from 198.18.0.0/15 only; everything is torn down in afterAll.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, poll, sleep, type Spawned } from '@l7mesh/netns';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');
const lab = new NetnsLab('l7edge');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-edge-lab-'));

const CLIENT = '198.18.70.2';
const SERVER = '198.18.71.2';
const MASK = 0xff00;
const HTTP_MARK = 0x100;
const UNKNOWN_MARK = 0xf00;
const OPERATOR_CT_BIT = 0x1;
const OPERATOR_PACKET_BIT = 0x10000;
const BUDGET = 10;

/** HTTP on :8080 (`/` small, `/big` 1 MiB) and TCP echo on :5001; prints "ready". */
const SERVER_JS = `
const http = require('node:http'), net = require('node:net');
const big = Buffer.alloc(1 << 20, 'x');
let up = 0; const ready = () => { if (++up === 2) console.log('ready'); };
http.createServer((req, res) => {
  const body = req.url === '/big' ? big : Buffer.from('hello from the server\\n');
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}).listen(8080, '${SERVER}', ready);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(5001, '${SERVER}', ready);
setTimeout(() => process.exit(0), 120000);
`;

/** TCP client from a fixed port: waits delayMs after connecting, then `rounds` request/echo round trips. */
function echoClient(localPort: number, rounds: number, delayMs = 0): string {
  return `
const c = require('node:net').connect({ port: 5001, host: '${SERVER}', localPort: ${localPort} });
const done = (r) => { console.log(JSON.stringify(r)); c.destroy(); process.exit(0); };
const t = setTimeout(() => done({ echoes, error: 'timeout' }), ${delayMs + 8000});
let echoes = 0, want = '';
const send = () => { want = 'zq8x ' + echoes + '\\n'; c.write(want); };
c.on('connect', () => setTimeout(send, ${delayMs}));
let got = '';
c.on('data', (d) => { got += d; if (got === want) { got = ''; if (++echoes === ${rounds}) { clearTimeout(t); done({ echoes }); } else send(); } });
c.on('error', (e) => done({ echoes, error: e.message }));
`;
}

function newest(dir: string): number {
  return Math.max(0, ...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** The edge runs from dist/ (as `l7mesh` does): rebuild what is older than its sources. */
function ensureBuilt(): void {
  if (mtime(join(repo, 'packages/nfqueue/build/Release/l7nfq.node')) === 0) {
    execFileSync('npm', ['run', 'build', '--workspace', '@l7mesh/nfqueue'], { cwd: repo, stdio: 'pipe', timeout: 180_000 });
  }
  // tsc -b writes the build info of a project whenever it builds it (outputs only when they change).
  const stale = ['services/edge', 'services/cli', 'packages/nfqueue', 'packages/netfilter'].some(
    (dir) => mtime(join(repo, dir, 'tsconfig.tsbuildinfo')) < newest(join(repo, dir, 'src')),
  );
  if (stale) execFileSync('npx', ['tsc', '-b', 'services/cli'], { cwd: repo, stdio: 'pipe', timeout: 180_000 });
}

let cli = '';
let rtr = '';
let srv = '';
let edge: Spawned | undefined;
const config = join(scratch, 'edge.yaml');

function startEdge(): Spawned {
  return lab.spawn(rtr, [process.execPath, bin, 'edge', 'run', '--config', config]);
}

async function curl(path: string, localPort: number, extra: string[] = []) {
  return lab.exec(cli, ['curl', '-s', '-S', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--max-time', '10', '--local-port', String(localPort), ...extra, `http://${SERVER}:8080${path}`], {
    timeoutMs: 15_000,
    allowFail: true,
  });
}

/** The router's conntrack entry of the TCP connection from the client's `sport`. */
async function conntrackEntry(sport: number): Promise<string | undefined> {
  const { stdout } = await lab.exec(rtr, ['conntrack', '-L', '-p', 'tcp', '--orig-port-src', String(sport)], { allowFail: true });
  return stdout.split('\n').find((l) => l.includes(`sport=${sport} `));
}

function field(entry: string, name: string): number {
  const m = new RegExp(` ${name}=(\\d+)`).exec(entry);
  if (!m) throw new Error(`no ${name}= in ${entry}`);
  return Number(m[1]);
}

/** Sum over both directions (conntrack prints packets= and bytes= once per direction). */
function total(entry: string, name: string): number {
  return [...entry.matchAll(new RegExp(` ${name}=(\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
}

async function mangleSave(counters = false): Promise<string> {
  return (await lab.exec(rtr, ['iptables-save', '-t', 'mangle', ...(counters ? ['-c'] : [])])).stdout;
}

/** Packets counted by the rules of L7MESH-QUEUE (tcp + udp). */
async function queueRulePackets(): Promise<number> {
  let n = 0;
  for (const line of (await mangleSave(true)).split('\n')) {
    const m = /^\[(\d+):\d+\] -A L7MESH-QUEUE /.exec(line);
    if (m) n += Number(m[1]);
  }
  return n;
}

async function edgeJson<T>(what: 'flows' | 'stats'): Promise<T> {
  const r = await lab.exec(rtr, [process.execPath, bin, 'edge', what, '--config', config, '--json'], { timeoutMs: 10_000 });
  return (what === 'flows' ? r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : JSON.parse(r.stdout)) as T;
}

interface LiveFlow {
  sport: number;
  dport: number;
  l7: string;
  queued: number;
  mark?: string;
  mark_state: string;
}

beforeAll(async () => {
  ensureBuilt();
  cli = await lab.ns('cli');
  rtr = await lab.ns('rtr');
  srv = await lab.ns('srv');
  await lab.link(cli, 'eth0', `${CLIENT}/24`, rtr, 'veth0', '198.18.70.1/24');
  await lab.link(rtr, 'veth1', '198.18.71.1/24', srv, 'eth0', `${SERVER}/24`);
  await lab.exec(rtr, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await lab.route(cli, '198.18.71.0/24', '198.18.70.1');
  await lab.route(srv, '198.18.70.0/24', '198.18.71.1');
  const server = lab.spawn(srv, [process.execPath, '-e', SERVER_JS]);
  await server.waitFor('ready', 10_000);
  // The operator's own marks, in place before the edge starts: a connmark
  // bit on every connection, a packet-mark bit on every forwarded packet,
  // and a counting rule for packets carrying both the http mark and that bit.
  for (const rule of [
    ['-A', 'PREROUTING', '-j', 'CONNMARK', '--set-xmark', `${OPERATOR_CT_BIT}/${OPERATOR_CT_BIT}`],
    ['-A', 'FORWARD', '-j', 'MARK', '--set-xmark', `0x${OPERATOR_PACKET_BIT.toString(16)}/0x${OPERATOR_PACKET_BIT.toString(16)}`],
    ['-A', 'POSTROUTING', '-m', 'mark', '--mark', `0x${(OPERATOR_PACKET_BIT | HTTP_MARK).toString(16)}/0x${(OPERATOR_PACKET_BIT | MASK).toString(16)}`],
  ]) {
    await lab.exec(rtr, ['iptables', '-t', 'mangle', ...rule]);
  }
  // The project's real http.pat alone: the test does not depend on what else the library holds.
  mkdirSync(join(scratch, 'patterns'));
  copyFileSync(join(repo, 'patterns/http.pat'), join(scratch, 'patterns/http.pat'));
  writeFileSync(
    config,
    [
      'queue: { num: 3 }',
      `classification: { patterns: [patterns], maxPackets: ${BUDGET} }`,
      'marks:',
      '  mask: 0x0000ff00',
      `  unknown: 0x${UNKNOWN_MARK.toString(16)}`,
      `  protocols: { http: 0x${HTTP_MARK.toString(16)} }`,
      'metrics: { port: 9917 }',
      '',
    ].join('\n'),
  );
  edge = startEdge();
  await edge.waitFor('edge: running', 20_000);
}, 240_000);

afterAll(async () => {
  await lab.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

describe('l7mesh edge run in a router namespace', () => {
  it('lets forwarded HTTP through (fail-open) and marks the connection under the mask, keeping the operator bits', async () => {
    const r = await curl('/', 45001);
    expect(r.stdout).toBe('200 22');
    const entry = await poll(async () => {
      const e = await conntrackEntry(45001);
      return e && (field(e, 'mark') & MASK) !== 0 ? e : undefined;
    }, 3_000);
    expect(entry, 'conntrack entry with an l7 mark').toBeDefined();
    const mark = field(entry!, 'mark');
    expect(mark & MASK).toBe(HTTP_MARK);
    expect(mark & OPERATOR_CT_BIT).toBe(OPERATOR_CT_BIT);
    // The verdict kept the packet-mark bit the operator's FORWARD rule had set.
    const counted = (await mangleSave(true)).split('\n').find((l) => /-A POSTROUTING -m mark --mark 0x10100\/0x1ff00/.test(l));
    expect(Number(/^\[(\d+):/.exec(counted ?? '')?.[1] ?? 0)).toBeGreaterThan(0);
    const flows = await edgeJson<LiveFlow[]>('flows');
    expect(flows.find((f) => f.sport === 45001)).toMatchObject({ l7: 'http', mark: '0x100', mark_state: 'packet' });
  });

  it('stops queueing a decided connection: a 1 MiB download is queued for its first packets only', async () => {
    const before = await queueRulePackets();
    const r = await curl('/big', 45002);
    expect(r.stdout).toBe(`200 ${1 << 20}`);
    const entry = (await conntrackEntry(45002))!;
    const queued = (await queueRulePackets()) - before;
    // conntrack counts (GSO-sized) packets in both directions: many more than were queued.
    expect(total(entry, 'packets')).toBeGreaterThan(BUDGET + 1);
    expect(total(entry, 'bytes')).toBeGreaterThan(1 << 20);
    expect(queued).toBeGreaterThan(3);
    expect(queued).toBeLessThanOrEqual(BUDGET + 1);
    const flow = (await edgeJson<LiveFlow[]>('flows')).find((f) => f.sport === 45002)!;
    expect(flow).toMatchObject({ l7: 'http', mark: '0x100' });
    expect(flow.queued).toBeLessThanOrEqual(BUDGET + 1);
    expect(field(entry, 'mark') & MASK).toBe(HTTP_MARK);
  });

  it('marks a connection that matches nothing unknown, on packet N+1 (still queued by the rule)', async () => {
    const out = await lab.exec(cli, [process.execPath, '-e', echoClient(45003, 8)], { timeoutMs: 15_000 });
    expect(JSON.parse(out.stdout)).toEqual({ echoes: 8 });
    const entry = (await conntrackEntry(45003))!;
    expect(field(entry, 'mark') & MASK).toBe(UNKNOWN_MARK);
    expect(field(entry, 'mark') & OPERATOR_CT_BIT).toBe(OPERATOR_CT_BIT);
    const flow = (await edgeJson<LiveFlow[]>('flows')).find((f) => f.sport === 45003)!;
    expect(flow).toMatchObject({ l7: 'unknown', mark: '0xf00', mark_state: 'packet', queued: BUDGET + 1 });
    const stats = await edgeJson<{ protocols: { l7: string; flows: number }[]; packets: { undecodable: number } }>('stats');
    expect(stats.protocols.find((p) => p.l7 === 'http')?.flows).toBeGreaterThanOrEqual(2);
    expect(stats.protocols.find((p) => p.l7 === 'unknown')?.flows).toBeGreaterThanOrEqual(1);
  });

  it('puts the classified traffic into the tc HTB class of its mark (docs/edge.md; CLASSIFY by mark, this kernel has no cls_fw)', async () => {
    // The download's data leaves the router towards the client on veth0.
    const classify = ['-o', 'veth0', '-m', 'mark', '--mark', `0x${HTTP_MARK.toString(16)}/0x${MASK.toString(16)}`, '-j', 'CLASSIFY', '--set-class', '1:10'];
    for (const cmd of [
      'qdisc replace dev veth0 root handle 1: htb default ffff',
      'class add dev veth0 parent 1: classid 1:1 htb rate 1gbit ceil 1gbit',
      'class add dev veth0 parent 1:1 classid 1:10 htb rate 400mbit ceil 1gbit',
      'class add dev veth0 parent 1:1 classid 1:ffff htb rate 1gbit ceil 1gbit',
    ]) {
      await lab.exec(rtr, ['tc', ...cmd.split(' ')]);
    }
    await lab.exec(rtr, ['iptables', '-t', 'mangle', '-A', 'POSTROUTING', ...classify]);
    try {
      expect((await curl('/big', 45009)).stdout).toBe(`200 ${1 << 20}`);
      const { stdout } = await lab.exec(rtr, ['tc', '-s', 'class', 'show', 'dev', 'veth0']);
      const sent = (classid: string) => Number(new RegExp(`class htb ${classid} [^\\n]*\\n\\s*Sent (\\d+) bytes`).exec(stdout)?.[1] ?? -1);
      expect(sent('1:10')).toBeGreaterThan(1 << 20);
      expect(sent('1:ffff')).toBeLessThan(64 << 10); // the handshake and the packets before the verdict
    } finally {
      await lab.exec(rtr, ['iptables', '-t', 'mangle', '-D', 'POSTROUTING', ...classify], { allowFail: true });
      await lab.exec(rtr, ['tc', 'qdisc', 'del', 'dev', 'veth0', 'root'], { allowFail: true });
    }
  });

  it('keeps traffic flowing when the edge is killed mid-connection, and a restarted edge does not duplicate its rules', async () => {
    // An unclassified connection (handshake only) and a download in flight when the edge dies.
    const pending = lab.spawn(cli, [process.execPath, '-e', echoClient(45004, 2, 1500)]);
    const download = lab.spawn(cli, ['curl', '-s', '-S', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--max-time', '15', '--limit-rate', '500k', '--local-port', '45005', `http://${SERVER}:8080/big`]);
    await poll(async () => (await conntrackEntry(45004)) !== undefined && (await conntrackEntry(45005)) !== undefined, 3_000, 50);
    await sleep(300);
    edge!.child.kill('SIGKILL');
    expect((await edge!.exit(5_000)).signal).toBe('SIGKILL');
    // Nobody listens on the queue now: --queue-bypass lets packets pass.
    const fresh = await curl('/', 45006);
    expect(fresh.stdout).toBe('200 22');
    await pending.exit(12_000);
    expect(JSON.parse(pending.stdout)).toEqual({ echoes: 2 });
    await download.exit(20_000);
    expect(download.stdout).toBe(`200 ${1 << 20}`);

    edge = startEdge();
    await edge.waitFor('edge: running', 20_000);
    expect(edge.stderr).toMatch(/replaced 3 jumps left by an earlier run/);
    const save = await mangleSave();
    const jumps = (chain: string, target: string) => save.split('\n').filter((l) => l.trim() === `-A ${chain} -j ${target}`).length;
    expect([jumps('PREROUTING', 'L7MESH-PRE'), jumps('FORWARD', 'L7MESH-QUEUE'), jumps('POSTROUTING', 'L7MESH-POST')]).toEqual([1, 1, 1]);
    // The restarted edge classifies again.
    expect((await curl('/', 45007)).stdout).toBe('200 22');
    const entry = await poll(async () => {
      const e = await conntrackEntry(45007);
      return e && (field(e, 'mark') & MASK) !== 0 ? e : undefined;
    }, 3_000);
    expect(field(entry!, 'mark') & MASK).toBe(HTTP_MARK);
  });

  it('on SIGTERM removes its rules (the operator rules stay), closes the queue and exits 0', async () => {
    edge!.child.kill('SIGTERM');
    const { code } = await edge!.exit(15_000);
    expect(code).toBe(0);
    expect(edge!.stderr).toContain('edge: rules removed');
    const save = await mangleSave();
    expect(save).not.toContain('L7MESH');
    expect(save).toContain('-A PREROUTING -j CONNMARK --set-xmark 0x1/0x1');
    expect(save).toContain('-A FORWARD -j MARK --set-xmark 0x10000/0x10000');
    expect((await curl('/', 45008)).stdout).toBe('200 22');
  });
});
