import {
  checkL7Mark,
  checkSubset,
  DEFAULT_L7_MASK,
  DEFAULT_QUEUE_NUM,
  hex,
  IP_FAMILIES,
  parseMask,
  resolveQueueTarget,
  type IpFamily,
  type MarkValue,
  type QueueTarget,
  type ResolvedQueueTarget,
} from './config.js';
import { invalidConfig, invalidElement } from './errors.js';

/**
 * How unknown packets reach NFQUEUE:
 * - `nft`: the table's own `queue` statement (needs nft_queue,
 *   CONFIG_NFT_QUEUE; Debian's kernels have it as a module);
 * - `iptables`: kernels without nft_queue (the 6.18 test kernel) still have
 *   xt_NFQUEUE. The table then tags unknown packets with `queueMark` under
 *   the mask, one `iptables -t mangle -A PREROUTING -m mark` rule (priority
 *   -150, after our chain) queues the tagged ones, and a later chain of ours
 *   (priority -149) removes the tag from packets that come back without l7
 *   bits (no listener: bypass; or the edge had no verdict yet).
 * Absent: `applyStatelessRules` asks the kernel (`nft -c` of a queue rule).
 */
export type QueueVia = 'nft' | 'iptables';

/** What the stateless edge table is made of; `marks` is the only required field. */
export interface StatelessRulesConfig {
  /** The nft table (family inet) that is ours alone; default `l7mesh`. */
  readonly table?: string;
  /** Families whose packets are handled (default `['ipv4']`). */
  readonly families?: readonly IpFamily[];
  /** The fwmark bits l7mesh owns (default 0x0000ff00); every other bit is kept. */
  readonly mask?: MarkValue;
  /** The distinct l7 mark values verdicts use; one chain each (`statelessMarkChain`). */
  readonly marks: readonly MarkValue[];
  /** NFQUEUE target for packets of flows in no flow set, and of watched flows (default `{ num: 0 }`), always with bypass. */
  readonly queue?: QueueTarget;
  readonly queueVia?: QueueVia;
  /** The tag of `queueVia: 'iptables'` (default: the whole mask); not one of `marks`. */
  readonly queueMark?: MarkValue;
  /**
   * Priority of our prerouting chain (default -160): after raw (-300) and
   * conntrack (-200), so the operator's earlier marks are in place and ours
   * are kept; before iptables' mangle (-150), which `queueVia: 'iptables'`
   * needs; and, being prerouting, before the routing decision, so `ip rule
   * fwmark` sees the l7 bits.
   */
  readonly priority?: number;
  /** Maximum elements of each flow set (one per family and target) and of each live set (default 262144). */
  readonly mapSize?: number;
  /**
   * A flow counts as live this long after its last packet (default 30 s):
   * it stays in the live set that long, or, without element counters, its
   * elements expire that long after it.
   */
  readonly liveTimeoutSec?: number;
  /** With element counters: the expiry of the elements the kernel adds itself from a verdict's packet in the after-queue chain (default 3600 s). */
  readonly elementTimeoutSec?: number;
  /**
   * Whether every flow-set element has its own `counter` (default true):
   * what a flow's packets did after its verdict, for accounting. Without,
   * an element costs the kernel no per-CPU memory, which a burst of new
   * flows can run out of on the packet path, and the elements renew
   * themselves (see statelessElementsRenew).
   */
  readonly elementCounters?: boolean;
  /** Unknown packets per source address above this rate pass unqueued (default 2000/s, burst 4000). */
  readonly perSourceRate?: { readonly packets: number; readonly burst: number };
  /** Only packets arriving on these interfaces (iifname); absent = all. */
  readonly interfaces?: readonly string[];
}

export interface ResolvedStatelessRules {
  readonly table: string;
  readonly families: readonly IpFamily[];
  readonly mask: number;
  /** Sorted ascending. */
  readonly marks: readonly number[];
  readonly queue: ResolvedQueueTarget;
  /** `auto`: not given; apply decides. */
  readonly queueVia: QueueVia | 'auto';
  readonly queueMark: number;
  /**
   * The l7 bits of a verdict that holds its flow (no verdict yet, stop
   * queueing it): the highest value under the mask that is neither a
   * verdict mark nor queueMark.
   */
  readonly holdMark: number;
  readonly priority: number;
  readonly mapSize: number;
  readonly liveTimeoutSec: number;
  readonly elementTimeoutSec: number;
  readonly elementCounters: boolean;
  readonly perSourceRate: { readonly packets: number; readonly burst: number };
  /** Undefined: every interface. */
  readonly interfaces: readonly string[] | undefined;
}

