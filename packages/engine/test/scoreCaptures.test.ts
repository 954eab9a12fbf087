import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFrame, encodePcap, TcpFlag, type SynthPacket } from '@l7mesh/flow';
import {
  canonicalProtocol,
  corpusScoreRecord,
  EngineError,
  listScoreCaptures,
  parseGroundTruth,
  parseCorpusSources,
  parseProtocolLabel,
  primaryProtocol,
  renderCorpusSection,
  scoreCaptures,
  type ScoreReport,
} from '../src/index.js';
import { patternSet } from './helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-score-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const C = '198.18.0.1';
const S = '198.18.0.2';
const T0 = 1_700_000_000;

/** A TCP connection from C:cport to S:sport: handshake, then the payloads (client first, then alternating), then `acks` empty ACKs before them. */
function tcp(cport: number, sport: number, t: number, payloads: string[], acks = 0): SynthPacket[] {
  const out: SynthPacket = { protocol: 'tcp', src: C, dst: S, sport: cport, dport: sport, tsSec: t };
  const back: SynthPacket = { ...out, src: S, dst: C, sport, dport: cport };
  return [
    { ...out, flags: TcpFlag.SYN },
    { ...back, flags: TcpFlag.SYN | TcpFlag.ACK },
    { ...out, flags: TcpFlag.ACK },
    ...Array.from({ length: acks }, (_, i) => ({ ...(i % 2 ? back : out), flags: TcpFlag.ACK })),
    ...payloads.map((payload, i) => ({ ...(i % 2 ? back : out), payload })),
  ];
}

function udp(cport: number, sport: number, t: number, payload: string): SynthPacket[] {
  return [{ protocol: 'udp', src: C, dst: S, sport: cport, dport: sport, tsSec: t, payload }];
}

const packets: SynthPacket[] = [
  ...tcp(40001, 80, T0, ['GET / HTTP/1.1\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n']), // http: agrees
  ...tcp(40002, 443, T0 + 1, ['\x16\x03\x01\x00\x10\x01']), // tls, labelled ssl: agrees through the alias
  ...tcp(40003, 7000, T0 + 2, ['hello world']), // hello, labelled world: wrong
  ...udp(40004, 53, T0 + 3, 'zzzz'), // labelled dns, nothing matches: unknown
  ...tcp(40005, 443, T0 + 4, ['late payload'], 8), // payload at packet 12: undecidable
  ...udp(40006, 5000, T0 + 5, 'hello one'), // the same UDP tuple twice, 200 s apart (two conntrack flows)
  ...udp(40006, 5000, T0 + 205, 'http? no'),
  ...tcp(40007, 8080, T0 + 6, ['GET /x HTTP/1.0\r\n\r\n']), // unlabelled in the truth
  ...tcp(40008, 9999, T0 + 7, ['hello again']), // start time far off in the truth: not found
];
const capturesDir = join(scratch, 'captures');
mkdirSync(join(capturesDir, 'sub'), { recursive: true });
writeFileSync(join(capturesDir, 'sub', 'synth.pcap'), encodePcap(packets.map((p) => ({ tsSec: p.tsSec, data: buildFrame(p) }))));
writeFileSync(join(capturesDir, 'notes.txt'), 'not a capture');

const set = patternSet({ http: '^(get|post) [\\x09-\\x0d -~]* http/1', tls: '^\\x16\\x03[\\x01-\\x04]', hello: '^hello', world: '^world' });

// The same truth as a TSV (our columns, some rows the other way round) and as a Zeek conn.log.
const TSV = [
  '# a comment',
  'proto\tsrc\tsport\tdst\tdport\tlabel\tstart\tcapture',
  `tcp\t${C}\t40001\t${S}\t80\thttp\t${T0}\tsynth.pcap`,
  `tcp\t${S}\t443\t${C}\t40002\tssl\t\t`,
  `tcp\t${C}\t40003\t${S}\t7000\tworld\t${T0 + 2}\tsub/synth.pcap`,
  `udp\t${C}\t40004\t${S}\t53\tdns\t${T0 + 3}\t`,
  `tcp\t${C}\t40005\t${S}\t443\tssl\t${T0 + 4}\t`,
  `udp\t${C}\t40006\t${S}\t5000\thttp\t${T0 + 205}\t`,
  `udp\t${C}\t40006\t${S}\t5000\thello\t${T0 + 5}\t`,
  `-\t${C}\t40007\t${S}\t8080\t-\t\t`,
  `tcp\t${C}\t40008\t${S}\t9999\thello\t${T0 + 60}\t`,
  `icmp\t${C}\t8\t${S}\t0\t-\t${T0}\t`,
  `tcp\t${C}\t40099\t${S}\t80\thttp\t${T0}\tother.pcap`,
].join('\n');

