import { compilePatternSet, type PatternSet } from '@l7mesh/engine';
import { buildFrame, LinkType, TcpFlag } from '@l7mesh/flow';
import { parsePatternFile } from '@l7mesh/patterns';
import { EdgeCore, MarkPolicy, parseEdgeConfig, type ConntrackMarker, type ConntrackTuple, type EdgeConfig, type EdgeCoreOptions, type QueuedPacket } from '../src/index.js';

/** A pattern set from `name -> l7 regex` pairs. */
export function patternSet(defs: Record<string, string>): PatternSet {
  const files = Object.entries(defs).map(([name, regex]) => parsePatternFile(`# ${name} - test pattern\n${name}\n${regex}\n`, `/test/${name}.pat`));
  return compilePatternSet(files);
}

export const TEST_PATTERNS = {
  http: '^(get|post|head) [\\x09-\\x0d -~]* http/1',
  ftp: '^220.*227.*retr',
  bittorrent: '^\\x13bittorrent protocol',
  smtp: '^220.*smtp',
};

export function testConfig(extra = ''): EdgeConfig {
  return parseEdgeConfig(
    [
      'marks:',
      '  unknown: 0x0f00',
      '  protocols: { http: 0x0100, ftp: 0x0500 }',
      '  groups:',
      '    p2p: { mark: 0x2000, protocols: [bittorrent, edonkey] }',
      extra,
    ].join('\n'),
    '/test/edge.yaml',
  );
}

/** Records ctnetlink requests instead of sending them. */
export class FakeConntrack implements ConntrackMarker {
  readonly calls: { tuple: ConntrackTuple; mark: number; mask: number }[] = [];
  fail: Error | undefined;
  setMark(tuple: ConntrackTuple, mark: number, mask: number): Promise<void> {
    this.calls.push({ tuple, mark, mask });
    return this.fail ? Promise.reject(this.fail) : Promise.resolve();
  }
}

export function makeCore(config: EdgeConfig, options: Partial<EdgeCoreOptions> = {}): EdgeCore {
  return new EdgeCore({ set: patternSet(TEST_PATTERNS), config, policy: new MarkPolicy(config.marks), ...options });
}

/** Builds the queued packets of a conversation between a client and a server, as NFQUEUE would hand them over. */
export class Conversation {
  private nextId: number;
  t: number;
  constructor(
    readonly client: string,
    readonly cport: number,
    readonly server: string,
    readonly sport: number,
    readonly protocol: 'tcp' | 'udp' = 'tcp',
    opts: { firstId?: number; t0?: number } = {},
  ) {
    this.nextId = opts.firstId ?? 1;
    this.t = opts.t0 ?? 1_800_000_000;
  }

  packet(from: 'c' | 's', payload?: string, flags?: number, mark = 0): QueuedPacket {
    const c = from === 'c';
    const ip = buildFrame(
      {
        tsSec: this.t,
        src: c ? this.client : this.server,
        dst: c ? this.server : this.client,
        protocol: this.protocol,
        sport: c ? this.cport : this.sport,
        dport: c ? this.sport : this.cport,
        flags,
        payload,
      },
      LinkType.RAW,
    );
    return { id: this.nextId++, mark, payload: ip, tsSec: this.t, tsNsec: 0 };
  }

  handshake(mark = 0): QueuedPacket[] {
    return [this.packet('c', undefined, TcpFlag.SYN, mark), this.packet('s', undefined, TcpFlag.SYN | TcpFlag.ACK, mark), this.packet('c', undefined, TcpFlag.ACK, mark)];
  }
}
