import { statSync } from 'node:fs';
import { classifyCapture, type EngineKind } from '@l7mesh/engine';
import { choosePatternSet, type PatternChoice } from './benchPatterns.js';
import { timed } from './measure.js';

// One classify run in its own process, so its peak memory is its own.
// Usage: node classifyOnce.js FILE ENGINE [bench|library|library10]  -> one JSON line on stdout.
const [file, engine, choice = 'bench'] = process.argv.slice(2) as [string, EngineKind, PatternChoice?];
const { set } = choosePatternSet(choice);
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
    patterns: set.patterns.length,
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