const CONN_LOG = [
  '#separator \\x09',
  '#set_separator\t,',
  '#empty_field\t(empty)',
  '#unset_field\t-',
  '#path\tconn',
  '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration',
  '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval',
  `${T0}.000000\tC1\t${C}\t40001\t${S}\t80\ttcp\thttp\t0.1`,
  `${T0 + 1}.000000\tC2\t${C}\t40002\t${S}\t443\ttcp\tssl\t0.1`,
  `${T0 + 2}.000000\tC3\t${C}\t40003\t${S}\t7000\ttcp\tworld\t0.1`,
  `${T0 + 3}.000000\tC4\t${C}\t40004\t${S}\t53\tudp\tdns\t-`,
  `${T0 + 4}.000000\tC5\t${C}\t40005\t${S}\t443\ttcp\tssl\t0.1`,
  `${T0 + 5}.000000\tC6\t${C}\t40006\t${S}\t5000\tudp\thello\t-`,
  `${T0 + 205}.000000\tC7\t${C}\t40006\t${S}\t5000\tudp\thttp\t-`,
  `${T0 + 6}.000000\tC8\t${C}\t40007\t${S}\t8080\ttcp\t-\t0.1`,
  `${T0 + 60}.000000\tC9\t${C}\t40008\t${S}\t9999\ttcp\thello\t0.1`,
  `${T0}.000000\tCa\t${C}\t8\t${S}\t0\ticmp\t-\t-`,
  `${T0}.000000\tCb\t${C}\t40099\t${S}\t80\ttcp\thttp\t-`,
  '#close\tXXXX',
].join('\n');

function expectTheScore(report: ScoreReport): void {
  expect(report.rules).toEqual({ maxPackets: 10, toleranceSeconds: 1 });
  expect(report.captures).toEqual([{ capture: 'sub/synth.pcap', flows: 9 }]);
  expect(report.truth).toEqual({ rows: 10, labelled: 9, unlabelled: 1, notTcpUdp: 1, matched: 7, notFound: 2 });
  // src is the side that sent first: the client, whose port names the flow.
  const outcome = Object.fromEntries(report.flows.map((f) => [f.sport === 40006 ? `40006@${f.first_ts - T0}` : String(f.sport), f.outcome]));
  expect(outcome).toEqual({ '40001': 'agree', '40002': 'agree', '40003': 'wrong', '40004': 'unknown', '40005': 'undecidable', '40006@5': 'agree', '40006@205': 'unknown' });
  expect(report.total).toEqual({ flows: 6, agree: 3, unknown: 2, wrong: 1, agreement: 0.5, unknownRate: 2 / 6, wrongRate: 1 / 6 });
  // dns has no pattern in this set: left out of the with-a-pattern total.
  expect(report.withPattern).toMatchObject({ flows: 5, agree: 3, unknown: 1, wrong: 1 });
  const byName = Object.fromEntries(report.protocols.map((p) => [p.protocol, p]));
  expect(byName['tls']).toMatchObject({ pattern: true, flows: 1, agree: 1, undecidable: 1, notFound: 0 });
  expect(byName['world']).toMatchObject({ pattern: true, flows: 1, wrong: 1, wrongAs: { hello: 1 } });
  expect(byName['dns']).toMatchObject({ pattern: false, flows: 1, unknown: 1 });
  expect(byName['hello']).toMatchObject({ flows: 1, agree: 1, notFound: 1 });
  expect(byName['http']).toMatchObject({ flows: 2, agree: 1, unknown: 1, notFound: 1 });
  expect(report.wrongLabels).toEqual([{ protocol: 'world', verdict: 'hello', flows: 1 }]);
  expect(report.unlabelled).toEqual({ flows: 1, verdicts: { http: 1 } });
  // the row whose start is a minute off, and the row for a capture that is not there
  expect(report.notFound.map((r) => [r.sport, r.labels])).toEqual([
    [40008, ['hello']],
    [40099, ['http']],
  ]);
}

describe('protocol names', () => {
  it('resolves aliases from l7-filter, Zeek and Suricata to one name', () => {
    expect(['ssl', 'SSL', 'tls', 'dot'].map(canonicalProtocol)).toEqual(['tls', 'tls', 'tls', 'tls']);
    expect(['jabber', 'nbns', 'netbios', 'mdns', 'llmnr', 'ftp-data', 'krb5', 'pgsql', 'rfb'].map(canonicalProtocol)).toEqual([
      'xmpp',
      'netbios-ns',
      'netbios-ssn',
      'dns',
      'dns',
      'ftp',
      'kerberos',
      'postgresql',
      'vnc',
    ]);
    expect(canonicalProtocol('gnutella')).toBe('gnutella');
  });

  it('reads multi-protocol labels and counts them under the outer protocol', () => {
    expect(parseProtocolLabel('smb,gssapi,ntlm')).toEqual(['smb', 'gssapi', 'ntlm']);
    expect(parseProtocolLabel('ssl,ssl, tls')).toEqual(['tls']);
    expect(parseProtocolLabel('-')).toEqual([]);
    expect(parseProtocolLabel('ftp,-ssl')).toEqual(['ftp']);
    expect(parseProtocolLabel('unknown')).toEqual([]);
    expect(primaryProtocol(parseProtocolLabel('gssapi,smb,ntlm'))).toBe('smb');
    expect(primaryProtocol(parseProtocolLabel('ssl,smtp'))).toBe('smtp');
    expect(primaryProtocol(parseProtocolLabel('quic,ssl'))).toBe('quic');
    expect(primaryProtocol(parseProtocolLabel('ssl,http'))).toBe('http');
    expect(primaryProtocol([])).toBeUndefined();
  });
});

