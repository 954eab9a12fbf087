// The package's only door.
export { PatternFileError, PatternSyntaxError } from './errors.js';
export type { PatternFileErrorCode } from './errors.js';
export { parsePatternFile, expectedProtocolName } from './patFile.js';
export type { PatternFile } from './patFile.js';
export type { PatternMetadata } from './patMetadata.js';
export { decodeSampleEscapes } from './sampleEscapes.js';
export type { SampleEscapeProblem } from './sampleEscapes.js';
export { loadPatternDirs } from './loadPatternDirs.js';
export type { LoadResult } from './loadPatternDirs.js';
export { translateL7Regex } from './translate.js';
export type { TranslatedPattern, TranslateOptions } from './translate.js';
export { MAX_PATTERN_LENGTH } from './l7Preprocess.js';
