/**
 * Classify on a capture with a real traffic shape, side by side with nDPI
 * (issue 9, section 3):
 *
 *   node bench/dist/realShape.js        (about a minute on 2 CPUs, once the capture exists)
 *
 * The capture: copies of the lab captures (test/captures, real programs,
 * about 60 protocols, both directions) with the client's address rewritten
 * per copy (labCopies.ts), interleaved 64 copies at a time. Short captures
 * finish and are copied again sooner than long ones, so the mix leans to
 * short flows (DNS, NTP, SNMP, ...) the way real traffic does: about 9
 * packets a flow, 1.2M packets for the default 130k flows. It is kept in the
 * temp directory between runs (rebuilt when the lab captures change).
 *
 * Compared, each in a child process started the way a user would:
 *   - `l7mesh classify --json --pcap FILE` (the real CLI, the project's
 *     patterns), its stdout /dev/null (the target's row: ndpiReader -q
 *     prints nothing either); and again with its stdout a pipe that this
 *     process drains, as `classify | jq` would (its output checked to be
 *     as long as the warm-up run's). The compiled-database cache is in a
 *     directory of its own, filled by one warm-up run that is not measured
 *     (and whose records give the shape figures);
 *   - `ndpiReader -i FILE -q` (Debian's libndpi-bin; nDPI 4.2 on Debian 12),
 *     stdout drained. When it is missing, the table says so.
 * Runs alternate (l7mesh, l7mesh piped, ndpiReader, l7mesh, ...) so that all
 * see the same load on a shared machine. Packets/s are the capture's packets
 * over the wall time of the whole process (start-up, pattern loading and
 * output included); CPU seconds (user + system, from the shell's `times`)
 * are shown beside them, as the wall time moves with other work on the
 * machine. Ratios are of medians; "per pair" of runs next to each other.
 *
 * Knobs (environment): BENCH_REAL_FLOWS (flows in the capture, default
 * 130000; packets scale with it), BENCH_REAL_RUNS (measured runs of each
 * tool, default 3), BENCH_REAL_TARGET (the ratio to reach, 2.5).
 * Results: a table on stdout and bench/results/real-shape.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { REPO_ROOT } from './benchPatterns.js';
import { labCapturesFingerprint, writeLabCopies, type LabCopiesInfo } from './labCopies.js';
import { envNumber, si } from './measure.js';

const FLOWS = Math.round(envNumber('BENCH_REAL_FLOWS', 130_000));
const RUNS = Math.round(envNumber('BENCH_REAL_RUNS', 3));
const TARGET = envNumber('BENCH_REAL_TARGET', 2.5);
/** Copies in progress at a time: 64 gives about 9 packets a flow (48, labCopies' default, about 12). */
const CONCURRENT = 64;
const CLI = join(REPO_ROOT, 'services/cli/bin/l7mesh.js');
const PREFIX = 'l7mesh-bench-real-shape-';

async function ensureCapture(): Promise<LabCopiesInfo> {
  const fingerprint = labCapturesFingerprint();
  for (const f of readdirSync(tmpdir())) {
    if (f.startsWith(PREFIX) && !f.startsWith(`${PREFIX}${fingerprint}-`) && /\.pcap(\.json)?$/.test(f)) rmSync(join(tmpdir(), f), { force: true });
  }
  const file = join(tmpdir(), `${PREFIX}${fingerprint}-${FLOWS}.pcap`);
  const infoFile = `${file}.json`;
  if (existsSync(file) && existsSync(infoFile)) return JSON.parse(readFileSync(infoFile, 'utf8')) as LabCopiesInfo;
  process.stderr.write(`real-shape bench: writing ${file} (${FLOWS} flows)...\n`);
  const info = await writeLabCopies(file, FLOWS, 0, CONCURRENT);
  writeFileSync(infoFile, JSON.stringify(info));
  return info;
}

interface Run {
  seconds: number;
  cpuSeconds: number;
  exitCode: number;
  /** Bytes the tool wrote to stdout. */
  bytes: number;
}

/**
 * Runs a command under bash, which reports the command's CPU time with
 * `times` once it exits. Its stdout goes to /dev/null (`stdout: 'null'`;
 * bytes then -1) or is drained here (handed to `onStdout`, else only
 * counted); stderr's tail is kept for the CPU times and error messages.
 */
function timedRun(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdout: 'null' | 'pipe',
  onStdout?: (chunk: Buffer) => void,
): Promise<Run & { stderr: string }> {
  return new Promise((resolve, reject) => {
    const devNull = stdout === 'null' ? openSync('/dev/null', 'w') : undefined;
    const t0 = process.hrtime.bigint();
    const child = spawn('bash', ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', cmd, ...args], { stdio: ['ignore', devNull ?? 'pipe', 'pipe'], env });
    if (devNull !== undefined) closeSync(devNull);
    let bytes = stdout === 'null' ? -1 : 0;
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      onStdout?.(chunk);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderr = (stderr + s).slice(-65536);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      // `times`: the shell's user and system time, then its children's (the command's).
      const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(stderr);
      const cpuSeconds = m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN;
      resolve({ seconds, cpuSeconds, exitCode: code ?? -1, bytes, stderr });
    });
  });
}

