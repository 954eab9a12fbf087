import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame, encodePcap, TcpFlag, type SynthPacket } from '@l7mesh/flow';

// `l7mesh patterns score` as a user runs it (npm test builds first).
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-cli-score-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function l7mesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const T0 = 1_700_000_000;
function connection(cport: number, dport: number, payload: string, t: number): SynthPacket[] {
  const out = { protocol: 'tcp' as const, src: '198.18.0.1', dst: '198.18.0.2', sport: cport, dport, tsSec: t };
  const back = { ...out, src: out.dst, dst: out.src, sport: dport, dport: cport };
  return [{ ...out, flags: TcpFlag.SYN }, { ...back, flags: TcpFlag.SYN | TcpFlag.ACK }, { ...out, flags: TcpFlag.ACK }, { ...out, payload }];
}

const patternsDir = join(scratch, 'patterns');
const capturesDir = join(scratch, 'captures');
mkdirSync(patternsDir);
mkdirSync(capturesDir);
for (const [name, regex] of Object.entries({ hello: '^hello', tls: '^\\x16\\x03' })) writeFileSync(join(patternsDir, `${name}.pat`), `# ${name} - a test pattern\n${name}\n${regex}\n`);
const packets = [...connection(40001, 7000, 'hello', T0), ...connection(40002, 443, '\x16\x03\x01\x00\x05', T0 + 1), ...connection(40003, 7000, 'hello?', T0 + 2), ...connection(40004, 7001, 'what', T0 + 3)];
writeFileSync(join(capturesDir, 'a.pcap'), encodePcap(packets.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) }))));

const tsv = join(scratch, 'truth.tsv');
writeFileSync(
  tsv,
  [
    'capture\tproto\tsrc\tsport\tdst\tdport\tlabel',
    'a.pcap\ttcp\t198.18.0.1\t40001\t198.18.0.2\t7000\thello',
    'a.pcap\ttcp\t198.18.0.2\t443\t198.18.0.1\t40002\tssl',
    'a.pcap\ttcp\t198.18.0.1\t40003\t198.18.0.2\t7000\tgnutella',
    'a.pcap\ttcp\t198.18.0.1\t40004\t198.18.0.2\t7001\tjabber',
    '',
  ].join('\n'),
);
const connLog = join(scratch, 'conn.log');
writeFileSync(
  connLog,
  [
    '#separator \\x09',
    '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice',
    `${T0}.000000\tC1\t198.18.0.1\t40001\t198.18.0.2\t7000\ttcp\thello`,
    `${T0 + 1}.000000\tC2\t198.18.0.1\t40002\t198.18.0.2\t443\ttcp\tssl`,
    `${T0 + 2}.000000\tC3\t198.18.0.1\t40003\t198.18.0.2\t7000\ttcp\tgnutella`,
    `${T0 + 3}.000000\tC4\t198.18.0.1\t40004\t198.18.0.2\t7001\ttcp\t-`,
    '',
  ].join('\n'),
);

describe('l7mesh patterns score', () => {
  it('prints agreement per protocol, the totals and the false labels', async () => {
    const r = await l7mesh('patterns', 'score', '--captures', capturesDir, '--truth', tsv, '--patterns', patternsDir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('carry payload within their first 10 packets');
    expect(r.stdout).toMatch(/│ tls\s+│ yes\s+│\s+1 │\s+1 │\s+0 │\s+0 │\s+100\.00% │/);
    expect(r.stdout).toMatch(/│ gnutella\s+│ no\s+│\s+1 │\s+0 │\s+0 │\s+1 │\s+0\.00% │\s+0\.00% │\s+100\.00% │\s+0 │\s+0 │ hello 1\s+│/);
    expect(r.stdout).toMatch(/│ xmpp\s+│ no\s+│\s+1 │\s+0 │\s+1 │\s+0 │/);
    expect(r.stdout).toMatch(/│ total \(with a pattern\)\s+│\s+│\s+2 │\s+2 │\s+0 │\s+0 │\s+100\.00% │/);
    expect(r.stdout).toMatch(/│ total\s+│\s+│\s+4 │\s+2 │\s+1 │\s+1 │\s+50\.00% │\s+25\.00% │\s+25\.00% │/);
    expect(r.stdout).toMatch(/│ gnutella\s+│ hello\s+│\s+1 │/);
    expect(r.stdout).toContain('Truth: 4 rows; 4 labelled (4 matched a flow, 0 not found)');
  });

  it('reads a Zeek conn.log; --json gives the report and --list the flows asked for', async () => {
    const r = await l7mesh('patterns', 'score', '--captures', capturesDir, '--truth', connLog, '--patterns', patternsDir, '--json', '--list', 'wrong');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report).sort()).toEqual(['captures', 'flows', 'protocols', 'rules', 'total', 'truth', 'unlabelled', 'withPattern', 'wrongLabels']);
    expect(report.total).toMatchObject({ flows: 3, agree: 2, unknown: 0, wrong: 1 });
    expect(report.unlabelled).toEqual({ flows: 1, verdicts: { unset: 1 } });
    expect(report.flows).toHaveLength(1);
    expect(report.flows[0]).toMatchObject({ sport: 40003, label: 'gnutella', l7: 'hello', outcome: 'wrong', truth: `${connLog}:5` });
  });

  it('--record writes the totals and rows for the README, with the sources beside the truth', async () => {
    writeFileSync(join(scratch, 'sources.tsv'), 'source\tcommit\tcaptures\tlabelled_flows\nlab\tabc\t1\t4\n');
    const record = join(scratch, 'corpus-score.json');
    const r = await l7mesh('patterns', 'score', '--captures', capturesDir, '--truth', tsv, '--patterns', patternsDir, '--record', record);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`wrote ${record}\n`);
    const kept = JSON.parse(readFileSync(record, 'utf8'));
    expect(kept.sources).toEqual([{ source: 'lab', commit: 'abc', captures: 1, labelledFlows: 4 }]);
    expect(kept.total).toMatchObject({ flows: 4, agree: 2, unknown: 1, wrong: 1 });
    expect(kept).not.toHaveProperty('flows');
  });

  it('a bad truth file is a usage error naming the line', async () => {
    const bad = join(scratch, 'bad.tsv');
    writeFileSync(bad, 'src\tsport\tdst\tdport\tlabel\n198.18.0.1\tx\t198.18.0.2\t80\thttp\n');
    const r = await l7mesh('patterns', 'score', '--captures', capturesDir, '--truth', bad, '--patterns', patternsDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`ENGINE_BAD_TRUTH: ${bad}:2: not a port: "x"`);
  });
});
