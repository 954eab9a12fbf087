import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame, encodePcap, TcpFlag, type SynthPacket } from '@l7mesh/flow';
import { parsePatternFile } from '@l7mesh/patterns';
import {
  describePatternLibrary,
  fpThresholdOf,
  listLabCaptures,
  measureFalsePositives,
  randomFlows,
  renderPatternReadme,
  testPatternLibrary,
  type LibraryProblem,
} from '../src/index.js';

// The pattern-library checks on tiny synthetic libraries: pattern files and
// lab-style captures (`<protocol>/<implementation>-<scenario>.pcap`) written
// to a scratch directory, run through the same classify path as real ones.
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-library-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let libraries = 0;

interface Say {
  from: 'c' | 's';
  payload?: string;
  flags?: number;
}

/** One TCP connection 198.18.0.1:client -> 198.18.0.2:server, with its handshake. */
function connection(says: Say[], o: { serverPort?: number; clientPort?: number; t0?: number; client?: string; server?: string } = {}): SynthPacket[] {
  const handshake: Say[] = [{ from: 'c', flags: TcpFlag.SYN }, { from: 's', flags: TcpFlag.SYN | TcpFlag.ACK }, { from: 'c', flags: TcpFlag.ACK }];
  const [c, s] = [o.client ?? '198.18.0.1', o.server ?? '198.18.0.2'];
  const [cp, sp] = [o.clientPort ?? 40000, o.serverPort ?? 7000];
  return [...handshake, ...says].map((say, i) => ({
    tsSec: (o.t0 ?? 1_700_000_000) + i,
    protocol: 'tcp',
    src: say.from === 'c' ? c : s,
    dst: say.from === 'c' ? s : c,
    sport: say.from === 'c' ? cp : sp,
    dport: say.from === 'c' ? sp : cp,
    ...(say.flags !== undefined ? { flags: say.flags } : {}),
    ...(say.payload !== undefined ? { payload: say.payload } : {}),
  }));
}

/** A scratch library: pattern files (name -> file text) and captures (path -> packets). */
function library(patterns: Record<string, string>, captures: Record<string, SynthPacket[]>): { patternsDir: string; capturesDir: string } {
  const root = join(scratch, `lib${libraries++}`);
  const patternsDir = join(root, 'patterns');
  const capturesDir = join(root, 'captures');
  mkdirSync(patternsDir, { recursive: true });
  mkdirSync(capturesDir, { recursive: true });
  for (const [name, text] of Object.entries(patterns)) writeFileSync(join(patternsDir, `${name}.pat`), text);
  for (const [path, packets] of Object.entries(captures)) {
    mkdirSync(join(capturesDir, path.slice(0, path.indexOf('/'))), { recursive: true });
    writeFileSync(join(capturesDir, path), encodePcap(packets.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) }))));
  }
  return { patternsDir, capturesDir };
}

const pat = (name: string, regex: string, header = '') => `# ${name} - test pattern\n${header}${name}\n${regex}\n`;
const hello = connection([{ from: 'c', payload: 'hello there' }, { from: 's', payload: 'hi' }]);
const world = connection([{ from: 'c', payload: 'world, hello' }], { clientPort: 40002, t0: 1_700_000_050 });
const codes = (problems: LibraryProblem[]) => problems.map((p) => `${p.code} ${p.subject}`);
const FEW = { flows: 50, referenceFlows: 20 };

