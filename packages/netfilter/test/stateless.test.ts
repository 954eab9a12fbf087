/**
 * The stateless edge table on real traffic: client — router — server
 * namespaces, the table applied in the router next to an operator table and
 * an operator iptables rule of its own; no queue listener except in one test
 * (an edge stand-in that gives every packet a verdict mark: unknown flows,
 * and watched ones). Everything is
 * proven with nft counters: ours, the operator's (earlier and later
 * priorities) and the server's (which link a packet came in on).
 *
 *   client eth0 198.18.80.1 (+ .2) ─ veth0 router veth1 ─ eth1 198.18.81.1 server
 *                                          router veth2 ─ eth2 198.18.82.1 server
 *   client eth1 198.18.84.1 ─────────────────────────────── eth3 198.18.84.2 server
 *
 * The service address 198.18.83.1 is on the server's lo; the router reaches
 * it over veth1 (main table) or, for packets whose l7 bits are 0x100, over
 * veth2 (`ip rule fwmark 0x100/0xff00 table 100`). The direct client-server
 * link carries the replies to 198.18.85.1 (on the client's lo), so the router
 * sees only one direction of those flows, as on a multi-homed edge.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyStatelessRules,
  NetfilterError,
  parseCounters,
  parseFlowSets,
  parseLiveSet,
  removeStatelessRules,
  renderElementOps,
  type CounterValue,
  type ElementOp,
  type FlowTuple,
  type StatelessRulesConfig,
} from '@l7mesh/netfilter';
import { NetnsLab, poll } from '@l7mesh/netns';
import { chainRules, ruleCounter } from './iptablesSave.js';

const lab = new NetnsLab('l7sl');
afterAll(() => lab.cleanup());

/** The repository root: `@l7mesh/nfqueue` (built) resolves from there for the queue listener. */
const REPO = fileURLToPath(new URL('../../..', import.meta.url));

const SERVICE = '198.18.83.1';
const CLIENT = '198.18.80.1';
const CLIENT2 = '198.18.80.2';
const ASYM_CLIENT = '198.18.85.1';

/** UDP echo on SERVICE:5000 and TCP echo on SERVICE:5001 (bound to SERVICE, so replies come from it). */
const SERVER = `
const dgram = require('node:dgram'), net = require('node:net');
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(m, r.port, r.address));
let up = 0; const ready = () => { if (++up === 2) console.log('ready'); };
u.bind(5000, '${SERVICE}', ready);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(5001, '${SERVICE}', ready);
setTimeout(() => process.exit(0), 120000);
`;

/**
 * An edge stand-in on queue 0: ACCEPTs every packet with l7 bits 0x100 under
 * 0xff00 (those of UDP port 40008: the hold code, 0xfe00), the other bits as
 * they came; on a stdin line prints what it saw since the last one, as
 * {"report":"<line>",seen,tagged}.
 */
const LISTENER = `
const { NfQueue, Verdict } = await import('@l7mesh/nfqueue');
const { createInterface } = await import('node:readline');
let seen = 0, tagged = 0;
const q = NfQueue.open({ queues: 0, onBatch(b, queue) {
  const marks = new Uint32Array(b.count);
  for (let i = 0; i < b.count; i++) {
    seen++;
    if ((b.marks[i] & 0xff00) === 0xff00) tagged++;
    const o = b.offsets[i], l4 = o + (b.data[o] & 15) * 4;
    const hold = ((b.data[l4] << 8) | b.data[l4 + 1]) === 40008 || ((b.data[l4 + 2] << 8) | b.data[l4 + 3]) === 40008;
    marks[i] = ((b.marks[i] & ~0xff00) | (hold ? 0xfe00 : 0x100)) >>> 0;
  }
  queue.verdictBatch(b.queues, b.ids, new Uint8Array(b.count).fill(Verdict.ACCEPT), marks);
} });
console.log('ready');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'exit') { q.close(); process.exit(0); }
  console.log(JSON.stringify({ report: line, seen, tagged }));
  seen = tagged = 0;
});
`;

