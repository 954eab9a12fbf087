import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TIMEOUTS, MAX_DATA_LEN_LIMIT, type FlowTimeouts } from '@l7mesh/flow';
import { parseDocument } from 'yaml';
import { z } from 'zod';

/** The project's own pattern library (repo/patterns), used when the config names none. */
export const PROJECT_PATTERNS_DIR = fileURLToPath(new URL('../../../patterns/', import.meta.url));

export const DEFAULT_MASK = 0x0000ff00;
export const DEFAULT_METRICS_PORT = 9917;
/** Idle timeout of an open TCP flow in the edge's table (see docs/edge.md: the edge never sees FINs of decided flows). */
export const DEFAULT_EDGE_TCP_OPEN_TIMEOUT = 600;

export type IpFamily = 'ipv4' | 'ipv6';

/** A configuration with every default filled in and every value checked. */
export interface EdgeConfig {
  /** The file it was read from (absolute), or a label for in-memory text. */
  file: string;
  queue: {
    /** First and last queue number (equal for one queue). */
    first: number;
    last: number;
    /** Bytes of each packet copied to the edge (must cover whole packets: the decoder needs them). */
    copyRange: number;
    /** Packets the kernel may hold in the queue; beyond it they are accepted (fail-open). */
    maxLen: number;
  };
  netfilter: {
    /**
     * conntrack (symmetric routers): connmark, connbytes and ctnetlink.
     * stateless (routers that may see one direction of a connection): verdicts
     * in nftables sets keyed on the 5-tuple, applied in prerouting.
     */
    mode: 'conntrack' | 'stateless';
    stateless: StatelessSettings;
    /**
     * A router that source-NATs (conntrack mode, remote): report flows under
     * the tuple after NAT (`external`, what the other routers and the server
     * see) or before it (`internal`).
     */
    natSide: 'external' | 'internal';
    mask: number;
    chains: { forward: boolean; input: boolean; output: boolean };
    families: IpFamily[];
    /** connbytes budget of the queue rule: packets 1..maxPackets of a connection are queued. */
    maxPackets: number;
    /** Attach conntrack's FTP helper on classification.ftpPorts, so data connections start with their control connection's mark. */
    ftpHelper: boolean;
  };
  classification: {
    patterns: string[];
    order: string[];
    maxPackets: number;
    /** l7-filter's maxdatalen. */
    maxBytes: number;
    engine: 'hyperscan' | 'reference';
    ftpPorts: number[];
  };
  marks: {
    mask: number;
    unknown: number;
    /** Mark of a protocol with no mark of its own nor a group (none: such flows are not marked). */
    default: number | undefined;
    protocols: Record<string, number>;
    groups: Record<string, { mark: number; protocols: string[] }>;
  };
  flows: { maxFlows: number; timeouts: FlowTimeouts };
  metrics: { port: number };
  /** Remote mode: classification by the cluster's workers over NATS (absent: in process). */
  cluster: ClusterConfig | undefined;
  /** How the edge accounts traffic (per interval, interface, protocol and the customer side's direction). */
  accounting: AccountingConfig;
  /** Flow records and accounting published to the cluster's records stream (remote mode only). */
  records: RecordsConfig;
}

/** The `accounting:` block. */
export interface AccountingConfig {
  /** The uplink interface traffic is accounted to (undefined: a replay uses the capture's file name, a live edge `default`). */
  interface: string | undefined;
  /** Customer prefixes: a packet from one goes `out`, to one `in`. Undefined: the side that opened the connection is the customer's. */
  customerNetworks: string[] | undefined;
  /** Accounting interval (s): deltas are published at its end (a replay's intervals follow the capture's clock). */
  intervalSec: number;
}

/** The `records:` block. */
export interface RecordsConfig {
  /** Publish flow records and accounting (default true; needs `cluster:`). */
  enabled: boolean;
  /** Records and deltas kept while NATS does not acknowledge them; newer ones are dropped (counted) past it. */
  maxBuffered: number;
  /** Pending records are published at least this often (ms). */
  flushMs: number;
}

