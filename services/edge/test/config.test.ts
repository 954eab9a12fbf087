import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EdgeConfigError, loadEdgeConfig, MarkPolicy, parseEdgeConfig, PROJECT_PATTERNS_DIR } from '../src/index.js';

const MINIMAL = 'marks:\n  unknown: 0x0f00\n';

function problemsOf(text: string, file = '/etc/l7mesh/edge.yaml'): { message: string; problems: string[] } {
  try {
    parseEdgeConfig(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeConfigError);
    const e = err as EdgeConfigError;
    return { message: e.message, problems: e.problems };
  }
  throw new Error('expected the configuration to be refused');
}

describe('edge configuration', () => {
  it('fills in the defaults', () => {
    const c = parseEdgeConfig(MINIMAL, '/etc/l7mesh/edge.yaml');
    expect(c.queue).toEqual({ first: 0, last: 0, copyRange: 65535, maxLen: 4096 });
    expect(c.netfilter).toEqual({
      mode: 'conntrack',
      natSide: 'external',
      stateless: { table: 'l7mesh', priority: undefined, mapSize: 262_144, liveTimeoutSec: 30, elementTimeoutSec: 3600, sweepSec: 5, elementCounters: false, perSourceRate: 2000, perSourceBurst: 4000, interfaces: undefined },
      mask: 0xff00,
      chains: { forward: true, input: false, output: false },
      families: ['ipv4'],
      maxPackets: 11,
      ftpHelper: true,
    });
    expect(c.classification).toMatchObject({ patterns: [PROJECT_PATTERNS_DIR], maxPackets: 10, maxBytes: 2048, engine: 'hyperscan', order: [] });
    expect(c.marks).toMatchObject({ mask: 0xff00, unknown: 0xf00, protocols: {}, groups: {} });
    expect(c.flows.timeouts).toEqual({ udpUnreplied: 30, udpReplied: 120, tcpOpen: 600, tcpClosing: 120 });
    expect(c.metrics.port).toBe(9917);
  });

  it('reads hex marks as YAML integers or strings, a queue range, and resolves pattern dirs against the file', () => {
    const c = parseEdgeConfig(
      ['queue: { range: [2, 5] }', 'classification: { patterns: [pats, /abs/pats], maxPackets: 4 }', 'marks:', '  unknown: "0x0f00"', '  protocols: { http: 0x100, tls: 512 }'].join('\n'),
      '/etc/l7mesh/edge.yaml',
    );
    expect(c.queue).toMatchObject({ first: 2, last: 5 });
    expect(c.classification.patterns).toEqual(['/etc/l7mesh/pats', '/abs/pats']);
    expect(c.netfilter.maxPackets).toBe(5);
    expect(c.marks.protocols).toEqual({ http: 0x100, tls: 0x200 });
  });

  it('names the file and the key path of a mark outside the mask', () => {
    const r = problemsOf('marks:\n  unknown: 0x0f00\n  groups:\n    p2p:\n      mark: 0x10000\n      protocols: [bittorrent]\n');
    expect(r.message).toBe('edge.yaml: marks.groups.p2p.mark: 0x10000 is outside the mask 0x0000ff00');
  });

  it('checks marks against a custom mask given in netfilter or marks, and refuses two different masks', () => {
    expect(problemsOf('netfilter: { mask: 0xff }\nmarks: { unknown: 0x100 }\n').problems).toEqual(['marks.unknown: 0x100 is outside the mask 0x000000ff']);
    expect(problemsOf('netfilter: { mask: 0xff }\nmarks: { mask: 0xff00, unknown: 0x100 }\n').problems[0]).toMatch(/^netfilter\.mask: 0x000000ff differs from marks\.mask 0x0000ff00/);
    expect(problemsOf('marks: { mask: 0, unknown: 0x100 }\n').problems[0]).toMatch(/^marks\.mask: the mask must not be 0/);
  });

  it('refuses an unknown field, naming its path', () => {
    expect(problemsOf(`${MINIMAL}queue:\n  number: 3\n`).message).toBe('edge.yaml: queue.number: unknown field');
    expect(problemsOf(`${MINIMAL}flows: { timeouts: { tcpopen: 5 } }\n`).problems).toEqual(['flows.timeouts.tcpopen: unknown field']);
    expect(problemsOf(`${MINIMAL}extra: true\n`).problems).toEqual(['extra: unknown field']);
  });

  it('refuses group conflicts: a protocol in two groups, in a group and with its own mark, two owners of one mark', () => {
    const twoGroups = problemsOf(
      ['marks:', '  unknown: 0x0f00', '  groups:', '    p2p: { mark: 0x1000, protocols: [bittorrent, edonkey] }', '    bulk: { mark: 0x2000, protocols: [ftp, edonkey] }'].join('\n'),
    );
    expect(twoGroups.problems).toEqual(['marks.groups.bulk.protocols[1]: edonkey is already in group p2p']);
    const own = problemsOf(['marks:', '  unknown: 0x0f00', '  protocols: { http: 0x100 }', '  groups:', '    web: { mark: 0x1000, protocols: [http, tls] }'].join('\n'));
    expect(own.problems).toEqual(['marks.groups.web.protocols[0]: http also has its own mark marks.protocols.http; a protocol has one mark']);
    const shared = problemsOf(['marks:', '  unknown: 0x0f00', '  protocols: { http: 0x100, tls: 0x100 }'].join('\n'));
    expect(shared.problems).toEqual(['marks.protocols.tls: 0x100 is already the mark of marks.protocols.http (protocols that share a mark belong in one group)']);
    expect(problemsOf('marks: { unknown: 0x100, protocols: { unknown: 0x200 } }').problems).toEqual([
      'marks.protocols.unknown: unknown is not a protocol (unknown has marks.unknown; unset flows are never marked)',
    ]);
  });

  it('refuses a zero mark and a value that is no mark', () => {
    expect(problemsOf('marks: { unknown: 0 }').problems[0]).toMatch(/^marks\.unknown: 0x0 means "not classified yet"/);
    expect(problemsOf('marks: { unknown: lots }').problems[0]).toBe('marks.unknown: "lots" is not a 32-bit mark (an unsigned integer, decimal or 0x hex)');
    expect(problemsOf('marks: { unknown: 0x100000000 }').problems[0]).toMatch(/^marks\.unknown: .* is not a 32-bit mark/);
  });

  it('requires marks.unknown', () => {
    expect(problemsOf('queue: { num: 1 }\n').problems).toEqual(['marks: is required']);
    expect(problemsOf('marks: {}\n').problems).toEqual(['marks.unknown: is required']);
  });

  it('reports a YAML syntax error with its line', () => {
    const r = problemsOf('marks:\n  unknown: 0x0f00\nqueue: [1, 2\n');
    expect(r.message).toMatch(/^edge\.yaml: line \d+, column \d+: YAML syntax error: /);
    const dup = problemsOf('marks:\n  unknown: 0x0f00\n  unknown: 0x0e00\n');
    expect(dup.message).toMatch(/^edge\.yaml: line 3, column 3: YAML syntax error: .*unique/i);
  });

  it('keeps the queue rule budget able to carry the unknown verdict (packet N+1)', () => {
    const r = problemsOf(`${MINIMAL}classification: { maxPackets: 10 }\nnetfilter: { maxPackets: 10 }\n`);
    expect(r.problems[0]).toMatch(/^netfilter\.maxPackets: 10 is below classification\.maxPackets \+ 1 = 11/);
    expect(parseEdgeConfig(`${MINIMAL}netfilter: { maxPackets: 20 }\n`, 'e.yaml').netfilter.maxPackets).toBe(20);
  });

  it('checks ranges and choices', () => {
    expect(problemsOf(`${MINIMAL}queue: { num: 70000 }`).problems).toEqual(['queue.num: 70000 is not an integer from 0 to 65535']);
    expect(problemsOf(`${MINIMAL}queue: { num: 1, range: [1, 2] }`).problems).toEqual(['queue: give either num or range, not both']);
    expect(problemsOf(`${MINIMAL}queue: { range: [3, 1] }`).problems).toEqual(['queue.range: [3, 1] is not a range (first <= last)']);
    expect(problemsOf(`${MINIMAL}netfilter: { families: [ipv5] }`).problems).toEqual(['netfilter.families[0]: "ipv5" is not one of ipv4, ipv6']);
    expect(problemsOf(`${MINIMAL}netfilter: { chains: { forward: false } }`).problems).toEqual(['netfilter.chains: at least one of forward, input, output must be true']);
    expect(problemsOf(`${MINIMAL}classification: { maxBytes: 70000 }`).problems).toEqual(['classification.maxBytes: 70000 is not an integer from 2 to 65536']);
    expect(problemsOf(`${MINIMAL}metrics: { port: "x" }`).problems).toEqual(['metrics.port: "x" is not a number']);
  });

  it('lists every problem it finds', () => {
    const r = problemsOf('marks: { unknown: 0x10000, protocols: { http: 0x1 } }\nqueue: { num: -1 }\n');
    expect(r.problems).toEqual(['queue.num: -1 is not an integer from 0 to 65535']);
    const semantic = problemsOf('marks: { unknown: 0x10000, protocols: { http: 0x1 } }\n');
    expect(semantic.problems).toEqual(['marks.unknown: 0x10000 is outside the mask 0x0000ff00', 'marks.protocols.http: 0x1 is outside the mask 0x0000ff00']);
    expect(semantic.message).toMatch(/\(and 1 more\)$/);
  });

  it('loads the example configuration shipped with the edge', () => {
    const file = fileURLToPath(new URL('../examples/edge.yaml', import.meta.url));
    const c = loadEdgeConfig(file);
    expect(c.file).toBe(file);
    const policy = new MarkPolicy(c.marks);
    expect(policy.markOf('http')).toBe(0x100);
    expect(policy.markOf('smtp')).toBe(policy.markOf('imap'));
    expect(policy.groupOf('pop3')).toBe('mail');
    expect(policy.markOf('unknown')).toBe(0xf00);
  });

  it('names a file it cannot read', () => {
    expect(() => loadEdgeConfig('/nonexistent/edge.yaml')).toThrow(/edge\.yaml: cannot read \/nonexistent\/edge\.yaml/);
  });
});

