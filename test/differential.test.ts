import { describe, expect, it } from 'vitest';
import { IPPROTO_TCP, IPPROTO_UDP, seededRandom, TcpFlag, type DecodedPacket } from '@l7mesh/flow';
import { compilePatternSet, createHeadScanner, FlowClassifier, type EngineKind, type FlowRecord } from '@l7mesh/engine';
import { loadPatternDirs, parsePatternFile } from '@l7mesh/patterns';
import { captureCorpus, classifyFile, PATTERNS_DIR, projectPatternSet } from './captureCorpus.js';

// The Hyperscan engine and the reference engine (l7-filter's method: every
// regex on the whole buffer after each packet) must give identical records.

describe('differential: Hyperscan vs reference on golden captures', () => {
  const set = projectPatternSet();
  it.each(captureCorpus())('$name', async ({ file }) => {
    const hs = await classifyFile(file, set, 'hyperscan');
    const ref = await classifyFile(file, set, 'reference');
    expect(hs.length).toBeGreaterThan(0);
    expect(hs).toEqual(ref);
  });
});

// Synthetic patterns that stress what the engines could disagree on: `$` at
// packet ends, alternation, classes, dots, patterns matching late in the head.
const EXTRA_PATTERNS: Record<string, string> = {
  zz_endonly: 'bye$',
  zz_dotty: '^.?.?\\x01.*k',
  zz_class: '[[:digit:]][[:digit:]][[:digit:]]x',
  zz_alt: '(ab|cd)+ef$|^ghi',
};

const TOKENS = ['GET / HTTP/1.1\r\n', '220 (vsFTPd) ftp\r\n', 'SSH-2.0-x\r\n', 'bye', 'ab', 'cd', 'ef', 'ghi', '\x01', 'k', '123x', '\0', 'HTTP/1.0 200 OK', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'];

function randomPayload(rand: () => number): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.5) parts.push(Buffer.from(TOKENS[Math.floor(rand() * TOKENS.length)]!, 'latin1'));
    else if (r < 0.75) parts.push(Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256))));
    else parts.push(Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => 32 + Math.floor(rand() * 95))));
  }
  return Buffer.concat(parts);
}

function randomTraffic(seed: number, flows: number): DecodedPacket[] {
  const rand = seededRandom(seed);
  const perFlow: DecodedPacket[][] = [];
  for (let f = 0; f < flows; f++) {
    const tcp = rand() < 0.7;
    const client = Uint8Array.of(198, 18, 10, 1 + (f % 200));
    const server = Uint8Array.of(198, 19, 0, 1 + Math.floor(f / 200));
    const cport = 20000 + f;
    const sport = [80, 21, 22, 443, 9000][Math.floor(rand() * 5)]!;
    const count = 1 + Math.floor(rand() * 14);
    const pkts: DecodedPacket[] = [];
    for (let i = 0; i < count; i++) {
      const fromClient = i === 0 || rand() < 0.5;
      const payload = rand() < 0.3 ? Buffer.alloc(0) : randomPayload(rand);
      pkts.push({
        tsSec: 1_700_000_000, tsNsec: 0, ipVersion: 4, protocol: tcp ? IPPROTO_TCP : IPPROTO_UDP,
        srcAddr: fromClient ? client : server, dstAddr: fromClient ? server : client,
        srcPort: fromClient ? cport : sport, dstPort: fromClient ? sport : cport,
        tcpFlags: tcp ? (i === 0 ? TcpFlag.SYN : TcpFlag.ACK) : 0, tcpSeq: 0, tcpAck: 0,
        ipLength: 40 + payload.length, payload, payloadLength: payload.length,
      });
    }
    perFlow.push(pkts);
  }
  // Interleave the flows at random, keeping each flow's own packet order.
  const out: DecodedPacket[] = [];
  const cursors = perFlow.map(() => 0);
  let left = perFlow.reduce((n, p) => n + p.length, 0);
  while (left > 0) {
    const f = Math.floor(rand() * perFlow.length);
    if (cursors[f]! < perFlow[f]!.length) {
      out.push({ ...perFlow[f]![cursors[f]!++]!, tsSec: 1_700_000_000 + Math.floor(out.length / 1000) });
      left--;
    }
  }
  return out;
}

function run(engine: EngineKind, packets: DecodedPacket[], maxDataLen: number): FlowRecord[] {
  const { patterns } = loadPatternDirs([PATTERNS_DIR]);
  const extra = Object.entries(EXTRA_PATTERNS).map(([n, re]) => parsePatternFile(`${n}\n${re}\n`, `/gen/${n}.pat`));
  const set = compilePatternSet([...patterns, ...extra]);
  const records: FlowRecord[] = [];
  const scanner = createHeadScanner(engine, set, maxDataLen);
  const c = new FlowClassifier(set, scanner, { maxDataLen, onFlow: (r) => records.push(r) });
  for (const p of packets) c.process(p);
  c.finish();
  scanner.close?.();
  return records;
}

describe('differential: Hyperscan vs reference on random flows', () => {
  it.each([
    { seed: 1, maxDataLen: 2048 },
    { seed: 2, maxDataLen: 64 },
    { seed: 3, maxDataLen: 20 },
  ])('seed $seed, maxdatalen $maxDataLen', ({ seed, maxDataLen }) => {
    const packets = randomTraffic(seed, 600);
    const hs = run('hyperscan', packets, maxDataLen);
    const ref = run('reference', packets, maxDataLen);
    expect(hs).toHaveLength(600);
    expect(hs).toEqual(ref);
    // The traffic must exercise every outcome, or the comparison proves little.
    const verdicts = new Set(hs.map((r) => (r.l7 === 'unset' || r.l7 === 'unknown' ? r.l7 : 'matched')));
    expect([...verdicts].sort()).toEqual(['matched', 'unknown', 'unset']);
    expect(hs.some((r) => r.l7 === 'zz_endonly')).toBe(true);
  });
});
