/**
 * The flow table's writer: batches of flow records (one when a flow is
 * decided, one when it ends with its final counters) upserted by flow
 * identity, deduplicated by event key, in one transaction per batch.
 *
 * The fast path (ingestion's rate is the point): the dedupe keys go in
 * with one statement that returns only the duplicates, the records of one
 * flow are merged here, the merged rows are COPYed into a temporary table,
 * and one INSERT ... ON CONFLICT upserts them from there.
 */
import type pg from 'pg';
import { CopyBinaryRows } from './copyBinary.js';
import { copyRows } from './copyIn.js';
import { transaction, withClient, type Db } from './db.js';
import { badParameter } from './errors.js';
import { checkBatch, checkEventId, claimEvents, daysOf, ensureDays, lockHorizon, type WriteResult } from './ingest.js';
import { checkAddress, checkCounter, checkDate, checkInteger, checkName, checkNames, checkOneOf, checkText } from './validate.js';

export type FlowState = 'live' | 'ended';
const FLOW_STATES: readonly FlowState[] = ['live', 'ended'];

/** The l7 verdict of a flow nothing has decided yet. */
export const UNSET = 'unset';

export interface FlowRecord {
  /** The dedupe key of the event that carried this record. Records sharing one key are one event: written or skipped together, so they must come in the same call. */
  eventId: string;
  /** Flow identity: zone, protocol, the originator's address and port, the responder's, and the time of the first packet. */
  zone: number;
  /** IP protocol number (6 TCP, 17 UDP). */
  protocol: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  firstSeen: Date;
  lastSeen: Date;
  state: FlowState;
  /** The whole flow's counters so far (IP datagram lengths, as conntrack counts): orig = originator's direction. */
  origPackets: number | bigint;
  origBytes: number | bigint;
  replyPackets: number | bigint;
  replyBytes: number | bigint;
  /** A protocol name, 'unknown', or 'unset'. */
  l7: string;
  /** The deciding pattern file, or 'packet-limit', 'byte-limit', 'inherited', ... ('' while unset). */
  decidedBy: string;
  mark: number;
  ruleSetVersion: number;
  /** The edges that saw the flow. */
  edges: string[];
}

const U32 = 0xffff_ffff;
const HOUR_MS = 3_600_000;

/**
 * A record as checked: every field in its domain, addresses canonical.
 * The caller's own object when its addresses were canonical already (all
 * IPv4, most IPv6): a copy of each would be most of the garbage a batch
 * leaves.
 */
type CheckedFlow = FlowRecord;

function checkFlowFields(x: Record<string, unknown>): CheckedFlow {
  const firstSeen = checkDate(x.firstSeen, 'firstSeen');
  const lastSeen = checkDate(x.lastSeen, 'lastSeen');
  if (lastSeen.getTime() < firstSeen.getTime()) throw badParameter('lastSeen', 'must not be before firstSeen');
  const src = checkAddress(x.src, 'src');
  const dst = checkAddress(x.dst, 'dst');
  if (src.includes(':') !== dst.includes(':')) throw badParameter('dst', 'must be of the same address family as src');
  if (!Array.isArray(x.edges) || x.edges.length === 0 || x.edges.length > 64) {
    throw badParameter('edges', 'must list 1-64 edges');
  }
  checkNames(x.edges, 'edges');
  checkEventId(x.eventId, 'eventId');
  checkInteger(x.zone, 'zone', 0, U32);
  checkInteger(x.protocol, 'protocol', 0, 255);
  checkInteger(x.srcPort, 'srcPort', 0, 65535);
  checkInteger(x.dstPort, 'dstPort', 0, 65535);
  checkOneOf(x.state, 'state', FLOW_STATES);
  checkCounter(x.origPackets, 'origPackets');
  checkCounter(x.origBytes, 'origBytes');
  checkCounter(x.replyPackets, 'replyPackets');
  checkCounter(x.replyBytes, 'replyBytes');
  checkName(x.l7, 'l7');
  checkText(x.decidedBy, 'decidedBy', 128);
  checkInteger(x.mark, 'mark', 0, U32);
  checkInteger(x.ruleSetVersion, 'ruleSetVersion', 0, U32);
  const record = x as unknown as FlowRecord;
  return src === record.src && dst === record.dst ? record : { ...record, src, dst };
}

/**
 * Is `b` newer than `a`? An ended record beats a live one; otherwise the one
 * seen last (a tie goes to `b`, the later write). The SQL upsert below
 * applies the same rule against the stored row.
 */
