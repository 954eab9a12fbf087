// The package's only door.
export { HsFlag } from './flags.js';
export { HyperscanError } from './errors.js';
export type { HyperscanErrorCode } from './errors.js';
export { Database, hyperscanIdentity } from './database.js';
export type { PatternSpec, DatabaseMode, BlockMatch } from './database.js';
export { StreamSet } from './streams.js';
export type { StreamSetOptions } from './streams.js';
