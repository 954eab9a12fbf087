/**
 * Multi-homed routers, for real: requests cross router A and replies
 * router B (multihomedLab.ts), an edge on each router in stateless mode
 * (`l7mesh edge run`: nftables verdict map, NFQUEUE), nats-server and two
 * workers (`l7mesh worker run`) in a management namespace. Marks are
 * counted by the operator's own nft counters on each router, not by the
 * edges' view: after a flow's verdict, every packet of it carries the
 * verdict's mark under the mask, with the operator's bit kept.
 */
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, poll, sleep, type Spawned } from '@l7mesh/netns';
import { parseFlowSets } from '@l7mesh/netfilter';
import { ensureBuilt, repo, sshdConfig, vsftpdConfig } from './routerLab.js';
import {
  buildHosts,
  CLIENT,
  CLIENT6,
  counters,
  counterValues,
  dnsRepeated,
  dnsTwice,
  ftpTwoPhases,
  HTTP_SERVER_JS,
  httpTwoPhases,
  moveToB,
  MOVING_CLIENT,
  MOVING_SERVER,
  NATS_VIA_A,
  NATS_VIA_B,
  operatorTable,
  recordsOfPort,
  SERVER,
  SERVER6,
  sshTwoPhases,
  synFlood,
  type Hosts,
} from './multihomedLab.js';

const bin = join(repo, 'services/cli/bin/l7mesh.js');
const lab = new NetnsLab('l7mh');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-multihomed-'));

const HTTP = 0x100;
const FTP = 0x200;
const SSH = 0x300;
const DNS = 0x400;
const UNKNOWN = 0xf00;
/** The FTP data connection's file: big enough, read slowly, to outlast the data connection's verdict. */
const FTP_BIG = 2 << 20;

/** The test's flows, by the client's port (each counted on both routers by the operator's table). */
const WATCH = [
  { name: 'http', protocol: 'tcp', port: 45100, mark: HTTP },
  { name: 'ssh', protocol: 'tcp', port: 45101, mark: SSH },
  { name: 'dns', protocol: 'udp', port: 45102, mark: DNS },
  { name: 'ftp', protocol: 'tcp', port: 45103, mark: FTP },
  { name: 'ftpdata', protocol: 'tcp', port: 45104, mark: FTP },
  { name: 'moving', protocol: 'tcp', port: 45105, mark: HTTP },
  { name: 'http6', protocol: 'tcp', port: 45110, mark: HTTP },
  { name: 'acct', protocol: 'tcp', port: 45109, mark: HTTP },
  { name: 'dnsidle', protocol: 'udp', port: 45108, mark: DNS },
] as const;

let h: Hosts;
const edges: Record<'ra' | 'rb', Spawned | undefined> = { ra: undefined, rb: undefined };

function edgeConfigFile(router: 'ra' | 'rb', mode: 'stateless' | 'conntrack', extra: string[] = []): string {
  const file = join(scratch, `${router}-${mode}.yaml`);
  writeFileSync(
    file,
    [
      'queue: { num: 5 }',
      `netfilter: { mode: ${mode}, families: [ipv4, ipv6]${mode === 'stateless' ? ', stateless: { sweepInterval: 2, liveTimeout: 10, perSourceRate: 400, perSourceBurst: 800, mapSize: 8192 }' : ''} }`,
      'marks:',
      '  mask: 0x0000ff00',
      `  unknown: 0x${UNKNOWN.toString(16)}`,
      `  protocols: { http: 0x${HTTP.toString(16)}, ftp: 0x${FTP.toString(16)}, ssh: 0x${SSH.toString(16)}, dns: 0x${DNS.toString(16)} }`,
      'metrics: { port: 9917 }',
      'cluster:',
      `  servers: ["${router === 'ra' ? NATS_VIA_A : NATS_VIA_B}"]`,
      `  id: ${router}`,
      '  resendMs: 500',
      '  verdictTimeoutMs: 5000',
      ...extra,
      '',
    ].join('\n'),
  );
  return file;
}

async function startEdges(mode: 'stateless' | 'conntrack'): Promise<void> {
  for (const r of ['ra', 'rb'] as const) {
    const e = lab.spawn(h[r], [process.execPath, bin, 'edge', 'run', '--config', edgeConfigFile(r, mode)]);
    edges[r] = e;
    await e.waitFor('metrics http', 20_000);
  }
}

