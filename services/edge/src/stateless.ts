import { IPPROTO_TCP, keyHasPort, type FlowEntry } from '@l7mesh/flow';
import type { ElementTarget, NetfilterTarget, StatelessRulesConfig } from '@l7mesh/netfilter';
import type { EdgeConfig } from './config.js';
import type { EdgeFlow } from './core.js';
import type { MarkPolicy } from './markPolicy.js';
import { VerdictMap, type FlowChange, type VerdictMapDriver, type VerdictMapOptions } from './verdictMap.js';

type Netfilter = typeof import('@l7mesh/netfilter');
/** The nfqueue addon's nftables access: netlink batches for changes, netlink dumps for reading sets. */
type Nft = Pick<typeof import('@l7mesh/nfqueue'), 'nftApplyElements' | 'nftSetElements'>;
type ElementWrite = Parameters<Nft['nftApplyElements']>[1][number];

/**
 * Stateless mode's part of the live edge: the edge's own nftables table
 * (installed at start, removed at stop) and its verdict map, fed from the
 * packet path. The edge counts its own queueing budget: a flow that spent
 * it undecided gets `hold` elements (not queued any more), a decided flow
 * elements that jump to its mark's chain. Changes go to the kernel at the
 * end of each packet batch, before the batch's verdicts.
 */
export interface StatelessEdge {
  readonly map: VerdictMap;
  /** After each packet of the batch: holds a flow whose budget is spent. */
  onPacket(flow: FlowEntry): void;
  /** A verdict (in a batch, or from the cluster between batches). */
  onDecision(flow: EdgeFlow): void;
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
    table: s.table,
    families: config.netfilter.families,
    mask: config.netfilter.mask,
    marks: policy.distinctMarks,
    queue: q.first === q.last ? { num: q.first } : { balance: [q.first, q.last] },
    ...(s.priority === undefined ? {} : { priority: s.priority }),
    mapSize: s.mapSize,
    liveTimeoutSec: s.liveTimeoutSec,
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
  replaced: number;
  ended: number;
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
): Promise<StatelessEdge> {
  const s = config.netfilter.stateless;
  const rules = statelessRulesConfig(config, policy);
  const families = config.netfilter.families;
  const table = s.table;
  const targets: ElementTarget[] = ['hold', 'watch', ...rules.marks.map((mark) => ({ mark: Number(mark) }))];
  const dump = async (set: string) => nft.nftSetElements(table, set);
  const setNames = new Map<string, string>();
  const setOf = (family: 'ipv4' | 'ipv6', target: ElementTarget): string => {
    const id = `${family}/${typeof target === 'string' ? target : target.mark}`;
    let name = setNames.get(id);
    if (name === undefined) setNames.set(id, (name = netfilter.statelessTargetSet(family, target)));
    return name;
  };
  const driver: VerdictMapDriver = {
    // Netlink batches written by the addon: libnftables' parser and cache cost ten times more per batch.
    apply: (changes) => nft.nftApplyElements(table, changes.flatMap((c) => elementsOf(c, setOf))),
    // Netlink dumps off the event loop: nft itself takes seconds to list a set of 100k elements.
    live: async () => (await Promise.all(families.map((f) => dump(netfilter.statelessLiveSetName(f))))).flat(),
    elements: async () =>
      (
        await Promise.all(
          families.flatMap((f) => targets.map(async (target) => (await dump(setOf(f, target))).map((e) => ({ key: e, target, packets: e.packets, bytes: e.bytes })))),
        )
      ).flat(),
  };
  const map = new VerdictMap({
    driver,
    // Two elements per flow (one per direction).
    maxFlows: Math.floor(s.mapSize / 2),
    liveTimeoutSec: s.liveTimeoutSec,
    elementTimeoutSec: s.elementTimeoutSec,
    sweepSec: s.sweepSec,
    log,
    ...(onCounted ? { onCounted } : {}),
  });
  const applied = await netfilter.applyStatelessRules(rules, target);
  log(`edge: stateless table inet ${table} installed (queueing via ${applied.queueVia}; ${rules.marks.length} mark chains)`);

  const budget = config.netfilter.maxPackets;
  const ftpPorts = new Set(config.classification.ftpPorts);
  let sweepErrors = 0;
  const sweeper = setInterval(() => {
    map.sweep().catch((err: unknown) => {
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
      map.commit();
    } catch (err) {
      // The map's own fallbacks failed too (nft itself is broken): packets keep being queued, fail-open.
      log(`warning: stateless commit: ${(err as Error).message}`);
    }
  };

  return {
    map,
    onPacket(flow) {
      // An FTP control connection is never held: the helper must see its PORT/PASV (see onDecision).
      if (flow.l7 !== 'unset' || flow.packets < budget || map.has(flow.key)) return;
      if (flow.protocol === IPPROTO_TCP && keyHasPort(flow.key, ftpPorts)) return;
      map.hold(flow.key);
    },
    onDecision(view) {
      const watch = view.flow.l7 === 'ftp' && keyHasPort(view.flow.key, ftpPorts);
      map.decide(view.flow.key, view.mark, watch);
      commitSoon();
    },
    commit,
    counters: () => {
      const c = map.counters;
      return {
        flows: map.size,
        held: c.held,
        decided: c.decided,
        replaced: c.replaced,
        ended: c.ended,
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

/** A flow change's two elements (one per direction): the canonical key is itself a packed 5-tuple, so no address is copied in JS. */
function elementsOf(c: FlowChange, setOf: (family: 'ipv4' | 'ipv6', target: ElementTarget) => string): [ElementWrite, ElementWrite] {
  const set = setOf(c.key.length === 13 ? 'ipv4' : 'ipv6', c.target);
  const timeout = c.op === 'add' && c.timeoutSec !== undefined ? { timeoutMs: c.timeoutSec * 1000 } : {};
  return [
    { op: c.op, set, tuple: c.key, ...timeout },
    { op: c.op, set, tuple: c.key, reverse: true, ...timeout },
  ];
}
