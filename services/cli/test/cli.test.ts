import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame, encodePcap } from '@l7mesh/flow';

// End-to-end: the built `l7mesh` command as a user runs it (npm test builds first).
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');
const capture = (name: string) => join(repo, 'test/captures', name);
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writePatternDir(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

function l7mesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repo, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('l7mesh classify', () => {
  it('--json prints one object per flow with the documented fields, and a summary on stderr', async () => {
    const r = await l7mesh('classify', '--pcap', capture('http/nginx-curl-get.pcap'), '--json');
    expect(r.code).toBe(0);
    const flows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(flows).toHaveLength(2);
    for (const f of flows) {
      expect(f).toMatchObject({ proto: 'tcp', src: '198.18.1.2', dst: '198.18.1.1', dport: 8080, l7: 'http', why: { by: 'http.pat', packet: 4 } });
      for (const field of ['sport', 'packets', 'bytes', 'first_ts', 'last_ts']) expect(typeof f[field]).toBe('number');
    }
    expect(r.stderr).toMatch(/│ http\s+│\s+2 │/);
    expect(r.stderr).toMatch(/│ total\s+│\s+2 │/);
  });

  it('prints a readable listing without --json, including inherited FTP data connections', async () => {
    const r = await l7mesh('classify', '--pcap', capture('ftp/vsftpd-lftp-passive.pcap'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ftp.pat matched at packet 4');
    expect(r.stdout).toMatch(/inherited from 198\.18\.2\.2:\d+ -> 198\.18\.2\.1:21 at packet 1/);
  });

  it('applies --max-packets: a budget of 3 leaves HTTP unknown', async () => {
    const r = await l7mesh('classify', '--pcap', capture('http/nginx-curl-get.pcap'), '--json', '--max-packets', '3');
    const flows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(flows.map((f) => [f.l7, f.why.by, f.why.packet])).toEqual([
      ['unknown', 'packet-limit', 4],
      ['unknown', 'packet-limit', 4],
    ]);
  });

  it('names a truncated capture and the byte offset, and still reports the flows read before it', async () => {
    const whole = readFileSync(capture('mixed/lab-mixed.pcap'));
    const cut = join(scratch, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const r = await l7mesh('classify', '--pcap', cut, '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cut.pcap');
    expect(r.stderr).toMatch(/offset \d+/);
    expect(r.stdout.trim().split('\n').length).toBeGreaterThan(3);
  });

  it('rejects a file that is no capture', async () => {
    const bad = join(scratch, 'notes.pcap');
    writeFileSync(bad, 'these are not packets\n');
    const r = await l7mesh('classify', '--pcap', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/notes\.pcap.*offset 0/);
  });

  it('counts malformed packets and goes on', async () => {
    const good = buildFrame({ tsSec: 1, src: '198.18.0.1', dst: '198.18.0.2', protocol: 'tcp', sport: 1234, dport: 80, payload: 'GET / HTTP/1.1\r\n' });
    const file = join(scratch, 'malformed.pcap');
    writeFileSync(file, encodePcap([{ tsSec: 1, data: good.subarray(0, 30) }, { tsSec: 2, data: good }]));
    const r = await l7mesh('classify', '--pcap', file, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).l7).toBe('http');
    expect(r.stderr).toContain('1 malformed');
  });

  it('reports an unknown --order name as a usage error', async () => {
    const r = await l7mesh('classify', '--pcap', capture('http/nginx-curl-get.pcap'), '--order', 'nosuchproto');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nosuchproto');
  });

  it('--order puts the named patterns first', async () => {
    const dir = join(scratch, 'order');
    rmSync(dir, { recursive: true, force: true });
    writePatternDir(dir, { 'aaa.pat': 'aaa\n^get\n', 'http.pat': 'http\n^get /\n' });
    const plain = await l7mesh('classify', '--pcap', capture('http/nginx-curl-get.pcap'), '--json', '--patterns', dir);
    expect(JSON.parse(plain.stdout.split('\n')[0]!).l7).toBe('aaa');
    const ordered = await l7mesh('classify', '--pcap', capture('http/nginx-curl-get.pcap'), '--json', '--patterns', dir, '--order', 'http');
    expect(JSON.parse(ordered.stdout.split('\n')[0]!).l7).toBe('http');
  });
});

describe('l7mesh patterns', () => {
  it('check passes on the project patterns', async () => {
    const r = await l7mesh('patterns', 'check', join(repo, 'patterns'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+ patterns compiled, 0 errors$/m);
  });

  it('check lists every bad file as file:line: reason, loads the rest, and exits non-zero', async () => {
    const dir = join(scratch, 'mixed-quality');
    writePatternDir(dir, {
      'good.pat': '# good - fine\ngood\n^fine\n',
      'renamed.pat': '# wrong name\nsomethingelse\n^x\n',
      'broken.pat': '# unbalanced\nbroken\n^(abc\n',
    });
    const r = await l7mesh('patterns', 'check', dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'renamed.pat')}:2:`);
    expect(r.stderr).toContain(`${join(dir, 'broken.pat')}:3:`);
    expect(r.stdout).toContain('1 patterns compiled, 2 errors');
  });

  it('check explains every file when none is usable', async () => {
    const dir = join(scratch, 'all-bad');
    writePatternDir(dir, { 'broken.pat': 'broken\n^(abc\n' });
    const r = await l7mesh('patterns', 'check', dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ENGINE_NO_PATTERNS');
    expect(r.stderr).toContain(`${join(dir, 'broken.pat')}:2:`);
  });

  it('list shows the project patterns with their metadata', async () => {
    const r = await l7mesh('patterns', 'list');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/http\s+│ good\s+│ web ietf_internet_standard/);
  });
});
