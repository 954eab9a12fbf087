/**
 * Reading conntrack: conntrackDump against `conntrack -L`, ConntrackEvents
 * against `conntrack -E -e DESTROY` on the same burst, and conntrackReply
 * per call, in the same run.
 *
 *   node packages/nfqueue/bench/conntrackRead.mjs      (root; a minute or two)
 *
 * Needs the built package (build/Release and dist/) and conntrack-tools.
 * Runs itself again inside a throw-away network namespace whose entries are
 * made by UDP datagrams sent from that namespace over a veth pair whose
 * far end drops them (198.18.88.0/24), one per flow: real entries, with counters
 * (nf_conntrack_acct=1), created after the subscriptions (with the default
 * nf_conntrack_events=2 older ones would send no DESTROY).
 *
 * Per table size N:
 * - dump: ROUNDS calls of conntrackDump (the array) and of conntrackDumpEach
 *   (slices to a consumer that keeps nothing), wall (median, worst), the
 *   process's CPU (user + system: the kernel's dump and the pool thread's
 *   parsing included), and the event loop's longest pause during the call
 *   (a 1 ms timer); the baseline is `conntrack -L > /dev/null` (wall, and
 *   its CPU).
 * - reply: conntrackReply of LOOKUPS existing tuples, µs per call.
 * - events: `conntrack -F` deletes all N at once (the kernel sends N DESTROY
 *   events as fast as it deletes), with a ConntrackEvents (default options)
 *   and `conntrack -E -e DESTROY > /dev/null` subscribed: how many each
 *   received, how long until the last, ENOBUFS. The flush blocks this
 *   process's event loop (spawnSync): the reader thread goes on meanwhile.
 * Results: a table on stdout and bench/results/conntrackRead-<date>.json.
 *
 * Knobs (environment): CT_BENCH_SIZES (10000,100000), CT_BENCH_ROUNDS (5),
 * CT_BENCH_LOOKUPS (20000).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const SIZES = (process.env.CT_BENCH_SIZES ?? '10000,100000').split(',').map(Number);
const ROUNDS = Number(process.env.CT_BENCH_ROUNDS ?? 5);
const LOOKUPS = Number(process.env.CT_BENCH_LOOKUPS ?? 20_000);
const SRC = '198.18.88.1';
const DST = '198.18.88.2';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] !== '--inside') {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, conntrack)');
  const ns = `l7bench-ct-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, self, '--inside'], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
} else {
  await inside();
}

/** `cmd` to completion under /usr/bin/time: wall ms and CPU ms (user + system). */
function timed(cmd, args) {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const wallMs = performance.now() - t0;
  const [u, s] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { wallMs, cpuMs: (u + s) * 1000 };
}

function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

