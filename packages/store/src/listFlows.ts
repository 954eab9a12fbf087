/** The cluster's flow table, `conntrack -L` style: filtered, newest activity first, bounded. */
import { toBigInt, type Db } from './db.js';
import type { FlowState } from './flowWriter.js';
import { checkKeys, checkLimit, checkSpan, SqlParams, STORE_LIMITS } from './queryBounds.js';
import { badParameter } from './errors.js';
import { checkAddressOrPrefix, checkBoolean, checkDate, checkInteger, checkName } from './validate.js';

export interface ListFlowsQuery {
  /** Only flows not ended yet. */
  live?: boolean;
  /** The originator's address or a prefix holding it (`198.18.0.0/15`). */
  src?: string;
  /** The responder's address or prefix. */
  dst?: string;
  /** An l7 protocol name. */
  proto?: string;
  /** Flows this edge saw. */
  edge?: string;
  zone?: number;
  /**
   * The window on the flows' start (first_seen): [since, until), at most
   * STORE_LIMITS.maxFlowRangeDays. Default: the last 24 hours, except for
   * `live`, which by default has none (live flows may be days old, and their
   * index is small).
   */
  since?: Date;
  until?: Date;
  /** Rows at most: 100 by default, up to STORE_LIMITS.maxListLimit. */
  limit?: number;
}

export interface FlowRow {
  zone: number;
  family: 4 | 6;
  protocol: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  firstSeen: Date;
  lastSeen: Date;
  state: FlowState;
  origPackets: bigint;
  origBytes: bigint;
  replyPackets: bigint;
  replyBytes: bigint;
  l7: string;
  decidedBy: string;
  mark: number;
  ruleSetVersion: number;
  edges: string[];
  /** The dedupe key of the record that last set the row's state and counters. */
  eventId: string;
}

const KEYS = ['live', 'src', 'dst', 'proto', 'edge', 'zone', 'since', 'until', 'limit'];
const DEFAULT_WINDOW_MS = 86_400_000;

export async function listFlows(db: Db, query: ListFlowsQuery = {}): Promise<FlowRow[]> {
  const q = checkKeys(query, KEYS);
  const live = q.live === undefined ? false : checkBoolean(q.live, 'live');
  const limit = checkLimit(q.limit, 100, STORE_LIMITS.maxListLimit);
  const p = new SqlParams();
  const where: string[] = [];
  if (live) where.push(`state = 'live'`);
  if (q.src !== undefined) where.push(`src_addr <<= ${p.add(checkAddressOrPrefix(q.src, 'src'))}::inet`);
  if (q.dst !== undefined) where.push(`dst_addr <<= ${p.add(checkAddressOrPrefix(q.dst, 'dst'))}::inet`);
  if (q.proto !== undefined) where.push(`l7_protocol = ${p.add(checkName(q.proto, 'proto'))}`);
  if (q.edge !== undefined) where.push(`${p.add(checkName(q.edge, 'edge'))} = ANY (edges)`);
  if (q.zone !== undefined) where.push(`zone = ${p.add(checkInteger(q.zone, 'zone', 0, 0xffff_ffff))}`);

  let until = q.until === undefined ? undefined : checkDate(q.until, 'until');
  let since = q.since === undefined ? undefined : checkDate(q.since, 'since');
  if (!live || since !== undefined) {
    until ??= new Date();
    since ??= new Date(until.getTime() - DEFAULT_WINDOW_MS);
  }
  if (since !== undefined && until !== undefined) {
    if (until <= since) throw badParameter('until', 'must be after since');
    checkSpan(since, until, STORE_LIMITS.maxFlowRangeDays, ' of flow start');
  }
  if (since !== undefined) where.push(`first_seen >= ${p.add(since)}`);
  if (until !== undefined) where.push(`first_seen < ${p.add(until)}`);

  const { rows } = await db.query<{
    zone: string;
    family: number;
    protocol: number;
    src: string;
    src_port: number;
    dst: string;
    dst_port: number;
    first_seen: Date;
    last_seen: Date;
    state: FlowState;
    orig_packets: string;
    orig_bytes: string;
    reply_packets: string;
    reply_bytes: string;
    l7_protocol: string;
    decided_by: string;
    mark: string;
    rule_set_version: string;
    edges: string[];
    event_id: string;
  }>(
    `SELECT zone, family, protocol, host(src_addr) AS src, src_port, host(dst_addr) AS dst, dst_port,
            first_seen, last_seen, state, orig_packets, orig_bytes, reply_packets, reply_bytes,
            l7_protocol, decided_by, mark, rule_set_version, edges, event_id
       FROM flows
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY last_seen DESC, zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen
      LIMIT ${p.add(limit)}`,
    p.values,
  );
  return rows.map((r) => ({
    zone: Number(r.zone),
    family: r.family === 6 ? 6 : 4,
    protocol: r.protocol,
    src: r.src,
    srcPort: r.src_port,
    dst: r.dst,
    dstPort: r.dst_port,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    state: r.state,
    origPackets: toBigInt(r.orig_packets),
    origBytes: toBigInt(r.orig_bytes),
    replyPackets: toBigInt(r.reply_packets),
    replyBytes: toBigInt(r.reply_bytes),
    l7: r.l7_protocol,
    decidedBy: r.decided_by,
    mark: Number(r.mark),
    ruleSetVersion: Number(r.rule_set_version),
    edges: r.edges,
    eventId: r.event_id,
  }));
}
