export { FlowClassifier, type ClassifierOptions } from './classifier.js';
export { classifyCapture, createHeadScanner, type CaptureSummary, type ClassifyCaptureOptions, type EngineKind } from './classifyCapture.js';
export { EngineError, type EngineErrorCode } from './errors.js';
export { describeFlowKey, flowRecordOf, flowSummaryOf, type Decision, type FlowRecord, type FlowSummary } from './flowRecord.js';
export type { HeadScanner } from './headScanner.js';
export { HyperscanHeadScanner } from './hyperscanScanner.js';
export { orderPatterns } from './patternOrder.js';
export { compilePatternSet, type ClassifierPattern, type CompilePatternSetOptions, type PatternSet, type PatternSetError } from './patternSet.js';
export { CACHE_DIR_ENV, DatabaseCache, type CacheOutcome } from './databaseCache.js';
export { loadPatternSet, type LoadedPatternSet, type LoadPatternSetOptions } from './loadPatternSet.js';
export { ReferenceHeadScanner } from './referenceScanner.js';
export { checkCaptures, type CaptureResult, type CaptureStatus } from './captureCheck.js';
export { carriesPayload, classifyClaimedFlows, prepareCapture, replayClaimedFlows, type ClaimedFlows, type ClassifierLimits, type PreparedCapture } from './claimedFlows.js';
export {
  DEFAULT_FP_THRESHOLD,
  DEFAULT_RANDOM_FLOWS,
  DEFAULT_RANDOM_SEED,
  DEFAULT_REFERENCE_FLOWS,
  formatRate,
  fpThresholdOf,
  measureFalsePositives,
  type FalsePositiveOptions,
  type FalsePositiveReport,
  type KindCount,
  type PatternFalsePositives,
} from './falsePositives.js';
export { listLabCaptures, MIXED_CAPTURES, type LabCapture } from './labCaptures.js';
export { PatternLibraryError, type LibraryProblem, type LibraryProblemCode, type PatternLibraryErrorCode } from './libraryProblems.js';
export { buildOvermatchMatrix, type OvermatchMatrix } from './overmatchMatrix.js';
export { describePatternLibrary, testPatternLibrary, type LibraryDescription, type PatternLibraryOptions, type PatternLibraryReport, type PatternSummary } from './patternLibrary.js';
export { PATTERN_README_COMMAND, renderPatternReadme } from './patternReadme.js';
export { randomFlows, RANDOM_FLOW_KINDS, type RandomFlowKind } from './randomFlows.js';
export { canonicalProtocol, CARRIED_PROTOCOLS, parseProtocolLabel, primaryProtocol, PROTOCOL_ALIASES } from './protocolNames.js';
export { parseGroundTruth, type GroundTruth, type TruthFlow } from './groundTruth.js';
export {
  CAPTURE_FILE_PATTERN,
  listScoreCaptures,
  MATCH_TOLERANCE_SECONDS,
  scoreCaptures,
  type ProtocolScore,
  type ScoreCapture,
  type ScoreCounts,
  type ScoredFlow,
  type ScoreOptions,
  type ScoreOutcome,
  type ScoreReport,
  type WrongLabel,
} from './scoreCaptures.js';
export { CORPUS_SCORE_FILE, corpusScoreRecord, parseCorpusSources, type CorpusScoreRecord, type CorpusSource } from './scoreCaptures.js';
export { CORPUS_TARGETS, renderCorpusSection } from './corpusReadme.js';
