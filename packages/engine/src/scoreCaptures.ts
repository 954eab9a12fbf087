import { readdirSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { CaptureError, DEFAULT_MAX_PACKETS, PacketDecoder, readCaptureFile, type FlowEntry } from '@l7mesh/flow';
import type { ClassifierLimits } from './claimedFlows.js';
import { FlowClassifier } from './classifier.js';
import { createHeadScanner, type EngineKind } from './classifyCapture.js';
import { EngineError } from './errors.js';
import type { FlowRecord } from './flowRecord.js';
import type { GroundTruth, TruthFlow } from './groundTruth.js';
import type { PatternSet } from './patternSet.js';
import { canonicalProtocol, primaryProtocol } from './protocolNames.js';

/**
 * How far apart (seconds) a truth row's start time and a flow's first packet
 * may be and still be the same connection. Both should name the same packet;
 * the slack covers timestamp precision, not a different connection.
 */
export const MATCH_TOLERANCE_SECONDS = 1;

/** File names read as captures under a captures directory (Zeek's test traces are `.trace`). */
export const CAPTURE_FILE_PATTERN = /\.(pcap|pcapng|cap|trace)$/i;

/**
 * How a labelled connection came out:
 * - `agree`: the verdict is one of its labels (aliases resolved);
 * - `unknown`: no verdict (`unknown`, or `unset` when it ended first);
 * - `wrong`: another protocol's verdict (a false label);
 * - `undecidable`: no payload within the first maxPackets packets (both
 *   directions, as l7-filter counts them), so no payload pattern could have
 *   decided it; left out of the rates.
 */
export type ScoreOutcome = 'agree' | 'unknown' | 'wrong' | 'undecidable';

export interface ScoredFlow {
  capture: string;
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  first_ts: number;
  l7: string;
  why?: FlowRecord['why'];
  /** The truth's label as written, and where. */
  label: string;
  truth: string;
  /** The protocol it is counted under. */
  protocol: string;
  outcome: ScoreOutcome;
}

export interface ScoreCounts {
  /** Decidable labelled flows: the denominator of the rates. */
  flows: number;
  agree: number;
  unknown: number;
  wrong: number;
  /** agree / flows, unknown / flows, wrong / flows (0 when there are no flows). */
  agreement: number;
  unknownRate: number;
  wrongRate: number;
}

export interface ProtocolScore extends ScoreCounts {
  protocol: string;
  /** True when a loaded pattern defines the protocol. */
  pattern: boolean;
  /** Matched labelled flows without payload in the first packets. */
  undecidable: number;
  /** Labelled truth rows no flow of the captures matched. */
  notFound: number;
  /** Verdicts of its wrong flows: verdict -> flows. */
  wrongAs: Record<string, number>;
}

export interface WrongLabel {
  /** The protocol the truth says. */
  protocol: string;
  verdict: string;
  flows: number;
}

export interface ScoreReport {
  /** The rules the numbers follow, fixed in code. */
  rules: { maxPackets: number; toleranceSeconds: number };
  captures: { capture: string; flows: number; error?: string }[];
  truth: {
    rows: number;
    labelled: number;
    unlabelled: number;
    /** Rows about ICMP and other transports. */
    notTcpUdp: number;
    /** Labelled rows that matched a flow. */
    matched: number;
    /** Labelled rows no flow matched. */
    notFound: number;
  };
  /** Per truth protocol, most flows first. */
  protocols: ProtocolScore[];
  /** Every decidable labelled flow. */
  total: ScoreCounts;
  /** Only flows whose protocol a loaded pattern defines. */
  withPattern: ScoreCounts;
  /** Most common false labels first. */
  wrongLabels: WrongLabel[];
  /** Flows matched by an unlabelled truth row, by verdict (nothing to compare with). */
  unlabelled: { flows: number; verdicts: Record<string, number> };
  /** Every matched labelled flow. */
  flows: ScoredFlow[];
  /** The labelled truth rows no flow matched. */
  notFound: TruthFlow[];
}

export interface ScoreOptions extends ClassifierLimits {
  engine?: EngineKind;
}

/** A capture to score: the file and the name truth rows refer to it by (its path under the captures directory). */
export interface ScoreCapture {
  file: string;
  name: string;
}

/** Every capture file under `dir`, recursively, by name; names use `/`. */
export function listScoreCaptures(dir: string): ScoreCapture[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch (err) {
    throw new EngineError('ENGINE_BAD_OPTION', `cannot read the captures directory ${dir}: ${(err as Error).message}`);
  }
  return entries
    .filter((e) => CAPTURE_FILE_PATTERN.test(e))
    .map((e) => ({ file: join(dir, e), name: relative(dir, join(dir, e)).split(sep).join('/') }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

interface ClassifiedFlow {
  record: FlowRecord;
  /** Payload within the first maxPackets packets. */
  decidable: boolean;
  taken: boolean;
}

/**
 * Classifies a capture as `classify` does, noting for each flow whether
 * payload came within its first `maxPackets` packets.
 */
async function classifyForScore(file: string, set: PatternSet, options: ScoreOptions): Promise<{ flows: ClassifiedFlow[]; error?: string }> {
  const maxPackets = options.maxPackets ?? DEFAULT_MAX_PACKETS;
  const early = new Set<FlowEntry>();
  const flows: ClassifiedFlow[] = [];
  const scanner = createHeadScanner(options.engine ?? 'hyperscan', set, options.maxDataLen);
  const classifier = new FlowClassifier(set, scanner, {
    ...(options.maxPackets !== undefined ? { maxPackets: options.maxPackets } : {}),
    ...(options.maxDataLen !== undefined ? { maxDataLen: options.maxDataLen } : {}),
    onFlow: (record, flow) => {
      flows.push({ record, decidable: early.delete(flow), taken: false });
    },
  });
  const decoder = new PacketDecoder();
  let error: string | undefined;
  try {
    await readCaptureFile(file, (frame) => {
      const packet = decoder.decodeFrame(frame);
      if (!packet) return;
      const flow = classifier.process(packet);
      if (packet.payloadLength > 0 && flow.packets <= maxPackets) early.add(flow);
    });
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    error = err.message;
  } finally {
    classifier.finish();
    scanner.close?.();
  }
  return error === undefined ? { flows } : { flows, error };
}

function tupleKey(proto: string, a: string, aPort: number, b: string, bPort: number): string {
  const x = `${a}#${aPort}`;
  const y = `${b}#${bPort}`;
  return x < y ? `${proto} ${x} ${y}` : `${proto} ${y} ${x}`;
}

/**
 * The rows that may describe flows of a capture, in file order: those whose
 * capture is its path under the captures directory or its file name, and
 * those that name no capture.
 */
function rowsFor(capture: ScoreCapture, byCapture: Map<string | undefined, number[]>): number[] {
  const names = new Set([capture.name, basename(capture.name)]);
  const rows = [...names].flatMap((n) => byCapture.get(n) ?? []);
  return [...rows, ...(byCapture.get(undefined) ?? [])].sort((a, b) => a - b);
}

/**
 * The flow a truth row describes: same transport (either, when the row does
 * not say), same endpoints in either direction, not taken by an earlier row,
 * and, when the row has a start time, the first packet within
 * MATCH_TOLERANCE_SECONDS of it (the closest). Without a start time, the
 * earliest such flow.
 */
function matchRow(row: TruthFlow, index: Map<string, ClassifiedFlow[]>): ClassifiedFlow | undefined {
  let best: ClassifiedFlow | undefined;
  let bestDistance = Infinity;
  for (const proto of row.proto ? [row.proto] : ['tcp', 'udp']) {
    for (const f of index.get(tupleKey(proto, row.src, row.sport, row.dst, row.dport)) ?? []) {
      if (f.taken) continue;
      const distance = row.start === undefined ? f.record.first_ts : Math.abs(f.record.first_ts - row.start);
      if (row.start !== undefined && distance > MATCH_TOLERANCE_SECONDS) continue;
      if (distance < bestDistance) {
        best = f;
        bestDistance = distance;
      }
    }
  }
  return best;
}

function outcomeOf(l7: string, labels: readonly string[], decidable: boolean): ScoreOutcome {
  if (!decidable) return 'undecidable';
  if (l7 === 'unknown' || l7 === 'unset') return 'unknown';
  return labels.includes(canonicalProtocol(l7)) ? 'agree' : 'wrong';
}

function counts(flows: readonly ScoredFlow[]): ScoreCounts {
  const c = { flows: 0, agree: 0, unknown: 0, wrong: 0 };
  for (const f of flows) {
    if (f.outcome === 'undecidable') continue;
    c.flows++;
    c[f.outcome]++;
  }
  const rate = (n: number) => (c.flows === 0 ? 0 : n / c.flows);
  return { ...c, agreement: rate(c.agree), unknownRate: rate(c.unknown), wrongRate: rate(c.wrong) };
}

const byCountThenName = <T>(count: (x: T) => number, name: (x: T) => string) => (a: T, b: T) =>
  count(b) - count(a) || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0);

/**
 * Classifies each capture with the pattern set and compares the flows with
 * a ground truth (see {@link parseGroundTruth}). Rows are matched in file
 * order, each to at most one flow and each flow to at most one row;
 * captures are read in the order given.
 */
export async function scoreCaptures(captures: readonly ScoreCapture[], groundTruth: GroundTruth, set: PatternSet, options: ScoreOptions = {}): Promise<ScoreReport> {
  const truth: readonly TruthFlow[] = groundTruth.flows;
  const byCapture = new Map<string | undefined, number[]>();
  truth.forEach((row, i) => {
    const list = byCapture.get(row.capture);
    if (list) list.push(i);
    else byCapture.set(row.capture, [i]);
  });
  const maxPackets = options.maxPackets ?? DEFAULT_MAX_PACKETS;
  const patternNames = new Set(set.patterns.map((p) => canonicalProtocol(p.name)));
  const rowMatched = new Array<boolean>(truth.length).fill(false);
  const scored: ScoredFlow[] = [];
  const unlabelled: Record<string, number> = {};
  let unlabelledFlows = 0;
  const captureResults: ScoreReport['captures'] = [];

  for (const capture of captures) {
    const { flows, error } = await classifyForScore(capture.file, set, options);
    captureResults.push(error === undefined ? { capture: capture.name, flows: flows.length } : { capture: capture.name, flows: flows.length, error });
    const index = new Map<string, ClassifiedFlow[]>();
    for (const f of flows) {
      const r = f.record;
      const key = tupleKey(r.proto, r.src, r.sport, r.dst, r.dport);
      const list = index.get(key);
      if (list) list.push(f);
      else index.set(key, [f]);
    }
    for (const i of rowsFor(capture, byCapture)) {
      const row = truth[i]!;
      if (rowMatched[i]) continue;
      const f = matchRow(row, index);
      if (!f) continue;
      f.taken = true;
      rowMatched[i] = true;
      const r = f.record;
      if (row.labels.length === 0) {
        unlabelledFlows++;
        unlabelled[r.l7] = (unlabelled[r.l7] ?? 0) + 1;
        continue;
      }
      const flow: ScoredFlow = {
        capture: capture.name,
        proto: r.proto,
        src: r.src,
        sport: r.sport,
        dst: r.dst,
        dport: r.dport,
        first_ts: r.first_ts,
        l7: r.l7,
        label: row.label,
        truth: row.source,
        protocol: primaryProtocol(row.labels)!,
        outcome: outcomeOf(r.l7, row.labels, f.decidable),
      };
      if (r.why) flow.why = r.why;
      scored.push(flow);
    }
  }

  const rows = new Map<string, ProtocolScore>();
  const rowOf = (protocol: string): ProtocolScore => {
    let p = rows.get(protocol);
    if (!p) {
      p = { protocol, pattern: patternNames.has(protocol), ...counts([]), undecidable: 0, notFound: 0, wrongAs: {} };
      rows.set(protocol, p);
    }
    return p;
  };
  const byProtocol = new Map<string, ScoredFlow[]>();
  for (const f of scored) {
    const list = byProtocol.get(f.protocol);
    if (list) list.push(f);
    else byProtocol.set(f.protocol, [f]);
  }
  for (const [protocol, list] of byProtocol) {
    const p = rowOf(protocol);
    Object.assign(p, counts(list));
    for (const f of list) {
      if (f.outcome === 'undecidable') p.undecidable++;
      if (f.outcome === 'wrong') p.wrongAs[f.l7] = (p.wrongAs[f.l7] ?? 0) + 1;
    }
  }
  let labelled = 0;
  const notFound: TruthFlow[] = [];
  truth.forEach((row, i) => {
    if (row.labels.length === 0) return;
    labelled++;
    if (rowMatched[i]) return;
    notFound.push(row);
    rowOf(primaryProtocol(row.labels)!).notFound++;
  });

  const wrongLabels: WrongLabel[] = [];
  for (const p of rows.values()) for (const [verdict, n] of Object.entries(p.wrongAs)) wrongLabels.push({ protocol: p.protocol, verdict, flows: n });
  wrongLabels.sort(byCountThenName((w) => w.flows, (w) => `${w.protocol} ${w.verdict}`));

  return {
    rules: { maxPackets, toleranceSeconds: MATCH_TOLERANCE_SECONDS },
    captures: captureResults,
    truth: {
      rows: truth.length,
      labelled,
      unlabelled: truth.length - labelled,
      notTcpUdp: groundTruth.notTcpUdp,
      matched: labelled - notFound.length,
      notFound: notFound.length,
    },
    protocols: [...rows.values()].sort(byCountThenName((p) => p.flows + p.undecidable + p.notFound, (p) => p.protocol)),
    total: counts(scored),
    withPattern: counts(scored.filter((f) => patternNames.has(f.protocol))),
    wrongLabels,
    unlabelled: { flows: unlabelledFlows, verdicts: unlabelled },
    flows: scored,
    notFound,
  };
}

/** Where a pattern directory keeps the score its README reports: `<patterns>/corpus-score.json`. */
export const CORPUS_SCORE_FILE = 'corpus-score.json';

/** One source repository of a development corpus (infra/corpus/build.mjs writes them to sources.tsv). */
export interface CorpusSource {
  source: string;
  commit: string;
  captures: number;
  labelledFlows: number;
}

/**
 * A score kept beside the patterns for their README: the rules, the totals
 * and the rows, without the per-capture and per-flow detail (which name
 * other projects' files), and nothing from the clock, so it changes only
 * when the score does.
 */
export interface CorpusScoreRecord {
  sources: CorpusSource[];
  rules: ScoreReport['rules'];
  truth: ScoreReport['truth'];
  captures: number;
  total: ScoreCounts;
  withPattern: ScoreCounts;
  protocols: Omit<ProtocolScore, 'wrongAs'>[];
  wrongLabels: WrongLabel[];
}

export function corpusScoreRecord(report: ScoreReport, sources: readonly CorpusSource[]): CorpusScoreRecord {
  return {
    sources: [...sources],
    rules: report.rules,
    truth: report.truth,
    captures: report.captures.length,
    total: report.total,
    withPattern: report.withPattern,
    protocols: report.protocols.map(({ wrongAs: _wrongAs, ...row }) => row),
    wrongLabels: report.wrongLabels,
  };
}

/** Reads a corpus's sources.tsv (source, commit, captures, labelled_flows). */
export function parseCorpusSources(text: string): CorpusSource[] {
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [source = '', commit = '', captures = '0', labelled = '0'] = l.split('\t');
      return { source, commit, captures: Number(captures), labelledFlows: Number(labelled) };
    });
}
