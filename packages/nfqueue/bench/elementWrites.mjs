/**
 * Element writes to a 5-tuple flow set: nftApplyElements (one nfnetlink
 * batch built by the addon) against nftRun (libnftables) with the same ops,
 * in the same run.
 *
 *   node packages/nfqueue/bench/elementWrites.mjs      (root; about a minute)
 *
 * Needs the built package (build/Release and dist/). Runs itself again
 * inside a throw-away network namespace (no addresses: the keys are only
 * data), where table `inet l7bench` gets a set `flows` of
 * `ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service` with
 * `flags timeout; counter;`, filled with BASE elements first (the kernel's
 * cost grows with the set: its hash table, and nft's cache of the set).
 *
 * For each batch size N and each writer: rounds of one call adding N fresh
 * elements (timeout 60 s) and one call deleting them again, so the set stays
 * at BASE. Per call: wall time (median, p90) and the process's CPU time
 * (user + system, mean; the system part is the kernel's work, the
 * transaction included), and wall time per element. The nft scripts are
 * built before the clock starts (nftRun is charged only for itself).
 * Results: a table on stdout and bench/results/elementWrites-<date>.json
 * (beside this file).
 *
 * Knobs (environment): ELEMENT_BENCH_BASE (100000), ELEMENT_BENCH_SIZES
 * (1,10,100,1000), ELEMENT_BENCH_SECONDS (time budget per size and writer,
 * default 3; at least 20 rounds).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const BASE = Number(process.env.ELEMENT_BENCH_BASE ?? 100_000);
const SIZES = (process.env.ELEMENT_BENCH_SIZES ?? '1,10,100,1000').split(',').map(Number);
const SECONDS = Number(process.env.ELEMENT_BENCH_SECONDS ?? 3);
const MIN_ROUNDS = 20;
const TABLE = 'l7bench';
const SET = 'flows';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] !== '--inside') {
  // The host side: a namespace, this script inside it, the namespace gone afterwards.
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, nftables)');
  const ns = `l7bench-sw-${process.pid}`;
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

async function inside() {
  const { nftApplyElements, nftRun, nftSetElements } = await import('../dist/index.js');

  /** Flow i: distinct keys within 198.18.0.0/15 (2^24 of them). */
  const flow = (i) => ({
    src: Uint8Array.of(198, 18 + ((i >> 23) & 1), (i >> 15) & 255, (i >> 7) & 255),
    sport: 1024 + (i & 127),
    dst: Uint8Array.of(198, 19, (i >> 8) & 255, i & 255),
    dport: 443,
  });
  const text = (a) => a.join('.');
  const writes = (from, n, op) => {
    const ops = new Array(n);
    for (let k = 0; k < n; k++) {
      const f = flow(from + k);
      ops[k] = { op, set: SET, family: 'ipv4', protocol: 'tcp', ...f, ...(op === 'add' ? { timeoutMs: 60_000 } : {}) };
    }
    return ops;
  };
  const script = (ops) =>
    `${ops[0].op} element inet ${TABLE} ${SET} {\n` +
    ops.map((o) => `\t${text(o.src)} . tcp . ${o.sport} . ${text(o.dst)} . ${o.dport}${o.op === 'add' ? ' timeout 60s' : ''}`).join(',\n') +
    '\n}\n';

  nftRun(`table inet ${TABLE} {\n\tset ${SET} { type ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service; flags timeout; counter; }\n}\n`);
  for (let from = 0; from < BASE; from += 10_000) {
    nftApplyElements(TABLE, writes(from, Math.min(10_000, BASE - from), 'add').map((o) => ({ ...o, timeoutMs: 3_600_000 })));
  }
  const filled = (await nftSetElements(TABLE, SET)).length;
  if (filled !== BASE) throw new Error(`the set holds ${filled} elements, not ${BASE}`);

  // Fresh keys for the measured adds, above the base ones.
  let next = BASE;
  const writers = {
    nftApplyElements: (adds, dels) => [() => nftApplyElements(TABLE, adds), () => nftApplyElements(TABLE, dels)],
    nftRun: (adds, dels) => {
      const a = script(adds);
      const d = script(dels);
      return [() => nftRun(a), () => nftRun(d)];
    },
  };

  const rows = [];
  for (const n of SIZES) {
    for (const [writer, prepare] of Object.entries(writers)) {
      const wall = { add: [], delete: [] };
      const user = { add: 0, delete: 0 };
      const system = { add: 0, delete: 0 };
      const deadline = performance.now() + SECONDS * 1000;
      // Warm-up round, not counted.
      for (let round = -1; round < MIN_ROUNDS || performance.now() < deadline; round++) {
        const adds = writes(next, n, 'add');
        const dels = writes(next, n, 'delete');
        next += n;
        const calls = prepare(adds, dels);
        for (const [verb, call] of [['add', calls[0]], ['delete', calls[1]]]) {
          const c0 = process.cpuUsage();
          const t0 = process.hrtime.bigint();
          call();
          const t1 = process.hrtime.bigint();
          const c = process.cpuUsage(c0);
          if (round < 0) continue;
          wall[verb].push(Number(t1 - t0) / 1e6);
          user[verb] += c.user / 1000;
          system[verb] += c.system / 1000;
        }
      }
      for (const verb of ['add', 'delete']) {
        const w = wall[verb].sort((x, y) => x - y);
        const q = (p) => w[Math.min(w.length - 1, Math.floor(p * w.length))];
        rows.push({
          writer,
          verb,
          elements: n,
          calls: w.length,
          medianMs: q(0.5),
          p90Ms: q(0.9),
          cpuMsPerCall: (user[verb] + system[verb]) / w.length,
          kernelMsPerCall: system[verb] / w.length,
          usPerElement: (q(0.5) * 1000) / n,
        });
      }
    }
  }
  const still = (await nftSetElements(TABLE, SET)).length;

  const fmt = (v, d) => v.toFixed(d).padStart(9);
  console.log(`set of ${BASE} elements (${still} at the end); per call: wall median and p90, CPU (of which kernel) mean; wall median per element`);
  console.log('writer            verb    elements  calls  median ms   p90 ms   CPU ms  kernel ms  µs/elem   vs nftRun');
  for (const r of rows) {
    const base = rows.find((b) => b.writer === 'nftRun' && b.verb === r.verb && b.elements === r.elements);
    const ratio = r.writer === 'nftRun' || !base ? '' : `${(base.medianMs / r.medianMs).toFixed(1)}x faster`;
    console.log(
      `${r.writer.padEnd(17)} ${r.verb.padEnd(7)} ${String(r.elements).padStart(8)} ${String(r.calls).padStart(6)} ${fmt(r.medianMs, 3)} ${fmt(r.p90Ms, 3)} ${fmt(r.cpuMsPerCall, 3)}  ${fmt(r.kernelMsPerCall, 3)} ${fmt(r.usPerElement, 2)}   ${ratio}`,
    );
  }
  const results = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(results, { recursive: true });
  const date = new Date().toISOString();
  const file = `${results}elementWrites-${date.replaceAll(':', '-').replace('.', '-')}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        date,
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadavg: loadavg() },
        setup: { base: BASE, sizes: SIZES, secondsPerCase: SECONDS, set: 'ipv4 5-tuple, flags timeout, counter', timeoutMs: 60_000 },
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`-> ${file}`);
}
