/**
 * Real traffic through the installed rules, no queue consumer: a client and
 * a server namespace on both sides of an edge router namespace (FORWARD),
 * and a host terminating connections itself (INPUT/OUTPUT).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEdgeRules, renderTcHtbExample } from '@l7mesh/netfilter';
import { NetnsLab } from '@l7mesh/netns';
import { ruleCounter } from './iptablesSave.js';

const lab = new NetnsLab('l7nf');
afterAll(() => lab.cleanup());

/** Starts a long-running node script inside ns and waits (bounded) until it prints `ready`. */
async function spawnNode(ns: string, script: string): Promise<void> {
  await lab.spawn(ns, [process.execPath, '-e', script]).waitFor('ready', 5_000);
}

/** Runs a node script to completion inside ns and returns its stdout. */
async function runNode(ns: string, script: string): Promise<string> {
  return (await lab.exec(ns, [process.execPath, '-e', script], { timeoutMs: 10_000 })).stdout;
}

/** UDP echo on :5000 and TCP echo on :5001; prints "ready" once both listen. */
const SERVER = `
const dgram = require('node:dgram'), net = require('node:net');
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(m, r.port, r.address));
let up = 0; const ready = () => { if (++up === 2) console.log('ready'); };
u.bind(5000, ready);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(5001, ready);
setTimeout(() => process.exit(0), 50000);
`;

/** Sends `count` datagrams from `sport`, one after another, each waiting (<= 1 s) for its echo. */
function udpClient(host: string, sport: number, count: number): string {
  return `
const s = require('node:dgram').createSocket('udp4');
let replies = 0, sent = 0, timer;
const next = () => {
  if (sent === ${count}) { console.log(JSON.stringify({ replies })); s.close(); return; }
  sent++;
  timer = setTimeout(next, 1000);
  s.send('ping ' + sent, 5000, '${host}');
};
s.on('message', () => { replies++; clearTimeout(timer); next(); });
s.bind(${sport}, next);
`;
}

/** Connects to :5001, sends "hello", waits (<= 3 s) for the echo. */
function tcpClient(host: string): string {
  return `
const c = require('node:net').connect(5001, '${host}');
const t = setTimeout(() => { console.log(JSON.stringify({ echo: null })); process.exit(0); }, 3000);
let got = '';
c.on('connect', () => c.write('hello'));
c.on('data', (d) => { got += d; if (got === 'hello') { clearTimeout(t); console.log(JSON.stringify({ echo: got })); c.end(); } });
c.on('error', (e) => { clearTimeout(t); console.log(JSON.stringify({ echo: null, error: e.message })); });
`;
}

async function counters(ns: string): Promise<string> {
  return (await lab.exec(ns, ['iptables-save', '-c'])).stdout;
}