async function inside() {
  const { conntrackDump, conntrackDumpEach, conntrackReply, ConntrackEvents } = await import('../dist/index.js');
  const sh = (...argv) => execFileSync(argv[0], argv.slice(1), { stdio: 'ignore' });
  sh('ip', 'link', 'set', 'lo', 'up');
  // The datagrams leave through a veth pair whose far end drops them (another MAC address): no ARP, no receiver.
  sh('ip', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  sh('ip', 'addr', 'add', `${SRC}/24`, 'dev', 'v0');
  sh('ip', 'link', 'set', 'v0', 'up');
  sh('ip', 'link', 'set', 'v1', 'up');
  sh('ip', 'neigh', 'add', DST, 'lladdr', '02:00:00:00:00:02', 'dev', 'v0');
  // A rule that uses conntrack makes the namespace track its traffic.
  sh('iptables', '-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED');
  sh('sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1', 'net.netfilter.nf_conntrack_udp_timeout=600');

  /** N flows: sockets of their own source ports, to every destination port in turn. */
  async function makeFlows(n) {
    const perSocket = 60_000;
    const sockets = [];
    for (let k = 0; k * perSocket < n; k++) {
      const s = dgram.createSocket('udp4');
      await new Promise((r) => s.bind(0, SRC, r));
      sockets.push(s);
    }
    const payload = Buffer.alloc(32);
    const tuples = [];
    for (let i = 0; i < n; i++) {
      const s = sockets[Math.floor(i / perSocket)];
      const dport = 1024 + (i % perSocket);
      await new Promise((r) => s.send(payload, dport, DST, r));
      if (i % Math.max(1, Math.floor(n / LOOKUPS)) === 0) tuples.push({ family: 4, protocol: 17, src: SRC, sport: s.address().port, dst: DST, dport });
    }
    for (const s of sockets) s.close();
    return tuples;
  }

  const rows = [];
  for (const n of SIZES) {
    sh('conntrack', '-F');
    // Subscribed before the flows exist (nf_conntrack_events=2).
    let received = 0;
    let lastMs = 0;
    const losses = [];
    const events = ConntrackEvents.open({
      onDestroy(entries) {
        received += entries.length;
        lastMs = performance.now();
      },
      onError(e) {
        losses.push(e.message);
      },
    });
    const baseline = spawn('conntrack', ['-E', '-e', 'DESTROY', '-o', 'id'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let baselineErr = '';
    baseline.stderr.on('data', (d) => (baselineErr += d));
    await new Promise((r) => setTimeout(r, 300));

    const tuples = await makeFlows(n);
    const count = Number(execFileSync('conntrack', ['-C'], { encoding: 'utf8' }).trim());

    // Dumps: the array, and slice by slice with a consumer that keeps nothing.
    const measureDump = async (call) => {
      const wall = [];
      let cpu = 0;
      let maxGap = 0;
      let n = 0;
      for (let r = 0; r < ROUNDS; r++) {
        let last = performance.now();
        let gap = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          gap = Math.max(gap, now - last);
          last = now;
        }, 1);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        n = await call();
        wall.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        clearInterval(timer);
        cpu += (c.user + c.system) / 1000;
        maxGap = Math.max(maxGap, gap);
      }
      return { medianMs: median(wall), worstMs: Math.max(...wall), cpuMs: cpu / ROUNDS, loopMaxPauseMs: maxGap, entries: n };
    };
    const dump = await measureDump(async () => (await conntrackDump()).length);
    let sum = 0;
    const dumpEach = await measureDump(() =>
      conntrackDumpEach((entries) => {
        for (const e of entries) sum += e.counters?.origBytes ?? 0;
      }),
    );
    const dumped = dump.entries;
    const list = [];
    for (let r = 0; r < ROUNDS; r++) list.push(timed('sh', ['-c', 'conntrack -L > /dev/null 2>&1']));

    // Lookups.
    const l0 = performance.now();
    let found = 0;
    for (const t of tuples) if (conntrackReply(t)) found++;
    const lookupUs = ((performance.now() - l0) * 1000) / tuples.length;

    // The burst.
    const f0 = performance.now();
    sh('conntrack', '-F');
    const flushMs = performance.now() - f0;
    const deadline = performance.now() + 20_000;
    while (received < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    const stats = events.stats();
    events.close();
    baseline.kill('SIGTERM');
    await new Promise((r) => baseline.on('exit', r));
    const shown = Number(/(\d+) flow events? (?:has|have) been shown/.exec(baselineErr)?.[1] ?? NaN);

    rows.push({
      entries: count,
      dumped,
      dump,
      dumpEach,
      conntrackL: { medianMs: median(list.map((x) => x.wallMs)), cpuMs: list.reduce((a, x) => a + x.cpuMs, 0) / ROUNDS },
      reply: { lookups: tuples.length, found, usPerCall: lookupUs },
      events: {
        flushMs,
        received,
        lastAfterFlushMs: lastMs - f0,
        perSecond: received / ((lastMs - f0) / 1000),
        enobufs: stats.enobufs,
        dropped: stats.dropped,
        maxPending: stats.maxPending,
        losses,
      },
      conntrackE: { shown, enobufs: /ENOBUFS/.test(baselineErr) },
    });
  }

  const f = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-');
  console.log('dumps (per call: wall median / worst, CPU mean, longest event-loop pause) against conntrack -L > /dev/null');
  console.log('  entries  call               wall ms          CPU ms  loop pause ms | conntrack -L ms  CPU ms');
  for (const r of rows) {
    for (const [name, d] of [['conntrackDump', r.dump], ['conntrackDumpEach', r.dumpEach]]) {
      console.log(`  ${String(r.entries).padStart(7)}  ${name.padEnd(17)}  ${f(d.medianMs).padStart(6)} / ${f(d.worstMs).padEnd(6)}  ${f(d.cpuMs).padStart(6)}  ${f(d.loopMaxPauseMs).padStart(13)} | ${f(r.conntrackL.medianMs).padStart(15)}  ${f(r.conntrackL.cpuMs).padStart(6)}`);
    }
  }
  console.log('DESTROY burst (conntrack -F of all entries): received, time to the last, events/s, losses; conntrack -E -e DESTROY beside it');
  console.log('  entries  received  last after ms   events/s  ENOBUFS dropped maxPending | conntrack -E shown  ENOBUFS');
  for (const r of rows) {
    const e = r.events;
    console.log(`  ${String(r.entries).padStart(7)}  ${String(e.received).padStart(8)}  ${f(e.lastAfterFlushMs).padStart(13)}  ${f(e.perSecond).padStart(9)}  ${String(e.enobufs).padStart(7)} ${String(e.dropped).padStart(7)} ${String(e.maxPending).padStart(10)} | ${String(r.conntrackE.shown).padStart(18)}  ${r.conntrackE.enobufs ? 'yes' : 'no'}`);
  }
  console.log('conntrackReply: µs per call');
  for (const r of rows) console.log(`  ${String(r.entries).padStart(7)}  ${f(r.reply.usPerCall, 1)} µs (${r.reply.found}/${r.reply.lookups} found)`);

  const results = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(results, { recursive: true });
  const date = new Date().toISOString();
  const file = `${results}conntrackRead-${date.replaceAll(':', '-').replace('.', '-')}.json`;
  writeFileSync(file, JSON.stringify({ date, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadavg: loadavg() }, setup: { sizes: SIZES, rounds: ROUNDS, lookups: LOOKUPS }, rows }, null, 2) + '\n');
  console.log(`-> ${file}`);
}
