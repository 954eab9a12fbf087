/**
 * The flow space's partitions: what edges and workers must agree on to
 * reach the same worker for a flow.
 *
 * A flow's partition depends on its zone and its two addresses only, not on
 * its ports or protocol. An FTP data connection announced by PASV/PORT has
 * a port nobody knows before the announcement; partitioning by the address
 * pair sends it to the worker that saw the announcement on its control
 * connection (the announced address is, but for FXP or a NAT's rewrite,
 * one of the pair's). The cost is that all connections between two hosts
 * share a partition; with 1024 partitions and real traffic mixes that is a
 * small imbalance, measured in the cluster benchmark.
 */

/** Partitions of the flow space: fixed, so that workers can come and go without re-keying. */
export const DEFAULT_PARTITIONS = 1024;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The partition of a flow (canonical key, as the flow package makes it) in a zone. */
export function partitionOf(zone: number, key: string, partitions: number): number {
  // Key layout: protocol, low address, low port (2), high address, high port (2).
  const addrLen = key.length === 13 ? 4 : 16;
  let h = FNV_OFFSET;
  h = Math.imul(h ^ (zone >>> 24), FNV_PRIME);
  h = Math.imul(h ^ ((zone >>> 16) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((zone >>> 8) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ (zone & 0xff), FNV_PRIME);
  for (let i = 1; i <= addrLen; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  const high = addrLen + 3;
  for (let i = high; i < high + addrLen; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  // FNV's low bits mix poorly: fold the high half in before the modulo.
  h ^= h >>> 16;
  return (h >>> 0) % partitions;
}
