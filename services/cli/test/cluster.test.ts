import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { busNames, startNatsServer } from '@l7mesh/bus';
import { ruleSetVersionOf, startWorker } from '@l7mesh/classifier';
import { loadPatternSet } from '@l7mesh/engine';

// The built `l7mesh up`, `worker run`, `edge run --replay` and `cluster status` as an operator runs them (npm test builds first).
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');

function l7mesh(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Decided flows per protocol (and their total) in a golden flows file (one JSON flow record per line). */
function decidedByProtocol(file: string): Record<string, number> {
  const counts: Record<string, number> = { total: 0 };
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const { l7 } = JSON.parse(line) as { l7: string };
    if (l7 === 'unset' || l7 === 'unknown') continue;
    counts[l7] = (counts[l7] ?? 0) + 1;
    counts.total!++;
  }
  return counts;
}

describe('l7mesh up', () => {
  it('runs nats-server, two workers and two replay edges (one per direction) and prints the per-protocol counts', async () => {
    const r = await l7mesh(['up', '--once', '--workers', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/up: 2 workers joined/);
    expect(r.stderr).toMatch(/edge-1a: \d+ frames replayed; \d+ verdicts, 0 timed out/);
    // The bundled capture's decided flows, each counted once: classify's golden flows give the same.
    const rows = Object.fromEntries([...r.stdout.matchAll(/│ (\w+) +│ +(\d+) │/g)].map((m) => [m[1], Number(m[2])]));
    expect(rows).toMatchObject(decidedByProtocol(join(repo, 'test/captures/mixed/lab-mixed.flows.json')));
    expect(rows).toMatchObject({ http: 4, ftp: 3, dns: 2, ssh: 1, total: 10 });
  }, 120_000);

  it('says how to get nats-server when it is missing', async () => {
    const r = await l7mesh(['up', '--once', '--nats-server', '/nonexistent/nats-server']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nats-server not found.*infra\/setup\.sh installs it/);
  });
});

describe('l7mesh cluster status', () => {
  it('lists the workers with their partitions, flows in progress and verdict latency', async () => {
    const server = await startNatsServer();
    const { set } = loadPatternSet([join(repo, 'patterns')]);
    const worker = await startWorker({ bus: { servers: server.url }, names: busNames(), id: 'status-w1', set, ruleSetVersion: ruleSetVersionOf(set), log: () => undefined });
    try {
      await new Promise((r) => setTimeout(r, 1_200)); // a heartbeat with its partitions
      const text = await l7mesh(['cluster', 'status', '--nats', server.url]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/status-w1 +│ worker +│ [\d.]+ s ago +│ +1024 │/);
      const json = await l7mesh(['cluster', 'status', '--nats', server.url, '--json']);
      const members = JSON.parse(json.stdout).members as { id: string; partitions: number; ruleSetVersion: number }[];
      expect(members).toEqual([expect.objectContaining({ id: 'status-w1', partitions: 1024, ruleSetVersion: ruleSetVersionOf(set) })]);
    } finally {
      await worker.stop();
      await server.stop();
    }
  }, 60_000);

  it('fails with a clear message when no NATS server answers', async () => {
    const r = await l7mesh(['cluster', 'status', '--nats', 'nats://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BUS_CONNECT: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
