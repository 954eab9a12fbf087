import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifyCapture, loadPatternSet } from '@l7mesh/engine';
import { REPO_ROOT } from './benchPatterns.js';
import { timed } from './measure.js';

// The in-process classifier on the cluster benchmark's capture, in a process of
// its own, with the pattern set a worker loads (the project's patterns/):
//   node bench/dist/clusterClassify.js FILE OUT  -> one JSON line; OUT gets "<flow> <l7>" per flow.
const [file = '', out = ''] = process.argv.slice(2);
const { set } = loadPatternSet([join(REPO_ROOT, 'patterns')]);
const lines: string[] = [];
const verdicts: Record<string, number> = {};
const { result, seconds, cpuSeconds } = await timed(() =>
  classifyCapture(file, set, {
    onFlow: (r) => {
      verdicts[r.l7] = (verdicts[r.l7] ?? 0) + 1;
      lines.push(`${r.proto} ${r.src}:${r.sport}>${r.dst}:${r.dport} ${r.l7}`);
    },
  }),
);
if (out) writeFileSync(out, `${lines.join('\n')}\n`);
process.stdout.write(
  `${JSON.stringify({
    patterns: set.patterns.length,
    packets: result.packets,
    flows: lines.length,
    seconds,
    cpuSeconds,
    flowsPerSec: lines.length / seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    verdicts,
  })}\n`,
);
