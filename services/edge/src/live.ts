import type { FlowEntry } from '@l7mesh/flow';
import type { NetfilterTarget } from '@l7mesh/netfilter';
import type { NfQueue, PacketBatch, ConntrackTuple as NfConntrackTuple } from '@l7mesh/nfqueue';
import type { EdgeConfig } from './config.js';
import { EdgeCore, flowView, type EdgeFlow } from './core.js';
import { MarkPolicy } from './markPolicy.js';
import { createEdgeMetrics } from './metrics.js';
import { loadEdgePatterns } from './patterns.js';
import { ConntrackCounters } from './conntrackCounters.js';
import { conntrackReplyLookup } from './conntrackLookup.js';
import { startLiveRecords, type KernelCounters } from './records.js';
import { connectRemoteEdge } from './remote.js';
import { edgeRulesConfig } from './rules.js';
import { startEdgeServer, type EdgeServer } from './server.js';
import { startStateless, type StatelessEdge } from './stateless.js';
import { edgeStats, type EdgeStats } from './stats.js';
import type { ConntrackMarker, ConntrackTuple } from './types.js';

/** Idle flows the live edge ends per packet at most (about 2 µs each). */
const LIVE_EXPIRY_BUDGET = 8;

export interface StartEdgeOptions {
  /** Install the netfilter rules at start (default true; `--no-rules` for an operator who manages them). */
  installRules?: boolean;
  /** Leave the rules in place at stop (default false). */
  keepRules?: boolean;
  /** Run the netfilter commands in this namespace (default: the edge's own). */
  netns?: string;
  /** Override of `metrics.port` (0: any free port). */
  metricsPort?: number;
  /** Progress and warnings, one line each (default: stderr). */
  log?: (line: string) => void;
}

export interface RunningEdge {
  readonly config: EdgeConfig;
  readonly core: EdgeCore;
  readonly server: EdgeServer;
  /** Queue numbers bound. */
  readonly queues: readonly number[];
  stats(): EdgeStats;
  /** Removes the rules (unless keepRules), closes the queue (accepting what it holds), stops the server. Idempotent. */
  stop(): Promise<void>;
}

/** ctnetlink through the nfqueue addon: by the original tuple, else the reply tuple (an edge that saw the reply first). */
function nfConntrackMarker(setConntrackMark: (t: NfConntrackTuple, mark: number, mask: number) => boolean): ConntrackMarker {
  return {
    setMark(t: ConntrackTuple, mark: number, mask: number): void {
      const base = { family: t.family === 'ipv4' ? (4 as const) : (6 as const), protocol: t.protocol === 'tcp' ? 6 : 17 };
      if (setConntrackMark({ ...base, src: t.src, dst: t.dst, sport: t.sport, dport: t.dport }, mark, mask)) return;
      if (setConntrackMark({ ...base, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport }, mark, mask)) return;
      throw new Error('no conntrack entry (ENOENT): the connection is gone');
    },
  };
}

/** Netfilter hook numbers (the nfqueue Hook constant) whose packets never reach POSTROUTING. */
const HOOK_INPUT = 1;

/**
 * Live mode: loads the patterns, starts the loopback server, binds the
 * queue(s), installs the rules, and classifies until stop(). Each NFQUEUE
 * batch is one EdgeCore batch and one verdictBatch: ACCEPT for all, the
 * packet mark set for packets of decided flows.
 */