/** The stateless mode's nftables table (see docs/edge.md, "Multi-homed edges"). */
export interface StatelessSettings {
  /** The edge's own table (family inet); nothing else is touched. */
  table: string;
  /** Priority of the prerouting hook (undefined: the netfilter package's, between conntrack and mangle; always before the routing decision). */
  priority: number | undefined;
  /** Elements per flow set (one set per family and target; each flow takes two elements: one per direction). */
  mapSize: number;
  /** Seconds a flow stays in the live set after its last packet. */
  liveTimeoutSec: number;
  /** Expiry of a flow-set element (s): the edge re-adds elements of live flows before it, so it only ends elements an edge left behind. */
  elementTimeoutSec: number;
  /** How often the edge reads the live set and ends the elements of flows gone from it (s). */
  sweepSec: number;
  /** Whether each flow-set element has its own counter (`auto` in the file: when the edge publishes flow records, which carry them). */
  elementCounters: boolean;
  /** Queued packets per second per source address (and burst) of flows with no elements; past them packets pass unqueued. */
  perSourceRate: number;
  perSourceBurst: number;
  /** Input interfaces whose packets are classified (absent: all). */
  interfaces: string[] | undefined;
}

export interface ClusterConfig {
  /** NATS servers (all of a cluster's, so the edge can move to another). */
  servers: string[];
  /** This edge's id: its verdict subject's last token. */
  id: string;
  /** Address space of the networks behind this router (overlapping private/CGNAT ranges get different zones). */
  zone: number;
  /** Subject, stream and bucket prefix of the cluster. */
  prefix: string;
  partitions: number;
  /** Segments wait at most this long before they are published (ms); 0 (default): at the end of each packet batch. */
  flushMs: number;
  /** An unanswered flow is sent again after this long (ms). */
  resendMs: number;
  /** A flow with no verdict after this long is `unknown` here (ms). */
  verdictTimeoutMs: number;
  user: string | undefined;
  pass: string | undefined;
  token: string | undefined;
  credsFile: string | undefined;
  tls: { caFile?: string; certFile?: string; keyFile?: string } | undefined;
}

/** Default NATS server of a cluster on one machine. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** A configuration problem; the message names the file and the key path. */
export class EdgeConfigError extends Error {
  override readonly name = 'EdgeConfigError';
  readonly code = 'EDGE_CONFIG';
  constructor(
    readonly file: string,
    /** One line per problem: `key.path: reason` (or `line:col: reason` for YAML syntax). */
    readonly problems: string[],
  ) {
    super(`${file}: ${problems[0] ?? 'invalid configuration'}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`);
  }