/** Sends `count` datagrams from sport, one after another, each waiting (<= 1 s) for its echo. */
function udpClient(sport: number, count: number): string {
  return `
const s = require('node:dgram').createSocket('udp4');
let replies = 0, sent = 0, timer;
const next = () => {
  if (sent === ${count}) { console.log(JSON.stringify({ replies })); s.close(); return; }
  sent++;
  timer = setTimeout(next, 1000);
  s.send('ping ' + sent, 5000, '${SERVICE}');
};
s.on('message', () => { replies++; clearTimeout(timer); next(); });
s.bind(${sport}, '${CLIENT}', next);
`;
}

/** A TCP client that sends `count` pings `everyMs` apart on one connection and counts the echoes. */
function talkingClient(local: { address: string; port: number }, count: number, everyMs: number): string {
  return `
const c = require('node:net').connect({ port: 5001, host: '${SERVICE}', localAddress: '${local.address}', localPort: ${local.port} });
let sent = 0, echoes = 0;
const t = setTimeout(() => { console.log(JSON.stringify({ echoes })); process.exit(0); }, ${count * everyMs + 3000});
const ping = () => { if (sent === ${count}) return; sent++; c.write('ping'); setTimeout(ping, ${everyMs}); };
c.on('connect', ping);
c.on('data', (d) => { echoes += String(d).split('ping').length - 1; if (echoes === ${count}) { clearTimeout(t); console.log(JSON.stringify({ echoes })); c.end(); } });
`;
}

/** Connects to SERVICE:5001 (optionally from a given address and port), sends "hello", waits (<= 3 s) for the echo. */
function tcpClient(local: { address?: string; port?: number } = {}): string {
  return `
const c = require('node:net').connect({ port: 5001, host: '${SERVICE}', localAddress: ${JSON.stringify(local.address)}, localPort: ${JSON.stringify(local.port)} });
const t = setTimeout(() => { console.log(JSON.stringify({ echo: null })); process.exit(0); }, 3000);
let got = '';
c.on('connect', () => c.write('hello'));
c.on('data', (d) => { got += d; if (got === 'hello') { clearTimeout(t); console.log(JSON.stringify({ echo: got })); c.end(); } });
c.on('error', (e) => { clearTimeout(t); console.log(JSON.stringify({ echo: null, error: e.message })); });
`;
}

async function runNode(ns: string, script: string): Promise<string> {
  return (await lab.exec(ns, [process.execPath, '-e', script], { timeoutMs: 15_000 })).stdout;
}

async function nft(ns: string, script: string): Promise<void> {
  await lab.exec(ns, ['nft', '-f', '-'], { input: script });
}

async function nftJson(ns: string, ...args: string[]): Promise<string> {
  return (await lab.exec(ns, ['nft', '-j', 'list', ...args])).stdout;
}

async function counters(ns: string, table: string): Promise<Record<string, CounterValue>> {
  return parseCounters(await nftJson(ns, 'counters', 'table', 'inet', table));
}

/** Packet counts of named counters now, for deltas. */
async function packets(ns: string, table: string): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await counters(ns, table)).map(([name, c]) => [name, c.packets]));
}

function delta(before: Record<string, number>, after: Record<string, number>, name: string): number {
  if (after[name] === undefined) throw new Error(`no counter ${name} in ${JSON.stringify(after)}`);
  return after[name] - (before[name] ?? 0);
}

/** Both directions of a flow between the client and SERVICE. */
function bothWays(protocol: 'tcp' | 'udp', sport: number, dport: number, src = CLIENT): [FlowTuple, FlowTuple] {
  return [
    { family: 'ipv4', protocol, src, sport, dst: SERVICE, dport },
    { family: 'ipv4', protocol, src: SERVICE, sport: dport, dst: src, dport: sport },
  ];
}

/**
 * The operator's table in the router, present before l7mesh: marks set
 * before ours (priority raw) and observers after ours and before routing
 * (priority -100) and in forward. Counters are named so they can be read.
 */