function isNewer(b: CheckedFlow, a: CheckedFlow): boolean {
  const rank = (r: CheckedFlow) => (r.state === 'ended' ? 1 : 0);
  return rank(b) !== rank(a) ? rank(b) > rank(a) : b.lastSeen.getTime() >= a.lastSeen.getTime();
}

/** Does the verdict of `b` replace that of `a`? A decided verdict is never replaced by 'unset'; otherwise the newer record's. */
function takesVerdict(b: CheckedFlow, a: CheckedFlow): boolean {
  const bDecided = b.l7 !== UNSET;
  return bDecided !== (a.l7 !== UNSET) ? bDecided : isNewer(b, a);
}

/**
 * Two records of one flow as one: what the upsert would leave if they were
 * written one after the other. Mostly that is the newer record itself (an
 * end record after its verdict record: the same verdict, counters and
 * last packet at least as large), which is then taken as it is: a copy of
 * it for each flow was a good part of a batch's garbage.
 */
function mergeRecords(a: CheckedFlow, b: CheckedFlow): CheckedFlow {
  const newer = isNewer(b, a) ? b : a;
  const older = newer === b ? a : b;
  const verdict = takesVerdict(b, a) ? b : a;
  const origPackets = larger(a.origPackets, b.origPackets);
  const origBytes = larger(a.origBytes, b.origBytes);
  const replyPackets = larger(a.replyPackets, b.replyPackets);
  const replyBytes = larger(a.replyBytes, b.replyBytes);
  const lastSeen = older.lastSeen.getTime() > newer.lastSeen.getTime() ? older.lastSeen : newer.lastSeen;
  const edges = edgesOf(newer.edges, older.edges);
  if (
    origPackets === newer.origPackets &&
    origBytes === newer.origBytes &&
    replyPackets === newer.replyPackets &&
    replyBytes === newer.replyBytes &&
    lastSeen === newer.lastSeen &&
    edges === newer.edges &&
    (verdict === newer || sameVerdict(verdict, newer))
  ) {
    return newer;
  }
  return {
    ...newer,
    origPackets,
    origBytes,
    replyPackets,
    replyBytes,
    lastSeen,
    l7: verdict.l7,
    decidedBy: verdict.decidedBy,
    mark: verdict.mark,
    ruleSetVersion: verdict.ruleSetVersion,
    edges,
  };
}

function sameVerdict(a: CheckedFlow, b: CheckedFlow): boolean {
  return a.l7 === b.l7 && a.decidedBy === b.decidedBy && a.mark === b.mark && a.ruleSetVersion === b.ruleSetVersion;
}

/**
 * The larger counter. A flow's counters take each direction's largest
 * value of its records: one edge's records only grow, and on an asymmetric
 * route each direction's packets are counted by the edge on its path (the
 * other edge's records show few of them), so the row holds the whole
 * connection rather than the newest edge's half of it.
 */
function larger(a: number | bigint, b: number | bigint): number | bigint {
  return a >= b ? a : b;
}

/** The union of two records' edges (a set: the upsert sorts it): the first list itself when it holds the second's (mostly one edge that sent both). */
function edgesOf(a: string[], b: string[]): string[] {
  return b.every((e) => a.includes(e)) ? a : [...new Set([...a, ...b])];
}

/** Are these records of one flow? */
function sameFlow(a: CheckedFlow, b: CheckedFlow): boolean {
  return (
    a.srcPort === b.srcPort &&
    a.dstPort === b.dstPort &&
    a.firstSeen.getTime() === b.firstSeen.getTime() &&
    a.src === b.src &&
    a.dst === b.dst &&
    a.zone === b.zone &&
    a.protocol === b.protocol
  );
}

// The upsert's rules in SQL (`f` is the stored row). Column names are constants.
const NEWER = `((EXCLUDED.state = 'ended') > (f.state = 'ended') OR
  ((EXCLUDED.state = 'ended') = (f.state = 'ended') AND EXCLUDED.last_seen >= f.last_seen))`;
const TAKES_VERDICT = `(CASE WHEN (EXCLUDED.l7_protocol <> '${UNSET}') <> (f.l7_protocol <> '${UNSET}')
  THEN EXCLUDED.l7_protocol <> '${UNSET}' ELSE ${NEWER} END)`;
const FROM_NEWER = ['state', 'event_id'];
/** Each direction's largest (see larger()). */
const COUNTERS = ['orig_packets', 'orig_bytes', 'reply_packets', 'reply_bytes'];
const FROM_VERDICT = ['l7_protocol', 'decided_by', 'mark', 'rule_set_version'];
const COLUMNS = `zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen, last_seen, state,
  orig_packets, orig_bytes, reply_packets, reply_bytes, l7_protocol, decided_by, mark, rule_set_version, edges, event_id`;