  /** Every problem on its own line, each prefixed with the file name. */
  get details(): string[] {
    return this.problems.slice(1).map((p) => `${this.file}: ${p}`);
  }
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

// ------------------------------------------------------------------ schema

/** A 32-bit mark: a YAML integer (0x100 is one in YAML 1.2) or a "0x…"/decimal string. */
const mark = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\s*(0x[0-9a-f]+|[0-9]+)\s*$/i.test(v) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a 32-bit mark (an unsigned integer, decimal or 0x hex)` });
    return z.NEVER;
  }
  return n;
});

const int = (min: number, max: number) =>
  z.number({ error: (iss) => (iss.input === undefined ? 'is required' : `${JSON.stringify(iss.input)} is not a number`) }).refine((n) => Number.isInteger(n) && n >= min && n <= max, {
    error: (iss) => `${String(iss.input)} is not an integer from ${min} to ${max}`,
  });

const queueNumber = int(0, 0xffff);
const protocolName = z.string().regex(/^[a-z0-9_.+-]+$/i, { error: (iss) => `${JSON.stringify(iss.input)} is not a protocol name` });

const STATELESS_DEFAULTS = { table: 'l7mesh', mapSize: 262_144, liveTimeout: 30, elementTimeout: 3600, sweepInterval: 5, elementCounters: 'auto' as const, perSourceRate: 2000, perSourceBurst: 4000 };

const schema = z.strictObject({
  queue: z
    .strictObject({
      num: queueNumber.optional(),
      range: z.tuple([queueNumber, queueNumber]).optional(),
      copyRange: int(128, 0xffff).default(0xffff),
      maxLen: int(1, 1 << 20).default(4096),
    })
    .default({ copyRange: 0xffff, maxLen: 4096 }),
  netfilter: z
    .strictObject({
      mode: z.enum(['conntrack', 'stateless']).default('conntrack'),
      natSide: z.enum(['external', 'internal']).default('external'),
      stateless: z
        .strictObject({
          table: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, { error: 'a table name is 1 to 32 lowercase letters, digits or _, starting with a letter' }).default('l7mesh'),
          priority: int(-400, 400).optional(),
          mapSize: int(64, 1 << 26).default(262_144),
          liveTimeout: int(1, 86_400).default(30),
          elementTimeout: int(60, 86_400).default(3600),
          sweepInterval: int(1, 3600).default(5),
          elementCounters: z.union([z.literal('auto'), z.boolean()]).default('auto'),
          perSourceRate: int(1, 10_000_000).default(2000),
          perSourceBurst: int(1, 10_000_000).default(4000),
          interfaces: z.array(z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, { error: (iss) => `${JSON.stringify(iss.input)} is not an interface name` })).min(1).optional(),
        })
        .default(STATELESS_DEFAULTS),
      mask: mark.optional(),
      chains: z.strictObject({ forward: z.boolean().default(true), input: z.boolean().default(false), output: z.boolean().default(false) }).default({ forward: true, input: false, output: false }),
      families: z.array(z.enum(['ipv4', 'ipv6'])).min(1).default(['ipv4']),
      maxPackets: int(1, 1_000_000).optional(),
      ftpHelper: z.boolean().default(true),
    })
    .default({ mode: 'conntrack', natSide: 'external', stateless: STATELESS_DEFAULTS, chains: { forward: true, input: false, output: false }, families: ['ipv4'], ftpHelper: true }),
  classification: z
    .strictObject({
      patterns: z.array(z.string().min(1)).optional(),
      order: z.array(protocolName).default([]),
      maxPackets: int(1, 1_000_000).default(10),
      maxBytes: int(2, MAX_DATA_LEN_LIMIT).optional(),
      maxDataLen: int(2, MAX_DATA_LEN_LIMIT).optional(),
      engine: z.enum(['hyperscan', 'reference']).default('hyperscan'),
      ftpPorts: z.array(int(1, 65535)).default([21]),
    })
    .default({ order: [], maxPackets: 10, engine: 'hyperscan', ftpPorts: [21] }),
  marks: z.strictObject({
    mask: mark.optional(),
    unknown: mark,
    default: mark.optional(),
    protocols: z.record(protocolName, mark).default({}),
    groups: z.record(z.string().regex(/^[a-z0-9_.-]+$/i, { error: 'group names are letters, digits, _ . -' }), z.strictObject({ mark, protocols: z.array(protocolName).min(1) })).default({}),
  }),
  flows: z
    .strictObject({
      maxFlows: int(1, 100_000_000).default(262_144),
      timeouts: z
        .strictObject({
          udpUnreplied: int(1, 1e9).optional(),
          udpReplied: int(1, 1e9).optional(),
          tcpOpen: int(1, 1e9).optional(),
          tcpClosing: int(1, 1e9).optional(),
        })
        .default({}),
    })
    .default({ maxFlows: 262_144, timeouts: {} }),
  metrics: z.strictObject({ port: int(0, 65535).default(DEFAULT_METRICS_PORT) }).default({ port: DEFAULT_METRICS_PORT }),
  cluster: z
    .strictObject({
      servers: z.array(z.string().regex(/^(nats|tls):\/\/\S+$/, { error: (iss) => `${JSON.stringify(iss.input)} is not a nats:// or tls:// URL` })).min(1).default([DEFAULT_NATS_URL]),
      id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'an edge id is 1 to 64 letters, digits, _ or - (it becomes a NATS subject token)' }),
      zone: int(0, 0xffffffff).default(0),
      prefix: z.string().regex(/^[a-z0-9_]{1,32}$/, { error: 'a prefix is 1 to 32 lowercase letters, digits or _' }).default('l7'),
      partitions: int(1, 65535).default(1024),
      flushMs: int(0, 1000).default(0),
      resendMs: int(100, 600_000).default(2000),
      verdictTimeoutMs: int(100, 3_600_000).default(10_000),
      user: z.string().optional(),
      pass: z.string().optional(),
      token: z.string().optional(),
      credsFile: z.string().optional(),
      tls: z.strictObject({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() }).optional(),
    })
    .optional(),
  accounting: z
    .strictObject({
      interface: z.string().regex(/^[\x21-\x7e]{1,64}$/, { error: (iss) => `${JSON.stringify(iss.input)} is not an interface name (1 to 64 printable characters, no blanks)` }).optional(),
      customerNetworks: z.array(z.string().refine(isPrefix, { error: (iss) => `${JSON.stringify(iss.input)} is not an address prefix (198.18.0.0/15, 2001:db8::/32)` })).min(1).optional(),
      interval: int(1, 3600).default(60),
    })
    .default({ interval: 60 }),
  records: z
    .strictObject({
      enabled: z.boolean().default(true),
      maxBuffered: int(1000, 100_000_000).default(200_000),
      flushMs: int(10, 60_000).default(200),
    })
    .default({ enabled: true, maxBuffered: 200_000, flushMs: 200 }),
});

