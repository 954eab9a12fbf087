import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame, encodePcap, TcpFlag, type SynthPacket } from '@l7mesh/flow';
import { classifyCapture, DatabaseCache, EngineError, loadPatternSet, type FlowRecord } from '../src/index.js';

const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-loadset-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const cache = new DatabaseCache(join(scratch, 'cache'));

/**
 * A directory laid out like l7-protocols: protocols/ and extra/ below the
 * top, unknown.pat and unset.pat among the real patterns, their regex `.`.
 * The texts are written for this test.
 */
function l7ProtocolsLike(): string {
  const root = join(scratch, 'l7-protocols');
  const files: Record<string, string> = {
    'protocols/http.pat': `# HTTP - web pages, file downloads and the like
# Pattern attributes: great notsofast superset
# Protocol groups: document_retrieval ietf_draft_standard
http
http/(0\\.9|1\\.0|1\\.1) [1-5][0-9][0-9]|(get|post|head) [\\x09-\\x0d -~]* http/1\\.[01]
`,
    'protocols/ssh.pat': `# SSH - Secure SHell
# Pattern attributes: great veryfast fast
# Protocol groups: remote_access secure ietf_proposed_standard
ssh
^ssh-[12]\\.[0-9]
`,
    'protocols/unknown.pat': `# Unknown - no real pattern: a rule naming "unknown" catches flows l7 gave up on
# Pattern attributes: ok veryfast fast
unknown
.
`,
    'protocols/unset.pat': `# Unset - no real pattern: a rule naming "unset" catches flows still being looked at
# Pattern attributes: ok veryfast fast
unset
.
`,
    'extra/finger.pat': `# Finger - user information
# Pattern attributes: ok fast fast
finger
^[a-z][a-z0-9\\-_]+[\\x0d\\x0a]
`,
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return root;
}

const dir = l7ProtocolsLike();

function tcpFlow(sport: number, dport: number, payloads: Array<['c' | 's', string]>, t0: number): SynthPacket[] {
  const c = { src: '198.18.0.1', dst: '198.18.0.2', sport, dport };
  const s = { src: '198.18.0.2', dst: '198.18.0.1', sport: dport, dport: sport };
  let t = t0;
  const pkt = (from: 'c' | 's', flags: number, payload?: string): SynthPacket => ({ tsSec: t++, protocol: 'tcp', ...(from === 'c' ? c : s), flags, ...(payload ? { payload } : {}) });
  return [
    pkt('c', TcpFlag.SYN),
    pkt('s', TcpFlag.SYN | TcpFlag.ACK),
    pkt('c', TcpFlag.ACK),
    ...payloads.map(([from, payload]) => pkt(from, TcpFlag.ACK | TcpFlag.PSH, payload)),
  ];
}

async function classifyPackets(packets: SynthPacket[], set: ReturnType<typeof loadPatternSet>['set']): Promise<FlowRecord[]> {
  const file = join(scratch, `capture-${Math.random().toString(16).slice(2)}.pcap`);
  writeFileSync(file, encodePcap(packets.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) }))));
  const records: FlowRecord[] = [];
  await classifyCapture(file, set, { onFlow: (r) => records.push(r) });
  return records;
}

describe('loadPatternSet', () => {
  it('leaves unknown.pat and unset.pat out with a notice naming each file, as the kernel never matched them', () => {
    const { set, problems, notices } = loadPatternSet([dir], [], { cache });
    expect(problems).toEqual([]);
    expect(set.patterns.map((p) => p.name)).toEqual(['finger', 'http', 'ssh']);
    expect(notices).toEqual([
      `${join(dir, 'protocols/unknown.pat')}: ignored: "unknown" is the verdict for flows past the limits, as in the kernel, not a pattern`,
      `${join(dir, 'protocols/unset.pat')}: ignored: "unset" is the state of flows still being tested, as in the kernel, not a pattern`,
    ]);
  });

  it('through the classify path, a flow no pattern matches is not unknown at its first payload packet', async () => {
    const { set } = loadPatternSet([dir], [], { cache });
    const unmatched = Array.from({ length: 8 }, (_, i): ['c' | 's', string] => [i % 2 ? 's' : 'c', `\x16\x03\x01 opaque ${i}`]);
    const records = await classifyPackets(
      [
        ...tcpFlow(40000, 80, [['c', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'], ['s', 'HTTP/1.1 200 OK\r\n\r\n']], 0),
        ...tcpFlow(40001, 22, [['s', 'SSH-2.0-OpenSSH_9.2\r\n']], 20),
        ...tcpFlow(40002, 443, unmatched, 40), // 11 packets: past the budget
        ...tcpFlow(40003, 443, unmatched.slice(0, 2), 80), // ends before the limits
      ],
      set,
    );
    const verdicts = records.map((r) => [r.sport, r.l7, r.why?.by, r.why?.packet]).sort((a, b) => Number(a[0]) - Number(b[0]));
    expect(verdicts).toEqual([
      [40000, 'http', 'http.pat', 4],
      [40001, 'ssh', 'ssh.pat', 4],
      [40002, 'unknown', 'packet-limit', 11],
      [40003, 'unset', undefined, undefined],
    ]);
  });

  it('loaded as patterns (what patterns check proves), the two files would decide every other flow at packet 1', async () => {
    const kept = loadPatternSet([dir], [], { cache, keepVerdictPatterns: true });
    expect(kept.problems).toEqual([]);
    expect(kept.notices).toEqual([]);
    expect(kept.set.patterns.map((p) => p.name)).toEqual(['finger', 'http', 'ssh', 'unknown', 'unset']);
    const [r] = await classifyPackets(tcpFlow(40002, 443, [['c', '\x16\x03\x01 opaque']], 0), kept.set);
    expect([r!.l7, r!.why]).toEqual(['unknown', { by: 'unknown.pat', packet: 4 }]);
  });

  it('lists every problem and notice when nothing usable is left', () => {
    const only = join(scratch, 'only-verdicts');
    mkdirSync(only);
    writeFileSync(join(only, 'unknown.pat'), 'unknown\n.\n');
    writeFileSync(join(only, 'broken.pat'), 'broken\n');
    let err: unknown;
    try {
      loadPatternSet([only], [], { cache: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('ENGINE_NO_PATTERNS');
    expect((err as EngineError).details.join('\n')).toMatch(/unknown\.pat: ignored[\s\S]*broken\.pat/);
  });

  it('a --order naming a protocol no file defines lists the problems too', () => {
    expect(() => loadPatternSet([dir], ['nosuch'], { cache: false })).toThrow(/--order names "nosuch"/);
  });
});