export const DEFAULT_STATELESS_TABLE = 'l7mesh';
export const DEFAULT_STATELESS_PRIORITY = -160;
export const DEFAULT_MAP_SIZE = 262_144;
export const DEFAULT_LIVE_TIMEOUT_SEC = 30;
export const DEFAULT_ELEMENT_TIMEOUT_SEC = 3600;
export const DEFAULT_PER_SOURCE_RATE = { packets: 2000, burst: 4000 } as const;

/** iptables' mangle PREROUTING priority: with `queueVia: 'iptables'` our chain must come before it. */
export const IPTABLES_MANGLE_PRIORITY = -150;

/** The chain of flows with no verdict yet that should not be queued any more. */
export const STATELESS_HOLD_CHAIN = 'hold';

/**
 * The chain of flows whose packets the edge still reads after their verdict
 * (FTP control connections: PORT/PASV announce the data connections): queued
 * without a rate limit, and the edge marks them in its verdict.
 */
export const STATELESS_WATCH_CHAIN = 'watch';

/** Where a flow-set element sends its packets: a mark chain, `hold` or `watch`. */
export type ElementTarget = { readonly mark: number } | 'hold' | 'watch';

/** The chain a mark set's flows go to for l7 mark `mark` (`mark_0x100`). */
export function statelessMarkChain(mark: number): string {
  return `mark_${hex(mark)}`;
}

const FAMILY_DIGIT: Record<IpFamily, string> = { ipv4: '4', ipv6: '6' };

/**
 * The set of one family's flows (5-tuple, one direction) that go to
 * `target`'s chain: `flows4_0x100`, `flows4_hold`, `flows6_watch`.
 * NF_INVALID_ELEMENT naming `field` for a target that is none of those.
 */
export function statelessTargetSet(family: IpFamily, target: ElementTarget, field = 'target'): string {
  let name: string;
  if (target === 'hold' || target === 'watch') name = target;
  else {
    const mark: unknown = typeof target === 'object' && target !== null ? (target as { mark?: unknown }).mark : undefined;
    if (typeof mark !== 'number' || !Number.isInteger(mark) || mark <= 0 || mark > 0xffffffff) {
      throw invalidElement(field, `${JSON.stringify(target)} is not 'hold', 'watch' or { mark } with a non-zero 32-bit mark`);
    }
    name = hex(mark);
  }
  const digit = FAMILY_DIGIT[family];
  if (digit === undefined) throw invalidElement('family', `${JSON.stringify(family)} is not ipv4 or ipv6`);
  return `flows${digit}_${name}`;
}

/**
 * Whether the flow sets' elements renew themselves: without element
 * counters nothing needs to be read from them before they go, so every
 * packet of a flow renews both of its elements' expiry (liveTimeoutSec)
 * from the packet path, and an idle flow's elements expire on their own.
 * There is then no live set, and the edge reads and removes nothing. With
 * counters, the edge must read an ended flow's counts before its elements
 * go: the live set tells it which flows ended, and it removes their
 * elements (which otherwise last elementTimeoutSec).
 */
export function statelessElementsRenew(r: Pick<ResolvedStatelessRules, 'elementCounters'>): boolean {
  return !r.elementCounters;
}

/** Each family's live set (with element counters): tuples that passed a mark, hold or watch chain within liveTimeoutSec. */
export function statelessLiveSetName(family: IpFamily): string {
  return family === 'ipv4' ? 'live4' : 'live6';
}

/** An nft identifier we can write unquoted and that cannot read as anything else. */
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
/** Interface names as the kernel allows them (IFNAMSIZ 16), minus characters nft would treat specially. */
const IFNAME = /^[A-Za-z0-9_.:@+-]{1,15}$/;
const MAX_MAP_SIZE = 1 << 26;

/** Checks a table name (NF_INVALID_CONFIG naming `table`). */
export function checkTableName(table: unknown): string {
  if (typeof table !== 'string' || !TABLE_NAME.test(table)) {
    throw invalidConfig('table', `${JSON.stringify(table)} is not a table name (a letter, then letters, digits or _; at most 32)`);
  }
  return table;
}

function checkInteger(value: unknown, field: string, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidConfig(field, `${String(value)} is not ${what} (an integer from ${min} to ${max})`);
  }
  return value;
}