/** An IPv4 or IPv6 prefix: address/length, or a bare address (a host). */
function isPrefix(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

type RawConfig = z.output<typeof schema>;

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${pathText([...issue.path, k])}: unknown field`).join('; ');
  }
  const where = pathText(issue.path);
  let message = issue.message;
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input === undefined) message = 'is required';
  else if (issue.code === 'invalid_value' && 'values' in issue) message = `${JSON.stringify(issue.input)} is not one of ${issue.values.map(String).join(', ')}`;
  return where === '' ? message : `${where}: ${message}`;
}

// ------------------------------------------------------------------ semantic checks

/** Checks that need more than one field: masks, mark conflicts, budgets. Returns problems. */
function resolve_(raw: RawConfig, file: string): { config?: EdgeConfig; problems: string[] } {
  const problems: string[] = [];
  const say = (path: string, message: string) => problems.push(`${path}: ${message}`);

  const mask = raw.marks.mask ?? raw.netfilter.mask ?? DEFAULT_MASK;
  if (mask === 0) say(raw.marks.mask !== undefined ? 'marks.mask' : 'netfilter.mask', 'the mask must not be 0 (l7mesh needs at least one mark bit)');
  if (raw.marks.mask !== undefined && raw.netfilter.mask !== undefined && raw.marks.mask !== raw.netfilter.mask) {
    say('netfilter.mask', `${hex32(raw.netfilter.mask)} differs from marks.mask ${hex32(raw.marks.mask)} (the rules and the verdicts must use the same bits; give it once)`);
  }

  // Every mark: inside the mask, non-zero, and owned by one thing only.
  const owners = new Map<number, string>();
  const checkMark = (path: string, value: number): void => {
    if ((value & ~mask) >>> 0 !== 0) {
      say(path, `${hex(value)} is outside the mask ${hex32(mask)}`);
      return;
    }
    if (value === 0) {
      say(path, `0x0 means "not classified yet" (such a connection would be queued again); use a non-zero value under ${hex32(mask)}`);
      return;
    }
    const owner = owners.get(value);
    if (owner !== undefined) say(path, `${hex(value)} is already the mark of ${owner} (protocols that share a mark belong in one group)`);
    else owners.set(value, path);
  };
  checkMark('marks.unknown', raw.marks.unknown);
  if (raw.marks.default !== undefined) checkMark('marks.default', raw.marks.default);
  for (const [proto, value] of Object.entries(raw.marks.protocols)) checkMark(`marks.protocols.${proto}`, value);
  const groupOf = new Map<string, string>();
  for (const [name, group] of Object.entries(raw.marks.groups)) {
    checkMark(`marks.groups.${name}.mark`, group.mark);
    group.protocols.forEach((proto, i) => {
      const at = `marks.groups.${name}.protocols[${i}]`;
      if (proto === 'unknown' || proto === 'unset') say(at, `${proto} is not a protocol (unknown has marks.unknown)`);
      else if (raw.marks.protocols[proto] !== undefined) say(at, `${proto} also has its own mark marks.protocols.${proto}; a protocol has one mark`);
      else if (groupOf.has(proto)) say(at, `${proto} is already in group ${groupOf.get(proto)}`);
      else groupOf.set(proto, name);
    });
  }
  for (const proto of ['unknown', 'unset']) {
    if (raw.marks.protocols[proto] !== undefined) say(`marks.protocols.${proto}`, `${proto} is not a protocol (unknown has marks.unknown; unset flows are never marked)`);
  }

  const c = raw.classification;
  if (c.maxBytes !== undefined && c.maxDataLen !== undefined) say('classification.maxDataLen', 'give either maxBytes or maxDataLen (the same limit), not both');
  const budget = raw.netfilter.maxPackets ?? c.maxPackets + 1;
  if (budget < c.maxPackets + 1) {
    say(
      'netfilter.maxPackets',
      `${budget} is below classification.maxPackets + 1 = ${c.maxPackets + 1}: packet ${c.maxPackets + 1} carries the "unknown" verdict of a flow that used up its budget, so it must still be queued`,
    );
  }
  const chains = raw.netfilter.chains;
  if (!chains.forward && !chains.input && !chains.output) say('netfilter.chains', 'at least one of forward, input, output must be true');
  const sl = raw.netfilter.stateless;
  if (sl.sweepInterval >= sl.liveTimeout) say('netfilter.stateless.sweepInterval', `${sl.sweepInterval} must be below liveTimeout ${sl.liveTimeout} (a flow must be seen live between two sweeps)`);
  if (sl.elementTimeout < 4 * sl.sweepInterval) say('netfilter.stateless.elementTimeout', `${sl.elementTimeout} must be at least 4 sweep intervals (${4 * sl.sweepInterval}): elements of live flows are re-added before they expire`);
  const families = raw.netfilter.families;
  if (new Set(families).size !== families.length) say('netfilter.families', 'a family is listed twice');
  const publishesRecords = raw.cluster !== undefined && raw.records.enabled;
  if (sl.elementCounters === false && publishesRecords) {
    say('netfilter.stateless.elementCounters', 'false, but the edge publishes flow records, whose counts after the verdict come from the element counters (use auto, or records.enabled: false)');
  }

  const q = raw.queue;
  let first = 0;
  let last = 0;
  if (q.num !== undefined && q.range !== undefined) say('queue', 'give either num or range, not both');
  else if (q.range !== undefined) {
    [first, last] = q.range;
    if (first > last) say('queue.range', `[${first}, ${last}] is not a range (first <= last)`);
  } else if (q.num !== undefined) first = last = q.num;

  const cl = raw.cluster;
  if (cl && cl.resendMs >= cl.verdictTimeoutMs) say('cluster.resendMs', `${cl.resendMs} must be below cluster.verdictTimeoutMs ${cl.verdictTimeoutMs} (a flow is sent again before it is given up)`);

  if (problems.length > 0) return { problems };
  const base = dirname(file);
  const t = raw.flows.timeouts;
  return {
    problems,
    config: {
      file,
      queue: { first, last, copyRange: q.copyRange, maxLen: q.maxLen },
      netfilter: {
        mode: raw.netfilter.mode,
        natSide: raw.netfilter.natSide,
        stateless: {
          table: sl.table,
          priority: sl.priority,
          mapSize: sl.mapSize,
          liveTimeoutSec: sl.liveTimeout,
          elementTimeoutSec: sl.elementTimeout,
          sweepSec: sl.sweepInterval,
          elementCounters: sl.elementCounters === 'auto' ? publishesRecords : sl.elementCounters,
          perSourceRate: sl.perSourceRate,
          perSourceBurst: sl.perSourceBurst,
          interfaces: sl.interfaces && [...sl.interfaces],
        },
        mask,
        chains: { ...chains },
        families: [...families],
        maxPackets: budget,
        ftpHelper: raw.netfilter.ftpHelper,
      },
      classification: {
        patterns: c.patterns && c.patterns.length > 0 ? c.patterns.map((d) => resolve(base, d)) : [PROJECT_PATTERNS_DIR],
        order: c.order,
        maxPackets: c.maxPackets,
        maxBytes: c.maxBytes ?? c.maxDataLen ?? 2048,
        engine: c.engine,
        ftpPorts: c.ftpPorts,
      },
      marks: { mask, unknown: raw.marks.unknown, default: raw.marks.default, protocols: { ...raw.marks.protocols }, groups: structuredClone(raw.marks.groups) },
      flows: {
        maxFlows: raw.flows.maxFlows,
        timeouts: {
          udpUnreplied: t.udpUnreplied ?? DEFAULT_TIMEOUTS.udpUnreplied,
          udpReplied: t.udpReplied ?? DEFAULT_TIMEOUTS.udpReplied,
          tcpOpen: t.tcpOpen ?? DEFAULT_EDGE_TCP_OPEN_TIMEOUT,
          tcpClosing: t.tcpClosing ?? DEFAULT_TIMEOUTS.tcpClosing,
        },
      },
      metrics: { port: raw.metrics.port },
      cluster: raw.cluster && {
        ...raw.cluster,
        user: raw.cluster.user,
        pass: raw.cluster.pass,
        token: raw.cluster.token,
        credsFile: raw.cluster.credsFile && resolve(base, raw.cluster.credsFile),
        tls: raw.cluster.tls && Object.fromEntries(Object.entries(raw.cluster.tls).map(([k, f]) => [k, resolve(base, f as string)])),
      },
      accounting: { interface: raw.accounting.interface, customerNetworks: raw.accounting.customerNetworks && [...raw.accounting.customerNetworks], intervalSec: raw.accounting.interval },
      records: { ...raw.records },
    },
  };
}

/**
 * Parses and checks an edge configuration given as YAML text. `file` names
 * it in errors (and relative pattern directories are resolved against its
 * directory). Throws EdgeConfigError listing every problem found.
 */
export function parseEdgeConfig(text: string, file: string): EdgeConfig {
  const name = basename(file);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new EdgeConfigError(
      name,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return pos ? `line ${pos.line}, column ${pos.col}: YAML syntax error: ${msg}` : `YAML syntax error: ${msg}`;
      }),
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = schema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new EdgeConfigError(name, parsed.error.issues.map(issueText));
  const { config, problems } = resolve_(parsed.data, resolve(file));
  if (!config) throw new EdgeConfigError(name, problems);
  return config;
}

/** Reads and checks an edge configuration file. */
export function loadEdgeConfig(file: string): EdgeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new EdgeConfigError(basename(file), [`cannot read ${file}: ${(err as Error).message}`]);
  }
  return parseEdgeConfig(text, file);
}
