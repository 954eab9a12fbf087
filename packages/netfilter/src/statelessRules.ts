import { hex, hex32, type IpFamily } from './config.js';
import {
  IPTABLES_MANGLE_PRIORITY,
  resolveStatelessRules,
  statelessElementsRenew,
  STATELESS_HOLD_CHAIN,
  STATELESS_WATCH_CHAIN,
  statelessLiveSetName,
  statelessMarkChain,
  statelessTargetSet,
  type ElementTarget,
  type QueueVia,
  type ResolvedStatelessRules,
  type StatelessRulesConfig,
} from './statelessConfig.js';

/**
 * The table's named counters (`nft list counters table inet <table>`), besides
 * one per mark chain named like the chain (`mark_0x100`).
 * - queued: unknown packets sent to NFQUEUE (with `queueVia: 'iptables'`:
 *   tagged for the iptables queue rule);
 * - over_rate: unknown packets over their source's rate, passed unqueued;
 * - held: packets of flows in a hold set;
 * - watched: packets of flows in a watch set (queued, or tagged, like
 *   unknown ones);
 * - no_verdict (`queueVia: 'iptables'` only): tagged packets that came back
 *   without l7 bits (no listener, or the edge had no verdict yet);
 * - learned: packets that came back from the edge with a verdict (a mark,
 *   or the hold code) and added their flow's two elements themselves.
 */
export const STATELESS_COUNTERS = {
  queued: 'queued',
  overRate: 'over_rate',
  held: 'held',
  watched: 'watched',
  noVerdict: 'no_verdict',
  learned: 'learned',
} as const;

/** Packets of flows in no flow set: rate check, then the queue. */
const UNKNOWN_CHAIN = 'unknown';
const BASE_CHAIN = 'prerouting';
/** Packets back from the queue: the verdict's elements are added here (and with queueVia iptables the tag of those without one is removed). */
const AFTER_QUEUE_CHAIN = 'after_queue';
const LEARN_HOLD_CHAIN = 'learn_hold';

const FAMILY = {
  ipv4: { addr: 'ipv4_addr', ip: 'ip', nfproto: 'ipv4', rateSet: 'rate4' },
  ipv6: { addr: 'ipv6_addr', ip: 'ip6', nfproto: 'ipv6', rateSet: 'rate6' },
} as const;

/**
 * How often the kernel walks a flow set for expired elements, when the edge
 * removes the elements of ended flows and re-adds live ones before they
 * expire (element counters): only an edge that stopped leaves expired ones,
 * and the kernel's default (every second) walked every element of the large
 * flow sets for nothing, a few percent of a CPU on the benchmark's router.
 */
const FLOW_SET_GC_SEC = 60;

/**
 * Elements that renew themselves expire on their own, and an expired
 * element takes room in its set until the kernel's walk frees it: walked a
 * few times per liveTimeout, they hold little room for long.
 */
function renewingGcSec(r: ResolvedStatelessRules): number {
  return Math.min(FLOW_SET_GC_SEC, Math.max(1, Math.floor(r.liveTimeoutSec / 4)));
}

/** Per-source meters: enough addresses for a busy edge; an idle source's meter expires and starts full again. */
const RATE_SET_SIZE = 65_536;

/** The packet's own 5-tuple, in the order of the flow-set and live-set keys. */
function tupleExpr(family: IpFamily): string {
  const ip = FAMILY[family].ip;
  return `${ip} saddr . meta l4proto . th sport . ${ip} daddr . th dport`;
}

/** The tuple of the packet's other direction (the flow's reply, or its request). */
function reverseTupleExpr(family: IpFamily): string {
  const ip = FAMILY[family].ip;
  return `${ip} daddr . meta l4proto . th dport . ${ip} saddr . th sport`;
}

function keyType(family: IpFamily): string {
  const a = FAMILY[family].addr;
  return `${a} . inet_proto . inet_service . ${a} . inet_service`;
}

/** `meta mark set (mark & ~mask) | value`: the operator's bits outside the mask are kept. */
function setL7Bits(r: ResolvedStatelessRules, value: number): string {
  return `meta mark set meta mark and ${hex32(~r.mask >>> 0)} or ${hex32(value)}`;
}

