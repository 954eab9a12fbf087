import { statSync } from 'node:fs';
import { classifyCapture, type EngineKind } from '@l7mesh/engine';
import { benchPatternSet } from './benchPatterns.js';
import { timed } from './measure.js';

// One classify run in its own process, so its peak memory is its own.
// Usage: node classifyOnce.js FILE ENGINE  -> one JSON line on stdout.
const [file, engine] = process.argv.slice(2) as [string, EngineKind];
const { set } = benchPatternSet();
let flows = 0;
const verdicts: Record<string, number> = {};
const { result, seconds, cpuSeconds } = await timed(() =>
  classifyCapture(file, set, {
    engine,
    onFlow: (r) => {
      flows++;
      verdicts[r.l7] = (verdicts[r.l7] ?? 0) + 1;
    },
  }),
);
const bytes = statSync(file).size;
process.stdout.write(
  `${JSON.stringify({
    engine,
    packets: result.packets,
    flows,
    seconds,
    cpuSeconds,
    packetsPerSec: result.packets / seconds,
    flowsPerSec: flows / seconds,
    mbPerSec: bytes / 1e6 / seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    verdicts,
  })}\n`,
);