describe('mark policy', () => {
  const policy = new MarkPolicy(
    parseEdgeConfig(
      ['marks:', '  unknown: 0x0f00', '  protocols: { http: 0x0100 }', '  groups:', '    p2p: { mark: 0x2000, protocols: [bittorrent, edonkey] }'].join('\n'),
      'edge.yaml',
    ).marks,
  );

  it('gives a group member the group mark, unknown its own, and unset or unmapped protocols none', () => {
    expect(policy.markOf('http')).toBe(0x100);
    expect(policy.markOf('bittorrent')).toBe(0x2000);
    expect(policy.markOf('edonkey')).toBe(0x2000);
    expect(policy.groupOf('edonkey')).toBe('p2p');
    expect(policy.markOf('unknown')).toBe(0xf00);
    expect(policy.markOf('unset')).toBeUndefined();
    expect(policy.markOf('ssh')).toBeUndefined();
  });

  it('keeps the bits outside the mask and replaces those under it', () => {
    expect(policy.apply(0x0, 0x100)).toBe(0x100);
    expect(policy.apply(0x1, 0x100)).toBe(0x101);
    expect(policy.apply(0xffff00ff, 0x2000)).toBe(0xffff20ff);
    expect(policy.apply(0x80000f01, 0x100)).toBe(0x80000101);
  });

  it('marks unmapped protocols with marks.default when there is one', () => {
    const p = new MarkPolicy(parseEdgeConfig('marks: { unknown: 0x0f00, default: 0x0e00 }', 'edge.yaml').marks);
    expect(p.markOf('ssh')).toBe(0xe00);
    expect(p.markOf('unknown')).toBe(0xf00);
    expect(p.markOf('unset')).toBeUndefined();
  });
  it('reads the cluster section (remote mode), with its defaults, and resolves its files against the config', () => {
    expect(parseEdgeConfig(MINIMAL, '/etc/l7mesh/edge.yaml').cluster).toBeUndefined();
    const c = parseEdgeConfig(`${MINIMAL}cluster:\n  id: border-a\n  credsFile: edge.creds\n  tls: { caFile: ca.pem }\n`, '/etc/l7mesh/edge.yaml');
    expect(c.cluster).toMatchObject({ servers: ['nats://127.0.0.1:4222'], id: 'border-a', zone: 0, prefix: 'l7', partitions: 1024, flushMs: 0, resendMs: 2000, verdictTimeoutMs: 10000 });
    expect(c.cluster!.credsFile).toBe('/etc/l7mesh/edge.creds');
    expect(c.cluster!.tls).toEqual({ caFile: '/etc/l7mesh/ca.pem' });
  });

  it('reads the stateless mode and names its bad fields', () => {
    const c = parseEdgeConfig(`${MINIMAL}netfilter:\n  mode: stateless\n  stateless: { table: edge_a, priority: -170, sweepInterval: 2, liveTimeout: 10, interfaces: [eth1, eth2] }\n`, '/etc/l7mesh/edge.yaml');
    expect(c.netfilter.mode).toBe('stateless');
    expect(c.netfilter.stateless).toMatchObject({ table: 'edge_a', priority: -170, sweepSec: 2, liveTimeoutSec: 10, interfaces: ['eth1', 'eth2'] });
    const { problems } = problemsOf(`${MINIMAL}netfilter:\n  mode: fast\n  stateless: { table: 1x, sweepInterval: 30, liveTimeout: 30, elementTimeout: 60, interfaces: ['bad name'] }\n`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^netfilter\.mode: "fast" is not one of conntrack, stateless/),
        expect.stringMatching(/^netfilter\.stateless\.table: /),
        expect.stringMatching(/^netfilter\.stateless\.interfaces\[0\]: "bad name" is not an interface name/),
      ]),
    );
    const timing = problemsOf(`${MINIMAL}netfilter:\n  stateless: { sweepInterval: 30, liveTimeout: 30, elementTimeout: 100 }\n`).problems;
    expect(timing).toEqual([expect.stringMatching(/^netfilter\.stateless\.sweepInterval: 30 must be below liveTimeout 30/), expect.stringMatching(/^netfilter\.stateless\.elementTimeout: 100 must be at least 4 sweep intervals/)]);
  });

  it('keeps element counters when the edge publishes flow records (auto), or when told to; not without records unless told', () => {
    const counters = (yaml: string) => parseEdgeConfig(`${MINIMAL}${yaml}`, '/etc/l7mesh/edge.yaml').netfilter.stateless.elementCounters;
    const cluster = 'cluster:\n  id: border-a\n';
    expect(counters('netfilter:\n  mode: stateless\n')).toBe(false);
    expect(counters(`netfilter:\n  mode: stateless\n${cluster}`)).toBe(true);
    expect(counters(`netfilter:\n  mode: stateless\n${cluster}records: { enabled: false }\n`)).toBe(false);
    expect(counters('netfilter:\n  mode: stateless\n  stateless: { elementCounters: true }\n')).toBe(true);
    expect(problemsOf(`${MINIMAL}netfilter:\n  stateless: { elementCounters: false }\n${cluster}`).problems).toEqual([
      expect.stringMatching(/^netfilter\.stateless\.elementCounters: false, but the edge publishes flow records/),
    ]);
    expect(problemsOf(`${MINIMAL}netfilter:\n  stateless: { elementCounters: sometimes }\n`).problems).toEqual([expect.stringMatching(/^netfilter\.stateless\.elementCounters: /)]);
  });

  it('names every bad cluster field', () => {
    const { problems } = problemsOf(`${MINIMAL}cluster:\n  id: border.a\n  servers: [http://x]\n  zone: -1\n`);
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^cluster\.id: .*subject token/), expect.stringMatching(/^cluster\.servers\[0\]: "http:\/\/x" is not a nats:\/\/ or tls:\/\/ URL/), expect.stringMatching(/^cluster\.zone: /)]),
    );
    expect(problemsOf(`${MINIMAL}cluster:\n  id: a\n  resendMs: 10000\n`).problems).toEqual([expect.stringMatching(/^cluster\.resendMs: 10000 must be below cluster\.verdictTimeoutMs 10000/)]);
  });
});
