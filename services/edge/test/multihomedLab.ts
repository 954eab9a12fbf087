/**
 * The multi-homed lab of multihomed.netns.test.ts: a client and a server
 * joined by two routers, requests via router A and replies via router B
 * (rp_filter off), and a management namespace with nats-server and two
 * workers that each router reaches over its own link. The hosts' service
 * addresses sit on their loopbacks, so routes alone choose each
 * direction's router; a second pair of addresses starts symmetric via A,
 * for the flow whose route the test moves. 198.18.0.0/15 only.
 */
import { NetnsLab } from '@l7mesh/netns';

/** The client's and server's addresses of the asymmetric flows (requests via A, replies via B). */
export const CLIENT = '198.18.91.1';
export const SERVER = '198.18.90.1';
/** The pair whose route moves: both directions via A, then both via B. */
export const MOVING_CLIENT = '198.18.91.2';
export const MOVING_SERVER = '198.18.90.2';
/** The asymmetric pair over IPv6 (requests via A, replies via B too). */
export const CLIENT6 = '2001:db8:91::1';
export const SERVER6 = '2001:db8:90::1';
/** nats-server as each router reaches it. */
export const NATS_VIA_A = 'nats://198.18.84.1:4222';
export const NATS_VIA_B = 'nats://198.18.85.1:4222';

export interface Hosts {
  cli: string;
  srv: string;
  ra: string;
  rb: string;
  mgmt: string;
}