describe('ground truth files', () => {
  it('reads the TSV form: header-named columns, optional proto, start and capture', () => {
    const t = parseGroundTruth(TSV, 't.tsv');
    expect(t.notTcpUdp).toBe(1);
    expect(t.flows).toHaveLength(10);
    expect(t.flows[0]).toEqual({ source: 't.tsv:3', capture: 'synth.pcap', proto: 'tcp', src: C, sport: 40001, dst: S, dport: 80, labels: ['http'], label: 'http', start: T0 });
    expect(t.flows[1]).toEqual({ source: 't.tsv:4', proto: 'tcp', src: S, sport: 443, dst: C, dport: 40002, labels: ['tls'], label: 'ssl' });
    expect(t.flows[7]!.proto).toBeUndefined();
  });

  it('reads a Zeek conn.log as it is, masked timestamps and zeek-cut headers included', () => {
    const t = parseGroundTruth(CONN_LOG, 'conn.log');
    expect(t.flows).toHaveLength(10);
    expect(t.flows[0]).toMatchObject({ src: C, sport: 40001, proto: 'tcp', labels: ['http'], start: T0 });
    const cut = parseGroundTruth('### BTest baseline\nts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tservice\nXXXXXXXXXX.XXXXXX\tC1\t2001:0db8:0000:0000:0000:0000:0000:0001\t5353\tff02::fb\t5353\tmdns\n', 'conn.cut');
    expect(cut.flows).toEqual([{ source: 'conn.cut:3', src: '2001:db8::1', sport: 5353, dst: 'ff02::fb', dport: 5353, labels: ['dns'], label: 'mdns' }]);
  });

  it('names the file and line of a bad row or header', () => {
    expect(() => parseGroundTruth('src\tdst\tlabel\n', 'x.tsv')).toThrow(/x\.tsv:1: the header names no sport, dport column/);
    expect(() => parseGroundTruth(`src\tsport\tdst\tdport\tlabel\n${C}\t99999\t${S}\t80\thttp\n`, 'x.tsv')).toThrow(/x\.tsv:2: not a port: "99999"/);
    expect(() => parseGroundTruth(`src\tsport\tdst\tdport\tlabel\nhost\t1\t${S}\t80\thttp\n`, 'x.tsv')).toThrow(EngineError);
    expect(() => parseGroundTruth('# only comments\n', 'x.tsv')).toThrow(/no header line/);
  });
});

describe('scoreCaptures', () => {
  it('lists captures recursively, by path under the directory', () => {
    expect(listScoreCaptures(capturesDir).map((c) => c.name)).toEqual(['sub/synth.pcap']);
  });

  it('scores the TSV truth: agree, unknown, wrong, undecidable, not found', async () => {
    expectTheScore(await scoreCaptures(listScoreCaptures(capturesDir), parseGroundTruth(TSV, 't.tsv'), set));
  });

  it('gives the same score from the conn.log form', async () => {
    expectTheScore(await scoreCaptures(listScoreCaptures(capturesDir), parseGroundTruth(CONN_LOG, 'conn.log'), set));
  });

  it('decidability follows --max-packets', async () => {
    const report = await scoreCaptures(listScoreCaptures(capturesDir), parseGroundTruth(TSV, 't.tsv'), set, { maxPackets: 12 });
    expect(report.flows.find((f) => f.sport === 40005 || f.dport === 40005)!.outcome).toBe('unknown');
  });
});

describe('the corpus score kept for the README', () => {
  it('keeps the totals and rows without per-flow detail, and renders them against the targets', async () => {
    const report = await scoreCaptures(listScoreCaptures(capturesDir), parseGroundTruth(TSV, 't.tsv'), set);
    const sources = parseCorpusSources('source\tcommit\tcaptures\tlabelled_flows\nzeek\t0123456789abcdef\t1\t9\n');
    expect(sources).toEqual([{ source: 'zeek', commit: '0123456789abcdef', captures: 1, labelledFlows: 9 }]);
    const record = corpusScoreRecord(report, sources);
    expect(Object.keys(record).sort()).toEqual(['captures', 'protocols', 'rules', 'sources', 'total', 'truth', 'withPattern', 'wrongLabels']);
    expect(record.protocols.find((p) => p.protocol === 'world')).not.toHaveProperty('wrongAs');
    const text = renderCorpusSection(record).join('\n');
    expect(text).toContain('- zeek at `0123456789ab`: 1 captures, 9 labelled flows');
    expect(text).toContain('| all labelled, decidable | 6 | 50.00% | 33.33% | 16.67% |');
    expect(text).toContain('All labelled flows: misses the 90.00% agreement target, misses the false-label target of below 1.00%.');
    expect(text).toContain('False labels (labelled as, classified as): world as hello 1.');
    expect(renderCorpusSection(undefined)).toEqual([]);
  });
});
