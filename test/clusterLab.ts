/**
 * Pieces of a cluster for the tests that run one over a real nats-server:
 * edges replaying captures in remote mode (in process: the code of
 * `l7mesh edge run --replay`), workers in process or as child processes
 * (`l7mesh worker run`), and a subscriber that records every verdict.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busNames, connectBus, type Bus } from '@l7mesh/bus';
import { ruleSetVersionOf, startWorker, type RunningWorker } from '@l7mesh/classifier';
import { parseEdgeConfig, replayCaptures, type ReplayRecord, type ReplayResult } from '@l7mesh/edge';
import type { PatternSet } from '@l7mesh/engine';
import { splitCaptureByDirection } from '@l7mesh/flow';
import { poll } from '@l7mesh/netns';
import { decodeVerdictBatch } from '@l7mesh/wire';
import { REPO_ROOT } from './captureCorpus.js';


export const CLI_BIN = join(REPO_ROOT, 'services', 'cli', 'bin', 'l7mesh.js');

export interface EdgeRun {
  /** Flow records per capture file. */
  records: Map<string, ReplayRecord[]>;
  results: ReplayResult[];
}

export function edgeConfig(id: string, servers: string[], extra: Record<string, number> = {}) {
  const lines = ['marks:', '  unknown: 0x0f00', 'cluster:', `  servers: [${servers.map((s) => `"${s}"`).join(', ')}]`, `  id: ${id}`];
  for (const [k, v] of Object.entries(extra)) lines.push(`  ${k}: ${v}`);
  return parseEdgeConfig(`${lines.join('\n')}\n`, `/tmp/${id}.yaml`);
}

/** One edge replaying captures in remote mode; resolves when every flow has its verdict. */
export async function replayEdge(id: string, servers: string[], files: string[], set: PatternSet, options: { startDelayMs?: number; speed?: number; cluster?: Record<string, number> } = {}): Promise<EdgeRun> {
  const records = new Map<string, ReplayRecord[]>(files.map((f) => [f, []]));
  const results = await replayCaptures(files, edgeConfig(id, servers, options.cluster), set, {
    onFlow: (r, file) => records.get(file)!.push(r),
    startDelayMs: options.startDelayMs,
    speed: options.speed,
    log: () => undefined,
  });
  return { records, results };
}

export function inProcessWorker(id: string, servers: string[], set: PatternSet, extra: Partial<Parameters<typeof startWorker>[0]> = {}): Promise<RunningWorker> {
  return startWorker({ bus: { servers }, names: busNames(), id, set, ruleSetVersion: ruleSetVersionOf(set), log: () => undefined, ...extra });
}

/** `l7mesh worker run` as a child process; its stderr is kept for failure messages. */
export function childWorker(id: string, servers: string[]): { child: ChildProcess; log: string[] } {
  const log: string[] = [];
  const child = spawn(process.execPath, [CLI_BIN, 'worker', 'run', '--id', id, ...servers.flatMap((s) => ['--nats', s])], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)));
  return { child, log };
}

/** Every verdict published on the cluster, by edge, flow key and generation. */
export class VerdictRecorder {
  readonly answers = new Map<string, Set<string>>();
  count = 0;
  private constructor(readonly bus: Bus) {}

  static async start(servers: string[]): Promise<VerdictRecorder> {
    const bus = await connectBus({ servers, name: 'verdict-recorder' }, busNames());
    const r = new VerdictRecorder(bus);
    bus.nc.subscribe(bus.names.verdictWildcard, {
      callback: (_err, msg) => {
        const edge = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
        for (const v of decodeVerdictBatch(msg.data).verdicts) {
          if (!v.final) continue;
          r.count++;
          const id = `${edge}|${v.zone}|${v.key}|${v.generation}`;
          let set = r.answers.get(id);
          if (!set) r.answers.set(id, (set = new Set()));
          set.add(v.l7);
        }
      },
    });
    await bus.nc.flush();
    return r;
  }

  /** Flows that got two different answers. */
  conflicts(): string[] {
    return [...this.answers].filter(([, l7s]) => l7s.size > 1).map(([id, l7s]) => `${JSON.stringify(id)}: ${[...l7s].join(', ')}`);
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}

/** Writes a capture's two directions as separate files (what each router of an asymmetric path sees). */
export async function splitCapture(file: string): Promise<{ requests: string; replies: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'l7mesh-split-'));
  const split = await splitCaptureByDirection(file);
  const requests = join(dir, 'requests.pcap');
  const replies = join(dir, 'replies.pcap');
  writeFileSync(requests, split.orig);
  writeFileSync(replies, split.reply);
  return { requests, replies };
}

/** Waits (bounded) until `probe` is true; throws naming `what` when the time is up. */
export async function until(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (!(await poll(probe, timeoutMs, 20))) throw new Error(`timed out waiting for ${what}`);
}
