/**
 * Test hosts in network namespaces: the lab the integration tests and the
 * edge benchmark build their clients, routers and servers in.
 */
export { mtimeMs, newestMtimeMs } from './buildAge.js';
export { inBenchmarkRange } from './range.js';
export { poll, run, sleep, type Run } from './run.js';
export { Spawned, type Exit } from './spawned.js';
export { NetnsLab, type ShOptions } from './lab.js';
