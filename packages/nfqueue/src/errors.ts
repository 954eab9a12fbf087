/** What went wrong, machine-readable; the message says it for humans. */
export type NfqueueErrorCode =
  | 'NFQ_SOCKET' // creating/binding/polling the netlink socket
  | 'NFQ_BIND' // the kernel refused to bind/configure a queue
  | 'NFQ_VERDICT' // sending a verdict failed, or the kernel rejected one (async, via onError)
  | 'NFQ_CLOSED' // call on a closed NfQueue
  | 'NFQ_INVALID_ARGUMENT'
  | 'NFQ_CALLBACK' // onBatch threw; the batch was accepted (fail-open)
  | 'CT_SOCKET' // opening the ctnetlink socket
  | 'CT_UPDATE' // a conntrack mark update failed (other than "no such entry")
  | 'CT_QUERY' // conntrackReply: the kernel answered other than the entry or ENOENT (message names the tuple)
  | 'CT_DUMP' // conntrackDump: the kernel refused the dump or stopped answering
  | 'CT_EVENTS' // ConntrackEvents: the event socket failed (reading stopped), or onDestroy threw
  | 'CT_EVENTS_LOST' // ConntrackEvents: DESTROY events were lost (ENOBUFS, or maxBuffered reached); a dump catches up
  | 'NFT' // nftRun: nft refused the script or the kernel the transaction (message: nft's text)
  | 'NFT_DUMP' // nftSetElements: no such table/set (ENOENT), not a 5-tuple flow set, or the set kept changing (EINTR)
  | 'PROC_STATS' // /proc/net/netfilter/nfnetlink_queue unreadable or malformed
  | 'NFT_WRITE' // nftApplyElements, nftRemoveElements: the kernel refused the batch (errno; index: the op at fault), which changed nothing; or removals' notices were lost (ENOBUFS)
  | 'NFT_READ'; // nftGetElements: no such table or set, or another refusal of the kernel (errno; index: the read at fault)

/**
 * Every failure of this package, native or not. Native code builds these
 * through a factory registered in native.ts, so `instanceof` holds everywhere.
 */
export class NfqueueError extends Error {
  override readonly name = 'NfqueueError';
  readonly code: NfqueueErrorCode;
  /** errno reported by the kernel or a syscall, when there was one. */
  readonly errno?: number;
  /** Queue number the failure concerns, when known. */
  readonly queue?: number;
  /** Index of the offending element of an array argument, when relevant. */
  readonly index?: number;
  /** NFT: the line of the script nft named (1-based), when it named one. */
  readonly line?: number;

  constructor(
    code: NfqueueErrorCode,
    message: string,
    where?: {
      errno?: number | undefined;
      queue?: number | undefined;
      index?: number | undefined;
      line?: number | undefined;
      cause?: unknown;
    },
  ) {
    super(message, where?.cause !== undefined ? { cause: where.cause } : undefined);
    this.code = code;
    if (where?.errno !== undefined) this.errno = where.errno;
    if (where?.queue !== undefined) this.queue = where.queue;
    if (where?.index !== undefined) this.index = where.index;
    if (where?.line !== undefined) this.line = where.line;
  }
}