/** What sends a packet to the edge: nft's queue, or the tag the iptables queue rule matches (then the chain ends). */
function queueStatement(r: ResolvedStatelessRules, via: QueueVia): string {
  if (via === 'iptables') return setL7Bits(r, r.queueMark);
  if (r.queue.kind === 'num') return `queue num ${r.queue.num} bypass`;
  return `queue num ${r.queue.first}-${r.queue.last} bypass${r.queue.cpuFanout ? ',fanout' : ''}`;
}

/**
 * Every target's set and chain, in the order the base chain looks them up:
 * verdicts (marks, watch) before hold, so that a key a failed delete left in
 * hold cannot hide the verdict added after it.
 */
function targets(r: ResolvedStatelessRules): { target: ElementTarget; chain: string }[] {
  return [
    ...r.marks.map((mark) => ({ target: { mark }, chain: statelessMarkChain(mark) })),
    { target: 'watch', chain: STATELESS_WATCH_CHAIN },
    { target: 'hold', chain: STATELESS_HOLD_CHAIN },
  ];
}

/** The nft script of a resolved configuration, for one way of queueing. */
export function renderStatelessScript(r: ResolvedStatelessRules, via: QueueVia): string {
  const t = r.table;
  const lines: string[] = [
    // Create (harmless if it exists), delete, create anew: one transaction
    // that replaces whatever was there, so applying is idempotent. The flow
    // sets and live sets start empty again.
    `table inet ${t} {}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
  ];
  const counters: string[] = [STATELESS_COUNTERS.queued, STATELESS_COUNTERS.overRate, STATELESS_COUNTERS.held, STATELESS_COUNTERS.watched, STATELESS_COUNTERS.learned];
  if (via === 'iptables') counters.push(STATELESS_COUNTERS.noVerdict);
  counters.push(...r.marks.map(statelessMarkChain));
  for (const c of counters) lines.push(`\tcounter ${c} {}`);

  const renew = statelessElementsRenew(r);
  for (const f of r.families) {
    // Plain sets, not one verdict map: adding to a map whose elements jump
    // to chains makes the kernel validate every element of it on each
    // transaction (tens of ms at 100k, paid on the edge's packet path); a
    // set's add costs the same at any size. `counter` gives every element
    // its own packet and byte counters.
    const kind = renew ? ` timeout ${r.liveTimeoutSec}s; gc-interval ${renewingGcSec(r)}s;` : ` gc-interval ${FLOW_SET_GC_SEC}s;`;
    const counter = r.elementCounters ? ' counter;' : '';
    for (const { target } of targets(r)) {
      // dynamic: the after-queue chain adds elements from the packet path too.
      lines.push(`\tset ${statelessTargetSet(f, target)} { type ${keyType(f)}; flags dynamic,timeout;${kind} size ${r.mapSize};${counter} }`);
    }
    if (!renew) lines.push(`\tset ${statelessLiveSetName(f)} { type ${keyType(f)}; flags dynamic,timeout; timeout ${r.liveTimeoutSec}s; size ${r.mapSize}; }`);
    // A meter must outlive its bucket's refill time, or an expiry would hand
    // a busy source a fresh burst.
    const meterSec = Math.max(10, Math.ceil(r.perSourceRate.burst / r.perSourceRate.packets));
    lines.push(`\tset ${FAMILY[f].rateSet} { type ${FAMILY[f].addr}; flags dynamic,timeout; timeout ${meterSec}s; size ${RATE_SET_SIZE}; }`);
  }

  // Each update is a rule of its own: a full set makes an update fail and
  // end its rule, and what follows must not depend on it. Renewing
  // elements: both of the flow's, so that a flow live in one direction
  // keeps the other's too (an update adds an element that is missing).
  const liveUpdates = (target: ElementTarget): string[] =>
    r.families.flatMap((f) =>
      renew
        ? [tupleExpr(f), reverseTupleExpr(f)].map((t) => `\t\tupdate @${statelessTargetSet(f, target)} { ${t} }`)
        : [`\t\tupdate @${statelessLiveSetName(f)} { ${tupleExpr(f)} }`],
    );
  lines.push(`\tchain ${STATELESS_HOLD_CHAIN} {`, `\t\tcounter name ${STATELESS_COUNTERS.held}`, ...liveUpdates('hold'), '\t\taccept', '\t}');
  // No rate limit: a watched flow already has its verdict, and the edge must
  // see every one of its packets to follow the data connections it announces.
  lines.push(`\tchain ${STATELESS_WATCH_CHAIN} {`, `\t\tcounter name ${STATELESS_COUNTERS.watched}`, ...liveUpdates('watch'), `\t\t${queueStatement(r, via)}`, '\t}');
  for (const mark of r.marks) {
    const chain = statelessMarkChain(mark);
    lines.push(`\tchain ${chain} {`, `\t\t${setL7Bits(r, mark)}`, `\t\tcounter name ${chain}`, ...liveUpdates({ mark }), '\t\taccept', '\t}');
  }

  lines.push(`\tchain ${UNKNOWN_CHAIN} {`);
  const { packets, burst } = r.perSourceRate;
  for (const f of r.families) {
    // A meter element per source address; the rule matches only while that
    // source is over its rate. A full meter set ends the rule too, so the
    // packet is queued: fail towards classification, the queue bypasses.
    lines.push(
      `\t\tupdate @${FAMILY[f].rateSet} { ${FAMILY[f].ip} saddr limit rate over ${packets}/second burst ${burst} packets }` +
        ` counter name ${STATELESS_COUNTERS.overRate} accept`,
    );
  }
  if (via === 'nft') lines.push(`\t\tcounter name ${STATELESS_COUNTERS.queued} ${queueStatement(r, via)}`);
  else lines.push(`\t\t${queueStatement(r, via)} counter name ${STATELESS_COUNTERS.queued}`);
  lines.push('\t}');

  lines.push(`\tchain ${BASE_CHAIN} {`, `\t\ttype filter hook prerouting priority ${r.priority}; policy accept;`);
  if (r.interfaces) lines.push(`\t\tiifname != { ${r.interfaces.map((i) => `"${i}"`).join(', ')} } return`);
  // Transit traffic only: the router's own (loopback, its management plane, the edge's NATS and /stats) is neither queued nor marked.
  lines.push('\t\tiifname "lo" return', '\t\tfib daddr type local return');
  lines.push('\t\tmeta l4proto != { tcp, udp } return');
  if (r.families.length === 1) lines.push(`\t\tmeta nfproto != ${FAMILY[r.families[0]!].nfproto} return`);
  // No ct state anywhere: on a multi-homed edge conntrack sees one direction
  // and calls the packets INVALID; they are handled like any other.
  // One lookup per target: an unknown packet pays a few hash lookups more
  // than with one map, little next to queueing it.
  for (const f of r.families) {
    for (const { target, chain } of targets(r)) lines.push(`\t\t${tupleExpr(f)} @${statelessTargetSet(f, target)} goto ${chain}`);
  }
  lines.push(`\t\tgoto ${UNKNOWN_CHAIN}`, '\t}');

  lines.push(...afterQueueChains(r, via), '}');
  return lines.join('\n') + '\n';
}

/**
 * Where a queued packet goes on after the edge's verdict: its flow's
 * elements are added right here by the kernel, from the verdict's l7 bits
 * (a mark: that mark's set; holdMark: the hold set, and the code is
 * cleared), so a flow decided in a packet batch costs the edge no netlink
 * transaction, and its next packet already meets them. Only flows in no
 * set yet are added (inverted lookups, which leave element counters alone),
 * never an FTP control connection in the watch set, which stays queued.
 * A new element's counters count the packet that adds it, one per
 * direction: the edge subtracts that packet (VerdictMap). Marked packets
 * of flows with elements pass here too and cost one lookup.
 * Runs after the queue: iptables' mangle + 1 with the tag, our own chain + 1
 * with nft's queue statement (re-injection continues at the next hook).
 */
function afterQueueChains(r: ResolvedStatelessRules, via: QueueVia): string[] {
  const clear = `meta mark set meta mark and ${hex32(~r.mask >>> 0)}`;
  const priority = via === 'iptables' ? IPTABLES_MANGLE_PRIORITY + 1 : r.priority + 1;
  const lines = [`\tchain ${AFTER_QUEUE_CHAIN} {`, `\t\ttype filter hook prerouting priority ${priority}; policy accept;`];
  if (via === 'iptables') lines.push(`\t\tmeta mark and ${hex32(r.mask)} == ${hex32(r.queueMark)} ${clear} counter name ${STATELESS_COUNTERS.noVerdict} return`);
  const codes = [`${hex32(r.holdMark)} : jump ${LEARN_HOLD_CHAIN}`, ...r.marks.map((mark) => `${hex32(mark)} : jump ${learnChain(mark)}`)];
  lines.push(`\t\tmeta mark and ${hex32(r.mask)} vmap { ${codes.join(', ')} }`, '\t}');

  const learn = (f: IpFamily, target: ElementTarget, guard: string): string => {
    const set = statelessTargetSet(f, target);
    // Renewing elements take the set's timeout (liveTimeoutSec).
    const timeout = statelessElementsRenew(r) ? '' : ` timeout ${r.elementTimeoutSec}s`;
    return (
      `\t\t${tupleExpr(f)} != @${set}${guard} add @${set} { ${tupleExpr(f)}${timeout} }` +
      ` add @${set} { ${reverseTupleExpr(f)}${timeout} } counter name ${STATELESS_COUNTERS.learned}`
    );
  };
  lines.push(`\tchain ${LEARN_HOLD_CHAIN} {`, `\t\t${clear}`, ...r.families.map((f) => learn(f, 'hold', '')), '\t}');
  for (const mark of r.marks) {
    const rules = r.families.map((f) => learn(f, { mark }, ` ${tupleExpr(f)} != @${statelessTargetSet(f, 'watch')}`));
    lines.push(`\tchain ${learnChain(mark)} {`, ...rules, '\t}');
  }
  return lines;
}

/** The after-queue chain that adds a mark's elements (`learn_0x100`). */
function learnChain(mark: number): string {
  return `learn_${hex(mark)}`;
}

/** The nft script that removes table `table` (harmless when it is absent). */
export function renderStatelessRemoval(table: string): string {
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}

/** The comment that marks our iptables queue rule (`queueVia: 'iptables'`), per table. */
export function statelessQueueTag(table: string): string {
  return `l7mesh-stateless:${table}`;
}

/**
 * `queueVia: 'iptables'`: the mangle PREROUTING rule (without `-A
 * PREROUTING`, words in iptables-save's order) that queues packets our table
 * tagged with queueMark. Appended, like the conntrack edge's queue jump, so
 * the operator's mangle rules run first.
 */
export function statelessQueueRuleSpec(r: ResolvedStatelessRules): string {
  const target =
    r.queue.kind === 'num'
      ? `--queue-num ${r.queue.num} --queue-bypass`
      : `--queue-balance ${r.queue.first}:${r.queue.last} --queue-bypass${r.queue.cpuFanout ? ' --queue-cpu-fanout' : ''}`;
  return `-m mark --mark ${hex(r.queueMark)}/${hex(r.mask)} -m comment --comment "${statelessQueueTag(r.table)}" -j NFQUEUE ${target}`;
}

/**
 * The complete nft script that atomically (re)creates the stateless edge
 * table: per family a flow set per target (5-tuples with timeouts and
 * counters; `statelessTargetSet`), a live set and per-source meters; a
 * prerouting chain that sends a packet whose flow is in a target's set to
 * that target's chain (a mark's chain sets the mark, `hold` passes it,
 * `watch` queues it), and the others, within their source's rate, to
 * NFQUEUE with bypass. Without `queueVia` the script is
 * the `nft` one (apply may choose `iptables`, see QueueVia); with
 * `queueVia: 'iptables'` it also needs `statelessQueueRuleSpec`'s rule.
 */
export function renderStatelessRules(config: StatelessRulesConfig): string {
  const r = resolveStatelessRules(config);
  return renderStatelessScript(r, r.queueVia === 'auto' ? 'nft' : r.queueVia);
}
