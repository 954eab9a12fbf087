/**
 * The edge on a real router: client ns — router ns (ip_forward, the edge as
 * `l7mesh edge run` inside it, real iptables and NFQUEUE) — server ns, with
 * real servers: HTTP and TCP echo (node), vsftpd, OpenSSH's sshd and
 * dnsmasq, reached by curl, Python's ftplib, ssh and a resolver. Addresses
 * from 198.18.0.0/15 only; everything is torn down in afterAll.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, poll, sleep, type Spawned } from '@l7mesh/netns';
import { CLIENT, echoClient, ensureBuilt, FTP_FILE, ftpClient, RAW_SENDER, repo, SERVER, SERVER_JS, sshdConfig, vsftpdConfig } from './routerLab.js';

const bin = join(repo, 'services/cli/bin/l7mesh.js');
const lab = new NetnsLab('l7edge');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-edge-lab-'));

const MASK = 0xff00;
const HTTP_MARK = 0x100;
const FTP_MARK = 0x200;
const SSH_MARK = 0x300;
const DNS_MARK = 0x400;
const UNKNOWN_MARK = 0xf00;
const OPERATOR_CT_BIT = 0x1;
const OPERATOR_PACKET_BIT = 0x10000;
const BUDGET = 10;

let cli = '';
let rtr = '';
let srv = '';
let edge: Spawned | undefined;
const config = join(scratch, 'edge.yaml');

function startEdge(configFile = config): Spawned {
  return lab.spawn(rtr, [process.execPath, bin, 'edge', 'run', '--config', configFile]);
}

function edgeConfig(patternDir: string, maxPackets: number, protocols: Record<string, number>): string {
  return [
    'queue: { num: 3 }',
    `classification: { patterns: [${patternDir}], maxPackets: ${maxPackets} }`,
    'marks:',
    '  mask: 0x0000ff00',
    `  unknown: 0x${UNKNOWN_MARK.toString(16)}`,
    `  protocols: { ${Object.entries(protocols).map(([p, m]) => `${p}: 0x${m.toString(16)}`).join(', ')} }`,
    'metrics: { port: 9917 }',
    '',
  ].join('\n');
}

async function curl(path: string, localPort: number, extra: string[] = []) {
  return lab.exec(cli, ['curl', '-s', '-S', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--max-time', '10', '--local-port', String(localPort), ...extra, `http://${SERVER}:8080${path}`], {
    timeoutMs: 15_000,
    allowFail: true,
  });
}

/** The router's conntrack entries selected by `conntrack -L` filter options. */
async function conntrackEntries(filter: string[]): Promise<string[]> {
  const { stdout } = await lab.exec(rtr, ['conntrack', '-L', ...filter], { allowFail: true });
  return stdout.split('\n').filter((l) => l.includes(' mark='));
}

/** The router's conntrack entry of the TCP connection from the client's `sport`. */
async function conntrackEntry(sport: number): Promise<string | undefined> {
  return (await conntrackEntries(['-p', 'tcp', '--orig-port-src', String(sport)])).find((l) => l.includes(`sport=${sport} `));
}