async function noRpFilter(lab: NetnsLab, ns: string): Promise<void> {
  await lab.exec(ns, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
}

export async function buildHosts(lab: NetnsLab): Promise<Hosts> {
  const v6 = { ipv6: true };
  const h: Hosts = { cli: await lab.ns('cli', v6), srv: await lab.ns('srv', v6), ra: await lab.ns('ra', v6), rb: await lab.ns('rb', v6), mgmt: await lab.ns('mgmt') };
  for (const ns of Object.values(h)) await noRpFilter(lab, ns);
  await lab.link(h.cli, 'to-a', '198.18.80.2/24', h.ra, 'cli', '198.18.80.1/24');
  await lab.link(h.cli, 'to-b', '198.18.81.2/24', h.rb, 'cli', '198.18.81.1/24');
  await lab.link(h.srv, 'to-a', '198.18.82.2/24', h.ra, 'srv', '198.18.82.1/24');
  await lab.link(h.srv, 'to-b', '198.18.83.2/24', h.rb, 'srv', '198.18.83.1/24');
  await lab.link(h.mgmt, 'to-a', '198.18.84.1/24', h.ra, 'mgmt', '198.18.84.2/24');
  await lab.link(h.mgmt, 'to-b', '198.18.85.1/24', h.rb, 'mgmt', '198.18.85.2/24');
  for (const ns of [h.ra, h.rb]) await lab.exec(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  // The same over IPv6: one /64 per link, the service addresses on the loopbacks.
  const v6links: [string, string, string, string][] = [
    [h.cli, 'to-a', h.ra, 'cli'],
    [h.cli, 'to-b', h.rb, 'cli'],
    [h.srv, 'to-a', h.ra, 'srv'],
    [h.srv, 'to-b', h.rb, 'srv'],
  ];
  for (const [i, [a, ifA, b, ifB]] of v6links.entries()) {
    await lab.address(a, ifA, `2001:db8:${80 + i}::2/64`);
    await lab.address(b, ifB, `2001:db8:${80 + i}::1/64`);
  }
  await lab.address(h.cli, 'lo', `${CLIENT6}/128`);
  await lab.address(h.srv, 'lo', `${SERVER6}/128`);
  await lab.route(h.cli, `${SERVER6}/128`, '2001:db8:80::1');
  await lab.route(h.srv, `${CLIENT6}/128`, '2001:db8:83::1');
  await lab.route(h.ra, '2001:db8:90::/64', '2001:db8:82::2');
  await lab.route(h.ra, '2001:db8:91::/64', '2001:db8:80::2');
  await lab.route(h.rb, '2001:db8:90::/64', '2001:db8:83::2');
  await lab.route(h.rb, '2001:db8:91::/64', '2001:db8:81::2');
  await lab.address(h.cli, 'lo', `${CLIENT}/32`);
  await lab.address(h.cli, 'lo', `${MOVING_CLIENT}/32`);
  await lab.address(h.srv, 'lo', `${SERVER}/32`);
  await lab.address(h.srv, 'lo', `${MOVING_SERVER}/32`);
  // Requests via A, replies via B; the moving pair via A both ways.
  await lab.route(h.cli, `${SERVER}/32`, '198.18.80.1');
  await lab.route(h.cli, `${MOVING_SERVER}/32`, '198.18.80.1');
  await lab.route(h.srv, `${CLIENT}/32`, '198.18.83.1');
  await lab.route(h.srv, `${MOVING_CLIENT}/32`, '198.18.82.1');
  await lab.route(h.ra, '198.18.90.0/24', '198.18.82.2');
  await lab.route(h.ra, '198.18.91.0/24', '198.18.80.2');
  await lab.route(h.rb, '198.18.90.0/24', '198.18.83.2');
  await lab.route(h.rb, '198.18.91.0/24', '198.18.81.2');
  return h;
}

/** Moves the moving pair's routes from router A to router B (both directions). */
export async function moveToB(lab: NetnsLab, h: Hosts): Promise<void> {
  await lab.exec(h.cli, ['ip', 'route', 'replace', `${MOVING_SERVER}/32`, 'via', '198.18.81.1']);
  await lab.exec(h.srv, ['ip', 'route', 'replace', `${MOVING_CLIENT}/32`, 'via', '198.18.83.1']);
}

/**
 * HTTP on :8080 of every address, IPv4 and IPv6 (keep-alive): `/` small,
 * `/big` 1 MiB at once, `/slow` 1 MiB in 64 chunks 10 ms apart (a transfer
 * that outlasts a round trip to the cluster); prints "ready".
 */
export const HTTP_SERVER_JS = `
const big = Buffer.alloc(1 << 20, 'x');
require('node:http').createServer((req, res) => {
  if (req.url === '/slow') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': big.length });
    let i = 0;
    const next = () => { res.write(big.subarray(i * 16384, ++i * 16384)); if (i < 64) setTimeout(next, 10); else res.end(); };
    return next();
  }
  const body = req.url === '/big' ? big : Buffer.from('hello from the server\\n');
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}).listen(8080, '::', () => console.log('ready'));
setTimeout(() => process.exit(0), 300000);
`;

/**
 * A keep-alive HTTP client in two phases on one connection from a fixed
 * address and port: GET / (then prints {"phase":1} and waits for a line on
 * stdin), GET `second` (then prints {"phase":2,"bytes":n} and closes).
 */
export function httpTwoPhases(from: string, localPort: number, to: string, second = '/big'): string {
  return `
const c = require('node:net').connect({ host: '${to}', port: 8080, localAddress: '${from}', localPort: ${localPort} });
const fail = (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); };
c.on('error', fail);
setTimeout(() => fail('timeout'), 60000);
let buf = Buffer.alloc(0), want = -1, onBody;
c.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  if (want < 0) {
    const end = buf.indexOf('\\r\\n\\r\\n');
    if (end < 0) return;
    want = Number(/content-length: (\\d+)/i.exec(buf.subarray(0, end).toString())[1]);
    buf = buf.subarray(end + 4);
  }
  if (buf.length >= want) { const n = buf.length; buf = Buffer.alloc(0); want = -1; onBody(n); }
});
const get = (path, then) => { onBody = then; c.write('GET ' + path + ' HTTP/1.1\\r\\nHost: lab\\r\\n\\r\\n'); };
get('/', () => {
  console.log(JSON.stringify({ phase: 1 }));
  process.stdin.once('data', () => get('${second}', (n) => { console.log(JSON.stringify({ phase: 2, bytes: n })); c.end(); setTimeout(() => process.exit(0), 300); }));
});
`;
}

/**
 * An SSH client in two phases: reads the server's banner and sends its own
 * (prints {"phase":1,"banner":…}), then, after a line on stdin, sends bytes
 * that are no SSH packet; the server answers and closes.
 */
export function sshTwoPhases(from: string, localPort: number, to: string): string {
  return `
const c = require('node:net').connect({ host: '${to}', port: 22, localAddress: '${from}', localPort: ${localPort} });
let got = '', phase = 0;
c.on('error', () => {});
setTimeout(() => process.exit(1), 30000);
c.on('data', (d) => {
  got += d.toString('latin1');
  if (phase === 0 && got.includes('\\n')) {
    phase = 1;
    c.write('SSH-2.0-l7mesh_lab\\r\\n');
    console.log(JSON.stringify({ phase: 1, banner: got.split('\\r\\n')[0] }));
    process.stdin.once('data', () => { phase = 2; c.write(Buffer.alloc(64, 0x41)); });
  }
});
c.on('close', () => { console.log(JSON.stringify({ phase: 2 })); process.exit(0); });
`;
}

/** A DNS query for example.test from a fixed address and port, sent twice on that 5-tuple (a line on stdin between). */
export function dnsTwice(from: string, localPort: number, to: string): string {
  return `
const s = require('node:dgram').createSocket('udp4');
const q = Buffer.from('12340100000100000000000007' + Buffer.from('example').toString('hex') + '04' + Buffer.from('test').toString('hex') + '0000010001', 'hex');
let n = 0;
setTimeout(() => process.exit(1), 20000);
s.on('message', (m) => {
  n++;
  console.log(JSON.stringify({ phase: n, answers: m.readUInt16BE(6) }));
  if (n === 1) process.stdin.once('data', () => s.send(q, 53, '${to}'));
  else { s.close(); process.exit(0); }
});
s.bind(${localPort}, '${from}', () => s.send(q, 53, '${to}'));
`;
}

/**
 * A DNS client on one 5-tuple: a query (prints {"phase":1}), then, after a
 * line on stdin, `n` more, each after the answer to the one before
 * (prints {"phase":2,"answered":n}).
 */
export function dnsRepeated(from: string, localPort: number, to: string, n: number): string {
  return `
const s = require('node:dgram').createSocket('udp4');
const q = Buffer.from('12340100000100000000000007' + Buffer.from('example').toString('hex') + '04' + Buffer.from('test').toString('hex') + '0000010001', 'hex');
let answered = 0;
setTimeout(() => process.exit(1), 60000);
s.on('message', () => {
  answered++;
  if (answered === 1) {
    console.log(JSON.stringify({ phase: 1 }));
    process.stdin.once('data', () => s.send(q, 53, '${to}'));
  } else if (answered <= ${n}) s.send(q, 53, '${to}');
  else {
    console.log(JSON.stringify({ phase: 2, answered: answered - 1 }));
    s.close();
    process.exit(0);
  }
});
s.bind(${localPort}, '${from}', () => s.send(q, 53, '${to}'));
`;
}

/**
 * An FTP session with Python's ftplib from fixed ports: login, passive
 * RETR of big.bin, read slowly (a pause per 16 KiB block: the transfer lasts
 * about half a second) (prints {"retrieved": bytes}), then, after a line on
 * stdin, QUIT (prints {"quit":true}).
 */
export function ftpTwoPhases(from: string, controlPort: number, dataPort: number, to: string): string[] {
  const script = `
import ftplib, json, sys, time
ftp = ftplib.FTP(timeout=10, source_address=('${from}', ${controlPort}))
ftp.connect('${to}', 21)
ftp.login()
ftp.source_address = ('${from}', ${dataPort})
got = [0]
def block(b):
    got[0] += len(b)
    time.sleep(0.004)
ftp.retrbinary('RETR big.bin', block, blocksize=16384)
print(json.dumps({'retrieved': got[0]}), flush=True)
sys.stdin.readline()
ftp.quit()
print(json.dumps({'quit': True}), flush=True)
`;
  return ['python3', '-c', script];
}

/** SYNs from one source to a closed port, as fast as Python's raw socket sends them (new flows each: random source ports). */
export function synFlood(from: string, to: string, count: number): string[] {
  const script = `
import json, random, socket, struct
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
src, dst = socket.inet_aton('${from}'), socket.inet_aton('${to}')
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
for i in range(${count}):
    sport = random.randint(20000, 60000)
    tcp = struct.pack('!HHIIBBHHH', sport, 9, random.getrandbits(32), 0, 5 << 4, 0x02, 1024, 0, 0)
    c = csum(src + dst + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
    s.sendto(tcp[:16] + struct.pack('!H', c) + tcp[18:], ('${to}', 0))
print(json.dumps({'sent': ${count}}))
`;
  return ['python3', '-c', script];
}

/**
 * The operator's table on a router: sets an operator bit (0x10000) on every
 * packet before l7mesh's hook, and counts in postrouting, per watched port
 * (either direction), every packet, those whose mark carries `mark` under
 * the mask with the operator's bit kept, and those with any other l7 bits.
 */
export function operatorTable(watch: readonly { name: string; protocol: 'tcp' | 'udp'; port: number; mark: number }[]): string {
  const lines = ['table inet operator {'];
  for (const w of watch) for (const c of ['all', 'ok', 'other']) lines.push(`\tcounter ${w.name}_${c} {}`);
  lines.push('\tchain pre {', '\t\ttype filter hook prerouting priority -300; policy accept;', '\t\tmeta mark set meta mark or 0x00010000', '\t}');
  lines.push('\tchain post {', '\t\ttype filter hook postrouting priority 0; policy accept;');
  for (const w of watch) {
    for (const dir of ['sport', 'dport']) {
      const m = `${w.protocol} ${dir} ${w.port}`;
      lines.push(`\t\t${m} counter name ${w.name}_all`);
      lines.push(`\t\t${m} meta mark and 0x0001ff00 == 0x${(0x10000 | w.mark).toString(16).padStart(8, '0')} counter name ${w.name}_ok`);
      lines.push(`\t\t${m} meta mark and 0x0000ff00 != 0x00000000 meta mark and 0x0001ff00 != 0x${(0x10000 | w.mark).toString(16).padStart(8, '0')} counter name ${w.name}_other`);
    }
  }
  lines.push('\t}', '}', '');
  return lines.join('\n');
}

/** Every named counter of a table: name -> packets and bytes. */
export async function counterValues(lab: NetnsLab, ns: string, table: string): Promise<Record<string, { packets: number; bytes: number }>> {
  const { stdout } = await lab.exec(ns, ['nft', '-j', 'list', 'counters', 'table', 'inet', table]);
  const out: Record<string, { packets: number; bytes: number }> = {};
  for (const item of (JSON.parse(stdout) as { nftables: { counter?: { name: string; packets: number; bytes: number } }[] }).nftables) {
    if (item.counter) out[item.counter.name] = { packets: item.counter.packets, bytes: item.counter.bytes };
  }
  return out;
}

/** Every named counter of a table: name -> packets. */
export async function counters(lab: NetnsLab, ns: string, table: string): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await counterValues(lab, ns, table)).map(([name, c]) => [name, c.packets]));
}

