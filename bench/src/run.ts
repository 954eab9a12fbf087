import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { execFileSync } from 'node:child_process';
import { createHeadScanner, type EngineKind, type PatternSet } from '@l7mesh/engine';
import { DEFAULT_MAX_DATA_LEN, headCapacity, seededRandom } from '@l7mesh/flow';
import { collectFlowHeads } from './headCorpus.js';
import { benchPatternSet, REPO_ROOT, type PatternChoice } from './benchPatterns.js';
import { si } from './measure.js';
import { writeMixedCapture } from './trafficGen.js';

// `npm run bench`: classify throughput and the two engines side by side on
// the same mixed-traffic capture and the same 100+ pattern set.

const root = REPO_ROOT;
const packetTarget = Number(process.env.BENCH_PACKETS ?? 1_000_000);

async function ensureCapture(): Promise<string> {
  const file = join(tmpdir(), `l7mesh-bench-mixed-${packetTarget}.pcap`);
  if (!existsSync(file)) {
    process.stderr.write(`bench: writing ${file} (${packetTarget} packets)...\n`);
    await writeMixedCapture(file, packetTarget);
  }
  return file;
}

interface ClassifyResult {
  engine: EngineKind;
  patterns: number;
  packets: number;
  flows: number;
  seconds: number;
  cpuSeconds: number;
  packetsPerSec: number;
  flowsPerSec: number;
  mbPerSec: number;
  peakRssMiB: number;
  verdicts: Record<string, number>;
}

/** Runs classify in a child process (its own peak memory) and returns its measurements. */
function classifyRun(file: string, engine: EngineKind, patterns: PatternChoice = 'bench'): ClassifyResult {
  const out = execFileSync(process.execPath, [join(root, 'bench/dist/classifyOnce.js'), file, engine, patterns], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out) as ClassifyResult;
}

/**
 * Streams every flow head through a scanner the way the classifier does:
 * packet by packet, a flow stops being scanned once a pattern matched it.
 * Flows go in groups of 512, one batched test per packet round.
 */
