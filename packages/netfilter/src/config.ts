import { invalidConfig } from './errors.js';

/** Address family; each has its own ruleset and its own restore command. */
export type IpFamily = 'ipv4' | 'ipv6';

/**
 * Built-in mangle chains whose packets may be queued: FORWARD for traffic
 * routed through the edge, INPUT / OUTPUT for connections the edge host
 * itself terminates.
 */
export type QueueHook = 'FORWARD' | 'INPUT' | 'OUTPUT';

/** A fwmark value or mask: a number, or a string such as `0xff00` / `65280`. */
export type MarkValue = number | string;

/** Where queued packets go: one queue, or a range balanced by flow hash. */
export type QueueTarget =
  | { readonly num: number }
  | {
      /** First and last queue number (inclusive, first < last). */
      readonly balance: readonly [number, number];
      /** Pick the queue by CPU instead of flow hash (`--queue-cpu-fanout`). */
      readonly cpuFanout?: boolean;
    };

/** What the edge's netfilter rules are made of; every field has a default. */
export interface EdgeRulesConfig {
  /**
   * The fwmark bits l7mesh owns (default 0x0000ff00). Multi-homed edges
   * already use other fwmark bits for policy routing, so every rule keeps the
   * bits outside this mask, in the packet mark and in the connection mark.
   */
  readonly mask?: MarkValue;
  /** NFQUEUE target (default `{ num: 0 }`). Always with `--queue-bypass`. */
  readonly queue?: QueueTarget;
  /**
   * Queue only the first N packets of a connection, both directions together
   * (default 10, l7-filter's packet budget). See `renderEdgeRules` for how
   * the connbytes range is chosen.
   */
  readonly packets?: number;
  /** Chains whose TCP/UDP packets are queued (default `['FORWARD']`). */
  readonly hooks?: readonly QueueHook[];
  /** Families to install (default `['ipv4']`). */
  readonly families?: readonly IpFamily[];
  /**
   * TCP ports of FTP control connections given conntrack's FTP helper (raw
   * table, `CT --helper ftp`; default none). The kernel then creates each
   * data connection with its control connection's mark, so a data
   * connection opened after the control connection was classified carries
   * the same l7 bits and is never queued.
   */
  readonly ftpHelperPorts?: readonly number[];
}

/** A configuration with every default filled in and every value checked. */
export interface ResolvedEdgeRules {
  readonly mask: number;
  readonly queue: ResolvedQueueTarget;
  readonly packets: number;
  readonly hooks: readonly QueueHook[];
  readonly families: readonly IpFamily[];
  readonly ftpHelperPorts: readonly number[];
}

export const DEFAULT_L7_MASK = 0x0000ff00;
export const DEFAULT_PACKET_BUDGET = 10;
export const DEFAULT_QUEUE_NUM = 0;

const QUEUE_HOOKS: readonly QueueHook[] = ['FORWARD', 'INPUT', 'OUTPUT'];
export const IP_FAMILIES: readonly IpFamily[] = ['ipv4', 'ipv6'];
/** NFQUEUE queue numbers are 16 bits. */
const MAX_QUEUE = 0xffff;
/** connbytes compares 64-bit counters; keep the budget to something sane. */
const MAX_PACKET_BUDGET = 0xffffffff;

/** Formats a mark as iptables prints it: lower-case hex without padding. */
export function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

/** Formats a mark as 8 hex digits, for humans (`0x0000ff00`). */
export function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * Parses a 32-bit mark value given as a number or a decimal / `0x` hex
 * string; throws NF_INVALID_CONFIG naming `field` otherwise.
 */
export function parseMark(value: unknown, field: string): number {
  let n: number;
  if (typeof value === 'number') {
    n = value;
  } else if (typeof value === 'string' && /^(0x[0-9a-f]+|[0-9]+)$/i.test(value.trim())) {
    n = Number(value.trim());
  } else {
    throw invalidConfig(field, `${JSON.stringify(value)} is not a mark (a 32-bit number, decimal or 0x hex)`);
  }
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw invalidConfig(field, `${String(value)} is not a 32-bit unsigned mark`);
  }
  return n;
}

/** Parses and checks an l7 mask: a non-zero 32-bit value. */
export function parseMask(value: unknown, field = 'mask'): number {
  const mask = parseMark(value, field);
  if (mask === 0) throw invalidConfig(field, 'the l7 mask must not be 0 (l7mesh needs at least one mark bit)');
  return mask;
}

/**
 * Checks a verdict mark against the l7 mask: it must lie within the mask
 * (l7mesh may not set bits it does not own) and be non-zero under it (zero
 * l7 bits mean "not classified yet", so such a connection would be queued
 * again). Returns the parsed mark.
 */
