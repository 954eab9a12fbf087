/**
 * ConntrackCounters against the kernel: a 5 MB download from the server
 * through a source-NATing router, with ConntrackCounters and a kernel-mode
 * EdgeRecords running in the router namespace (a script over the built
 * packages, since the addon reads its own process's namespace). The
 * accounting must be the whole connection — what iptables counted in the
 * router's FORWARD chain, exactly — under the key the edge's queue rules
 * see (the client's internal address), with live records while it runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointsOfKey } from '@l7mesh/flow';
import { mtimeMs, NetnsLab, newestMtimeMs, poll, type Spawned } from '@l7mesh/netns';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const CLIENT = '198.18.84.2';
const ROUTER_IN = '198.18.84.1';
const ROUTER_OUT = '198.18.85.1';
const SERVER = '198.18.85.2';
const PORT = 8080;
const CLIENT_PORT = 42001;
const SIZE = 5_000_000;

const lab = new NetnsLab('l7ctc');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-ctcounters-'));
let client = '';
let router = '';
let server = '';
let edge: Spawned;
let lines: Record<string, unknown>[] = [];

/** Sends SIZE bytes, 64 KiB every 20 ms (about 1.5 s: the dumps see it running), to each client. */
const SERVER_JS = `
const net = require('node:net');
const chunk = Buffer.alloc(65536, 0x78);
net.createServer((s) => {
  let left = ${SIZE};
  const next = () => { const n = Math.min(left, chunk.length); left -= n; if (left > 0) { s.write(chunk.subarray(0, n)); setTimeout(next, 20); } else s.end(chunk.subarray(0, n)); };
  s.on('error', () => {});
  next();
}).listen(${PORT}, '${SERVER}', () => console.log('ready'));
setTimeout(() => process.exit(0), 120000);
`;

const CLIENT_JS = `
const s = require('node:net').connect({ host: '${SERVER}', port: ${PORT}, localPort: ${CLIENT_PORT} });
let n = 0;
s.on('data', (d) => (n += d.length));
s.on('close', () => console.log(JSON.stringify({ received: n })));
`;

/** ConntrackCounters + EdgeRecords (kernel mode) printing every record and delta; stdin: "expire" looks the finished connection up (see below), "finish" stops and flushes. */
const EDGE_JS = `
import { createInterface } from 'node:readline';
import * as nfq from '${repo}packages/nfqueue/dist/index.js';
import { ConntrackCounters } from '${repo}services/edge/dist/conntrackCounters.js';
import { EdgeRecords } from '${repo}services/edge/dist/records.js';
import { CustomerSide } from '${repo}services/edge/dist/customerSide.js';
const out = (o) => console.log(JSON.stringify(o));
const sink = {
  addFlowRecord: (r) => (out({ record: { ...r, key: Buffer.from(r.key, 'latin1').toString('hex') } }), true),
  addAccountingDelta: (d) => (out({ delta: d }), true),
};
const records = new EdgeRecords({ sink, zone: 0, iface: 'veth1', intervalSec: 3600, customer: new CustomerSide(['198.18.84.0/24']), counters: 'kernel' });
const cc = await ConntrackCounters.start({ sink: records, source: nfq, dumpIntervalMs: 400, log: (l) => out({ log: l }) });
out({ ready: true });
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'expire') {
    // An entry whose timeout ran out goes at the first lookup that meets it, or at conntrack's next
    // garbage-collection pass (1 to 60 s apart, by the timeouts of every entry on the host): look it up now.
    nfq.conntrackReply({ family: 4, protocol: 6, src: '${CLIENT}', sport: ${CLIENT_PORT}, dst: '${SERVER}', dport: ${PORT} });
    out({ expired: true });
  } else if (line === 'finish') {
    cc.stop();
    records.finish();
    out({ finished: cc.stats, events: cc.eventStats() ?? null, counters: records.counters });
    process.exit(0);
  }
});
`;

/** The package builds the script runs; an addon build takes the shared lock (it wipes build/ first). */
function ensureBuilt(): void {
  const lock = '/tmp/l7mesh-nfqueue-build.lock';
  const nfqDir = join(repo, 'packages/nfqueue');
  execFileSync('flock', [lock, 'true'], { timeout: 300_000 });
  const addon = join(nfqDir, 'build/Release/l7nfq.node');
  const sources = Math.max(newestMtimeMs(join(nfqDir, 'native'), '.cc'), newestMtimeMs(join(nfqDir, 'native'), '.h'), mtimeMs(join(nfqDir, 'binding.gyp')));
  if (!existsSync(addon) || mtimeMs(addon) < sources) execFileSync('flock', [lock, 'npm', 'run', 'build', '--workspace', '@l7mesh/nfqueue'], { cwd: repo, stdio: 'pipe', timeout: 300_000 });
  const stale = ['services/edge', 'packages/nfqueue', 'packages/flow'].some((dir) => mtimeMs(join(repo, dir, 'tsconfig.tsbuildinfo')) < newestMtimeMs(join(repo, dir, 'src')));
  if (stale) {
    try {
      execFileSync('npx', ['tsc', '-b', 'services/edge'], { cwd: repo, stdio: 'pipe', timeout: 180_000 });
    } catch {
      // Type errors elsewhere still emit (tsc -b goes on); the script fails to import if ours did not.
    }
  }
}

function iptables(...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', router, 'iptables', ...args], { encoding: 'utf8' });
}

function counted(tag: string): [number, number] {
  const line = iptables('-L', 'FORWARD', '-v', '-n', '-x')
    .split('\n')
    .find((l) => l.includes(`/* ${tag} */`))!;
  const [packets, bytes] = line.trim().split(/\s+/).map(Number);
  return [packets!, bytes!];
}