function scanRun(heads: Uint8Array[][], set: PatternSet, engine: EngineKind) {
  const scanner = createHeadScanner(engine, set);
  const capacity = headCapacity(DEFAULT_MAX_DATA_LEN);
  const group = 512;
  const handles = new Int32Array(group);
  const lengths = new Int32Array(group);
  const tested = new Int32Array(group);
  let bytes = 0;
  let matched = 0;
  const t0 = process.hrtime.bigint();
  for (let first = 0; first < heads.length; first += group) {
    const size = Math.min(group, heads.length - first);
    let live = size;
    for (let j = 0; j < size; j++) {
      handles[j] = scanner.open();
      lengths[j] = 0;
    }
    for (let round = 0; live > 0; round++) {
      let queued = 0;
      live = 0;
      for (let j = 0; j < size; j++) {
        const chunks = heads[first + j]!;
        if (lengths[j]! < 0 || round >= chunks.length) continue; // decided (-1) or no more packets
        live++;
        const n = scanner.append(handles[j]!, chunks[round]!, capacity - lengths[j]!);
        lengths[j]! += n;
        bytes += n;
        if (n > 0) tested[queued++] = j;
      }
      const results = scanner.flush();
      for (let i = 0; i < queued; i++) {
        if (results[i]! >= 0) {
          lengths[tested[i]!] = -1;
          matched++;
        }
      }
    }
    for (let j = 0; j < size; j++) scanner.release(handles[j]!);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  scanner.close?.();
  return { engine, flows: heads.length, matched, bytes, seconds, flowsPerSec: heads.length / seconds, mbPerSec: bytes / 1e6 / seconds };
}

/**
 * The worst case for the l7-filter method: flows no pattern matches, ten
 * packets of printable text each, so every pattern runs on the whole growing
 * buffer after every packet, while Hyperscan scans each byte once.
 */
function unmatchedHeads(flows: number): Uint8Array[][] {
  const rand = seededRandom(99);
  return Array.from({ length: flows }, () =>
    Array.from({ length: 10 }, () => Uint8Array.from({ length: 200 }, () => 0x20 + Math.floor(rand() * 95))),
  );
}

async function main(): Promise<void> {
  const file = await ensureCapture();
  const bytes = statSync(file).size;
  const { set, sources } = benchPatternSet();
  const hs = classifyRun(file, 'hyperscan');
  const ref = classifyRun(file, 'reference');
  // The cost of the number of patterns: the whole library against ten of it.
  const library = classifyRun(file, 'hyperscan', 'library');
  const library10 = classifyRun(file, 'hyperscan', 'library10');
  const heads = await collectFlowHeads(file);
  const scanHs = scanRun(heads, set, 'hyperscan');
  const scanRef = scanRun(heads, set, 'reference');
  const worst = unmatchedHeads(10_000);
  const worstHs = { ...scanRun(worst, set, 'hyperscan'), engine: 'hyperscan (unmatched)' };
  const worstRef = { ...scanRun(worst, set, 'reference'), engine: 'reference (unmatched)' };

  const classifyTable = new Table({ head: ['classify', 'packets/s', 'flows/s', 'MB/s', 'CPU s', 'wall s', 'peak RSS MiB'], style: { head: [], border: [] } });
  for (const r of [hs, ref]) classifyTable.push([r.engine, si(r.packetsPerSec), si(r.flowsPerSec), r.mbPerSec.toFixed(1), r.cpuSeconds.toFixed(2), r.seconds.toFixed(2), r.peakRssMiB.toFixed(0)]);
  const librarySizeTable = new Table({ head: ['hyperscan, patterns', 'packets/s', 'flows/s', 'CPU s'], style: { head: [], border: [] } });
  for (const r of [library, library10]) librarySizeTable.push([r.patterns, si(r.packetsPerSec), si(r.flowsPerSec), r.cpuSeconds.toFixed(2)]);
  const scanTable = new Table({ head: ['head scan', 'flows/s', 'MB/s', 'flows', 'matched', 'wall s'], style: { head: [], border: [] } });
  for (const r of [scanHs, scanRef, worstHs, worstRef]) scanTable.push([r.engine, si(r.flowsPerSec), r.mbPerSec.toFixed(1), r.flows, r.matched, r.seconds.toFixed(2)]);
  const ratios = { classify: hs.packetsPerSec / ref.packetsPerSec, scan: scanHs.flowsPerSec / scanRef.flowsPerSec, unmatchedScan: worstHs.flowsPerSec / worstRef.flowsPerSec };

  process.stdout.write(`capture: ${file}, ${(bytes / 1e6).toFixed(0)} MB, ${hs.packets} packets, ${hs.flows} flows\n`);
  process.stdout.write(`patterns: ${set.patterns.length} (${sources})\n`);
  process.stdout.write(`${classifyTable.toString()}\n${librarySizeTable.toString()}\n${scanTable.toString()}\n`);
  process.stdout.write(`whole library (${library.patterns}) / ten patterns: ${(library.packetsPerSec / library10.packetsPerSec).toFixed(2)}x the packets/s\n`);
  process.stdout.write(`hyperscan / reference: classify ${ratios.classify.toFixed(1)}x, head scan ${ratios.scan.toFixed(1)}x, unmatched heads ${ratios.unmatchedScan.toFixed(1)}x\n`);
  process.stdout.write(`verdicts (hyperscan): ${JSON.stringify(hs.verdicts)}\n`);

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    capture: { file, bytes, packets: hs.packets, flows: hs.flows },
    patterns: { count: set.patterns.length, sources },
    classify: { hyperscan: hs, reference: ref },
    librarySize: { library, library10, ratio: library.packetsPerSec / library10.packetsPerSec },
    headScan: { hyperscan: scanHs, reference: scanRef, unmatchedHyperscan: worstHs, unmatchedReference: worstRef },
    ratios,
  };
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `classify-${results.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written: ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
