// The package's only door.
export { EventPublisher } from './eventPublisher.js';
export { MergeFlow, Reporter, seqLE, type PendingSegment } from './flowMerge.js';
export { MergingClassifier, type CachedVerdict, type MergingCounters, type MergingOptions } from './mergingClassifier.js';
export { assignPartitions, membershipEpoch } from './rendezvous.js';
export { startWorker, type RunningWorker, type WorkerCounters, type WorkerOptions } from './worker.js';
export { ruleSetVersionOf } from './ruleSetVersion.js';