describe('pattern library: captures', () => {
  it('passes a capture whose flows with payload are all its folder protocol', async () => {
    const lib = library({ hello: pat('hello', '^hello'), world: pat('world', '^world') }, { 'hello/srv-greet.pcap': hello, 'world/srv-say.pcap': world });
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    expect(r.problems).toEqual([]);
    expect(r.captures.map((c) => [c.capture, c.status, c.verdicts])).toEqual([
      ['hello/srv-greet.pcap', 'ok', { hello: 1 }],
      ['world/srv-say.pcap', 'ok', { world: 1 }],
    ]);
  });

  it('names a misclassified capture and what it came out as', async () => {
    // The "world" capture opens with "hello": the default order calls it hello.
    const lib = library({ hello: pat('hello', '^hello'), world: pat('world', '^world') }, { 'hello/srv-greet.pcap': hello, 'world/srv-late.pcap': connection([{ from: 'c', payload: 'hello world' }]) });
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    expect(codes(r.problems)).toEqual(['CAPTURE_MISCLASSIFIED world/srv-late.pcap']);
    expect(r.problems[0]!.message).toMatch(/^world\/srv-late\.pcap: 1 of 1 flows with payload are not world: tcp 198\.18\.0\.1:40000 -> 198\.18\.0\.2:7000 is hello \(hello\.pat matched at packet 4\)$/);
    expect(r.captures.find((c) => c.capture === 'world/srv-late.pcap')!.status).toBe('error');
  });

  it('claims only flows with payload, even when a later connection reuses the tuple', async () => {
    const refused = connection([{ from: 'c', flags: TcpFlag.FIN | TcpFlag.ACK }]);
    const again = connection([{ from: 'c', payload: 'hello again' }], { t0: 1_700_000_100 });
    const lib = library({ hello: pat('hello', '^hello') }, { 'hello/srv-reuse.pcap': [...refused, ...again] });
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    expect(r.captures[0]).toMatchObject({ flows: 2, claimed: 1, verdicts: { hello: 1 }, status: 'ok' });
  });

  it('counts FTP data connections through inheritance', async () => {
    const control = connection(
      [{ from: 's', payload: '220 FTP ready\r\n' }, { from: 'c', payload: 'PASV\r\n' }, { from: 's', payload: '227 Entering Passive Mode (198,18,0,2,195,80).\r\n' }],
      { serverPort: 21 },
    );
    const data = connection([{ from: 's', payload: '\x89PNG not a greeting' }], { serverPort: 50000, clientPort: 40001, t0: 1_700_000_010 });
    const lib = library({ ftp: pat('ftp', '^220[\\x09-\\x0d -~]*ftp') }, { 'ftp/vsftpd-pasv.pcap': [...control, ...data] });
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    expect(r.problems).toEqual([]);
    expect(r.captures[0]).toMatchObject({ claimed: 2, verdicts: { ftp: 2 } });
  });

  it('does not check mixed captures, and flags empty, unreadable and unknown-protocol ones', async () => {
    const lib = library(
      { hello: pat('hello', '^hello') },
      { 'mixed/lab-all.pcap': [...hello, ...world], 'hello/srv-silent.pcap': connection([]), 'quic/x-y.pcap': connection([{ from: 'c', payload: 'hello' }]) },
    );
    const whole = encodePcap(hello.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) })));
    writeFileSync(join(lib.capturesDir, 'hello', 'srv-cut.pcap'), whole.subarray(0, whole.length - 10));
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    expect(codes(r.problems).sort()).toEqual(['CAPTURE_NO_PAYLOAD hello/srv-silent.pcap', 'CAPTURE_UNKNOWN_PROTOCOL quic/x-y.pcap', 'CAPTURE_UNREADABLE hello/srv-cut.pcap']);
    expect(r.captures.find((c) => c.capture === 'mixed/lab-all.pcap')).toMatchObject({ status: 'not-checked', claimed: 2 });
  });

  it('reads implementation and scenario from the file name', () => {
    const lib = library({}, { 'http/nginx-curl-get.pcap': hello, 'mixed/lab-mixed.pcap': hello });
    expect(listLabCaptures(lib.capturesDir).map((c) => [c.name, c.protocol, c.implementation, c.scenario])).toEqual([
      ['http/nginx-curl-get.pcap', 'http', 'nginx', 'curl-get'],
      ['mixed/lab-mixed.pcap', undefined, 'lab', 'mixed'],
    ]);
  });
});