export async function startEdge(config: EdgeConfig, options: StartEdgeOptions = {}): Promise<RunningEdge> {
  // The flow sets are the edge's own table: without it there is nothing to put verdicts in.
  if (config.netfilter.mode === 'stateless' && options.installRules === false) {
    throw new Error(`${config.file}: --no-rules cannot be used with netfilter.mode stateless: the edge keeps its verdicts in its own nftables table, which it installs and removes`);
  }
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const policy = new MarkPolicy(config.marks);
  const { set, warnings, notices } = loadEdgePatterns(config, policy.markedProtocols);
  for (const n of notices) log(`notice: ${n}`);
  for (const w of warnings) log(`warning: ${w}`);

  // Loaded here, not at module load: replay, `edge rules` and the unit tests
  // must work on a host where the addon is not built.
  const nfq = await import('@l7mesh/nfqueue').catch((err: unknown) => {
    throw new Error(`the NFQUEUE addon cannot be loaded (build it: npm run build --workspace @l7mesh/nfqueue): ${(err as Error).message.split('\n')[0]}`, { cause: err });
  });
  const netfilter = await import('@l7mesh/netfilter');

  const startedAt = Date.now();
  const stateless = config.netfilter.mode === 'stateless';
  let statelessEdge: StatelessEdge | undefined;
  /** Between a packet batch's start and its marks: a verdict then is the edge's own, its packets counted in it. */
  let inBatch = false;
  let conntrackErrors = 0;
  let undecodable = 0;
  // Remote mode: fail-open holds there too (packets never wait for the cluster), so a NATS that is down at start is no reason not to start.
  // A source-NATing router (conntrack mode) reports flows under their external tuple, from conntrack's reply tuple.
  const natLookup = !stateless && config.netfilter.natSide === 'external' ? conntrackReplyLookup(nfq.conntrackReply, (e) => log(`warning: conntrack lookup: ${(e as Error).message}`)) : undefined;
  const remote = config.cluster ? await connectRemoteEdge(config.cluster, true, log, config.records, natLookup) : undefined;
  // Flow records and accounting for the central store (remote mode with records enabled).
  const records = remote?.records ? startLiveRecords(config, remote.records, undefined, remote.joinedFlows(config.cluster!.zone), remote.externalName) : undefined;
  const core = new EdgeCore({
    set,
    config,
    policy,
    ...(remote ? { pipeline: remote.pipeline(config.cluster!.zone) } : {}),
    onDecision: (flow: EdgeFlow) => {
      statelessEdge?.onDecision(flow, inBatch);
      records?.flowDecided(flow);
    },
    // Stateless mode: the flow sets carry the marks; there may be no conntrack entry to mark.
    ...(stateless ? {} : { conntrack: nfConntrackMarker(nfq.setConntrackMark) }),
    // A burst of flows idling out together is ended over the following
    // packets (at most this many per packet) instead of stalling one batch.
    expiryBudget: LIVE_EXPIRY_BUDGET,
    onConntrackError: (flow: EdgeFlow, err: unknown) => {
      // One line per failure would flood the log under load; the counter and /flows tell the rest.
      if (conntrackErrors++ < 10) log(`warning: ctnetlink mark of ${flow.tuple.src}:${flow.tuple.sport} -> ${flow.tuple.dst}:${flow.tuple.dport}: ${(err as Error).message}`);
    },
    onUndecodable: (reason: string) => {
      // The first few tell the operator what arrives; /stats counts them all (packets.malformed, ...).
      if (undecodable++ < 10 || undecodable % 10_000 === 0) log(`warning: packet accepted undecoded (${undecodable} so far): ${reason}`);
    },
  });

  remote?.attach(core);
  let queue: NfQueue | undefined;
  /** Conntrack mode with records: whole connections' counters from DESTROY events and dumps. */
  let ctCounters: ConntrackCounters | undefined;
  let callbackErrors = 0;
  let queueErrors = 0;
  const sourceStats = (): Record<string, number> => {
    if (!queue || queue.closed) return {};
    const s = queue.stats();
    const out: Record<string, number> = {
      received: s.packets,
      verdicts: s.verdicts,
      verdict_messages: s.verdictMessages,
      verdict_errors: s.verdictErrors,
      enobufs: s.enobufs,
      truncated: s.truncated,
      parse_errors: s.parseErrors,
      callback_errors: callbackErrors,
    };
    try {
      let queueDropped = 0;
      let userDropped = 0;
      for (const p of queue.procStats()) {
        queueDropped += p.queueDropped;
        userDropped += p.userDropped;
      }
      out.queue_dropped = queueDropped;
      out.user_dropped = userDropped;
    } catch {
      // /proc unreadable: the native counters still stand.
    }
    return out;
  };
  const stats = () =>
    edgeStats(core, {
      mode: 'nfqueue',
      startedAt,
      config,
      source: sourceStats,
      ...(remote ? { cluster: remote.counters } : {}),
      ...(statelessEdge ? { stateless: statelessEdge.counters } : {}),
    });
  const server = await startEdgeServer(options.metricsPort ?? config.metrics.port, {
    registry: createEdgeMetrics(stats),
    stats,
    flows: () => core.liveFlows().map((f) => flowView(f, policy)),
  });

  const target: NetfilterTarget = options.netns ? { netns: options.netns } : {};
  const rules = edgeRulesConfig(config);
  let rulesInstalled = false;
  let stopped = false;

  /** Stateless mode: the batch's flows, for the verdicts' element codes after the batch. */
  const batchFlows: (FlowEntry | null)[] = [];
  // The verdicts' arrays, kept between batches (grown to the largest batch).
  let verdictMarks = new Uint32Array(0);
  let verdictSetMark = new Uint8Array(0);
  let verdictAccept = new Uint8Array(0);
  const onBatch = (batch: PacketBatch, q: NfQueue): void => {
    const n = batch.count;
    const ts = batch.timestampsUs;
    core.beginBatch();
    inBatch = true;
    for (let i = 0; i < n; i++) {
      const off = batch.offsets[i]!;
      const us = ts[i]!;
      // A mark set on a packet queued in INPUT is never saved to the
      // connmark (INPUT packets do not pass POSTROUTING): such a flow's
      // verdict also goes through ctnetlink.
      const saves = batch.hooks[i] !== HOOK_INPUT;
      const flow =
        us > 0
          ? core.ingestRange(batch.data, off, off + batch.lengths[i]!, batch.marks[i]!, Math.floor(us / 1e6), Math.round(us % 1e6) * 1e3, saves)
          : core.ingestRange(batch.data, off, off + batch.lengths[i]!, batch.marks[i]!, undefined, undefined, saves);
      if (statelessEdge) batchFlows[i] = flow;
    }
    const marks = core.endBatch();
    inBatch = false;
    if (statelessEdge) {
      for (let i = 0; i < n; i++) {
        const flow = batchFlows[i];
        // Cleared, not truncated after the loop: the array keeps its store for the next batch.
        batchFlows[i] = null;
        if (flow) marks[i] = statelessEdge.packetMark(flow, marks[i]!, batch.marks[i]!, batch.data, batch.offsets[i]!);
      }
      // The map's other changes before the verdicts: the flows' next packets meet them and are not queued.
      statelessEdge.commit();
    }
    if (verdictMarks.length < n) {
      verdictMarks = new Uint32Array(n);
      verdictSetMark = new Uint8Array(n);
      verdictAccept = new Uint8Array(n).fill(nfq.Verdict.ACCEPT);
    }
    const out = verdictMarks.subarray(0, n);
    const setMark = verdictSetMark.subarray(0, n);
    for (let i = 0; i < n; i++) {
      const m = marks[i]!;
      out[i] = m >= 0 ? m : 0;
      setMark[i] = m >= 0 ? 1 : 0;
    }
    // The whole batch, in delivery order: runs of packets going back alike share one netlink message.
    q.verdictBatch(batch.queues, batch.ids, verdictAccept.subarray(0, n), out, setMark, { whole: true });
    if (remote && n > 0) {
      // After the verdicts: the batch's new connections have passed source NAT, so their external tuples exist.
      remote.resolveNat();
      const us = ts[n - 1]!;
      if (us > 0) remote.advance(Math.floor(us / 1e6), Math.round(us % 1e6) * 1e3);
    }
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    if (rulesInstalled && !options.keepRules && !stateless) {
      try {
        await netfilter.removeEdgeRules(rules, target);
        log('edge: rules removed');
      } catch (err) {
        problems.push(`removing the rules: ${(err as Error).message}`);
      }
    }
    await statelessEdge?.stop(options.keepRules === true).catch((err: unknown) => problems.push(`removing the stateless table: ${(err as Error).message}`));
    try {
      queue?.close({ acceptPending: true });
    } catch (err) {
      problems.push(`closing the queue: ${(err as Error).message}`);
    }
    await core.settle();
    ctCounters?.stop();
    records?.finish();
    await remote?.close().catch((err: unknown) => problems.push(`closing the cluster link: ${(err as Error).message}`));
    await server.close();
    if (problems.length > 0) throw new Error(`edge: stop: ${problems.join('; ')}`);
  };

  try {
    queue = nfq.NfQueue.open({
      queues: config.queue.first === config.queue.last ? config.queue.first : [config.queue.first, config.queue.last],
      copyRange: config.queue.copyRange,
      maxLen: config.queue.maxLen,
      failOpen: true,
      // onBatch keeps nothing of a batch past its return (payloads are copied where kept).
      reuseBatch: true,
      onBatch,
      onError: (err) => {
        if (err.code === 'NFQ_CALLBACK') callbackErrors++;
        // The first few in full, then every 1000th: the counters in /stats say the rest.
        if (queueErrors++ < 10 || queueErrors % 1000 === 0) log(`warning: nfqueue: ${err.code}: ${err.message} (${queueErrors} so far)`);
      },
    });
    if (stateless) {
      // Element counters count the packets after the flow got elements: the edge's own counts at the verdict come on top.
      const counted = records && ((key: string, c: KernelCounters, ended: boolean) => records.flowCounters(key, c, { final: ended, scope: 'since-verdict' }));
      const resumed = records && ((flow: FlowEntry) => records.flowResumed(flow, policy.markOf(flow.l7)));
      statelessEdge = await startStateless(config, policy, nfq, netfilter, target, log, counted, resumed);
    } else if (options.installRules !== false) {
      const applied = await netfilter.applyEdgeRules(rules, target);
      rulesInstalled = true;
      const replaced = Object.values(applied.families).reduce((n, f) => n + (f?.replacedJumps ?? 0), 0);
      log(`edge: rules installed (${rules.families!.join(', ')}; conntrack accounting ${applied.accounting}${replaced > 0 ? `; replaced ${replaced} jumps left by an earlier run` : ''})`);
    }
    // After the rules (they switch conntrack accounting on): subscribe to DESTROY events, then dump what is open.
    if (records && !stateless) ctCounters = await ConntrackCounters.start({ sink: records, source: nfq, log });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  log(
    `edge: queue ${config.queue.first === config.queue.last ? config.queue.first : `${config.queue.first}-${config.queue.last}`} bound; ${set.patterns.length} patterns; ` +
      `metrics ${server.url}/metrics, ${server.url}/stats, ${server.url}/flows`,
  );
  return { config, core, server, queues: queue.queues, stats, stop };
}