beforeAll(async () => {
  ensureBuilt();
  client = await lab.ns('c');
  router = await lab.ns('r');
  server = await lab.ns('s');
  await lab.link(client, 'veth0', `${CLIENT}/24`, router, 'veth0', `${ROUTER_IN}/24`);
  await lab.link(router, 'veth1', `${ROUTER_OUT}/24`, server, 'veth0', `${SERVER}/24`);
  await lab.route(client, '198.18.85.0/24', ROUTER_IN);
  await lab.exec(router, [
    'sysctl',
    '-qw',
    'net.ipv4.ip_forward=1',
    'net.netfilter.nf_conntrack_acct=1',
    'net.netfilter.nf_conntrack_timestamp=1',
    'net.netfilter.nf_conntrack_tcp_timeout_time_wait=1',
    'net.netfilter.nf_conntrack_tcp_timeout_fin_wait=1',
    'net.netfilter.nf_conntrack_tcp_timeout_close_wait=1',
    'net.netfilter.nf_conntrack_tcp_timeout_last_ack=1',
  ]);
  iptables('-t', 'nat', '-A', 'POSTROUTING', '-o', 'veth1', '-j', 'MASQUERADE');
  iptables('-A', 'FORWARD', '-p', 'tcp', '-s', CLIENT, '--sport', String(CLIENT_PORT), '-d', SERVER, '--dport', String(PORT), '-m', 'comment', '--comment', 'orig');
  iptables('-A', 'FORWARD', '-p', 'tcp', '-s', SERVER, '--sport', String(PORT), '-d', CLIENT, '--dport', String(CLIENT_PORT), '-m', 'comment', '--comment', 'reply');
  for (const [name, text] of [['server.js', SERVER_JS], ['client.js', CLIENT_JS], ['edge.mjs', EDGE_JS]]) writeFileSync(join(scratch, name!), text!);
  const srv = lab.spawn(server, [process.execPath, join(scratch, 'server.js')]);
  await srv.waitFor('ready', 10_000);
  edge = lab.spawn(router, [process.execPath, join(scratch, 'edge.mjs')], { stdin: true });
  edge.child.stdout!.setEncoding('utf8');
  let buf = '';
  edge.child.stdout!.on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
  });
  if (!(await poll(() => lines.some((l) => l.ready), 60_000))) throw new Error(`the edge script did not start: ${JSON.stringify(lines)}`);
}, 400_000);

afterAll(async () => {
  await lab.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

describe('ConntrackCounters in a source-NATing router', () => {
  it('accounts a 5 MB download whole, as live records while it runs and one ended record, under the internal key', async () => {
    const dl = lab.spawn(client, [process.execPath, join(scratch, 'client.js')]);
    await dl.exit(60_000);
    expect(JSON.parse(dl.stdout.trim())).toEqual({ received: SIZE });
    const crossed = { orig: counted('orig'), reply: counted('reply') };
    // The DESTROY: the entry expires a second after the close.
    const ended = await poll(
      async () => {
        await new Promise((r) => setTimeout(r, 500));
        edge.child.stdin!.write('expire\n');
        return lines.some((l) => (l.record as { state?: string } | undefined)?.state === 'ended');
      },
      30_000,
      0,
    );
    expect(ended).toBe(true);
    edge.child.stdin!.write('finish\n');
    await poll(() => lines.some((l) => l.finished), 10_000);

    const records = lines.filter((l) => l.record).map((l) => l.record as Record<string, number | string>);
    const live = records.filter((r) => r.state === 'live');
    const end = records.find((r) => r.state === 'ended')!;
    // Dumps saw it while it ran (the server took about 1.5 s), with growing counters.
    expect(live.length).toBeGreaterThanOrEqual(1);
    const replyBytes = live.map((r) => r.replyBytes as number);
    expect([...replyBytes].sort((a, b) => a - b)).toEqual(replyBytes);
    expect(replyBytes[0]).toBeLessThan(SIZE);
    // The final record: conntrack's counters, which are exactly what crossed the router.
    expect({ orig: [end.origPackets, end.origBytes], reply: [end.replyPackets, end.replyBytes] }).toEqual(crossed);
    expect(end.replyBytes).toBeGreaterThan(SIZE);
    expect(end.l7).toBe('unset'); // no edge decided it in this test
    // Keyed as the queue rules see it: the client's own address, not the router's external one.
    const e = endpointsOfKey(Buffer.from(end.key as string, 'hex').toString('latin1'), end.origIsLow as unknown as boolean);
    expect(e).toEqual({ protocol: 6, src: CLIENT, sport: CLIENT_PORT, dst: SERVER, dport: PORT });

    // Accounting: one flow; the download is `in` (the customer opened it), all of it.
    const deltas = lines.filter((l) => l.delta).map((l) => l.delta as { l7: string; direction: string; flows: number; packets: number; bytes: number });
    const sum = (dir: string, f: 'flows' | 'packets' | 'bytes') => deltas.filter((d) => d.direction === dir).reduce((n, d) => n + d[f], 0);
    expect(sum('out', 'flows') + sum('in', 'flows')).toBe(1);
    expect([sum('out', 'packets'), sum('out', 'bytes')]).toEqual(crossed.orig);
    expect([sum('in', 'packets'), sum('in', 'bytes')]).toEqual(crossed.reply);
    const done = lines.find((l) => l.finished) as { finished: Record<string, number>; events: Record<string, number>; counters: Record<string, number> };
    expect(done.finished).toMatchObject({ ended: 1, dumpErrors: 0, lossReports: 0 });
    expect(done.finished.dumps).toBeGreaterThanOrEqual(2);
    expect(done.counters.unknownConnections).toBe(1);
  });
});