/** Polls (bounded) for the one entry matching `filter` whose mark has l7 bits; returns it (or the unmarked one at the time limit). */
async function markedEntry(filter: string[]): Promise<string | undefined> {
  let last: string | undefined;
  await poll(async () => {
    const all = await conntrackEntries(filter);
    if (all.length > 1) throw new Error(`expected one conntrack entry for ${filter.join(' ')}, got:\n${all.join('\n')}`);
    last = all[0];
    return last !== undefined && (field(last, 'mark') & MASK) !== 0;
  }, 3_000);
  return last;
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

async function edgeJson<T>(what: 'flows' | 'stats', configFile = config): Promise<T> {
  const r = await lab.exec(rtr, [process.execPath, bin, 'edge', what, '--config', configFile, '--json'], { timeoutMs: 10_000 });
  return (what === 'flows' ? r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : JSON.parse(r.stdout)) as T;
}

interface LiveStats {
  packets: { undecodable: number; malformed: number };
  conntrack: { ok: number; failed: number };
  protocols: { l7: string; flows: number }[];
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
  chmodSync(scratch, 0o755);
  const server = lab.spawn(srv, [process.execPath, '-e', SERVER_JS]);
  writeFileSync(join(scratch, 'vsftpd.conf'), vsftpdConfig(join(scratch, 'ftp')));
  const ftpd = lab.spawn(srv, ['vsftpd', join(scratch, 'vsftpd.conf')]);
  writeFileSync(join(scratch, 'sshd_config'), sshdConfig(join(scratch, 'ssh')));
  // sshd wants its privilege-separation dir /run/sshd: a private /run in the
  // mount namespace `ip netns exec` made for it (nothing reaches the host).
  const sshd = lab.spawn(srv, ['sh', '-c', 'mount -t tmpfs -o mode=0755,size=64k l7edge-run /run && mkdir /run/sshd && exec /usr/sbin/sshd -D -e -f "$1"', 'sh', join(scratch, 'sshd_config')]);
  const dnsd = lab.spawn(srv, ['dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--listen-address=${SERVER}`, '--bind-interfaces', `--address=/example.test/${SERVER}`, `--pid-file=${join(scratch, 'dnsmasq.pid')}`]);
  await server.waitFor('ready', 10_000);
  for (const [name, port, proc] of [['vsftpd', 21, ftpd], ['sshd', 22, sshd], ['dnsmasq', 53, dnsd]] as const) {
    const listening = await poll(async () => (await lab.exec(srv, ['ss', '-Hln', `sport = :${port}`])).stdout.trim() !== '', 10_000, 50);
    if (!listening) throw new Error(`${name} is not listening on :${port}:\n${proc.stderr}${proc.stdout}`);
  }
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
  // The project's real patterns of the protocols under test only: the test does not depend on what else the library holds.
  mkdirSync(join(scratch, 'patterns'));
  for (const proto of ['http', 'ftp', 'ssh', 'dns']) copyFileSync(join(repo, `patterns/${proto}.pat`), join(scratch, `patterns/${proto}.pat`));
  writeFileSync(config, edgeConfig('patterns', BUDGET, { http: HTTP_MARK, ftp: FTP_MARK, ssh: SSH_MARK, dns: DNS_MARK }));
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

  it('classifies an FTP session (vsftpd, ftplib); the data connection starts with the control connection\'s mark (FTP helper) and is never queued', async () => {
    const out = await lab.exec(cli, ftpClient(45010, 45011, false), { timeoutMs: 20_000 });
    expect(out.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ retrieved: FTP_FILE }, { quit: true }]);
    const control = await markedEntry(['-p', 'tcp', '--orig-port-src', '45010']);
    const data = await markedEntry(['-p', 'tcp', '--orig-port-src', '45011']);
    expect(field(control!, 'dport')).toBe(21);
    expect(control).toContain('helper=ftp');
    expect(field(control!, 'mark') & MASK).toBe(FTP_MARK);
    expect(field(control!, 'mark') & OPERATOR_CT_BIT).toBe(OPERATOR_CT_BIT);
    expect(field(data!, 'dport')).toBeGreaterThanOrEqual(30000);
    expect(field(data!, 'mark') & MASK).toBe(FTP_MARK);
    const flows = await edgeJson<LiveFlow[]>('flows');
    expect(flows.find((f) => f.sport === 45010)).toMatchObject({ l7: 'ftp', mark: '0x200', mark_state: 'packet' });
    expect(flows.find((f) => f.sport === 45011)).toBeUndefined();
  });

  it('classifies SSH by its banner (OpenSSH server and client)', async () => {
    const ssh = ['ssh', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5'];
    const r = await lab.exec(cli, [...ssh, `nobody@${SERVER}`, 'true'], { timeoutMs: 15_000, allowFail: true });
    // No key is authorised: the banners, the key exchange and a refused login crossed the router.
    expect(r.stderr).toContain('Permission denied (publickey)');
    const entry = await markedEntry(['-p', 'tcp', '--orig-port-dst', '22']);
    expect(field(entry!, 'mark') & MASK).toBe(SSH_MARK);
    const flow = (await edgeJson<LiveFlow[]>('flows')).find((f) => f.dport === 22);
    expect(flow).toMatchObject({ l7: 'ssh', mark: '0x300' });
  });

  it('classifies a UDP DNS query (dnsmasq, a stub resolver) and marks its UDP conntrack entry', async () => {
    const resolve = `
const r = new (require('node:dns').promises.Resolver)({ timeout: 3000, tries: 1 });
r.setServers(['${SERVER}']);
r.resolve4('example.test').then((a) => console.log(JSON.stringify(a)), (e) => console.log(JSON.stringify({ error: e.code })));`;
    const out = await lab.exec(cli, [process.execPath, '-e', resolve], { timeoutMs: 10_000 });
    expect(JSON.parse(out.stdout)).toEqual([SERVER]);
    const entry = await markedEntry(['-p', 'udp', '--orig-port-dst', '53']);
    expect(field(entry!, 'mark') & MASK).toBe(DNS_MARK);
    expect(field(entry!, 'mark') & OPERATOR_CT_BIT).toBe(OPERATOR_CT_BIT);
    const flow = (await edgeJson<LiveFlow[]>('flows')).find((f) => f.dport === 53);
    expect(flow).toMatchObject({ l7: 'dns', mark: '0x400', mark_state: 'packet' });
  });

  it('accepts and counts malformed packets injected from a raw socket, names them in its log, and keeps classifying', async () => {
    // The edge's own rules queue tracked connections only, and conntrack
    // takes these packets for invalid: a test rule queues them all the same,
    // and a counting rule after the queue sees whether they went on.
    const queueInvalid = ['FORWARD', '-s', CLIENT, '-d', SERVER, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'NFQUEUE', '--queue-num', '3', '--queue-bypass'];
    const countInvalid = ['POSTROUTING', '-s', CLIENT, '-d', SERVER, '-m', 'conntrack', '--ctstate', 'INVALID'];
    await lab.exec(rtr, ['iptables', '-t', 'mangle', '-I', ...queueInvalid]);
    await lab.exec(rtr, ['iptables', '-t', 'mangle', '-A', ...countInvalid]);
    try {
      const before = await edgeJson<LiveStats>('stats');
      const sent = await lab.exec(cli, ['python3', '-c', RAW_SENDER]);
      expect(JSON.parse(sent.stdout)).toEqual({ sent: 10 });
      const after = await poll(async () => {
        const s = await edgeJson<LiveStats>('stats');
        return s.packets.malformed - before.packets.malformed >= 10 ? s : undefined;
      }, 3_000);
      expect(after?.packets.malformed).toBe(before.packets.malformed + 10);
      expect(after?.packets.undecodable).toBe(before.packets.undecodable + 10);
      // Every one was accepted: all ten left the router.
      const passed = (await mangleSave(true)).split('\n').find((l) => l.includes(`-A POSTROUTING -s ${CLIENT}/32 -d ${SERVER}/32 -m conntrack --ctstate INVALID`));
      expect(Number(/^\[(\d+):/.exec(passed ?? '')?.[1])).toBe(10);
      expect(edge!.running).toBe(true);
      for (const reason of ['tcp: header truncated (12 bytes in segment)', 'tcp: data offset 16 < 20', 'tcp: header length 60 > segment 24', 'udp: header truncated (5 bytes in datagram)', 'udp: length 3 < 8']) {
        expect(edge!.stderr).toContain(reason);
      }
      expect(edge!.stderr).toMatch(/warning: packet accepted undecoded \(1 so far\): tcp: header truncated/);
    } finally {
      await lab.exec(rtr, ['iptables', '-t', 'mangle', '-D', ...queueInvalid], { allowFail: true });
      await lab.exec(rtr, ['iptables', '-t', 'mangle', '-D', ...countInvalid], { allowFail: true });
    }
    expect((await curl('/', 45012)).stdout).toBe('200 22');
    const entry = await markedEntry(['-p', 'tcp', '--orig-port-src', '45012']);
    expect(field(entry!, 'mark') & MASK).toBe(HTTP_MARK);
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
    expect(edge.stderr).toMatch(/replaced 4 jumps left by an earlier run/);
    const save = (await mangleSave()) + (await lab.exec(rtr, ['iptables-save', '-t', 'raw'])).stdout;
    const jumps = (chain: string, target: string) => save.split('\n').filter((l) => l.trim() === `-A ${chain} -j ${target}`).length;
    expect([jumps('PREROUTING', 'L7MESH-RAW'), jumps('PREROUTING', 'L7MESH-PRE'), jumps('FORWARD', 'L7MESH-QUEUE'), jumps('POSTROUTING', 'L7MESH-POST')]).toEqual([1, 1, 1, 1]);
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
    expect((await lab.exec(rtr, ['iptables-save', '-t', 'raw'])).stdout).not.toContain('L7MESH');
    expect(save).toContain('-A PREROUTING -j CONNMARK --set-xmark 0x1/0x1');
    expect(save).toContain('-A FORWARD -j MARK --set-xmark 0x10000/0x10000');
    expect((await curl('/', 45008)).stdout).toBe('200 22');
  });

  it('sets the conntrack mark through ctnetlink when the verdict comes after the connection\'s last packet', async () => {
    // An edge whose ftp pattern decides on the client's QUIT only: the data
    // connection starts while its control connection is unclassified (so it
    // is queued, and the edge learns of it from the PASV reply), and by the
    // QUIT it is closed: no packet of its own is left to carry the verdict
    // it inherits.
    const dir = join(scratch, 'late');
    mkdirSync(join(dir, 'patterns'), { recursive: true });
    writeFileSync(join(dir, 'patterns/ftp.pat'), '# ftp, decided when the client quits (test only)\nftp\n\\x0d\\x0aquit\\x0d\\x0a\n');
    const lateConfig = join(dir, 'edge.yaml');
    writeFileSync(lateConfig, edgeConfig(join(dir, 'patterns'), 40, { ftp: FTP_MARK }));
    edge = startEdge(lateConfig);
    await edge.waitFor('edge: running', 20_000);

    const client = lab.spawn(cli, ftpClient(45020, 45021, true), { stdin: true });
    await client.waitFor('retrieved', 15_000);
    const closed = await poll(async () => (await conntrackEntries(['-p', 'tcp', '--orig-port-src', '45021'])).find((l) => l.includes('TIME_WAIT')), 3_000, 50);
    expect(closed, 'the data connection, closed on both sides').toBeDefined();
    expect(field(closed!, 'mark') & MASK).toBe(0);
    expect((await edgeJson<LiveFlow[]>('flows', lateConfig)).find((f) => f.sport === 45021)).toMatchObject({ l7: 'unset' });

    client.child.stdin!.end('\n');
    expect((await client.exit(10_000)).code).toBe(0);
    expect(client.stdout).toContain('{"quit": true}');
    const data = await markedEntry(['-p', 'tcp', '--orig-port-src', '45021']);
    expect(data).toContain('TIME_WAIT');
    expect(field(data!, 'mark') & MASK).toBe(FTP_MARK);
    expect(field(data!, 'mark') & OPERATOR_CT_BIT).toBe(OPERATOR_CT_BIT);
    const flows = await edgeJson<LiveFlow[]>('flows', lateConfig);
    expect(flows.find((f) => f.sport === 45021)).toMatchObject({ l7: 'ftp', mark: '0x200', mark_state: 'conntrack' });
    expect(flows.find((f) => f.sport === 45020)).toMatchObject({ l7: 'ftp', mark: '0x200', mark_state: 'packet' });
    expect((await edgeJson<LiveStats>('stats', lateConfig)).conntrack).toMatchObject({ ok: 1, failed: 0 });

    expect((await edge.stop('SIGTERM', 15_000)).code).toBe(0);
  });
});