/** The conntrack entry (one line) of the UDP flow from `sport`. */
async function udpConntrack(ns: string, sport: number): Promise<string> {
  const { stdout } = await lab.exec(ns, ['conntrack', '-L', '-p', 'udp', '--orig-port-src', String(sport)]);
  const lines = stdout.split('\n').filter((l) => l.includes(`sport=${sport} `));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

function ctMark(entry: string): number {
  const m = / mark=(\d+)/.exec(entry);
  if (!m) throw new Error(`no mark in ${entry}`);
  return Number(m[1]);
}

describe('forwarded traffic through an edge router, no queue consumer', () => {
  let cli = '';
  let rtr = '';
  let srv = '';
  const PACKETS = 4;

  beforeAll(async () => {
    cli = await lab.ns();
    rtr = await lab.ns();
    srv = await lab.ns();
    await lab.link(cli, 'eth0', '198.18.60.1/24', rtr, 'veth0', '198.18.60.254/24');
    await lab.link(rtr, 'veth1', '198.18.61.254/24', srv, 'eth0', '198.18.61.1/24');
    await lab.route(cli, '198.18.61.0/24', '198.18.60.254');
    await lab.route(srv, '198.18.60.0/24', '198.18.61.254');
    await lab.exec(rtr, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // The operator's marks on traffic from the client side:
    //  - raw PREROUTING (runs before mangle, so before our restore): packet bit 0x2;
    //  - mangle PREROUTING (after our restore, which is inserted first): packet bit 0x1
    //    and connmark bit 0x10000.
    await lab.exec(rtr, ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-i', 'veth0', '-j', 'MARK', '--set-xmark', '0x2/0x2']);
    await lab.exec(rtr, ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-i', 'veth0', '-j', 'MARK', '--set-xmark', '0x1/0x1']);
    await lab.exec(rtr, ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-i', 'veth0', '-j', 'CONNMARK', '--set-xmark', '0x10000/0x10000']);
    await spawnNode(srv, SERVER);
    const result = await applyEdgeRules({ packets: PACKETS }, { netns: rtr });
    expect(Object.keys(result.families)).toEqual(['ipv4']);
  });

  it('TCP and UDP pass (queue-bypass), exactly the first N packets are queued, conntrack shows the flow', async () => {
    const tcp = JSON.parse(await runNode(cli, tcpClient('198.18.61.1'))) as { echo: string | null };
    expect(tcp.echo).toBe('hello');
    const udp = JSON.parse(await runNode(cli, udpClient('198.18.61.1', 40001, 8))) as { replies: number };
    expect(udp.replies).toBe(8);

    const save = await counters(rtr);
    // connbytes 0:N with the current packet already counted: packets 1..N of
    // each connection (both directions) were queued, and passed because no
    // one listens on queue 0.
    expect(ruleCounter(save, 'L7MESH-QUEUE', '-p udp')).toBe(PACKETS);
    expect(ruleCounter(save, 'L7MESH-QUEUE', '-p tcp')).toBe(PACKETS);
    expect(ruleCounter(save, 'L7MESH-PRE', 'CONNMARK')).toBeGreaterThanOrEqual(16);

    const entry = await udpConntrack(rtr, 40001);
    expect(entry).toContain('src=198.18.60.1 dst=198.18.61.1 sport=40001 dport=5000 packets=8');
    expect(entry).toContain('src=198.18.61.1 dst=198.18.60.1 sport=5000 dport=40001 packets=8');
    // the operator's connmark bit, and no l7 bits: never classified
    expect(ctMark(entry)).toBe(0x10000);
  });

  it('an emulated verdict lands in the connmark under the mask; other bits are kept apart', async () => {
    // The edge's verdict sets the l7 bits on a packet; emulate it with a rule
    // after our queue jump. A queued packet never reaches it: NFQUEUE (here
    // its bypass accept) ends the mangle FORWARD traversal. So packets 1..N
    // pass unmarked and packet N+1 is the first to be marked.
    await lab.exec(rtr, ['iptables', '-t', 'mangle', '-A', 'FORWARD', '-j', 'MARK', '--set-xmark', '0x4200/0xff00']);
    // observers: full packet marks as the filter table (after mangle) sees them
    for (const mark of ['0x4203', '0x4200', '0x3', '0x0']) {
      await lab.exec(rtr, ['iptables', '-t', 'filter', '-A', 'FORWARD', '-p', 'udp', '-m', 'mark', '--mark', mark]);
    }
    // shaping by the l7 mark on the way to the server (CLASSIFY variant: this kernel has no cls_fw)
    const tc = renderTcHtbExample({
      dev: 'veth1',
      linkRate: '1gbit',
      groups: [{ name: 'emulated', mark: 0x4200, rate: '100mbit' }],
      leafQdisc: false,
      classifier: 'classify',
    });
    for (const line of tc.split('\n').filter((l) => l.startsWith('tc ') || l.startsWith('iptables '))) {
      await lab.exec(rtr, line.split(' '));
    }
    const queuedBefore = ruleCounter(await counters(rtr), 'L7MESH-QUEUE', '-p udp');

    const udp = JSON.parse(await runNode(cli, udpClient('198.18.61.1', 40002, 8))) as { replies: number };
    expect(udp.replies).toBe(8);

    const save = await counters(rtr);
    expect(ruleCounter(save, 'L7MESH-QUEUE', '-p udp') - queuedBefore).toBe(PACKETS);
    expect(ruleCounter(save, 'FORWARD', '--set-xmark 0x4200/0xff00')).toBe(16 - PACKETS);
    // client -> server (odd packets): 1 and 3 queued, carry only the
    // operator's 0x2 (raw) | 0x1 (mangle); 5..15 carry the l7 bits as well:
    // restore-mark with --nfmask 0xff00 kept the 0x2 set before it.
    expect(ruleCounter(save, 'FORWARD', '--mark 0x3')).toBe(2);
    expect(ruleCounter(save, 'FORWARD', '--mark 0x4203')).toBe(6);
    // server -> client (even packets): 2 and 4 unmarked, 6..16 carry 0x4200.
    expect(ruleCounter(save, 'FORWARD', '--mark 0x0')).toBe(2);
    expect(ruleCounter(save, 'FORWARD', '--mark 0x4200')).toBe(6);

    // connmark: the l7 bits saved (save-mark --nfmask 0xff00: the packet's
    // 0x3 did not leak in) and the operator's 0x10000 kept (--ctmask 0xff00).
    expect(ctMark(await udpConntrack(rtr, 40002))).toBe(0x14200);

    // the 6 classified client -> server packets went to the group's class
    const classes = (await lab.exec(rtr, ['tc', '-s', 'class', 'show', 'dev', 'veth1'])).stdout;
    const sent = /class htb 1:10 [^\n]*\n\s*Sent \d+ bytes (\d+) pkt/.exec(classes);
    expect(sent?.[1]).toBe('6');
  });
});

describe('locally terminated traffic (INPUT/OUTPUT), no queue consumer', () => {
  it('TCP and UDP to the edge host itself pass; the first N packets are queued', async () => {
    const edge = await lab.ns();
    const peer = await lab.ns();
    await lab.link(edge, 'eth0', '198.18.64.1/24', peer, 'eth0', '198.18.64.2/24');
    await spawnNode(edge, SERVER);
    await applyEdgeRules({ hooks: ['INPUT', 'OUTPUT'], packets: 3 }, { netns: edge });

    const tcp = JSON.parse(await runNode(peer, tcpClient('198.18.64.1'))) as { echo: string | null };
    expect(tcp.echo).toBe('hello');
    const udp = JSON.parse(await runNode(peer, udpClient('198.18.64.1', 40003, 5))) as { replies: number };
    expect(udp.replies).toBe(5);

    const save = await counters(edge);
    // request, reply, request: 2 through INPUT, 1 through OUTPUT
    expect(ruleCounter(save, 'L7MESH-QUEUE', '-p udp')).toBe(3);
    expect(ruleCounter(save, 'L7MESH-QUEUE', '-p tcp')).toBe(3);
    expect(ruleCounter(save, 'INPUT', '-j L7MESH-QUEUE')).toBeGreaterThan(0);
    expect(ruleCounter(save, 'OUTPUT', '-j L7MESH-QUEUE')).toBeGreaterThan(0);
    expect(save).not.toContain('-A FORWARD -j L7MESH-QUEUE');
    expect(await udpConntrack(edge, 40003)).toContain('packets=5');
  });
});