/**
 * A batch's merged rows, COPYed in (binary) before the upsert. Temporary
 * (each session its own; no WAL), emptied at every commit, created once per
 * connection. Addresses go in as text, which the upsert casts: binary inet
 * would need an IPv6 parser here, and PostgreSQL's is cheap.
 */
const STAGING = 'l7mesh_flow_staging';
const CREATE_STAGING = `
CREATE TEMP TABLE IF NOT EXISTS ${STAGING} (
  zone bigint, protocol smallint, src_addr text, src_port integer, dst_addr text, dst_port integer,
  first_seen timestamptz, last_seen timestamptz, state text,
  orig_packets bigint, orig_bytes bigint, reply_packets bigint, reply_bytes bigint,
  l7_protocol text, decided_by text, mark bigint, rule_set_version bigint, edges text[], event_id text
) ON COMMIT DELETE ROWS`;
const COPY_STAGING = `COPY ${STAGING} (${COLUMNS}) FROM STDIN (FORMAT binary)`;
/** Values a staged row has: the COLUMNS, in their order. */
const STAGED_FIELDS = 19;

const UPSERT_FLOWS = `
INSERT INTO flows AS f (${COLUMNS})
SELECT r.zone, r.protocol, r.src_addr::inet, r.src_port, r.dst_addr::inet, r.dst_port, r.first_seen, r.last_seen, r.state,
       r.orig_packets, r.orig_bytes, r.reply_packets, r.reply_bytes,
       r.l7_protocol, r.decided_by, r.mark, r.rule_set_version,
       CASE WHEN cardinality(r.edges) = 1 THEN r.edges ELSE ARRAY(SELECT DISTINCT e FROM unnest(r.edges) AS e ORDER BY e) END,
       r.event_id
  FROM ${STAGING} AS r
 -- Rows locked in key order, so concurrent batches cannot deadlock.
 ORDER BY r.zone, r.protocol, r.src_addr::inet, r.src_port, r.dst_addr::inet, r.dst_port, r.first_seen
ON CONFLICT (zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen) DO UPDATE SET
  ${FROM_NEWER.map((c) => `${c} = CASE WHEN ${NEWER} THEN EXCLUDED.${c} ELSE f.${c} END`).join(',\n  ')},
  ${FROM_VERDICT.map((c) => `${c} = CASE WHEN ${TAKES_VERDICT} THEN EXCLUDED.${c} ELSE f.${c} END`).join(',\n  ')},
  ${COUNTERS.map((c) => `${c} = greatest(f.${c}, EXCLUDED.${c})`).join(',\n  ')},
  last_seen = greatest(f.last_seen, EXCLUDED.last_seen),
  edges = CASE WHEN EXCLUDED.edges <@ f.edges THEN f.edges
          ELSE ARRAY(SELECT DISTINCT e FROM unnest(f.edges || EXCLUDED.edges) AS e ORDER BY e) END,
  updated_at = now()`;

// The row lock of DO UPDATE is the point: see flow_dirty_hours in 007_host_rollups.sql.
const MARK_DIRTY = `
INSERT INTO flow_dirty_hours (bucket)
SELECT h FROM unnest($1::timestamptz[]) AS h ORDER BY 1
ON CONFLICT (bucket) DO UPDATE SET marked_at = now()`;

/** Connections whose session has the staging table (created outside any transaction, so a rollback cannot take it away). */
const staged = new WeakSet<pg.ClientBase>();

async function ensureStaging(client: pg.ClientBase): Promise<void> {
  if (staged.has(client)) return;
  await client.query(CREATE_STAGING);
  staged.add(client);
}

/**
 * Writes a batch of flow records in one transaction: the batch's dedupe
 * keys are inserted into ingested_events, and only the records of keys that
 * were new are upserted. A flow's row is keyed by its identity; a newer
 * record of it (ended beats live, then the later lastSeen) replaces state
 * and counters (final counters replace, they are not added), a decided
 * verdict is never replaced by 'unset', last_seen only grows, and the edges
 * are the union of all records' (a sorted set). Writing the same batch again changes
 * nothing. The hours the flows started in are marked for the host rollup.
 * Records older than the retention horizon are skipped (counted
 * as expired). A bad record rejects the batch with STORE_BAD_PARAMETER
 * naming it; nothing is written then.
 */
