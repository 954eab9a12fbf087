// The package's only door.
export { NfQueue } from './queue.js';
export type { NfQueueOptions, NfQueueStats } from './queue.js';
export { packetAt } from './batch.js';
export type { PacketBatch, PacketView } from './batch.js';
export { Verdict, NO_MARK, SkbInfo, Hook } from './constants.js';
export type { VerdictValue } from './constants.js';
export { NfqueueError } from './errors.js';
export type { NfqueueErrorCode } from './errors.js';
export { setConntrackMark, setConntrackMarks } from './conntrack.js';
export type { ConntrackTuple, ConntrackMarkUpdate } from './conntrack.js';
export { nftRun } from './nft.js';
export type { NftRunOptions } from './nft.js';
export { nftSetElements } from './setElements.js';
export type { SetElement, SetElementsOptions } from './setElements.js';
export { readQueueProcStats, parseQueueProcStats, PROC_NFQUEUE } from './procstats.js';
export type { QueueProcStats } from './procstats.js';
