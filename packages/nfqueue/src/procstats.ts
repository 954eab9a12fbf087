// The kernel's per-queue counters, from /proc/net/netfilter/nfnetlink_queue
// (per network namespace: the one of the calling process).
import { readFileSync } from 'node:fs';
import { NfqueueError } from './errors.js';

export const PROC_NFQUEUE = '/proc/net/netfilter/nfnetlink_queue';

export interface QueueProcStats {
  queue: number;
  /** Netlink port id of the bound socket (NfQueue.portId for ours). */
  portId: number;
  /** Packets waiting for a verdict right now. */
  queueTotal: number;
  /** 0 none, 1 meta, 2 packet. */
  copyMode: number;
  copyRange: number;
  /** Dropped because the queue was full (queue_maxlen reached, no FAIL_OPEN). */
  queueDropped: number;
  /** Dropped because delivery to the socket failed (receive buffer full, no FAIL_OPEN). */
  userDropped: number;
  /** Id of the last packet queued. */
  idSequence: number;
}

/** Parses the text of /proc/net/netfilter/nfnetlink_queue. */
export function parseQueueProcStats(text: string): QueueProcStats[] {
  const out: QueueProcStats[] = [];
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const f = line.split(/\s+/).map(Number);
    if (f.length < 8 || f.slice(0, 8).some((x) => !Number.isInteger(x) || x < 0)) {
      throw new NfqueueError('PROC_STATS', `${PROC_NFQUEUE} line ${n + 1} is malformed: '${line}'`);
    }
    out.push({
      queue: f[0]!,
      portId: f[1]!,
      queueTotal: f[2]!,
      copyMode: f[3]!,
      copyRange: f[4]!,
      queueDropped: f[5]!,
      userDropped: f[6]!,
      idSequence: f[7]!,
    });
  }
  return out;
}

/** Counters of every bound queue of this network namespace (empty when none). */
export function readQueueProcStats(path: string = PROC_NFQUEUE): QueueProcStats[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // The file exists as soon as nfnetlink_queue is loaded; absent means no queue can be bound.
    if (err.code === 'ENOENT') return [];
    throw new NfqueueError('PROC_STATS', `cannot read ${path}: ${err.message}`, { cause: e });
  }
  return parseQueueProcStats(text);
}