export async function writeFlowRecords(db: Db, records: readonly FlowRecord[]): Promise<WriteResult> {
  const checked = checkBatch(records, 'records', 'a flow record', checkFlowFields);
  const empty: WriteResult = { events: 0, duplicates: 0, skipped: 0, rows: 0, expired: 0 };
  if (checked.length === 0) return empty;
  return withClient(db, async (client) => {
    await ensureDays(client, 'flows', daysOf(checked, (r) => r.firstSeen));
    await ensureStaging(client);
    try {
      return await transaction(client, async () => {
        // The upsert sorts the batch by flow key: in memory, not in files (the default 4 MB is a tenth of a full batch).
        await client.query(`SET LOCAL work_mem = '64MB'`);
        const horizon = await lockHorizon(client, 'flows');
        const eventIds = new Set<string>();
        // A key is mostly its neighbour's (a message's records share one).
        for (let i = 0; i < checked.length; i++) if (i === 0 || checked[i]!.eventId !== checked[i - 1]!.eventId) eventIds.add(checked[i]!.eventId);
        const taken = await claimEvents(client, 'flows', eventIds);
        const { merged, skipped, expired } = mergeFlows(checked, taken, horizon);
        const rows = merged.length === 0 ? 0 : await upsertFlows(client, merged);
        return { events: eventIds.size - taken.size, duplicates: taken.size, skipped, rows, expired };
      });
    } catch (err) {
      // The staging table gone (DISCARD TEMP on this connection): made again next time.
      if ((err as { code?: unknown }).code === '42P01') staged.delete(client);
      throw err;
    }
  });
}

/**
 * The records of new events not older than the horizon, those of one flow
 * merged (in batch order), and how many were skipped (taken events) and
 * expired. A batch's flows are found in a hash table of its own: open
 * addressing over a typed array at most half full, by a hash of start and
 * ports, then sameFlow. (A Map boxed every time as its key, grew by
 * rehashing, and needed an identity string for flows sharing a start.)
 * (Indexed loops: this runs once per batch, too rarely to be optimised, and
 * an unoptimised for-of allocates per item.)
 */
function mergeFlows(checked: readonly CheckedFlow[], taken: ReadonlySet<string>, horizon: number | null): { merged: CheckedFlow[]; skipped: number; expired: number } {
  const merged: CheckedFlow[] = [];
  const bits = Math.max(1, 32 - Math.clz32(checked.length * 2));
  const mask = (1 << bits) - 1;
  /** Each slot: 1 + the index in `merged` of a flow, or 0. */
  const slots = new Int32Array(1 << bits);
  let skipped = 0;
  let expired = 0;
  for (let i = 0; i < checked.length; i++) {
    const r = checked[i]!;
    if (taken.size > 0 && taken.has(r.eventId)) {
      skipped++;
      continue;
    }
    const start = r.firstSeen.getTime();
    if (horizon !== null && start < horizon) {
      expired++;
      continue;
    }
    let slot = Math.imul(start ^ (r.srcPort << 16) ^ r.dstPort, 0x9e3779b1) >>> (32 - bits);
    for (;;) {
      const at = slots[slot]! - 1;
      if (at < 0) {
        slots[slot] = merged.push(r);
        break;
      }
      if (sameFlow(merged[at]!, r)) {
        merged[at] = mergeRecords(merged[at]!, r);
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return { merged, skipped, expired };
}

async function upsertFlows(client: pg.ClientBase, rows: CheckedFlow[]): Promise<number> {
  const data = new CopyBinaryRows();
  const hours = new Set<number>();
  let lastHour = NaN;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const hour = Math.floor(r.firstSeen.getTime() / HOUR_MS) * HOUR_MS;
    // Rows come by start mostly: a Set lookup (of a boxed number) only where the hour changes.
    if (hour !== lastHour) hours.add(hour);
    lastHour = hour;
    data.row(STAGED_FIELDS);
    data.int8(r.zone);
    data.int2(r.protocol);
    data.text(r.src);
    data.int4(r.srcPort);
    data.text(r.dst);
    data.int4(r.dstPort);
    data.timestamptz(r.firstSeen);
    data.timestamptz(r.lastSeen);
    data.text(r.state);
    data.int8(r.origPackets);
    data.int8(r.origBytes);
    data.int8(r.replyPackets);
    data.int8(r.replyBytes);
    data.text(r.l7);
    data.text(r.decidedBy);
    data.int8(r.mark);
    data.int8(r.ruleSetVersion);
    data.textArray(r.edges);
    data.text(r.eventId);
  }
  await copyRows(client, COPY_STAGING, data);
  const result = await client.query(UPSERT_FLOWS);
  await client.query(MARK_DIRTY, [[...hours].sort((a, b) => a - b).map((h) => new Date(h))]);
  return result.rowCount ?? 0;
}