async function stopEdges(): Promise<void> {
  for (const r of ['ra', 'rb'] as const) {
    const e = edges[r];
    edges[r] = undefined;
    if (e) await e.stop('SIGTERM', 10_000);
  }
}

async function edgeJson<T>(router: 'ra' | 'rb', what: 'stats' | 'flows', mode: 'stateless' | 'conntrack' = 'stateless'): Promise<T> {
  const r = await lab.exec(h[router], [process.execPath, bin, 'edge', what, '--config', join(scratch, `${router}-${mode}.yaml`), '--json'], { timeoutMs: 10_000 });
  return (what === 'flows' ? r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : JSON.parse(r.stdout)) as T;
}

interface Counts {
  all: number;
  ok: number;
  other: number;
}

/** The operator's counts of one watched flow on one router. */
async function countsOf(router: 'ra' | 'rb', name: string): Promise<Counts> {
  const c = await counters(lab, h[router], 'operator');
  return { all: c[`${name}_all`]!, ok: c[`${name}_ok`]!, other: c[`${name}_other`]! };
}

async function bothRouters(name: string): Promise<Record<'ra' | 'rb', Counts>> {
  return { ra: await countsOf('ra', name), rb: await countsOf('rb', name) };
}

function delta(after: Counts, before: Counts): Counts {
  return { all: after.all - before.all, ok: after.ok - before.ok, other: after.other - before.other };
}

async function line(p: Spawned, text: string): Promise<void> {
  await p.waitFor(text, 20_000);
}

function go(p: Spawned): void {
  p.child.stdin!.write('go\n');
}

/**
 * Lets a two-phase client go on past its verdicts and returns what the
 * operator's counters of `name` saw on each router meanwhile. `until`: the
 * client's line that ends the phase; `exits`: wait for the client to exit too.
 */
async function countedInPhase2(p: Spawned, name: string, until = '"phase":2', exits = false): Promise<Record<'ra' | 'rb', Counts>> {
  const before = await bothRouters(name);
  go(p);
  await line(p, until);
  if (exits) await p.exit(10_000);
  await sleep(300);
  const after = await bothRouters(name);
  return { ra: delta(after.ra, before.ra), rb: delta(after.rb, before.rb) };
}

/** Waits until both edges hold the flow of the client's `port` with elements (its verdict reached both). */
async function decidedOnBoth(port: number, l7: string): Promise<void> {
  await poll(async () => {
    for (const r of ['ra', 'rb'] as const) {
      const flows = await edgeJson<{ sport: number; dport: number; l7: string }[]>(r, 'flows');
      if (!flows.some((f) => (f.sport === port || f.dport === port) && f.l7 === l7)) return false;
    }
    return true;
  }, 10_000);
}