/**
 * Run in the management namespace (from the repository root, where its
 * imports resolve): prints, as JSON
 * lines, every flow record in the cluster's records stream of the
 * connection with the client's port `port`: {edge, key (hex), state,
 * packets, bytes} (both directions summed).
 */
export function recordsOfPort(port: number): string {
  return `
const { connect } = await import('@nats-io/transport-node');
const { jetstream } = await import('@nats-io/jetstream');
const { busNames, recordNames } = await import('@l7mesh/bus');
const { decodeFlowRecordBatch, messageTypeOf, MessageType } = await import('@l7mesh/wire');
const { endpointsOfKey } = await import('@l7mesh/flow');
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const consumer = await jetstream(nc).consumers.get(recordNames(busNames()).stream);
for (;;) {
  const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
  let n = 0;
  for await (const m of batch) {
    n++;
    if (messageTypeOf(m.data) !== MessageType.FlowRecordBatch) continue;
    const b = decodeFlowRecordBatch(m.data);
    for (const r of b.records) {
      const e = endpointsOfKey(r.key, true);
      if (e.sport !== ${port} && e.dport !== ${port}) continue;
      console.log(JSON.stringify({ edge: b.edge, key: Buffer.from(r.key, 'latin1').toString('hex'), state: r.state, packets: r.origPackets + r.replyPackets, bytes: r.origBytes + r.replyBytes }));
    }
  }
  if (n === 0) break;
}
await nc.close();
`;
}
