export { FlowClassifier, type ClassifierOptions } from './classifier.js';
export { classifyCapture, createHeadScanner, type CaptureSummary, type ClassifyCaptureOptions, type EngineKind } from './classifyCapture.js';
export { EngineError, type EngineErrorCode } from './errors.js';
export { describeFlowKey, flowRecordOf, type Decision, type FlowRecord } from './flowRecord.js';
export type { HeadScanner } from './headScanner.js';
export { HyperscanHeadScanner } from './hyperscanScanner.js';
export { orderPatterns } from './patternOrder.js';
export { compilePatternSet, type ClassifierPattern, type PatternSet, type PatternSetError } from './patternSet.js';
export { ReferenceHeadScanner } from './referenceScanner.js';
