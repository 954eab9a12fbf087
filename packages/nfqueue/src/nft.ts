// nft scripts run through libnftables in this process (no `nft` spawned):
// the stateless edge's verdict-map element updates on the hot path.
import { NfqueueError } from './errors.js';
import { addon } from './native.js';

export interface NftRunOptions {
  /** JSON output (`nft -j`), e.g. for `list map`; default false. */
  json?: boolean;
}

/**
 * nft's "Could not process rule: <strerror>" texts of the kernel answers a
 * caller may want to branch on, as errno values (Linux numbering).
 */
const NFT_ERRNO: ReadonlyMap<string, number> = new Map([
  ['Operation not permitted', 1], // EPERM: needs CAP_NET_ADMIN
  ['No such file or directory', 2], // ENOENT: no such table/set/chain/element (e.g. deleting an expired element)
  ['Device or resource busy', 16], // EBUSY
  ['File exists', 17], // EEXIST: the element is there with another verdict
  ['Invalid argument', 22], // EINVAL
  ['Too many open files in system', 23], // ENFILE: the set or map is full
  ['No buffer space available', 105], // ENOBUFS
]);

function errnoOf(message: string): number | undefined {
  const m = /Could not process rule: ([^\n]+)/.exec(message);
  return m ? NFT_ERRNO.get(m[1]!.trim()) : undefined;
}

/**
 * Runs an nft script (any number of commands, one transaction, as `nft -f`)
 * in the network namespace this process was in at its first call, and
 * returns what nft printed. Throws NfqueueError `NFT` whose message is nft's
 * own error text (`input:LINE:COLUMNS: Error: ...`, the offending line and
 * position markers), with `line` set to that line and `errno` for the kernel
 * answers listed in NFT_ERRNO. A failed transaction changes nothing.
 */
export function nftRun(commands: string, options: NftRunOptions = {}): string {
  if (typeof commands !== 'string') throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'nftRun: commands must be a string');
  try {
    return addon.nftRun(commands, options.json ?? false);
  } catch (e) {
    if (!(e instanceof NfqueueError) || e.code !== 'NFT' || e.errno !== undefined) throw e;
    // The native side reports nft's text; the line (`input:L:C-C: Error`) and errno are read from it here.
    const line = /^input:(\d+):/m.exec(e.message);
    throw new NfqueueError('NFT', e.message, { errno: errnoOf(e.message), line: line ? Number(line[1]) : undefined });
  }
}