/** The ndpiReader on PATH and its nDPI version, or why there is none. */
function findNdpiReader(): { version: string } | { missing: string } {
  const r = spawnSync('ndpiReader', ['-h'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { missing: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed (Debian package libndpi-bin, in infra/setup.sh)' : r.error.message };
  const m = /nDPI (\d+(?:\.\d+)+)/.exec(`${r.stdout}${r.stderr}`);
  return { version: m ? m[1]! : 'unknown' };
}

/** What the warm-up run's records say about the capture's shape. */
interface Shape {
  flows: number;
  packetsPerFlow: { mean: number; median: number; p90: number };
  /** Share of flows with packets in both directions. */
  bothDirections: number;
  /** Distinct l7 verdicts (protocols, unknown, unset). */
  verdicts: number;
  tcpFlows: number;
  udpFlows: number;
}

function shapeCollector(): { onStdout: (chunk: Buffer) => void; shape: () => Shape } {
  let rest = '';
  const perFlow: number[] = [];
  let both = 0;
  let tcp = 0;
  const l7 = new Set<string>();
  const take = (line: string) => {
    if (line === '') return;
    const r = JSON.parse(line) as { proto: string; l7: string; packets: number; packets_orig: number; packets_reply: number };
    perFlow.push(r.packets);
    if (r.packets_orig > 0 && r.packets_reply > 0) both++;
    if (r.proto === 'tcp') tcp++;
    l7.add(r.l7);
  };
  return {
    onStdout(chunk) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) take(line);
    },
    shape() {
      take(rest);
      const sorted = Float64Array.from(perFlow).sort();
      const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * f))] ?? 0;
      const n = perFlow.length;
      return {
        flows: n,
        packetsPerFlow: { mean: perFlow.reduce((a, b) => a + b, 0) / Math.max(1, n), median: q(0.5), p90: q(0.9) },
        bothDirections: both / Math.max(1, n),
        verdicts: l7.size,
        tcpFlows: tcp,
        udpFlows: n - tcp,
      };
    },
  };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const range = (v: number[], fmt: (n: number) => string) => `${fmt(Math.min(...v))} - ${fmt(Math.max(...v))}`;

