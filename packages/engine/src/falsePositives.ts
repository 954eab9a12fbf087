import type { DecodedPacket } from '@l7mesh/flow';
import type { PatternFile } from '@l7mesh/patterns';
import type { ClassifierLimits } from './claimedFlows.js';
import { FlowClassifier } from './classifier.js';
import { createHeadScanner, type EngineKind } from './classifyCapture.js';
import { EngineError } from './errors.js';
import type { FlowRecord } from './flowRecord.js';
import { PatternLibraryError, type LibraryProblem } from './libraryProblems.js';
import { compilePatternSet, type PatternSet } from './patternSet.js';
import { randomFlows, RANDOM_FLOW_KINDS, type RandomFlowKind } from './randomFlows.js';

/** The fraction of random flows a pattern may claim unless its file says `# FP-threshold:`. */
export const DEFAULT_FP_THRESHOLD = 0.01;
export const DEFAULT_RANDOM_FLOWS = 2000;
/** Fixed, so the rates (and patterns/README.md) reproduce run after run. */
export const DEFAULT_RANDOM_SEED = 0x6c37;
/** Random flows per kind that the reference engine re-runs to check Hyperscan. */
export const DEFAULT_REFERENCE_FLOWS = 200;

export interface FalsePositiveOptions extends ClassifierLimits {
  flows?: number;
  seed?: number;
  referenceFlows?: number;
}

export interface KindCount {
  matched: number;
  rate: number;
}

export interface PatternFalsePositives {
  pattern: string;
  threshold: number;
  /** Random flows of each kind the pattern claims when it is the only one. */
  kinds: Record<RandomFlowKind, KindCount>;
}

export interface FalsePositiveReport {
  flowsPerKind: number;
  seed: number;
  patterns: PatternFalsePositives[];
  /** The whole set in default order: flows that any pattern claims. */
  anyPattern: Record<RandomFlowKind, KindCount>;
  problems: LibraryProblem[];
}

export const formatRate = (rate: number) => `${(rate * 100).toFixed(2)}%`;

/** The file's `# FP-threshold:` (a fraction), or the default; a bad value is a problem. */
export function fpThresholdOf(file: PatternFile): { threshold: number; problem?: LibraryProblem } {
  const text = file.meta['fp-threshold'];
  if (text === undefined) return { threshold: DEFAULT_FP_THRESHOLD };
  const value = Number(text);
  if (text.trim() !== '' && Number.isFinite(value) && value >= 0 && value <= 1) return { threshold: value };
  return {
    threshold: DEFAULT_FP_THRESHOLD,
    problem: { code: 'PATTERN_BAD_THRESHOLD', subject: file.name, message: `${file.file}: FP-threshold "${text}" is not a fraction from 0 to 1 (default ${DEFAULT_FP_THRESHOLD} used)` },
  };
}

function classifyFlows(set: PatternSet, engine: EngineKind, flows: readonly DecodedPacket[][], limits: ClassifierLimits): FlowRecord[] {
  const records: FlowRecord[] = [];
  const scanner = createHeadScanner(engine, set, limits.maxDataLen);
  const classifier = new FlowClassifier(set, scanner, { ...limits, onFlow: (r) => records.push(r) });
  try {
    for (const flow of flows) for (const p of flow) classifier.process(p);
  } finally {
    classifier.finish();
    scanner.close?.();
  }
  return records;
}

const verdictOf = (r: FlowRecord) => (r.why ? `${r.l7} (${r.why.by} at packet ${r.why.packet})` : r.l7);

