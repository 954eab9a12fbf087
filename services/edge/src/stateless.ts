import { IPPROTO_TCP, keyHasPort, type FlowEntry } from '@l7mesh/flow';
import type { ElementTarget, NetfilterTarget, StatelessRulesConfig } from '@l7mesh/netfilter';
import type { EdgeConfig } from './config.js';
import type { EdgeFlow } from './core.js';
import type { MarkPolicy } from './markPolicy.js';
import { RenewingBook } from './renewingBook.js';
import { VerdictMap, type FlowChange, type FlowRemoval, type VerdictMapCounters, type VerdictMapDriver, type VerdictMapOptions } from './verdictMap.js';

type Netfilter = typeof import('@l7mesh/netfilter');
/** The nfqueue addon's nftables access: netlink batches for changes, reads of elements by key. */
type Nft = Pick<typeof import('@l7mesh/nfqueue'), 'nftApplyElements' | 'nftGetElements' | 'nftRemoveElements'>;
type ElementWrite = Parameters<Nft['nftApplyElements']>[1][number];
type ElementRead = Parameters<Nft['nftRemoveElements']>[1][number];

/**
 * Stateless mode's part of the live edge: the edge's own nftables table
 * (installed at start, removed at stop) and its verdict map, fed from the
 * packet path. The edge counts its own queueing budget: a flow that spent
 * it undecided gets `hold` elements (not queued any more), a decided flow
 * elements that jump to its mark's chain. A flow decided or held in a
 * packet batch gets them from the kernel, which adds them when the verdict
 * sends a packet of it back with the code (its mark, or the hold code);
 * the other changes go to the kernel in one netlink transaction at the end
 * of each packet batch, before the batch's verdicts.
 */
export interface StatelessEdge {
  /**
   * After the batch's marks are known, for each packet of a flow: holds a
   * flow whose budget is spent, books a decided flow whose elements had
   * ended (an idle connection resumed), and returns the mark the packet
   * goes back with (`coreMark`, EdgeCore's: -1 to leave it; or the hold
   * code) so that the kernel adds the flow's elements. The packet is the
   * queued datagram at buf[off].
   */
  packetMark(flow: FlowEntry, coreMark: number, packetMark: number, buf: Uint8Array, off: number): number;
  /** A verdict: made in the batch being handled (`inBatch`), or from the cluster between batches. */
  onDecision(flow: EdgeFlow, inBatch: boolean): void;
  /** Sends the map's changes (call before the batch's verdicts). */
  commit(): void;
  counters(): StatelessCounters;
  /** Stops the sweeps and removes the table (unless keepRules). */
  stop(keepRules: boolean): Promise<void>;
}

export function statelessRulesConfig(config: Pick<EdgeConfig, 'queue' | 'netfilter'>, policy: MarkPolicy): StatelessRulesConfig {
  const s = config.netfilter.stateless;
  const q = config.queue;
  return {
    elementCounters: s.elementCounters,
    table: s.table,
    families: config.netfilter.families,
    mask: config.netfilter.mask,
    marks: policy.distinctMarks,
    queue: q.first === q.last ? { num: q.first } : { balance: [q.first, q.last] },
    ...(s.priority === undefined ? {} : { priority: s.priority }),
    mapSize: s.mapSize,
    liveTimeoutSec: s.liveTimeoutSec,
    elementTimeoutSec: s.elementTimeoutSec,
    perSourceRate: { packets: s.perSourceRate, burst: s.perSourceBurst },
    ...(s.interfaces ? { interfaces: s.interfaces } : {}),
  };
}

/** What /stats shows of stateless mode (see VerdictMapCounters). */
export interface StatelessCounters {
  /** Flows with elements now. */
  flows: number;
  held: number;
  decided: number;
  /** Of the held and decided, those the kernel added from a verdict's packet. */
  learned: number;
  /** Flows whose kernel-added elements were missing, added again over netlink. */
  repaired: number;
  replaced: number;
  ended: number;
  resumed: number;
  expired: number;
  refreshed: number;
  full: number;
  batch_failures: number;
  flow_failures: number;
  sweep_errors: number;
}

