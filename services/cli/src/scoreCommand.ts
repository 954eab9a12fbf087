import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Table from 'cli-table3';
import type { Command } from 'commander';
import {
  corpusScoreRecord,
  EngineError,
  formatRate,
  listScoreCaptures,
  parseCorpusSources,
  parseGroundTruth,
  scoreCaptures,
  type GroundTruth,
  type ScoreCounts,
  type ScoredFlow,
  type ScoreOutcome,
  type ScoreReport,
  type TruthFlow,
} from '@l7mesh/engine';
import { collect, commaList, integerIn } from './optionParsers.js';
import { loadPatternSet } from './patternSource.js';

export interface PatternsScoreOptions {
  captures: string;
  truth: string[];
  patterns?: string[];
  maxPackets: number;
  maxBytes: number;
  json?: boolean;
  list?: string[];
  top: number;
  record?: string;
}

export const SCORE_OUTCOMES: readonly ScoreOutcome[] = ['agree', 'unknown', 'wrong', 'undecidable'];
/** What --list takes: the outcomes, and the truth rows no flow matched. */
const LISTABLE: readonly string[] = [...SCORE_OUTCOMES, 'not-found'];

const STYLE = { head: [], border: [] };
const CHARS = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** Every truth file, read and concatenated in the order given. */
export function readGroundTruth(files: readonly string[]): GroundTruth {
  const all: GroundTruth = { flows: [], notTcpUdp: 0 };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new EngineError('ENGINE_BAD_TRUTH', `cannot read ${file}: ${(err as Error).message}`);
    }
    const t = parseGroundTruth(text, file);
    all.flows.push(...t.flows);
    all.notTcpUdp += t.notTcpUdp;
  }
  return all;
}

const pct = (n: number, of: number) => (of === 0 ? '-' : formatRate(n / of));