const OPERATOR_TABLE = `table inet operator {
	counter obs_marked_c2s {}
	counter obs_marked_s2c {}
	counter obs_unknown_c2s {}
	counter obs_hold_code {}
	counter syn_c2s {}
	counter rst_s2c {}
	counter asym_fwd {}
	counter asym_marked {}
	counter asym_invalid_marked {}
	chain early {
		type filter hook prerouting priority raw; policy accept;
		iifname "veth0" meta mark set 0x00010001
		iifname "veth0" udp sport 40002 meta mark set 0x00010201
	}
	chain observe {
		type filter hook prerouting priority -100; policy accept;
		udp sport 40002 meta mark 0x00010101 counter name obs_marked_c2s
		udp dport 40002 meta mark 0x00000100 counter name obs_marked_s2c
		udp sport 40001 meta mark 0x00010001 counter name obs_unknown_c2s
		meta mark & 0x0000ff00 == 0x0000fe00 counter name obs_hold_code
		ip saddr ${CLIENT} tcp dport 9 tcp flags & (syn | ack) == syn counter name syn_c2s
		ip daddr ${CLIENT} tcp sport 9 tcp flags rst counter name rst_s2c
	}
	chain forwarded {
		type filter hook forward priority 0; policy accept;
		ip saddr ${ASYM_CLIENT} counter name asym_fwd
		ip saddr ${ASYM_CLIENT} meta mark & 0x0000ff00 == 0x00000200 counter name asym_marked
		ip saddr ${ASYM_CLIENT} ct state invalid meta mark & 0x0000ff00 == 0x00000200 counter name asym_invalid_marked
	}
}
`;

/** In the server: which link a packet from the client arrived on. */
const SERVER_PROBE = `table inet probe {
	counter via1_40001 {}
	counter via2_40001 {}
	counter via1_40002 {}
	counter via2_40002 {}
	counter via1_40003 {}
	counter via2_40003 {}
	counter via1_40005 {}
	counter via2_40005 {}
	counter via1_40006 {}
	counter via2_40006 {}
	chain arrivals {
		type filter hook prerouting priority 0; policy accept;
		iifname "eth1" udp sport 40001 counter name via1_40001
		iifname "eth2" udp sport 40001 counter name via2_40001
		iifname "eth1" udp sport 40002 counter name via1_40002
		iifname "eth2" udp sport 40002 counter name via2_40002
		iifname "eth1" udp sport 40003 counter name via1_40003
		iifname "eth2" udp sport 40003 counter name via2_40003
		iifname "eth1" udp sport 40005 counter name via1_40005
		iifname "eth2" udp sport 40005 counter name via2_40005
		iifname "eth1" udp sport 40006 counter name via1_40006
		iifname "eth2" udp sport 40006 counter name via2_40006
	}
}
`;

const OPERATOR_IPTABLES = ['-t', 'mangle', '-A', 'PREROUTING', '-i', 'veth0', '-p', 'udp', '--dport', '9999', '-j', 'MARK', '--set-xmark', '0x4/0x4'];
const OPERATOR_IPTABLES_SAVED = '-A PREROUTING -i veth0 -p udp -m udp --dport 9999 -j MARK --set-xmark 0x4/0x4';