export async function startStateless(
  config: Pick<EdgeConfig, 'queue' | 'netfilter' | 'classification'>,
  policy: MarkPolicy,
  nft: Nft,
  netfilter: Netfilter,
  target: NetfilterTarget,
  log: (line: string) => void,
  /** The flows' element counters (accounting of whole connections), when the edge publishes records. */
  onCounted?: VerdictMapOptions['onCounted'],
  /** A decided flow got its elements again after they ended (VerdictMap.resume): its counters start anew. */
  onResumed?: (flow: FlowEntry) => void,
): Promise<StatelessEdge> {
  const s = config.netfilter.stateless;
  const rules = statelessRulesConfig(config, policy);
  const resolved = netfilter.resolveStatelessRules(rules);
  const table = s.table;
  const setNames = new Map<string, string>();
  const setOf = (family: 'ipv4' | 'ipv6', target: ElementTarget | 'live'): string => {
    const id = `${family}/${typeof target === 'string' ? target : target.mark}`;
    let name = setNames.get(id);
    if (name === undefined) {
      name = target === 'live' ? netfilter.statelessLiveSetName(family) : netfilter.statelessTargetSet(family, target);
      setNames.set(id, name);
    }
    return name;
  };
  const familyOf = (key: string) => (key.length === 13 ? 'ipv4' : 'ipv6');
  const applied = await netfilter.applyStatelessRules(rules, target);
  const renewing = netfilter.statelessElementsRenew(resolved);
  const upkeep = renewing ? 'elements renew themselves, no counters' : 'element counters, a live set and sweeps';
  log(`edge: stateless table inet ${table} installed (queueing via ${applied.queueVia}; ${rules.marks.length} mark chains; ${upkeep})`);
  const driver: VerdictMapDriver = {
    // Netlink batches written by the addon: libnftables' parser and cache cost ten times more per batch.
    apply: (changes) => nft.nftApplyElements(table, changes.flatMap((c) => elementsOf(c, setOf(familyOf(c.key), c.target)))),
    // Reads by key: a dump of a large set costs the kernel quadratic time.
    read: (reads) => nft.nftGetElements(table, reads.map((r) => ({ set: setOf(familyOf(r.key), r.target), tuple: r.key, reverse: r.reverse }))),
  };
  const remove: NonNullable<VerdictMapDriver['remove']> = (removals, counted) => {
    if (counted) return nft.nftRemoveElements(table, removals.flatMap((r) => elementsOf(r, setOf(familyOf(r.key), r.target))));
    driver.apply(removals.map((r) => ({ op: 'destroy', key: r.key, target: r.target })));
    return undefined;
  };
  // Kernels before 6.3 have no destroy: there the sweeps read an ended flow's elements, then delete them. (Renewing elements are never removed.)
  const unremovable = renewing ? undefined : removeFails(remove, config.netfilter.families[0]!);
  if (unremovable === undefined) driver.remove = remove;
  else log(`edge: sweeps read ended flows' elements, then delete them (removal with counts: ${unremovable})`);
  const book: FlowBook = renewing
    ? new RenewingBook({ driver, maxFlows: Math.floor(s.mapSize / 2), liveTimeoutSec: s.liveTimeoutSec, log })
    : keyedBook(
        new VerdictMap({
          driver,
          // Two elements per flow (one per direction).
          maxFlows: Math.floor(s.mapSize / 2),
          liveTimeoutSec: s.liveTimeoutSec,
          elementTimeoutSec: s.elementTimeoutSec,
          sweepSec: s.sweepSec,
          log,
          ...(onCounted ? { onCounted } : {}),
        }),
      );

  const holdMark = resolved.holdMark;
  const budget = config.netfilter.maxPackets;
  const ftpPorts = new Set(config.classification.ftpPorts);
  /** A decided FTP control connection stays queued (watched): the helper reads its announcements. */
  const watches = (flow: FlowEntry) => flow.l7 === 'ftp' && keyHasPort(flow.key, ftpPorts);
  let sweepErrors = 0;
  const sweeper = setInterval(() => {
    book.sweep().catch((err: unknown) => {
      if (sweepErrors++ < 10) log(`warning: stateless sweep: ${(err as Error).message}`);
    });
  }, s.sweepSec * 1000);
  sweeper.unref();
  let commitQueued = false;
  const commitSoon = () => {
    if (commitQueued) return;
    commitQueued = true;
    setImmediate(() => {
      commitQueued = false;
      commit();
    });
  };
  const commit = () => {
    try {
      book.commit();
    } catch (err) {
      // The map's own fallbacks failed too (nft itself is broken): packets keep being queued, fail-open.
      log(`warning: stateless commit: ${(err as Error).message}`);
    }
  };

  return {
    packetMark(flow, coreMark, packetMark, buf, off) {
      const undecided = flow.l7 === 'unset';
      // Undecided within its budget: neither held nor decided, so no elements are booked (most queued packets; no lookup).
      if (undecided && flow.packets < budget) return coreMark;
      // An FTP control connection is never held: the helper must see its PORT/PASV (see onDecision).
      if (undecided && !(flow.protocol === IPPROTO_TCP && keyHasPort(flow.key, ftpPorts))) book.hold(flow);
      let target = book.carry(flow, buf, off);
      // A decided flow with no elements booked: they ended (idle for liveTimeout) and the connection resumed.
      if (target === null && !undecided && book.resume(flow, policy.markOf(flow.l7), watches(flow))) {
        onResumed?.(flow);
        target = book.carry(flow, buf, off);
      }
      return target === 'hold' ? policy.apply(packetMark, holdMark) : coreMark;
    },
    onDecision(view, inBatch) {
      book.decide(view.flow, view.mark, watches(view.flow), inBatch);
      if (!inBatch) commitSoon();
    },
    commit,
    counters: () => {
      const c = book.counters;
      return {
        flows: book.size,
        held: c.held,
        decided: c.decided,
        learned: c.learned,
        repaired: c.repaired,
        replaced: c.replaced,
        ended: c.ended,
        resumed: c.resumed,
        expired: c.expired,
        refreshed: c.refreshed,
        full: c.full,
        batch_failures: c.batchFailures,
        flow_failures: c.flowFailures,
        sweep_errors: sweepErrors,
      };
    },
    async stop(keepRules) {
      clearInterval(sweeper);
      if (keepRules) return;
      await netfilter.removeStatelessRules({ table }, target);
      log('edge: stateless table removed');
    },
  };
}

