import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyCapture, loadPatternSet } from '@l7mesh/engine';
import { buildFrame, encodePcap, encodePcapng, LinkType, TcpFlag, type SynthPacket } from '@l7mesh/flow';

// End-to-end: the built `l7mesh` command as a user runs it (npm test builds first).
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');
const capture = (name: string) => join(repo, 'test/captures', name);
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
// Compiled pattern databases are cached here, not in the user's ~/.cache.
const cacheDir = join(scratch, 'hsdb-cache');

function writePatternDir(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

function l7mesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return l7meshWith({}, ...args);
}

function l7meshWith(extraEnv: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, L7MESH_CACHE_DIR: cacheDir, ...extraEnv };
    execFile(process.execPath, [bin, ...args], { cwd: repo, env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
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

/** A TCP conversation from 198.18.0.1:sport to 198.18.0.2:dport: handshake, then the payloads. */
function tcpConversation(sport: number, dport: number, payloads: Array<['c' | 's', string]>, t0: number): SynthPacket[] {
  const c = { src: '198.18.0.1', dst: '198.18.0.2', sport, dport };
  const s = { src: '198.18.0.2', dst: '198.18.0.1', sport: dport, dport: sport };
  let t = t0;
  const pkt = (from: 'c' | 's', flags: number, payload?: string): SynthPacket => ({ tsSec: t++, protocol: 'tcp', ...(from === 'c' ? c : s), flags, ...(payload ? { payload } : {}) });
  return [pkt('c', TcpFlag.SYN), pkt('s', TcpFlag.SYN | TcpFlag.ACK), pkt('c', TcpFlag.ACK), ...payloads.map(([from, p]) => pkt(from, TcpFlag.ACK | TcpFlag.PSH, p))];
}

const HTTP_EXCHANGE: Array<['c' | 's', string]> = [
  ['c', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['s', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
];

describe('l7mesh classify, issue 9', () => {
  // An l7-protocols-like directory: unknown.pat and unset.pat (regex `.`) beside real patterns.
  const l7dir = join(scratch, 'l7-protocols');
  writePatternDir(join(l7dir, 'protocols'), {
    'http.pat': '# HTTP - web\nhttp\nhttp/(0\\.9|1\\.0|1\\.1) [1-5][0-9][0-9]|(get|post|head) [\\x09-\\x0d -~]* http/1\n',
    'ssh.pat': '# SSH - secure shell\nssh\n^ssh-[12]\\.[0-9]\n',
    'unknown.pat': '# Unknown - not a pattern: the verdict of flows l7 gave up on\nunknown\n.\n',
    'unset.pat': '# Unset - not a pattern: flows still being tested\nunset\n.\n',
  });

  it('ignores unknown.pat and unset.pat with a notice naming each file: flows are not unknown at packet 1', async () => {
    const file = join(scratch, 'verdict-patterns.pcap');
    const opaque = Array.from({ length: 3 }, (_, i): ['c' | 's', string] => [i % 2 ? 's' : 'c', `\x17\x03\x03 opaque ${i}`]);
    const packets = [...tcpConversation(40000, 80, HTTP_EXCHANGE, 0), ...tcpConversation(40001, 443, opaque, 10)];
    writeFileSync(file, encodePcap(packets.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) }))));
    const r = await l7mesh('classify', '--pcap', file, '--json', '--patterns', l7dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`notice: ${join(l7dir, 'protocols/unknown.pat')}: ignored: "unknown" is the verdict for flows past the limits, as in the kernel, not a pattern`);
    expect(r.stderr).toContain(`notice: ${join(l7dir, 'protocols/unset.pat')}: ignored: "unset"`);
    expect(r.stderr).not.toContain('warning');
    const flows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(flows.map((f) => [f.dport, f.l7, f.why?.by ?? null])).toEqual([
      [80, 'http', 'http.pat'],
      [443, 'unset', null],
    ]);
  });

  it('patterns check still loads and proves unknown.pat and unset.pat', async () => {
    const r = await l7mesh('patterns', 'check', l7dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('4 patterns compiled, 0 errors');
    expect(r.stderr).toBe('');
  });

  it('--pcap missing.pcap prints the error and no empty summary table', async () => {
    const r = await l7mesh('classify', '--pcap', join(scratch, 'missing.pcap'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toMatch(/^error: .*missing\.pcap: cannot open: ENOENT[^\n]*$/);
    expect(r.stderr).not.toContain('total');
  });

  it('a missing capture beside a readable one: its error, then the summary of the other', async () => {
    const r = await l7mesh('classify', '--pcap', join(scratch, 'missing.pcap'), capture('http/nginx-curl-get.pcap'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.pcap: cannot open/);
    expect(r.stderr).toMatch(/│ total\s+│\s+2 │/);
  });

  it('reads Cisco HDLC frames on a PPP-serial link (link type 50), pcap and pcapng', async () => {
    const frames = tcpConversation(40000, 80, HTTP_EXCHANGE, 0).map((p, i) => {
      const data = buildFrame(p, LinkType.C_HDLC);
      data[0] = i % 2 ? 0x8f : 0x0f; // unicast and broadcast addresses
      return { tsSec: p.tsSec, data };
    });
    const pcap = join(scratch, 'ppp-serial-chdlc.pcap');
    writeFileSync(pcap, encodePcap(frames, { linkType: LinkType.PPP_HDLC }));
    const pcapng = join(scratch, 'ppp-serial-chdlc.pcapng');
    writeFileSync(pcapng, encodePcapng([{ linkType: LinkType.PPP_HDLC }], frames.map((f) => ({ ...f, interfaceId: 0 }))));
    for (const file of [pcap, pcapng]) {
      const r = await l7mesh('classify', '--pcap', file, '--json');
      expect(r.code, file).toBe(0);
      expect(r.stderr, file).toContain('5 TCP/UDP packets; skipped: 0 malformed, 0 not IP');
      expect(JSON.parse(r.stdout)).toMatchObject({ src: '198.18.0.1', dport: 80, l7: 'http', packets: 5 });
    }
  });

  it('writes many flows in large chunks, each line as before', async () => {
    const packets = Array.from({ length: 3000 }, (_, i) => tcpConversation(10000 + i, 80, HTTP_EXCHANGE.slice(0, 1), i * 4)).flat();
    const file = join(scratch, 'many-flows.pcap');
    writeFileSync(file, encodePcap(packets.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) }))));
    const r = await l7mesh('classify', '--pcap', file, '--json');
    expect(r.code).toBe(0);
    // The same bytes as one JSON.stringify per record, a line each.
    const { set } = loadPatternSet([join(repo, 'patterns')], [], { cache: false });
    const records: string[] = [];
    await classifyCapture(file, set, { onFlow: (rec) => records.push(`${JSON.stringify(rec)}\n`) });
    expect(records).toHaveLength(3000);
    expect(r.stdout).toBe(records.join(''));
    const text = await l7mesh('classify', '--pcap', file);
    expect(text.stdout.split('\n').filter((l) => l.includes('http.pat matched at packet 4'))).toHaveLength(3000);
  });

  it('caches the compiled patterns; a corrupt entry is rebuilt, never trusted, and rewritten', async () => {
    const cache = join(scratch, 'own-cache');
    const run = () => l7meshWith({ L7MESH_CACHE_DIR: cache }, 'classify', '--pcap', capture('mixed/lab-mixed.pcap'), '--json');
    const first = await run();
    expect(first.code).toBe(0);
    const entries = readdirSync(cache);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^[0-9a-f]{64}\.hsdb$/);
    const corrupted = new Map<string, Buffer>();
    for (const name of entries) {
      const bytes = readFileSync(join(cache, name));
      bytes[bytes.length - 64]! ^= 0xff; // inside the compiled database
      writeFileSync(join(cache, name), bytes);
      corrupted.set(name, bytes);
    }
    const again = await run();
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    for (const [name, bytes] of corrupted) expect(readFileSync(join(cache, name)).equals(bytes), name).toBe(false);
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