export function checkL7Mark(value: unknown, mask: number, field: string): number {
  const mark = parseMark(value, field);
  if ((mark & ~mask) >>> 0 !== 0) {
    throw invalidConfig(
      field,
      `mark ${hex(mark)} lies outside the l7 mask ${hex32(mask)} (bits ${hex((mark & ~mask) >>> 0)} belong to other users of the fwmark)`,
    );
  }
  if (mark === 0) throw invalidConfig(field, `mark 0x0 means "not classified yet"; a verdict mark needs a bit of ${hex32(mask)}`);
  return mark;
}

function checkQueueNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_QUEUE) {
    throw invalidConfig(field, `${String(value)} is not a queue number (0 to ${MAX_QUEUE})`);
  }
  return value;
}

export function checkSubset<T extends string>(value: unknown, allowed: readonly T[], field: string): T[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidConfig(field, `must be a non-empty list of ${allowed.join(', ')}`);
  }
  const seen = new Set<T>();
  value.forEach((item: unknown, i) => {
    if (!allowed.includes(item as T)) throw invalidConfig(`${field}[${i}]`, `${JSON.stringify(item)} is not one of ${allowed.join(', ')}`);
    if (seen.has(item as T)) throw invalidConfig(`${field}[${i}]`, `${String(item)} is listed twice`);
    seen.add(item as T);
  });
  // Canonical order, so that the rendered rules do not depend on how the
  // list was written.
  return allowed.filter((a) => seen.has(a));
}

/** A checked queue target (NF_INVALID_CONFIG naming `queue.*` otherwise). */
export type ResolvedQueueTarget =
  | { readonly kind: 'num'; readonly num: number }
  | { readonly kind: 'balance'; readonly first: number; readonly last: number; readonly cpuFanout: boolean };

/** Checks a QueueTarget; shared by the conntrack edge rules and the stateless table. */
export function resolveQueueTarget(q: unknown): ResolvedQueueTarget {
  if (typeof q !== 'object' || q === null) throw invalidConfig('queue', 'must be { num } or { balance: [first, last] }');
  if ('num' in q && 'balance' in q) throw invalidConfig('queue', 'give either num or balance, not both');
  if ('num' in q) {
    if ('cpuFanout' in q && (q as { cpuFanout?: unknown }).cpuFanout) {
      throw invalidConfig('queue.cpuFanout', 'only applies to queue.balance');
    }
    return { kind: 'num', num: checkQueueNumber((q as { num: unknown }).num, 'queue.num') };
  }
  if ('balance' in q) {
    const b = (q as { balance: unknown }).balance;
    if (!Array.isArray(b) || b.length !== 2) throw invalidConfig('queue.balance', 'must be [first, last]');
    const first = checkQueueNumber(b[0], 'queue.balance[0]');
    const last = checkQueueNumber(b[1], 'queue.balance[1]');
    // iptables refuses first >= last ("3 should be less than 3"): one queue
    // is written as { num }.
    if (first >= last) throw invalidConfig('queue.balance', `${first}:${last} is not a range (first < last; for one queue use queue.num)`);
    const fanout: unknown = (q as { cpuFanout?: unknown }).cpuFanout ?? false;
    if (typeof fanout !== 'boolean') throw invalidConfig('queue.cpuFanout', 'must be true or false');
    return { kind: 'balance', first, last, cpuFanout: fanout };
  }
  throw invalidConfig('queue', 'must be { num } or { balance: [first, last] }');
}

/** Fills in the defaults and checks every value (NF_INVALID_CONFIG naming the field). */
export function resolveEdgeRules(config: EdgeRulesConfig = {}): ResolvedEdgeRules {
  const mask = config.mask === undefined ? DEFAULT_L7_MASK : parseMask(config.mask);
  const queue = resolveQueueTarget(config.queue ?? { num: DEFAULT_QUEUE_NUM });

  const packets = config.packets ?? DEFAULT_PACKET_BUDGET;
  if (typeof packets !== 'number' || !Number.isInteger(packets) || packets < 1 || packets > MAX_PACKET_BUDGET) {
    throw invalidConfig('packets', `${String(packets)} is not a packet budget (an integer from 1 to ${MAX_PACKET_BUDGET})`);
  }

  const hooks = checkSubset(config.hooks ?? ['FORWARD'], QUEUE_HOOKS, 'hooks');
  const families = checkSubset(config.families ?? ['ipv4'], IP_FAMILIES, 'families');
  const ftpHelperPorts = checkPorts(config.ftpHelperPorts ?? [], 'ftpHelperPorts');
  return { mask, queue, packets, hooks, families, ftpHelperPorts };
}

/** Distinct TCP ports 1-65535, sorted (the rendered rules do not depend on the order given). */
function checkPorts(value: unknown, field: string): number[] {
  if (!Array.isArray(value)) throw invalidConfig(field, 'must be a list of TCP ports');
  const seen = new Set<number>();
  value.forEach((port: unknown, i) => {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 0xffff) throw invalidConfig(`${field}[${i}]`, `${String(port)} is not a TCP port (1 to 65535)`);
    if (seen.has(port)) throw invalidConfig(`${field}[${i}]`, `${port} is listed twice`);
    seen.add(port);
  });
  return [...seen].sort((a, b) => a - b);
}
