// The package's only door.
export type { EventPublisher } from './eventPublisher.js';
export { MergingClassifier, type CachedVerdict, type MergingCounters, type MergingOptions } from './mergingClassifier.js';
export { assignPartitions, membershipEpoch } from './rendezvous.js';
export { ruleSetVersionOf } from './ruleSetVersion.js';
export { startWorker, type RunningWorker, type WorkerCounters, type WorkerOptions } from './worker.js';