beforeAll(async () => {
  ensureBuilt();
  h = await buildHosts(lab);
  chmodSync(scratch, 0o755);
  for (const r of ['ra', 'rb'] as const) await lab.exec(h[r], ['nft', '-f', '-'], { input: operatorTable(WATCH) });
  // The cluster: nats-server (JetStream) and two workers.
  mkdirSync(join(scratch, 'jetstream'));
  const nats = lab.spawn(h.mgmt, ['nats-server', '-a', '0.0.0.0', '-p', '4222', '-js', '-sd', join(scratch, 'jetstream')]);
  await nats.waitFor('Server is ready', 10_000);
  for (const id of ['w1', 'w2']) {
    const w = lab.spawn(h.mgmt, [process.execPath, bin, 'worker', 'run', '--nats', 'nats://127.0.0.1:4222', '--id', id]);
    await w.waitFor('owning', 20_000);
  }
  // Servers on the server's loopback addresses.
  const http = lab.spawn(h.srv, [process.execPath, '-e', HTTP_SERVER_JS]);
  writeFileSync(join(scratch, 'vsftpd.conf'), vsftpdConfig(join(scratch, 'ftp'), SERVER));
  writeFileSync(join(scratch, 'ftp/root/big.bin'), Buffer.alloc(FTP_BIG, 0x5a));
  lab.spawn(h.srv, ['vsftpd', join(scratch, 'vsftpd.conf')]);
  lab.spawn(h.srv, ['sh', '-c', 'mount -t tmpfs -o mode=0755,size=64k l7mh-run /run && mkdir /run/sshd && exec /usr/sbin/sshd -D -e -f "$1"', 'sh', writeSshd()]);
  lab.spawn(h.srv, ['dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--listen-address=${SERVER}`, '--bind-interfaces', `--address=/example.test/${SERVER}`, `--pid-file=${join(scratch, 'dnsmasq.pid')}`]);
  await http.waitFor('ready', 10_000);
  await startEdges('stateless');
}, 120_000);

function writeSshd(): string {
  const file = join(scratch, 'sshd_config');
  writeFileSync(file, sshdConfig(join(scratch, 'ssh'), SERVER));
  return file;
}

afterAll(async () => {
  await stopEdges().catch(() => undefined);
  await lab.cleanup();
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

describe('stateless edges on asymmetric routers', () => {
  it('HTTP: after the verdict every packet, both ways, carries the http mark with the operator bit', async () => {
    const client = lab.spawn(h.cli, [process.execPath, '-e', httpTwoPhases(CLIENT, 45100, SERVER)], { stdin: true });
    await line(client, '"phase":1');
    await decidedOnBoth(45100, 'http');
    const d = await countedInPhase2(client, 'http', '"phase":2', true);
    // Requests and ACKs via A, the 1 MiB reply via B (in few packets: veth forwards GSO super-packets).
    expect(d.ra.all).toBeGreaterThan(10);
    expect(d.rb.all).toBeGreaterThan(10);
    expect(d.ra).toEqual({ all: d.ra.all, ok: d.ra.all, other: 0 });
    expect(d.rb).toEqual({ all: d.rb.all, ok: d.rb.all, other: 0 });
  });

  it('HTTP over IPv6: the same, with IPv6 keys in the flow sets', async () => {
    const client = lab.spawn(h.cli, [process.execPath, '-e', httpTwoPhases(CLIENT6, 45110, SERVER6)], { stdin: true });
    await line(client, '"phase":1');
    await decidedOnBoth(45110, 'http');
    const counted = await countedInPhase2(client, 'http6', '"phase":2', true);
    for (const r of ['ra', 'rb'] as const) {
      const d = counted[r];
      expect(d.all, `http over IPv6 on ${r}`).toBeGreaterThan(5);
      expect(d, `http over IPv6 on ${r}`).toEqual({ all: d.all, ok: d.all, other: 0 });
    }
  });

  it('accounting: each router\'s ended record of a connection holds what crossed that router, packets and bytes, exactly', async () => {
    const crossed = async () => ({ ra: (await counterValues(lab, h.ra, 'operator')).acct_all!, rb: (await counterValues(lab, h.rb, 'operator')).acct_all! });
    const before = await crossed();
    const client = lab.spawn(h.cli, [process.execPath, '-e', httpTwoPhases(CLIENT, 45109, SERVER)], { stdin: true });
    await line(client, '"phase":1');
    go(client);
    await line(client, '"phase":2');
    await client.exit(10_000);
    const after = await crossed();
    // Each edge ends the flow a live timeout (10 s) after its last packet and publishes its final counters.
    type Row = { edge: string; state: string; packets: number; bytes: number };
    let ended: Row[] = [];
    await poll(async () => {
      const out = (await lab.exec(h.mgmt, [process.execPath, '--input-type=module', '-e', recordsOfPort(45109)], { timeoutMs: 20_000 })).stdout;
      ended = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row).filter((r) => r.state === 'ended');
      return ended.length >= 2;
    }, 40_000, 2_000);
    for (const r of ['ra', 'rb'] as const) {
      const mine = ended.filter((e) => e.edge === r);
      expect(mine, `ended records of ${r}`).toHaveLength(1);
      // The operator's postrouting counts every packet of the connection that crossed the router.
      expect({ packets: mine[0]!.packets, bytes: mine[0]!.bytes }, `accounting on ${r}`).toEqual({ packets: after[r].packets - before[r].packets, bytes: after[r].bytes - before[r].bytes });
    }
  }, 90_000);

  it('SSH and DNS: later packets (and the same DNS query again on its 5-tuple) carry their marks on both routers', async () => {
    const ssh = lab.spawn(h.cli, [process.execPath, '-e', sshTwoPhases(CLIENT, 45101, SERVER)], { stdin: true });
    await line(ssh, '"phase":1');
    await decidedOnBoth(45101, 'ssh');
    const sshCounted = await countedInPhase2(ssh, 'ssh');

    const dns = lab.spawn(h.cli, [process.execPath, '-e', dnsTwice(CLIENT, 45102, SERVER)], { stdin: true });
    await line(dns, '"phase":1');
    await decidedOnBoth(45102, 'dns');
    const dnsCounted = await countedInPhase2(dns, 'dns');
    for (const r of ['ra', 'rb'] as const) {
      const s = sshCounted[r];
      expect(s.all, `ssh on ${r}`).toBeGreaterThan(0);
      expect(s, `ssh on ${r}`).toEqual({ all: s.all, ok: s.all, other: 0 });
      // The query via A, the answer via B: one packet each.
      expect(dnsCounted[r], `dns on ${r}`).toEqual({ all: 1, ok: 1, other: 0 });
    }
  });

  it('a client idle past liveTimeout resumes on its 5-tuple: one packet each way is queued again, its elements come back for the rest, and the edge books them (they end again)', async () => {
    const QUERIES = 8;
    const dns = lab.spawn(h.cli, [process.execPath, '-e', dnsRepeated(CLIENT, 45108, SERVER, QUERIES)], { stdin: true });
    await line(dns, '"phase":1');
    await decidedOnBoth(45108, 'dns');
    // No packet for liveTimeout (10 s): a sweep (every 2 s) deletes its elements on both routers.
    const hasElements = async (r: 'ra' | 'rb') => parseFlowSets((await lab.exec(h[r], ['nft', '-j', 'list', 'table', 'inet', 'l7mesh'])).stdout).some((e) => e.key.sport === 45108 || e.key.dport === 45108);
    await poll(async () => !(await hasElements('ra')) && !(await hasElements('rb')), 30_000, 1_000);
    const queued = async (r: 'ra' | 'rb') => (await edgeJson<{ sport: number; dport: number; queued: number }[]>(r, 'flows')).find((f) => f.sport === 45108 || f.dport === 45108)!.queued;
    const queuedBefore = { ra: await queued('ra'), rb: await queued('rb') };
    const counted = await countedInPhase2(dns, 'dnsidle');
    for (const r of ['ra', 'rb'] as const) {
      // The queries via A, the answers via B: each marked, by the edge for the first, by the elements for the rest.
      expect(counted[r], `dns after the pause on ${r}`).toEqual({ all: QUERIES, ok: QUERIES, other: 0 });
      expect((await queued(r)) - queuedBefore[r], `queued after the pause on ${r}`).toBe(1);
      expect(await hasElements(r)).toBe(true);
      expect((await edgeJson<{ stateless: { resumed: number } }>(r, 'stats')).stateless.resumed).toBeGreaterThanOrEqual(1);
    }
    // The packet going back with its mark had the kernel add the elements anyway; booked again, they are swept
    // at the next pause (unbooked, they would stay until elementTimeout, an hour).
    await poll(async () => !(await hasElements('ra')) && !(await hasElements('rb')), 30_000, 1_000);
  }, 75_000);

  it('FTP: the control connection after its verdict and the data connection (inherited) carry the ftp mark', async () => {
    const ftp = lab.spawn(h.cli, ftpTwoPhases(CLIENT, 45103, 45104, SERVER), { stdin: true });
    await line(ftp, 'retrieved');
    expect(ftp.stdout).toContain(`"retrieved": ${FTP_BIG}`);
    await decidedOnBoth(45103, 'ftp');
    await decidedOnBoth(45104, 'ftp');
    const control = await countedInPhase2(ftp, 'ftp', '"quit"');
    const data = await bothRouters('ftpdata');
    for (const r of ['ra', 'rb'] as const) {
      const c = control[r];
      expect(c.all, `ftp control on ${r}`).toBeGreaterThan(0);
      expect(c, `ftp control on ${r}`).toEqual({ all: c.all, ok: c.all, other: 0 });
      // The data connection's first packets went by before its verdict, the rest (the client reads slowly) carry it.
      expect(data[r].ok, `ftp data on ${r}`).toBeGreaterThan(data[r].all / 2);
      expect(data[r].other, `ftp data on ${r}`).toBe(0);
    }
  });

  it('a connection classified via A and then routed via B keeps its mark on B through pickup', async () => {
    // The second request's answer comes slowly (about 0.6 s): it outlasts the pickup's round trip to the cluster.
    const client = lab.spawn(h.cli, [process.execPath, '-e', httpTwoPhases(MOVING_CLIENT, 45105, MOVING_SERVER, '/slow')], { stdin: true });
    await line(client, '"phase":1');
    await poll(async () => (await edgeJson<{ sport: number; dport: number; l7: string }[]>('ra', 'flows')).some((f) => f.sport === 45105 || f.dport === 45105), 10_000);
    const bBefore = (await edgeJson<{ cluster: { pickup_hits: number } }>('rb', 'stats')).cluster.pickup_hits;
    await moveToB(lab, h);
    go(client);
    await line(client, '"phase":2');
    await client.exit(10_000);
    await sleep(300);
    const b = await countsOf('rb', 'moving');
    const stats = await edgeJson<{ cluster: { pickups: number; pickup_hits: number } }>('rb', 'stats');
    expect(stats.cluster.pickup_hits - bBefore).toBeGreaterThanOrEqual(1);
    // The 1 MiB answer crossed B; none of it was marked anything but http (not unknown).
    expect(b.all).toBeGreaterThan(10);
    expect(b.other).toBe(0);
    expect(b.ok).toBeGreaterThan(b.all / 2);
  });

  it('a SYN flood from one source is rate-limited before the queue; the edge stays bounded and classifies', async () => {
    const flood = lab.spawn(h.cli, synFlood(CLIENT, SERVER, 20_000));
    await flood.exit(60_000);
    expect(flood.stdout).toContain('"sent": 20000');
    const table = await counters(lab, h.ra, 'l7mesh');
    expect(table.over_rate).toBeGreaterThan(10_000);
    const stats = await edgeJson<{ stateless: { flows: number } }>('ra', 'stats');
    expect(stats.stateless.flows).toBeLessThanOrEqual(4096);
    // Still classifying: a new connection gets its verdict.
    await sleep(11_000); // the source's meter refills
    const client = lab.spawn(h.cli, [process.execPath, '-e', httpTwoPhases(CLIENT, 45106, SERVER)], { stdin: true });
    await line(client, '"phase":1');
    await decidedOnBoth(45106, 'http');
    go(client);
    await client.exit(20_000);
  }, 120_000);
});

describe('why the stateless mode exists', () => {
  it('in conntrack mode, router A sees only the SYN of a connection whose replies cross B', async () => {
    await stopEdges();
    // Stopping removed each edge's table; the operator's table is still there.
    for (const r of ['ra', 'rb'] as const) {
      const tables = (await lab.exec(h[r], ['nft', 'list', 'tables'])).stdout;
      expect(tables).not.toContain('l7mesh');
      expect(tables).toContain('operator');
    }
    await startEdges('conntrack');
    try {
      const r = await lab.exec(h.cli, ['curl', '-s', '-S', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '--interface', CLIENT, '--local-port', '45107', `http://${SERVER}:8080/`], { timeoutMs: 15_000 });
      expect(r.stdout).toBe('200');
      await sleep(500);
      const flowsA = await edgeJson<{ sport: number; dport: number; queued: number }[]>('ra', 'flows', 'conntrack');
      const a = flowsA.find((f) => f.sport === 45107 || f.dport === 45107);
      // A queued the SYN; conntrack on A calls everything after it INVALID, and the edge's rules never queue that.
      expect(a?.queued).toBe(1);
    } finally {
      await stopEdges();
    }
  }, 90_000);

  it('an edge killed with SIGKILL blocks nothing: traffic flows on (fail-open)', async () => {
    await startEdges('stateless');
    await edges.ra!.stop('SIGKILL', 5_000);
    edges.ra = undefined;
    const r = await lab.exec(h.cli, ['curl', '-s', '-S', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--max-time', '10', '--interface', CLIENT, '--local-port', '45108', `http://${SERVER}:8080/big`], { timeoutMs: 15_000 });
    expect(r.stdout).toBe(`200 ${1 << 20}`);
  }, 60_000);
});