/** The reference engine on a subset must agree flow for flow with Hyperscan: the rates are only as good as the engine. */
function differential(set: PatternSet, subject: string, kind: RandomFlowKind, flows: readonly DecodedPacket[][], limits: ClassifierLimits): LibraryProblem | undefined {
  const fast = classifyFlows(set, 'hyperscan', flows, limits);
  const slow = classifyFlows(set, 'reference', flows, limits);
  const i = fast.findIndex((r, k) => verdictOf(r) !== verdictOf(slow[k]!));
  if (i < 0 && fast.length === slow.length) return undefined;
  const r = fast[i] ?? slow[i]!;
  return {
    code: 'ENGINES_DISAGREE',
    subject,
    message: `${subject}: on random ${kind} flow ${r.src}:${r.sport} -> ${r.dst}:${r.dport} Hyperscan says ${fast[i] ? verdictOf(fast[i]) : 'nothing'}, the reference engine ${slow[i] ? verdictOf(slow[i]) : 'nothing'}`,
  };
}

function countKind(records: readonly FlowRecord[], claims: (r: FlowRecord) => boolean, flows: number): KindCount {
  const matched = records.filter(claims).length;
  return { matched, rate: flows === 0 ? 0 : matched / flows };
}

const isVerdict = (r: FlowRecord) => r.l7 !== 'unset' && r.l7 !== 'unknown';

/**
 * Check 3: the share of random flows each pattern claims when it is tried
 * alone (one classify pass with the whole set only says which pattern matched
 * first). Hyperscan does the counting; the reference engine re-runs a subset.
 */
export function measureFalsePositives(files: readonly PatternFile[], options: FalsePositiveOptions = {}): FalsePositiveReport {
  const flowsPerKind = options.flows ?? DEFAULT_RANDOM_FLOWS;
  if (!Number.isInteger(flowsPerKind) || flowsPerKind < 1) {
    throw new PatternLibraryError('LIBRARY_BAD_OPTION', `the number of random flows must be a positive integer, got ${options.flows}`);
  }
  const seed = options.seed ?? DEFAULT_RANDOM_SEED;
  const referenceFlows = Math.min(options.referenceFlows ?? DEFAULT_REFERENCE_FLOWS, flowsPerKind);
  const limits: ClassifierLimits = { maxPackets: options.maxPackets, maxDataLen: options.maxDataLen };
  const traffic = new Map(RANDOM_FLOW_KINDS.map((kind, i) => [kind, randomFlows(kind, flowsPerKind, seed + i)]));
  const problems: LibraryProblem[] = [];

  const measure = (set: PatternSet, subject: string, claims: (r: FlowRecord) => boolean) => {
    const kinds = {} as Record<RandomFlowKind, KindCount>;
    for (const [kind, flows] of traffic) {
      kinds[kind] = countKind(classifyFlows(set, 'hyperscan', flows, limits), claims, flowsPerKind);
      const disagreement = differential(set, subject, kind, flows.slice(0, referenceFlows), limits);
      if (disagreement) problems.push(disagreement);
    }
    return kinds;
  };

  const patterns: PatternFalsePositives[] = [];
  for (const file of files) {
    const { threshold, problem } = fpThresholdOf(file);
    if (problem) problems.push(problem);
    let set: PatternSet;
    try {
      set = compilePatternSet([file]);
    } catch (err) {
      // A pattern that does not compile is reported as PATTERN_INVALID by the loader's caller.
      if (err instanceof EngineError && err.code === 'ENGINE_NO_PATTERNS') continue;
      throw err;
    }
    const kinds = measure(set, file.name, (r) => r.l7 === file.name);
    patterns.push({ pattern: file.name, threshold, kinds });
    for (const kind of RANDOM_FLOW_KINDS) {
      const { matched, rate } = kinds[kind];
      if (rate <= threshold) continue;
      problems.push({
        code: 'PATTERN_FP_EXCEEDED',
        subject: file.name,
        message: `${file.name}: claims ${formatRate(rate)} of random ${kind} flows (${matched} of ${flowsPerKind}), above its FP threshold of ${formatRate(threshold)}`,
      });
    }
  }
  const none = () => Object.fromEntries(RANDOM_FLOW_KINDS.map((k) => [k, { matched: 0, rate: 0 }])) as Record<RandomFlowKind, KindCount>;
  const anyPattern = files.length > 0 ? measure(compilePatternSet(files), '(full set)', isVerdict) : none();
  return { flowsPerKind, seed, patterns, anyPattern, problems };
}
