import { IPPROTO_TCP, IPPROTO_UDP, TcpFlag, type DecodedPacket } from '@l7mesh/flow';
import { parsePatternFile } from '@l7mesh/patterns';
import { compilePatternSet, createHeadScanner, FlowClassifier, type ClassifierOptions, type EngineKind, type FlowRecord, type PatternSet } from '../src/index.js';

export const ENGINES: EngineKind[] = ['hyperscan', 'reference'];

/** A pattern set from `name -> l7 regex` pairs, in file-name order like a directory. */
export function patternSet(defs: Record<string, string>, order: string[] = []): PatternSet {
  const files = Object.entries(defs).map(([name, regex]) => parsePatternFile(`# ${name} - test pattern\n${name}\n${regex}\n`, `/test/${name}.pat`));
  return compilePatternSet(files, order);
}

function addr(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

export interface Pkt {
  from: 'c' | 's';
  payload?: string | Uint8Array;
  flags?: number;
  t?: number;
}

/** A two-party conversation: client 198.18.0.1:40000, server 198.18.0.2:port. */
export function conversation(pkts: Pkt[], opts: { proto?: 'tcp' | 'udp'; port?: number; client?: string; server?: string; clientPort?: number; t0?: number } = {}): DecodedPacket[] {
  const proto = opts.proto === 'udp' ? IPPROTO_UDP : IPPROTO_TCP;
  const c = addr(opts.client ?? '198.18.0.1');
  const s = addr(opts.server ?? '198.18.0.2');
  const cport = opts.clientPort ?? 40000;
  const sport = opts.port ?? 80;
  return pkts.map((p, i) => {
    const payload = typeof p.payload === 'string' ? Buffer.from(p.payload, 'latin1') : (p.payload ?? new Uint8Array(0));
    const fromClient = p.from === 'c';
    return {
      tsSec: (opts.t0 ?? 1_700_000_000) + (p.t ?? i),
      tsNsec: 0,
      ipVersion: 4,
      protocol: proto,
      srcAddr: fromClient ? c : s,
      dstAddr: fromClient ? s : c,
      srcPort: fromClient ? cport : sport,
      dstPort: fromClient ? sport : cport,
      tcpFlags: proto === IPPROTO_TCP ? (p.flags ?? (payload.length > 0 ? TcpFlag.ACK | TcpFlag.PSH : TcpFlag.ACK)) : 0,
      tcpSeq: 0,
      tcpAck: 0,
      ipLength: 40 + payload.length,
      payload,
      payloadLength: payload.length,
    };
  });
}

/** The TCP three-way handshake: three packets without payload. */
export const HANDSHAKE: Pkt[] = [
  { from: 'c', flags: TcpFlag.SYN },
  { from: 's', flags: TcpFlag.SYN | TcpFlag.ACK },
  { from: 'c', flags: TcpFlag.ACK },
];

/** Runs packets through a classifier and returns every flow record. */
export function classify(set: PatternSet, engine: EngineKind, packets: DecodedPacket[], options: Partial<ClassifierOptions> = {}): FlowRecord[] {
  const records: FlowRecord[] = [];
  const scanner = createHeadScanner(engine, set, options.maxDataLen);
  const classifier = new FlowClassifier(set, scanner, { ...options, onFlow: (r) => records.push(r) });
  for (const p of packets) classifier.process(p);
  classifier.finish();
  scanner.close?.();
  return records;
}