/** Fills in the defaults and checks every value (NF_INVALID_CONFIG naming the field). */
export function resolveStatelessRules(config: StatelessRulesConfig): ResolvedStatelessRules {
  if (typeof config !== 'object' || config === null) throw invalidConfig('marks', 'a configuration with marks is required');
  const table = checkTableName(config.table ?? DEFAULT_STATELESS_TABLE);
  const families = checkSubset(config.families ?? ['ipv4'], IP_FAMILIES, 'families');
  const mask = config.mask === undefined ? DEFAULT_L7_MASK : parseMask(config.mask);

  if (!Array.isArray(config.marks)) throw invalidConfig('marks', 'must be a list of l7 mark values');
  const marks = new Set<number>();
  config.marks.forEach((value: unknown, i) => {
    const mark = checkL7Mark(value, mask, `marks[${i}]`);
    if (marks.has(mark)) throw invalidConfig(`marks[${i}]`, `${hex(mark)} is listed twice`);
    marks.add(mark);
  });

  const queue = resolveQueueTarget(config.queue ?? { num: DEFAULT_QUEUE_NUM });
  const queueVia = config.queueVia ?? 'auto';
  if (queueVia !== 'auto' && queueVia !== 'nft' && queueVia !== 'iptables') {
    throw invalidConfig('queueVia', `${JSON.stringify(queueVia)} is not nft or iptables`);
  }
  const queueMark = config.queueMark === undefined ? mask : checkL7Mark(config.queueMark, mask, 'queueMark');
  if (marks.has(queueMark)) throw invalidConfig('queueMark', `${hex(queueMark)} is also a verdict mark (marks); the tag must differ from every verdict`);

  const holdMark = highestFreeValue(mask, [...marks, queueMark]);
  if (holdMark === undefined) throw invalidConfig('marks', `the mask ${hex(mask)} has no value left for the hold code beside the marks and queueMark`);

  const priority = checkInteger(config.priority ?? DEFAULT_STATELESS_PRIORITY, 'priority', -1000, 1000, 'a hook priority');
  // A chain at iptables' own priority would run before or after it depending
  // on which was registered first.
  if (queueVia === 'iptables' && priority >= IPTABLES_MANGLE_PRIORITY) {
    throw invalidConfig('priority', `${priority} must be below ${IPTABLES_MANGLE_PRIORITY} (iptables' mangle) with queueVia iptables`);
  }
  const mapSize = checkInteger(config.mapSize ?? DEFAULT_MAP_SIZE, 'mapSize', 1, MAX_MAP_SIZE, 'a map size');
  const liveTimeoutSec = checkInteger(config.liveTimeoutSec ?? DEFAULT_LIVE_TIMEOUT_SEC, 'liveTimeoutSec', 1, 86_400, 'a timeout in seconds');
  const elementTimeoutSec = checkInteger(config.elementTimeoutSec ?? DEFAULT_ELEMENT_TIMEOUT_SEC, 'elementTimeoutSec', 1, 86_400, 'a timeout in seconds');
  const elementCounters: unknown = config.elementCounters ?? true;
  if (typeof elementCounters !== 'boolean') throw invalidConfig('elementCounters', `must be true or false, got ${JSON.stringify(elementCounters)}`);

  const rate: unknown = config.perSourceRate ?? DEFAULT_PER_SOURCE_RATE;
  if (typeof rate !== 'object' || rate === null) throw invalidConfig('perSourceRate', 'must be { packets, burst }');
  const perSourceRate = {
    packets: checkInteger((rate as { packets?: unknown }).packets, 'perSourceRate.packets', 1, 10_000_000, 'a rate in packets per second'),
    burst: checkInteger((rate as { burst?: unknown }).burst, 'perSourceRate.burst', 1, 10_000_000, 'a burst in packets'),
  };

  let interfaces: string[] | undefined;
  if (config.interfaces !== undefined) {
    if (!Array.isArray(config.interfaces) || config.interfaces.length === 0) {
      throw invalidConfig('interfaces', 'must be a non-empty list of interface names (leave it out for all interfaces)');
    }
    const seen = new Set<string>();
    config.interfaces.forEach((name: unknown, i) => {
      if (typeof name !== 'string' || !IFNAME.test(name)) throw invalidConfig(`interfaces[${i}]`, `${JSON.stringify(name)} is not an interface name`);
      if (seen.has(name)) throw invalidConfig(`interfaces[${i}]`, `${name} is listed twice`);
      seen.add(name);
    });
    interfaces = [...seen].sort();
  }

  return {
    table,
    families,
    mask,
    marks: [...marks].sort((a, b) => a - b),
    queue,
    queueVia,
    queueMark,
    holdMark,
    priority,
    mapSize,
    liveTimeoutSec,
    elementTimeoutSec,
    elementCounters,
    perSourceRate,
    interfaces,
  };
}

/**
 * The highest non-zero value under `mask` (its bits only) not in `taken`:
 * counting down through the mask's values, so with 0xff00 that is 0xfe00
 * when 0xff00 is the tag.
 */
function highestFreeValue(mask: number, taken: readonly number[]): number | undefined {
  const used = new Set(taken);
  const low = (mask & -mask) >>> 0;
  // Values under a mask with gaps are not consecutive: step down and keep the mask's bits.
  for (let v = mask; v > 0; v = ((v - low) & mask) >>> 0) {
    if (!used.has(v)) return v;
  }
  return undefined;
}