describe('pattern library: patterns', () => {
  it('makes a pattern without a capture an error', async () => {
    const lib = library({ hello: pat('hello', '^hello'), world: pat('world', '^world') }, { 'hello/srv-greet.pcap': hello, 'mixed/lab-all.pcap': world });
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    // A mixed capture proves nothing: world still has no capture of its own.
    expect(codes(r.problems)).toEqual(['PATTERN_NO_CAPTURE world']);
    expect(r.problems[0]!.message).toMatch(/^world: no capture in \S*captures\/world\/$/);
  });

  it('shows an overmatching pattern in the matrix without failing when the order keeps it last', async () => {
    const greedy = pat('greedy', '^[a-z]', '# Pattern attributes: poor overmatch\n');
    const lib = library({ greedy, hello: pat('hello', '^hello'), world: pat('world', '^world') }, {
      'hello/srv-greet.pcap': hello,
      'world/srv-say.pcap': world,
      'greedy/any-letters.pcap': connection([{ from: 'c', payload: 'zebra' }]),
    });
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    expect(codes(r.problems).filter((c) => !c.startsWith('PATTERN_FP'))).toEqual([]);
    expect(r.overmatch.protocols).toEqual(['greedy', 'hello', 'world']);
    expect(r.overmatch.cells).toEqual({ greedy: { hello: 1, world: 1 } });
  });

  it('reports the overlap as a capture error when the default order gets it wrong', async () => {
    // Same greedy pattern without `overmatch`: by file name it comes first and takes hello's flow.
    const lib = library({ greedy: pat('greedy', '^[a-z]'), hello: pat('hello', '^hello') }, { 'hello/srv-greet.pcap': hello, 'greedy/any-letters.pcap': connection([{ from: 'c', payload: 'zebra' }]) });
    const r = await testPatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    expect(codes(r.problems)).toContain('CAPTURE_MISCLASSIFIED hello/srv-greet.pcap');
    expect(r.overmatch.cells.greedy).toEqual({ hello: 1 });
  });

  it('makes a pattern matching everything exceed its false-positive threshold', async () => {
    const lib = library({ everything: pat('everything', '.'), hello: pat('hello', '^hello') }, { 'everything/x-y.pcap': hello, 'hello/srv-greet.pcap': hello });
    const d = describePatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW });
    const everything = d.falsePositives.patterns.find((p) => p.pattern === 'everything')!;
    expect(everything.kinds.text).toEqual({ matched: 50, rate: 1 });
    expect(everything.kinds.bytes.rate).toBeGreaterThan(0.9);
    expect(d.falsePositives.patterns.find((p) => p.pattern === 'hello')!.kinds.text.matched).toBe(0);
    expect(codes(d.problems)).toEqual(['PATTERN_FP_EXCEEDED everything', 'PATTERN_FP_EXCEEDED everything']);
    expect(d.problems[0]!.message).toContain('above its FP threshold of 1.00%');
  });

  it('takes a threshold from the file, and rejects one that is not a fraction', () => {
    const file = (header: string) => parsePatternFile(pat('p', '.', header), '/t/p.pat');
    expect(fpThresholdOf(file('')).threshold).toBe(0.01);
    expect(fpThresholdOf(file('# FP-threshold: 1\n')).threshold).toBe(1);
    expect(fpThresholdOf(file('# FP-threshold: 5%\n')).problem?.code).toBe('PATTERN_BAD_THRESHOLD');
    const r = measureFalsePositives([file('# FP-threshold: 1\n')], FEW);
    expect(r.problems).toEqual([]);
    expect(r.patterns[0]!.threshold).toBe(1);
  });
});

describe('random flows', () => {
  it('are reproducible from the seed and shaped as documented', () => {
    const a = randomFlows('text', 30, 9);
    expect(randomFlows('text', 30, 9)).toEqual(a);
    expect(randomFlows('text', 30, 10)).not.toEqual(a);
    for (const flow of a) {
      expect(flow.slice(0, 3).map((p) => p.payloadLength)).toEqual([0, 0, 0]);
      expect(flow.length).toBeGreaterThanOrEqual(4);
      expect(flow.length).toBeLessThanOrEqual(9);
      for (const p of flow.slice(3)) {
        expect(p.payloadLength).toBeGreaterThanOrEqual(1);
        expect(p.payloadLength).toBeLessThanOrEqual(1400);
        expect([...p.payload].every((b) => (b >= 0x20 && b <= 0x7e) || b === 0x0d || b === 0x0a)).toBe(true);
      }
    }
  });
});

describe('pattern README', () => {
  it('has a row per pattern with captures, implementations and FP rates', () => {
    const lib = library({ hello: pat('hello', '^hello', '# Pattern attributes: good fast\n# Protocol groups: chat toys\n') }, {
      'hello/srv-greet.pcap': hello,
      'hello/other-greet.pcap': hello,
    });
    const text = renderPatternReadme(describePatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW }));
    expect(text).toContain('| hello | chat, toys | good | 2 | other, srv | 0.00% | 0.00% | test pattern |');
    expect(renderPatternReadme(describePatternLibrary([lib.patternsDir], { capturesDir: lib.capturesDir, ...FEW }))).toBe(text);
  });
});

describe('options', () => {
  it('rejects a number of random flows that is not a positive integer', () => {
    expect(() => measureFalsePositives([], { flows: 0 })).toThrow(expect.objectContaining({ code: 'LIBRARY_BAD_OPTION' }));
  });
});