function verdictList(verdicts: Record<string, number>, max = 4): string {
  const sorted = Object.entries(verdicts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = sorted.slice(0, max).map(([v, n]) => `${v} ${n}`);
  if (sorted.length > max) shown.push(`+${sorted.length - max} more`);
  return shown.join(', ');
}

function totalRow(name: string, c: ScoreCounts): (string | number)[] {
  return [name, '', c.flows, c.agree, c.unknown, c.wrong, pct(c.agree, c.flows), pct(c.unknown, c.flows), pct(c.wrong, c.flows), '', '', ''];
}

/** The report as tables: per protocol, the totals, the most common false labels. */
export function renderScoreReport(report: ScoreReport, top: number): string {
  const table = new Table({
    head: ['protocol', 'pattern', 'flows', 'agree', 'unknown', 'wrong', 'agreement', 'unknown %', 'wrong %', 'undecidable', 'not found', 'wrong as'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    style: STYLE,
    chars: CHARS,
  });
  for (const p of report.protocols) {
    table.push([p.protocol, p.pattern ? 'yes' : 'no', p.flows, p.agree, p.unknown, p.wrong, pct(p.agree, p.flows), pct(p.unknown, p.flows), pct(p.wrong, p.flows), p.undecidable, p.notFound, verdictList(p.wrongAs)]);
  }
  table.push(totalRow('total (with a pattern)', report.withPattern));
  table.push(totalRow('total', report.total));

  const wrong = new Table({ head: ['labelled', 'classified as', 'flows'], colAligns: ['left', 'left', 'right'], style: STYLE, chars: CHARS });
  for (const w of report.wrongLabels.slice(0, top)) wrong.push([w.protocol, w.verdict, w.flows]);

  const t = report.truth;
  const { maxPackets, toleranceSeconds } = report.rules;
  const unreadable = report.captures.filter((c) => c.error !== undefined);
  return [
    `Agreement with the truth on labelled flows that carry payload within their first ${maxPackets} packets`,
    `(flows matched by 5-tuple in either direction, and start time within ${toleranceSeconds} s when the truth has one)`,
    table.toString(),
    '',
    report.wrongLabels.length === 0 ? 'No false labels.' : `Most common false labels (${Math.min(top, report.wrongLabels.length)} of ${report.wrongLabels.length}):`,
    ...(report.wrongLabels.length === 0 ? [] : [wrong.toString()]),
    '',
    `Truth: ${t.rows} rows; ${t.labelled} labelled (${t.matched} matched a flow, ${t.notFound} not found); ${t.unlabelled} unlabelled; ${t.notTcpUdp} not TCP/UDP, left out.`,
    `Unlabelled rows matched ${report.unlabelled.flows} flows${report.unlabelled.flows > 0 ? ` (${verdictList(report.unlabelled.verdicts, 8)})` : ''}: nothing to compare with.`,
    `Captures: ${report.captures.length}, ${report.captures.reduce((n, c) => n + c.flows, 0)} flows${unreadable.length > 0 ? `; ${unreadable.length} truncated or corrupt (their flows before the damage count):` : '.'}`,
    ...unreadable.map((c) => `  ${c.capture}: ${c.error}`),
    '',
  ].join('\n');
}

function flowLine(f: ScoredFlow): string {
  const host = (a: string) => (a.includes(':') ? `[${a}]` : a);
  const why = f.why ? ` (${f.why.by} at packet ${f.why.packet})` : '';
  return `${f.outcome}\t${f.capture}\t${f.proto} ${host(f.src)}:${f.sport} -> ${host(f.dst)}:${f.dport}\tlabel ${f.label}\tl7 ${f.l7}${why}\t${f.truth}`;
}

function notFoundLine(t: TruthFlow): string {
  const host = (a: string) => (a.includes(':') ? `[${a}]` : a);
  return `not-found\t${t.capture ?? '*'}\t${t.proto ?? 'tcp/udp'} ${host(t.src)}:${t.sport} -> ${host(t.dst)}:${t.dport}${t.start !== undefined ? ` at ${t.start}` : ''}\tlabel ${t.label}\t\t${t.source}`;
}

/** `l7mesh patterns score`: 0, or throws (exit 2) on a bad truth file or directory. */
export async function runPatternsScore(opts: PatternsScoreOptions): Promise<number> {
  const list = opts.list ?? [];
  for (const o of list) {
    if (!LISTABLE.includes(o)) throw new EngineError('ENGINE_BAD_OPTION', `--list takes ${LISTABLE.join(', ')}; got "${o}"`);
  }
  const truth = readGroundTruth(opts.truth);
  const captures = listScoreCaptures(opts.captures);
  if (captures.length === 0) throw new EngineError('ENGINE_BAD_OPTION', `no capture (.pcap, .pcapng, .cap, .trace) under ${opts.captures}`);
  const { set, problems, notices } = loadPatternSet(opts.patterns);
  for (const n of notices) process.stderr.write(`notice: ${n}\n`);
  for (const p of problems) process.stderr.write(`warning: ${p}\n`);
  const report = await scoreCaptures(captures, truth, set, { maxPackets: opts.maxPackets, maxDataLen: opts.maxBytes });
  if (opts.record) {
    // The corpus script writes sources.tsv beside truth.tsv: the record names the repositories and commits.
    const sourcesFile = join(dirname(opts.truth[0]!), 'sources.tsv');
    const sources = existsSync(sourcesFile) ? parseCorpusSources(readFileSync(sourcesFile, 'utf8')) : [];
    writeFileSync(opts.record, `${JSON.stringify(corpusScoreRecord(report, sources), null, 2)}\n`);
    process.stderr.write(`wrote ${opts.record}\n`);
  }
  const listed = report.flows.filter((f) => list.includes(f.outcome));
  const notFound = list.includes('not-found') ? report.notFound : [];
  if (opts.json) {
    const { flows: _flows, notFound: _notFound, ...rest } = report;
    const shown = list.length > 0 ? { ...rest, flows: listed, ...(list.includes('not-found') ? { notFound } : {}) } : rest;
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  } else {
    process.stdout.write(renderScoreReport(report, opts.top));
    if (list.length > 0) {
      const lines = [...listed.map(flowLine), ...notFound.map(notFoundLine)];
      process.stdout.write(`\nFlows (${list.join(', ')}): ${lines.length}\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`);
    }
  }
  return 0;
}

const SCORE_HELP = `
Truth files (tab-separated; lines starting with # are comments):
  The first other line names the columns, in any order:
    proto    tcp or udp; - or absent: either
    src      an address of one end (IPv4 or IPv6)
    sport    its port
    dst      the other end's address
    dport    its port (the ends may be given either way round)
    label    the protocol, or several comma-separated (a flow agrees with any
             of them); - means unlabelled (matched, not scored)
    start    optional: the first packet's time, seconds since the epoch
    capture  optional: the capture's path under --captures, or its file name
  A Zeek conn.log is read as it is (its #fields line): ts, id.orig_h,
  id.orig_p, id.resp_h, id.resp_p, proto and service are the same columns.
  Names are compared after the alias table (ssl = tls, jabber = xmpp,
  nbns = netbios-ns, netbios = netbios-ssn, mdns and llmnr = dns, ...).

Rules (fixed):
  A row matches a flow with the same transport and endpoints, either
  direction, and a first packet within 1 s of its start when it has one (the
  closest; without a start, the earliest); each row and flow match once.
  Only flows with payload within their first --max-packets packets are
  decidable and scored; the rest are counted as undecidable.
`;

/** Registers `patterns score` under the `patterns` command. */
export function registerPatternsScore(patterns: Command): void {
  patterns
    .command('score')
    .description('classify captures and measure agreement with a ground truth (a TSV of labelled 5-tuples, or Zeek conn.log files)')
    .requiredOption('--captures <dir>', 'directory of captures (.pcap, .pcapng, .cap, .trace), searched recursively')
    .requiredOption('--truth <file>', 'ground truth: TSV or Zeek conn.log (repeatable)', collect)
    .option('--patterns <dir>', 'pattern directory (repeatable); default: the project patterns/', collect)
    .option('--max-packets <n>', 'packets per connection to inspect, both directions', integerIn(1, 1_000_000), 10)
    .option('--max-bytes <m>', "l7-filter's maxdatalen", integerIn(2, 65536), 2048)
    .option('--list <outcomes>', `also list the flows with these outcomes (${LISTABLE.join(', ')})`, commaList)
    .option('--top <n>', 'false labels shown', integerIn(1, 1000), 15)
    .option('--json', 'the report as JSON on stdout (with --list: those flows too)')
    .option('--record <file>', "also write the totals and rows (no per-flow detail) as JSON, e.g. patterns/corpus-score.json, which the patterns' README reports")
    .addHelpText('after', SCORE_HELP)
    .action(async (opts: PatternsScoreOptions) => {
      process.exitCode = await runPatternsScore(opts);
    });
}
