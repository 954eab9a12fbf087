import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A V8 CPU profile (`node --cpu-prof`), as far as the summaries read it. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** The first profile in a --cpu-prof-dir, if any. */
export function loadCpuProfile(dir: string): CpuProfile | undefined {
  if (!existsSync(dir)) return undefined;
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  return file ? (JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile) : undefined;
}

/**
 * Self time of the non-idle samples, as shares: per function (`name
 * path:line`), and per group when `groupOf` names one for a sample's node.
 */
export function selfTimeShares(prof: CpuProfile, top: number, groupOf?: (nodeId: number) => string): { functions: { function: string; share: number }[]; groups: { group: string; share: number }[] } {
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  let busy = 0;
  prof.samples.forEach((id, i) => {
    const cf = nodes.get(id)!.callFrame;
    if (cf.functionName === '(idle)') return;
    const where = cf.url ? ` ${cf.url.split('/').slice(-3).join('/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}${where}`;
    const dt = prof.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    if (groupOf) {
      const g = groupOf(id);
      groups.set(g, (groups.get(g) ?? 0) + dt);
    }
    busy += dt;
  });
  const busiest = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return {
    functions: busiest(self, top).map(([fn, t]) => ({ function: fn, share: t / busy })),
    groups: busiest(groups, 20).map(([g, t]) => ({ group: g, share: t / busy })),
  };
}
