import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { classifyCapture, compilePatternSet, type EngineKind, type FlowRecord, type PatternSet } from '@l7mesh/engine';
import { loadPatternDirs } from '@l7mesh/patterns';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CAPTURES_DIR = join(REPO_ROOT, 'test', 'captures');
export const PATTERNS_DIR = join(REPO_ROOT, 'patterns');

/** Every checked-in capture: its path, and the protocol its folder names. */
export function captureCorpus(): { file: string; folder: string; name: string }[] {
  return readdirSync(CAPTURES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(CAPTURES_DIR, d.name))
        .filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng'))
        .sort()
        .map((f) => ({ file: join(CAPTURES_DIR, d.name, f), folder: d.name, name: `${d.name}/${f}` })),
    );
}

export function projectPatternSet(): PatternSet {
  const { patterns, errors } = loadPatternDirs([PATTERNS_DIR]);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  return compilePatternSet(patterns);
}

export async function classifyFile(file: string, set: PatternSet, engine: EngineKind): Promise<FlowRecord[]> {
  const records: FlowRecord[] = [];
  await classifyCapture(file, set, { engine, onFlow: (r) => records.push(r) });
  return records;
}