/**
 * What the packet path needs of the book of flow-set elements, by flow: a
 * RenewingBook (elements without counters), or a VerdictMap by key.
 */
interface FlowBook {
  readonly counters: VerdictMapCounters;
  readonly size: number;
  hold(flow: FlowEntry): void;
  decide(flow: FlowEntry, mark: number | undefined, watch: boolean, inBatch: boolean): void;
  resume(flow: FlowEntry, mark: number | undefined, watch: boolean): boolean;
  /** The packet is the queued datagram at buf[off] (a VerdictMap counts it where its elements did not). */
  carry(flow: FlowEntry, buf: Uint8Array, off: number): ElementTarget | undefined | null;
  commit(): void;
  sweep(): Promise<void>;
}

/** A VerdictMap by flow: the key string is made once for the calls on one flow in a row (an IPv4 key is made on each read). */
function keyedBook(map: VerdictMap): FlowBook {
  let lastFlow: FlowEntry | undefined;
  let lastKey = '';
  const keyOf = (flow: FlowEntry): string => {
    if (flow !== lastFlow) {
      lastFlow = flow;
      lastKey = flow.key;
    }
    return lastKey;
  };
  return {
    counters: map.counters,
    get size() {
      return map.size;
    },
    hold: (flow) => map.hold(keyOf(flow)),
    decide: (flow, mark, watch, inBatch) => map.decide(keyOf(flow), mark, watch, inBatch),
    resume: (flow, mark, watch) => map.resume(keyOf(flow), mark, watch),
    carry: (flow, buf, off) => {
      const key = keyOf(flow);
      return map.carry(key, ipLengthAt(buf, off), fromLowEndpoint(buf, off, key));
    },
    commit: () => map.commit(),
    sweep: () => map.sweep(),
  };
}

/** A flow change's two elements (one per direction) in `set`: the canonical key is itself a packed 5-tuple, so no address is copied in JS. */
function elementsOf(c: FlowChange, set: string): [ElementWrite, ElementWrite];
/** A flow removal's two elements. */
function elementsOf(c: FlowRemoval, set: string): [ElementRead, ElementRead];
function elementsOf(c: FlowChange | FlowRemoval, set: string): [ElementWrite, ElementWrite] | [ElementRead, ElementRead] {
  if (!('op' in c)) {
    return [
      { set, tuple: c.key },
      { set, tuple: c.key, reverse: true },
    ];
  }
  const timeout = c.op === 'add' && c.timeoutSec !== undefined ? { timeoutMs: c.timeoutSec * 1000 } : {};
  return [
    { op: c.op, set, tuple: c.key, ...timeout },
    { op: c.op, set, tuple: c.key, reverse: true, ...timeout },
  ];
}

/**
 * Why the kernel cannot remove elements with their counts (destroy, 6.3+),
 * or undefined when it can: tried on a flow no packet has (tcp, all
 * addresses and ports zero) in the hold set, where it removes nothing.
 */
function removeFails(remove: NonNullable<VerdictMapDriver['remove']>, family: 'ipv4' | 'ipv6'): string | undefined {
  try {
    remove([{ key: String.fromCharCode(IPPROTO_TCP).padEnd(family === 'ipv4' ? 13 : 37, '\0'), target: 'hold' }], true);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * A queued datagram's length as the kernel's counters count it, from its
 * header (the queue may have copied less of it): IPv4's total length,
 * IPv6's payload length plus its fixed header.
 */
function ipLengthAt(buf: Uint8Array, off: number): number {
  return buf[off]! >> 4 === 4 ? (buf[off + 2]! << 8) | buf[off + 3]! : 40 + ((buf[off + 4]! << 8) | buf[off + 5]!);
}

/**
 * Whether a queued datagram comes from its flow key's lower endpoint: its
 * source address is the key's first. (A transit flow's two addresses
 * differ, so the address decides.)
 */
function fromLowEndpoint(buf: Uint8Array, off: number, key: string): boolean {
  const v4 = buf[off]! >> 4 === 4;
  const src = off + (v4 ? 12 : 8);
  const len = v4 ? 4 : 16;
  for (let i = 0; i < len; i++) if (buf[src + i] !== key.charCodeAt(1 + i)) return false;
  return true;
}