async function main(): Promise<void> {
  const capture = await ensureCapture();
  const packets = capture.packets;
  const protocols = new Set(readdirSync(join(REPO_ROOT, 'test', 'captures')).filter((d) => d !== 'mixed')).size;
  const cacheDir = mkdtempSync(join(tmpdir(), 'l7mesh-real-shape-cache-'));
  const env = { ...process.env, L7MESH_CACHE_DIR: cacheDir };
  const l7meshArgs = [CLI, 'classify', '--json', '--pcap', capture.file];
  const ndpi = findNdpiReader();
  try {
    // Warm-up: fills the database cache (a user's second run) and gives the shape.
    process.stderr.write(`real-shape bench: warm-up run (fills the pattern-database cache)...\n`);
    const collector = shapeCollector();
    const warm = await timedRun(process.execPath, l7meshArgs, env, 'pipe', collector.onStdout);
    if (warm.exitCode !== 0) throw new Error(`l7mesh classify failed (exit ${warm.exitCode}): ${warm.stderr.slice(-2000)}`);
    const shape = collector.shape();

    const devNullRuns: Run[] = [];
    const pipeRuns: Run[] = [];
    const ndpiRuns: Run[] = [];
    const l7mesh = async (stdout: 'null' | 'pipe'): Promise<Run> => {
      const r = await timedRun(process.execPath, l7meshArgs, env, stdout);
      if (r.exitCode !== 0) throw new Error(`l7mesh classify failed (exit ${r.exitCode}): ${r.stderr.slice(-2000)}`);
      if (stdout === 'pipe' && r.bytes !== warm.bytes) throw new Error(`l7mesh classify printed ${r.bytes} bytes, the warm-up run ${warm.bytes}`);
      return strip(r);
    };
    for (let i = 0; i < RUNS; i++) {
      process.stderr.write(`real-shape bench: run ${i + 1} of ${RUNS}...\n`);
      devNullRuns.push(await l7mesh('null'));
      pipeRuns.push(await l7mesh('pipe'));
      if ('version' in ndpi) {
        const b = await timedRun('ndpiReader', ['-i', capture.file, '-q'], process.env, 'pipe');
        if (b.exitCode !== 0) throw new Error(`ndpiReader failed (exit ${b.exitCode}): ${b.stderr.slice(-2000)}`);
        ndpiRuns.push(strip(b));
      }
    }

    const pps = (runs: Run[]) => runs.map((r) => packets / r.seconds);
    const cpuPps = (runs: Run[]) => runs.map((r) => packets / r.cpuSeconds);
    const summary = (runs: Run[]) => ({ packetsPerSec: median(pps(runs)), packetsPerCpuSec: median(cpuPps(runs)) });
    const ours = summary(devNullRuns);
    const piped = summary(pipeRuns);
    const theirs = ndpiRuns.length > 0 ? summary(ndpiRuns) : undefined;
    const ratioOf = (a: ReturnType<typeof summary>, runs: Run[]) =>
      theirs
        ? {
            packetsPerSec: a.packetsPerSec / theirs.packetsPerSec,
            packetsPerCpuSec: a.packetsPerCpuSec / theirs.packetsPerCpuSec,
            pairs: runs.map((r, i) => ndpiRuns[i]!.seconds / r.seconds),
          }
        : undefined;
    const ratio = ratioOf(ours, devNullRuns);
    const pipedRatio = ratioOf(piped, pipeRuns);

    const table = new Table({
      head: ['', 'packets/s (median)', `packets/s (${RUNS} runs)`, 'wall s', 'CPU s', 'packets / CPU s'],
      style: { head: [], border: [] },
    });
    const row = (name: string, runs: Run[]) => [
      name,
      si(median(pps(runs))),
      range(pps(runs), si),
      range(runs.map((r) => r.seconds), (n) => n.toFixed(2)),
      range(runs.map((r) => r.cpuSeconds), (n) => n.toFixed(2)),
      si(median(cpuPps(runs))),
    ];
    const ratioRow = (name: string, r: NonNullable<typeof ratio>) => [name, `${r.packetsPerSec.toFixed(2)}x`, `${range(r.pairs, (n) => n.toFixed(2))}x per pair`, '', '', `${r.packetsPerCpuSec.toFixed(2)}x`];
    table.push(row('l7mesh classify --json > /dev/null', devNullRuns));
    table.push(row('l7mesh classify --json | drained', pipeRuns));
    if (theirs) {
      table.push(row(`ndpiReader ${'version' in ndpi ? ndpi.version : ''} -q`, ndpiRuns));
      table.push(ratioRow('l7mesh / ndpiReader', ratio!));
      table.push(ratioRow('l7mesh piped / ndpiReader', pipedRatio!));
    } else {
      table.push([{ colSpan: 6, content: `ndpiReader: ${'missing' in ndpi ? ndpi.missing : ''}; no comparison` }]);
    }
    const load = loadavg()[0]!;
    process.stdout.write(
      `real-shape capture: ${capture.file}\n` +
        `  ${shape.flows} flows (${shape.tcpFlows} TCP, ${shape.udpFlows} UDP), ${packets} packets, ${(capture.bytes / 1e6).toFixed(0)} MB; ` +
        `${shape.packetsPerFlow.mean.toFixed(1)} packets a flow (median ${shape.packetsPerFlow.median}, p90 ${shape.packetsPerFlow.p90}); ` +
        `${(100 * shape.bothDirections).toFixed(0)}% of flows both directions; ${capture.baseCaptures} lab captures of ${protocols} protocols, ${shape.verdicts} distinct verdicts; ` +
        `${(warm.bytes / 1e6).toFixed(0)} MB of --json output\n` +
        `${table.toString()}\n` +
        (ratio
          ? `target: l7mesh >= ${TARGET}x ndpiReader's packets/s: ${ratio.packetsPerSec >= TARGET ? 'met' : 'not met'} (${ratio.packetsPerSec.toFixed(2)}x; piped ${pipedRatio!.packetsPerSec.toFixed(2)}x)\n`
          : `target: not measured (no ndpiReader)\n`) +
        `machine: ${cpus().length} CPUs, load average ${load.toFixed(2)} at the end\n`,
    );

    const results = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverage: loadavg() },
      capture: { ...capture, concurrent: CONCURRENT, labProtocols: protocols, shape, jsonOutputBytes: warm.bytes },
      l7mesh: { command: 'l7mesh classify --json --pcap FILE > /dev/null', runs: devNullRuns, ...ours },
      l7meshPiped: { command: 'l7mesh classify --json --pcap FILE | (drained by the bench)', runs: pipeRuns, ...piped },
      ndpiReader: theirs
        ? { command: 'ndpiReader -i FILE -q', version: 'version' in ndpi ? ndpi.version : undefined, runs: ndpiRuns, ...theirs }
        : { missing: 'missing' in ndpi ? ndpi.missing : undefined },
      ratio: ratio ? { ...ratio, target: TARGET, met: ratio.packetsPerSec >= TARGET } : null,
      pipedRatio: pipedRatio ?? null,
    };
    const dir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'real-shape.json');
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`written: ${out}\n`);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

function strip(r: Run & { stderr: string }): Run {
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, exitCode: r.exitCode, bytes: r.bytes };
}

main().catch((err: unknown) => {
  process.stderr.write(`real-shape bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
