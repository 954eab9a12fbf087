import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame, encodePcap, TcpFlag, type SynthPacket } from '@l7mesh/flow';

// `l7mesh patterns test` and `patterns readme` as a user runs them (npm test builds first).
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-cli-library-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function l7mesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** One client-speaks-first TCP connection with its handshake. */
function connection(payload: string, clientPort: number): SynthPacket[] {
  const base = { protocol: 'tcp' as const, src: '198.18.0.1', dst: '198.18.0.2', sport: clientPort, dport: 7000 };
  const back = { ...base, src: base.dst, dst: base.src, sport: base.dport, dport: base.sport };
  return [
    { ...base, tsSec: clientPort, flags: TcpFlag.SYN },
    { ...back, tsSec: clientPort, flags: TcpFlag.SYN | TcpFlag.ACK },
    { ...base, tsSec: clientPort, flags: TcpFlag.ACK },
    { ...base, tsSec: clientPort, payload },
  ];
}

// hello has a good capture; world's capture opens with "hello" (misclassified);
// lonely has none; everything matches all random flows.
const patternsDir = join(scratch, 'patterns');
const capturesDir = join(scratch, 'captures');
const patterns: Record<string, string> = { hello: '^hello', world: '^world', lonely: '^lonely', everything: '.' };
const captures: Record<string, SynthPacket[]> = {
  'hello/srv-greet.pcap': connection('hello there', 40000),
  'world/srv-late.pcap': connection('hello world', 40001),
  'everything/any-thing.pcap': connection('zzz', 40002),
};
mkdirSync(patternsDir, { recursive: true });
for (const [name, regex] of Object.entries(patterns)) writeFileSync(join(patternsDir, `${name}.pat`), `# ${name} - a test pattern\n${name}\n${regex}\n`);
for (const [path, packets] of Object.entries(captures)) {
  mkdirSync(join(capturesDir, path.split('/')[0]!), { recursive: true });
  writeFileSync(join(capturesDir, path), encodePcap(packets.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) }))));
}

describe('l7mesh patterns test', () => {
  it('prints the three tables and every error, and exits 1', async () => {
    const r = await l7mesh('patterns', 'test', patternsDir, '--captures', capturesDir, '--flows', '40');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Captures:');
    expect(r.stdout).toMatch(/│ world\/srv-late\.pcap\s+│ world\s+│\s+1 │\s+1 │ everything 1\s+│ ERROR/);
    expect(r.stdout).toContain('Overmatch:');
    // Columns everything, hello, world: tried first, "everything" takes both other captures, hello takes world's.
    expect(r.stdout).toMatch(/│ everything\s+│\s+- │\s+1 │\s+1 │/);
    expect(r.stdout).toMatch(/│ hello\s+│\s+│\s+- │\s+1 │/);
    expect(r.stdout).toContain('False positives: share of 40 random flows per kind');
    expect(r.stdout).toMatch(/│ everything\s+│\s+100\.00% \(40\) │\s+100\.00% \(40\) │\s+1\.00% │ ERROR/);
    expect(r.stdout).toContain('CAPTURE_MISCLASSIFIED: world/srv-late.pcap: 1 of 1 flows with payload are not world');
    expect(r.stdout).toMatch(/PATTERN_NO_CAPTURE: lonely: no capture in \S+\/lonely\//);
    expect(r.stdout).toContain('PATTERN_FP_EXCEEDED: everything: claims 100.00% of random text flows (40 of 40)');
  });

  it('--json gives the whole report', async () => {
    const r = await l7mesh('patterns', 'test', patternsDir, '--captures', capturesDir, '--flows', '40', '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report).sort()).toEqual(['captures', 'falsePositives', 'overmatch', 'patterns', 'problems']);
    expect(report.overmatch.protocols).toEqual(['everything', 'hello', 'world']);
    expect(report.problems.map((p: { code: string }) => p.code).sort()).toEqual([
      'CAPTURE_MISCLASSIFIED',
      'CAPTURE_MISCLASSIFIED',
      'PATTERN_FP_EXCEEDED',
      'PATTERN_FP_EXCEEDED',
      'PATTERN_NO_CAPTURE',
    ]);
  });

  it('rejects a bad --flows and a missing captures directory', async () => {
    expect((await l7mesh('patterns', 'test', patternsDir, '--flows', '0')).code).not.toBe(0);
    const r = await l7mesh('patterns', 'test', patternsDir, '--captures', join(scratch, 'nowhere'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('LIBRARY_BAD_CAPTURES_DIR');
  });
});

describe('l7mesh patterns readme', () => {
  it('prints the README, and --write writes the same text to DIR/README.md', async () => {
    const printed = await l7mesh('patterns', 'readme', patternsDir);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('| protocol | groups | quality | captures | implementations | FP random bytes | FP random text | description |');
    expect(printed.stdout).toContain('| lonely |  |  | 0 |  | 0.00% | 0.00% | a test pattern |');
    const written = await l7mesh('patterns', 'readme', patternsDir, '--write');
    expect(written.code).toBe(0);
    expect(readFileSync(join(patternsDir, 'README.md'), 'utf8')).toBe(printed.stdout);
  });
});