describe('the stateless edge table on real traffic', () => {
  let cli = '';
  let rtr = '';
  let srv = '';
  let operatorBefore = '';
  const config: StatelessRulesConfig = { marks: [0x100, 0x200], interfaces: ['veth0', 'veth1'], liveTimeoutSec: 60 };
  /** How the applied table queues (nft_queue or the iptables rule), as apply chose it. */
  let queueVia: 'nft' | 'iptables' = 'nft';

  /** The operator's table as nft lists it without counter values. */
  const operatorTable = async () => (await lab.exec(rtr, ['nft', '-s', 'list', 'table', 'inet', 'operator'])).stdout;
  const manglePrerouting = async () => chainRules((await lab.exec(rtr, ['iptables-save', '-t', 'mangle'])).stdout, 'PREROUTING');
  const flowSets = async () => parseFlowSets(await nftJson(rtr, 'table', 'inet', 'l7mesh'));
  const liveSet = async () => parseLiveSet(await nftJson(rtr, 'set', 'inet', 'l7mesh', 'live4'));

  async function addElements(ops: ElementOp[]): Promise<void> {
    await nft(rtr, renderElementOps('l7mesh', ops));
  }

  beforeAll(async () => {
    cli = await lab.ns('cli');
    rtr = await lab.ns('rtr');
    srv = await lab.ns('srv');
    await lab.link(cli, 'eth0', `${CLIENT}/24`, rtr, 'veth0', '198.18.80.254/24');
    await lab.address(cli, 'eth0', `${CLIENT2}/24`);
    await lab.link(rtr, 'veth1', '198.18.81.254/24', srv, 'eth1', '198.18.81.1/24');
    await lab.link(rtr, 'veth2', '198.18.82.254/24', srv, 'eth2', '198.18.82.1/24');
    await lab.link(cli, 'eth1', '198.18.84.1/24', srv, 'eth3', '198.18.84.2/24');
    await lab.address(srv, 'lo', `${SERVICE}/32`);
    await lab.address(cli, 'lo', `${ASYM_CLIENT}/32`);
    await lab.route(cli, '198.18.83.0/24', '198.18.80.254');
    await lab.route(srv, '198.18.80.0/24', '198.18.81.254');
    await lab.route(srv, '198.18.85.0/24', '198.18.84.1');
    await lab.route(rtr, '198.18.83.0/24', '198.18.81.1');
    // policy routing by class: l7 bits 0x100 leave over the second link
    await lab.exec(rtr, ['ip', 'route', 'add', '198.18.83.0/24', 'via', '198.18.82.1', 'table', '100']);
    await lab.exec(rtr, ['ip', 'rule', 'add', 'fwmark', '0x100/0xff00', 'table', '100']);
    await lab.exec(rtr, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // Packets come back over another link than they left by: no reverse-path filter anywhere.
    for (const ns of [cli, rtr, srv]) {
      await lab.exec(ns, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
      const links = (await lab.exec(ns, ['ls', '/proc/sys/net/ipv4/conf'])).stdout.split(/\s+/).filter((l) => /^(eth|veth)\d$/.test(l));
      for (const l of links) await lab.exec(ns, ['sysctl', '-qw', `net.ipv4.conf.${l}.rp_filter=0`]);
    }
    await nft(rtr, OPERATOR_TABLE);
    await lab.exec(rtr, ['iptables', ...OPERATOR_IPTABLES]);
    await nft(srv, SERVER_PROBE);
    await lab.spawn(srv, [process.execPath, '-e', SERVER]).waitFor('ready', 5_000);
    operatorBefore = await operatorTable();
  });

  it('applies next to the operator\'s table and iptables rule, which stay as they were', async () => {
    const result = await applyStatelessRules(config, { netns: rtr });
    queueVia = result.queueVia;
    expect(await operatorTable()).toBe(operatorBefore);
    const tables = (await lab.exec(rtr, ['nft', 'list', 'tables'])).stdout;
    expect(tables).toContain('table inet l7mesh');
    expect(tables).toContain('table inet operator');
    const prerouting = await manglePrerouting();
    expect(prerouting[0]).toBe(OPERATOR_IPTABLES_SAVED);
    if (queueVia === 'iptables') {
      // this kernel has no nft_queue: the queue rule is appended after the operator's
      expect(prerouting).toHaveLength(2);
      expect(prerouting[1]).toContain('l7mesh-stateless:l7mesh');
    } else {
      expect(prerouting).toHaveLength(1);
    }
    // applying again replaces, and still leaves exactly one queue rule
    await applyStatelessRules(config, { netns: rtr });
    expect(await manglePrerouting()).toEqual(prerouting);
    expect(await operatorTable()).toBe(operatorBefore);
  });

  it('flows in no set are queued with bypass: with no listener traffic flows, and takes the main route', async () => {
    const ours = await packets(rtr, 'l7mesh');
    const op = await packets(rtr, 'operator');
    const udp = JSON.parse(await runNode(cli, udpClient(40001, 6))) as { replies: number };
    expect(udp.replies).toBe(6);
    const tcp = JSON.parse(await runNode(cli, tcpClient())) as { echo: string | null };
    expect(tcp.echo).toBe('hello');

    const oursAfter = await packets(rtr, 'l7mesh');
    // 12 UDP packets (6 each way) plus the TCP connection's (at least SYN, SYN-ACK, ACK, data, echo)
    expect(delta(ours, oursAfter, 'queued')).toBeGreaterThanOrEqual(12 + 5);
    expect(delta(ours, oursAfter, 'over_rate')).toBe(0);
    expect(delta(ours, oursAfter, 'held')).toBe(0);
    expect(delta(ours, oursAfter, 'watched')).toBe(0);
    expect(delta(ours, oursAfter, 'mark_0x100')).toBe(0);
    if (queueVia === 'iptables') {
      // the iptables rule sent every tagged packet to NFQUEUE; each came back without a verdict and lost its tag
      const rule = ruleCounter((await lab.exec(rtr, ['iptables-save', '-c', '-t', 'mangle'])).stdout, 'PREROUTING', 'l7mesh-stateless');
      expect(rule).toBe(oursAfter.queued);
      expect(delta(ours, oursAfter, 'no_verdict')).toBe(delta(ours, oursAfter, 'queued'));
    }
    // the operator's bits, and no l7 bits, after all of our chains
    expect(delta(op, await packets(rtr, 'operator'), 'obs_unknown_c2s')).toBe(6);
    const probe = await packets(srv, 'probe');
    expect(probe.via1_40001).toBe(6);
    expect(probe.via2_40001).toBe(0);
  });

  it('a flow whose two keys are in a mark set: every packet carries the l7 bits beside the operator\'s, takes the class route, and is live', async () => {
    await addElements(bothWays('udp', 40002, 5000).map((key) => ({ op: 'add', key, target: { mark: 0x100 }, timeoutSec: 60 })));
    const ours = await packets(rtr, 'l7mesh');
    const udp = JSON.parse(await runNode(cli, udpClient(40002, 6))) as { replies: number };
    expect(udp.replies).toBe(6);

    const oursAfter = await packets(rtr, 'l7mesh');
    expect(delta(ours, oursAfter, 'mark_0x100')).toBe(12);
    expect(delta(ours, oursAfter, 'queued')).toBe(0);
    // operator's 0x10201 -> 0x10101: the stale l7 bit 0x200 replaced, 0x10001 kept; replies carry 0x100 alone
    const op = await packets(rtr, 'operator');
    expect(op.obs_marked_c2s).toBe(6);
    expect(op.obs_marked_s2c).toBe(6);
    // fwmark 0x100/0xff00 -> table 100 -> the second link
    const probe = await packets(srv, 'probe');
    expect(probe.via2_40002).toBe(6);
    expect(probe.via1_40002).toBe(0);

    const [c2s, s2c] = bothWays('udp', 40002, 5000);
    const set = parseFlowSets(await nftJson(rtr, 'set', 'inet', 'l7mesh', 'flows4_0x100'));
    expect(set).toHaveLength(2);
    for (const key of [c2s, s2c]) {
      const entry = set.find((e) => e.key.sport === key.sport && e.key.src === key.src);
      expect(entry).toMatchObject({ key, target: { mark: 0x100 }, packets: 6 });
      expect(entry!.expiresMs).toBeGreaterThan(0);
      expect(entry!.expiresMs).toBeLessThanOrEqual(60_000);
    }
    const live = await liveSet();
    expect(live).toEqual(expect.arrayContaining([c2s, s2c]));
    expect(live).toHaveLength(2);
  });

  it('a flow in the hold set is not queued any more, nor marked', async () => {
    await addElements(bothWays('udp', 40003, 5000).map((key) => ({ op: 'add', key, target: 'hold', timeoutSec: 60 })));
    const ours = await packets(rtr, 'l7mesh');
    const udp = JSON.parse(await runNode(cli, udpClient(40003, 5))) as { replies: number };
    expect(udp.replies).toBe(5);
    const oursAfter = await packets(rtr, 'l7mesh');
    expect(delta(ours, oursAfter, 'held')).toBe(10);
    expect(delta(ours, oursAfter, 'queued')).toBe(0);
    expect(delta(ours, oursAfter, 'mark_0x100') + delta(ours, oursAfter, 'mark_0x200')).toBe(0);
    const probe = await packets(srv, 'probe');
    expect(probe.via1_40003).toBe(5);
    expect(probe.via2_40003).toBe(0);
    expect(await liveSet()).toEqual(expect.arrayContaining(bothWays('udp', 40003, 5000)));
    expect((await flowSets()).filter((e) => e.target === 'hold').map((e) => e.packets)).toEqual([5, 5]);
  });

  it('a failed apply names the nft line and changes nothing (one transaction)', async () => {
    if (queueVia === 'nft') return expect((await applyStatelessRules({ ...config, queueVia: 'nft' }, { netns: rtr })).queueVia).toBe('nft');
    // this kernel has no nft_queue: the nft way fails at its queue statement
    const err = await applyStatelessRules({ ...config, queueVia: 'nft' }, { netns: rtr }).then(
      () => undefined,
      (e: unknown) => e as NetfilterError,
    );
    expect(err).toBeInstanceOf(NetfilterError);
    expect(err!.code).toBe('NF_APPLY');
    // (the watch chain's queue statement comes first)
    expect(err!.lineText?.trim()).toBe('queue num 0 bypass');
    expect(err!.input!.split('\n')[err!.line! - 1]).toBe(err!.lineText);
    expect(err!.message).toContain(`at line ${err!.line}`);
    expect(err!.message).toContain('No such file or directory');
    // the table of before is still there, flow sets and all, and so is the iptables queue rule
    expect(await flowSets()).toHaveLength(4);
    expect((await lab.exec(rtr, ['nft', 'list', 'chain', 'inet', 'l7mesh', 'after_queue'])).stdout).toContain('no_verdict');
    expect((await manglePrerouting()).filter((r) => r.includes('l7mesh-stateless'))).toHaveLength(1);
  });

  it('with a queue listener: an unknown flow reaches it until its verdict, whose packet adds the flow to its set (or to hold); watched flows keep reaching it; the mark routes them', async () => {
    const listener = lab.spawn(rtr, [process.execPath, '--input-type=module', '-e', LISTENER], { cwd: REPO, stdin: true });
    await listener.waitFor('ready', 10_000);
    // a failed assertion must not leave the listener giving verdicts to the later tests
    try {
      const report = async (name: string) => {
        listener.child.stdin!.write(`${name}\n`);
        await listener.waitFor(`"report":"${name}"`, 5_000);
        return JSON.parse(listener.stdout.split('\n').find((l) => l.includes(`"report":"${name}"`))!) as { seen: number; tagged: number };
      };
      // with queueVia iptables the edge sees the tag (queueMark under the mask) on queued packets
      const tagged = (n: number) => (queueVia === 'iptables' ? n : 0);

      let ours = await packets(rtr, 'l7mesh');
      const unknown = JSON.parse(await runNode(cli, udpClient(40005, 4))) as { replies: number };
      expect(unknown.replies).toBe(4);
      // the first packet's verdict (0x100) added both directions to the mark's set: the other 7 are marked by the table
      expect(await report('unknown')).toEqual({ report: 'unknown', seen: 1, tagged: tagged(1) });
      let oursAfter = await packets(rtr, 'l7mesh');
      expect(delta(ours, oursAfter, 'queued')).toBe(1);
      expect(delta(ours, oursAfter, 'learned')).toBe(1);
      expect(delta(ours, oursAfter, 'mark_0x100')).toBe(7);
      if (queueVia === 'iptables') expect(delta(ours, oursAfter, 'no_verdict')).toBe(0);
      // each new element counted the packet that added it, the reply's too (the edge takes that packet off)
      const learnedSets = (await flowSets()).filter((e) => e.key.sport === 40005 || e.key.dport === 40005);
      expect(learnedSets.map((e) => [e.target, e.key.sport, e.packets])).toEqual(
        expect.arrayContaining([
          [{ mark: 0x100 }, 40005, 4],
          [{ mark: 0x100 }, 5000, 5],
        ]),
      );
      expect(learnedSets).toHaveLength(2);

      // the hold code: the flow goes to the hold set, and the code is gone before anything else sees the packet
      const opBefore = await packets(rtr, 'operator');
      ours = await packets(rtr, 'l7mesh');
      const held = JSON.parse(await runNode(cli, udpClient(40008, 3))) as { replies: number };
      expect(held.replies).toBe(3);
      expect(await report('hold')).toEqual({ report: 'hold', seen: 1, tagged: tagged(1) });
      oursAfter = await packets(rtr, 'l7mesh');
      expect(delta(ours, oursAfter, 'learned')).toBe(1);
      expect(delta(ours, oursAfter, 'held')).toBe(5);
      expect(delta(opBefore, await packets(rtr, 'operator'), 'obs_hold_code')).toBe(0);
      expect((await flowSets()).filter((e) => e.target === 'hold' && (e.key.sport === 40008 || e.key.dport === 40008)).map((e) => e.key.sport).sort()).toEqual([40008, 5000]);

      // an FTP-control-like flow after its verdict: still queued, counted as watched, not as unknown
      const watched = bothWays('udp', 40006, 5000);
      await addElements(watched.map((key) => ({ op: 'add', key, target: 'watch', timeoutSec: 60 })));
      ours = await packets(rtr, 'l7mesh');
      const watch = JSON.parse(await runNode(cli, udpClient(40006, 5))) as { replies: number };
      expect(watch.replies).toBe(5);
      expect(await report('watch')).toEqual({ report: 'watch', seen: 10, tagged: tagged(10) });
      oursAfter = await packets(rtr, 'l7mesh');
      expect(delta(ours, oursAfter, 'watched')).toBe(10);
      expect(delta(ours, oursAfter, 'queued')).toBe(0);
      expect(delta(ours, oursAfter, 'mark_0x100')).toBe(0);
      if (queueVia === 'iptables') expect(delta(ours, oursAfter, 'no_verdict')).toBe(0);
      expect(await liveSet()).toEqual(expect.arrayContaining(watched));
      expect((await flowSets()).filter((e) => e.target === 'watch').map((e) => e.packets)).toEqual([5, 5]);

      // the verdict's l7 bits 0x100 chose the second link, for both flows
      const probe = await packets(srv, 'probe');
      expect([probe.via1_40005, probe.via2_40005, probe.via1_40006, probe.via2_40006]).toEqual([0, 4, 0, 5]);
    } finally {
      listener.child.stdin!.write('exit\n');
      await listener.exit(5_000);
    }
  });

  it('one-way TCP (replies take the direct link): conntrack calls packets INVALID, they are marked all the same', async () => {
    const [c2s] = bothWays('tcp', 40010, 5001, ASYM_CLIENT);
    await addElements([{ op: 'add', key: c2s, target: { mark: 0x200 }, timeoutSec: 60 }]);
    const tcp = JSON.parse(await runNode(cli, tcpClient({ address: ASYM_CLIENT, port: 40010 }))) as { echo: string | null };
    expect(tcp.echo).toBe('hello');
    const op = await packets(rtr, 'operator');
    const ours = await packets(rtr, 'l7mesh');
    // SYN, ACK, data, ACK of the echo, FIN...: all forwarded, all marked
    expect(op.asym_fwd).toBeGreaterThanOrEqual(4);
    expect(op.asym_marked).toBe(op.asym_fwd);
    expect(ours.mark_0x200).toBe(op.asym_fwd);
    // the router never saw the SYN-ACK, so conntrack rejects the handshake's completion
    expect(op.asym_invalid_marked).toBeGreaterThan(0);
  });

  it('the per-source rate limit: a burst of SYNs from one source goes over it and passes unqueued; another source, and watched flows, are not affected', async () => {
    // re-apply with a small rate: the table (and its sets) is replaced in one transaction
    await applyStatelessRules({ ...config, perSourceRate: { packets: 5, burst: 5 } }, { netns: rtr });
    expect(await flowSets()).toEqual([]);
    expect(await operatorTable()).toBe(operatorBefore);

    const ours = await packets(rtr, 'l7mesh');
    const op = await packets(rtr, 'operator');
    // 100 connection attempts at once to a closed port: SYN from the client, RST from the server
    const flood = `
const net = require('node:net');
let done = 0;
const end = () => { if (++done === 100) console.log('done'); };
for (let i = 0; i < 100; i++) {
  const c = net.connect({ port: 9, host: '${SERVICE}', localAddress: '${CLIENT}' });
  c.on('error', end);
  c.on('connect', () => { c.destroy(); end(); });
}
`;
    expect(await runNode(cli, flood)).toContain('done');
    const oursAfter = await packets(rtr, 'l7mesh');
    const opAfter = await packets(rtr, 'operator');
    const syns = delta(op, opAfter, 'syn_c2s');
    const rsts = delta(op, opAfter, 'rst_s2c');
    expect(syns).toBe(100);
    expect(rsts).toBe(100);
    const overRate = delta(ours, oursAfter, 'over_rate');
    expect(overRate).toBeGreaterThan(0);
    // every packet of these unknown flows was either queued or passed over the rate
    expect(delta(ours, oursAfter, 'queued') + overRate).toBe(syns + rsts);

    // a second source has its own meter: 4 datagrams (within the burst of 5) to a
    // closed port, answered by ICMP (not TCP/UDP, so not ours)
    const quiet = `
const s = require('node:dgram').createSocket('udp4');
s.bind(0, '${CLIENT2}', () => { let n = 0; const next = () => { if (n++ === 4) { s.close(); console.log('sent'); return; } s.send('x', 9999, '${SERVICE}', next); }; next(); });
`;
    const before = await packets(rtr, 'l7mesh');
    expect(await runNode(cli, quiet)).toContain('sent');
    const after = await packets(rtr, 'l7mesh');
    expect(delta(before, after, 'queued')).toBe(4);
    expect(delta(before, after, 'over_rate')).toBe(0);

    // a watched flow from the source that is over its rate: every packet is still queued (no listener: bypass)
    await addElements(bothWays('udp', 40007, 5000).map((key) => ({ op: 'add', key, target: 'watch', timeoutSec: 60 })));
    const beforeWatch = await packets(rtr, 'l7mesh');
    const udp = JSON.parse(await runNode(cli, udpClient(40007, 10))) as { replies: number };
    expect(udp.replies).toBe(10);
    const afterWatch = await packets(rtr, 'l7mesh');
    expect(delta(beforeWatch, afterWatch, 'watched')).toBe(20);
    expect(delta(beforeWatch, afterWatch, 'over_rate')).toBe(0);
    if (queueVia === 'iptables') expect(delta(beforeWatch, afterWatch, 'no_verdict')).toBe(20);
  });

  it('without element counters the elements renew themselves: one-way traffic keeps both of a flow\'s past liveTimeout, and they expire once it idles', async () => {
    await applyStatelessRules({ ...config, elementCounters: false, liveTimeoutSec: 2 }, { netns: rtr });
    expect((await lab.exec(rtr, ['nft', 'list', 'table', 'inet', 'l7mesh'])).stdout).not.toContain('live4');
    const [c2s, s2c] = bothWays('tcp', 40011, 5001, ASYM_CLIENT);
    await addElements([c2s, s2c].map((key) => ({ op: 'add', key, target: { mark: 0x200 }, timeoutSec: 2 })));
    const before = await packets(rtr, 'operator');
    const ours = await packets(rtr, 'l7mesh');
    // A connection whose client talks for 3.5 s (its replies take the direct link): only one direction crosses the router.
    const pings = JSON.parse(await runNode(cli, talkingClient({ address: ASYM_CLIENT, port: 40011 }, 7, 500))) as { echoes: number };
    expect(pings.echoes).toBe(7);
    const elements = (await flowSets()).filter((e) => e.key.sport === 40011 || e.key.dport === 40011);
    // Both added more than liveTimeout ago, both still there: each packet renewed the pair.
    expect(elements.map((e) => e.key)).toEqual(expect.arrayContaining([c2s, s2c]));
    expect(elements).toHaveLength(2);
    const after = await packets(rtr, 'operator');
    const oursAfter = await packets(rtr, 'l7mesh');
    expect(delta(before, after, 'asym_fwd')).toBeGreaterThanOrEqual(9);
    expect(delta(before, after, 'asym_marked')).toBe(delta(before, after, 'asym_fwd'));
    expect(delta(ours, oursAfter, 'queued')).toBe(0);
    // Idle: gone after liveTimeout, the edge doing nothing.
    const left = await poll(async () => {
      const n = (await flowSets()).filter((e) => e.key.sport === 40011 || e.key.dport === 40011).length;
      return n === 0 ? 'none' : '';
    }, 6_000);
    expect(left).toBe('none');
  });

  it('remove leaves nothing of ours; the operator\'s table, iptables rule and routing stay and traffic flows', async () => {
    const result = await removeStatelessRules({ table: 'l7mesh' }, { netns: rtr });
    expect(result.removedQueueRules).toBe(queueVia === 'iptables' ? 1 : 0);
    const tables = (await lab.exec(rtr, ['nft', 'list', 'tables'])).stdout;
    expect(tables).not.toContain('l7mesh');
    expect(await manglePrerouting()).toEqual([OPERATOR_IPTABLES_SAVED]);
    expect((await lab.exec(rtr, ['ip6tables-save', '-t', 'mangle'])).stdout).not.toContain('l7mesh');
    expect(await operatorTable()).toBe(operatorBefore);
    expect((await lab.exec(rtr, ['ip', 'rule', 'show'])).stdout).toContain('fwmark 0x100/0xff00 lookup 100');
    const udp = JSON.parse(await runNode(cli, udpClient(40004, 3))) as { replies: number };
    expect(udp.replies).toBe(3);
    // removing again is harmless
    expect((await removeStatelessRules({}, { netns: rtr })).removedQueueRules).toBe(0);
  });
});
