/**
 * The flow table's writer: batches of flow records (one when a flow is
 * decided, one when it ends with its final counters) upserted by flow
 * identity, deduplicated by event key, in one transaction per batch.
 */
import type pg from 'pg';
import { transaction, withClient, type Db } from './db.js';
import { badParameter } from './errors.js';
import { checkBatch, checkEventId, claimEvents, daysOf, ensureDays, lockHorizon, type WriteResult } from './ingest.js';
import { checkAddress, checkCounter, checkDate, checkInteger, checkName, checkOneOf, checkText } from './validate.js';

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

function checkFlowRecord(r: unknown, i: number): FlowRecord {
  const at = `records[${i}]`;
  if (typeof r !== 'object' || r === null) throw badParameter(at, 'must be a flow record');
  const x = r as Record<string, unknown>;
  const firstSeen = checkDate(x.firstSeen, `${at}.firstSeen`);
  const lastSeen = checkDate(x.lastSeen, `${at}.lastSeen`);
  if (lastSeen < firstSeen) throw badParameter(`${at}.lastSeen`, 'must not be before firstSeen');
  const src = checkAddress(x.src, `${at}.src`);
  const dst = checkAddress(x.dst, `${at}.dst`);
  if (src.includes(':') !== dst.includes(':')) throw badParameter(`${at}.dst`, 'must be of the same address family as src');
  if (!Array.isArray(x.edges) || x.edges.length === 0 || x.edges.length > 64) {
    throw badParameter(`${at}.edges`, 'must list 1-64 edges');
  }
  return {
    eventId: checkEventId(x.eventId, `${at}.eventId`),
    zone: checkInteger(x.zone, `${at}.zone`, 0, U32),
    protocol: checkInteger(x.protocol, `${at}.protocol`, 0, 255),
    src,
    srcPort: checkInteger(x.srcPort, `${at}.srcPort`, 0, 65535),
    dst,
    dstPort: checkInteger(x.dstPort, `${at}.dstPort`, 0, 65535),
    firstSeen,
    lastSeen,
    state: checkOneOf(x.state, `${at}.state`, FLOW_STATES),
    origPackets: BigInt(checkCounter(x.origPackets, `${at}.origPackets`)),
    origBytes: BigInt(checkCounter(x.origBytes, `${at}.origBytes`)),
    replyPackets: BigInt(checkCounter(x.replyPackets, `${at}.replyPackets`)),
    replyBytes: BigInt(checkCounter(x.replyBytes, `${at}.replyBytes`)),
    l7: checkName(x.l7, `${at}.l7`),
    decidedBy: checkText(x.decidedBy, `${at}.decidedBy`, 128),
    mark: checkInteger(x.mark, `${at}.mark`, 0, U32),
    ruleSetVersion: checkInteger(x.ruleSetVersion, `${at}.ruleSetVersion`, 0, U32),
    edges: x.edges.map((e, j) => checkName(e, `${at}.edges[${j}]`)),
  };
}

/**
 * Is `b` newer than `a`? An ended record beats a live one; otherwise the one
 * seen last (a tie goes to `b`, the later write). The SQL upsert below
 * applies the same rule against the stored row.
 */
function isNewer(b: FlowRecord, a: FlowRecord): boolean {
  const rank = (r: FlowRecord) => (r.state === 'ended' ? 1 : 0);
  return rank(b) !== rank(a) ? rank(b) > rank(a) : b.lastSeen >= a.lastSeen;
}

/** Does the verdict of `b` replace that of `a`? A decided verdict is never replaced by 'unset'; otherwise the newer record's. */
function takesVerdict(b: FlowRecord, a: FlowRecord): boolean {
  const bDecided = b.l7 !== UNSET;
  return bDecided !== (a.l7 !== UNSET) ? bDecided : isNewer(b, a);
}

/** Two records of one flow as one: what the upsert would leave if they were written one after the other. */
function mergeRecords(a: FlowRecord, b: FlowRecord): FlowRecord {
  const newer = isNewer(b, a) ? b : a;
  const verdict = takesVerdict(b, a) ? b : a;
  return {
    ...newer,
    lastSeen: a.lastSeen > b.lastSeen ? a.lastSeen : b.lastSeen,
    l7: verdict.l7,
    decidedBy: verdict.decidedBy,
    mark: verdict.mark,
    ruleSetVersion: verdict.ruleSetVersion,
    edges: [...new Set([...a.edges, ...b.edges])],
  };
}

function identityOf(r: FlowRecord): string {
  return `${r.zone}|${r.protocol}|${r.src}|${r.srcPort}|${r.dst}|${r.dstPort}|${r.firstSeen.getTime()}`;
}

// The upsert's rules in SQL (`f` is the stored row). Column names are constants.
const NEWER = `((EXCLUDED.state = 'ended') > (f.state = 'ended') OR
  ((EXCLUDED.state = 'ended') = (f.state = 'ended') AND EXCLUDED.last_seen >= f.last_seen))`;
const TAKES_VERDICT = `(CASE WHEN (EXCLUDED.l7_protocol <> '${UNSET}') <> (f.l7_protocol <> '${UNSET}')
  THEN EXCLUDED.l7_protocol <> '${UNSET}' ELSE ${NEWER} END)`;
const FROM_NEWER = ['state', 'orig_packets', 'orig_bytes', 'reply_packets', 'reply_bytes', 'event_id'];
const FROM_VERDICT = ['l7_protocol', 'decided_by', 'mark', 'rule_set_version'];

const UPSERT_FLOWS = `
INSERT INTO flows AS f (zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen, last_seen, state,
                        orig_packets, orig_bytes, reply_packets, reply_bytes,
                        l7_protocol, decided_by, mark, rule_set_version, edges, event_id)
SELECT r.zone, r.protocol, r.src_addr, r.src_port, r.dst_addr, r.dst_port, r.first_seen, r.last_seen, r.state,
       r.orig_packets, r.orig_bytes, r.reply_packets, r.reply_bytes,
       r.l7_protocol, r.decided_by, r.mark, r.rule_set_version,
       ARRAY(SELECT DISTINCT e FROM jsonb_array_elements_text(r.edges) AS e ORDER BY e), r.event_id
  FROM unnest($1::bigint[], $2::smallint[], $3::inet[], $4::integer[], $5::inet[], $6::integer[],
              $7::timestamptz[], $8::timestamptz[], $9::text[],
              $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
              $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::jsonb[], $19::text[])
       AS r(zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen, last_seen, state,
            orig_packets, orig_bytes, reply_packets, reply_bytes,
            l7_protocol, decided_by, mark, rule_set_version, edges, event_id)
 -- Rows locked in key order, so concurrent batches cannot deadlock.
 ORDER BY r.zone, r.protocol, r.src_addr, r.src_port, r.dst_addr, r.dst_port, r.first_seen
ON CONFLICT (zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen) DO UPDATE SET
  ${FROM_NEWER.map((c) => `${c} = CASE WHEN ${NEWER} THEN EXCLUDED.${c} ELSE f.${c} END`).join(',\n  ')},
  ${FROM_VERDICT.map((c) => `${c} = CASE WHEN ${TAKES_VERDICT} THEN EXCLUDED.${c} ELSE f.${c} END`).join(',\n  ')},
  last_seen = greatest(f.last_seen, EXCLUDED.last_seen),
  edges = ARRAY(SELECT DISTINCT e FROM unnest(f.edges || EXCLUDED.edges) AS e ORDER BY e),
  updated_at = now()`;

/**
 * Writes a batch of flow records in one transaction: the batch's dedupe
 * keys are inserted into ingested_events, and only the records of keys that
 * were new are upserted. A flow's row is keyed by its identity; a newer
 * record of it (ended beats live, then the later lastSeen) replaces state
 * and counters (final counters replace, they are not added), a decided
 * verdict is never replaced by 'unset', last_seen only grows, and the edges
 * are the union of all records' (a sorted set). Writing the same batch again changes
 * nothing. Records older than the retention horizon are skipped (counted
 * as expired). A bad record rejects the batch with STORE_BAD_PARAMETER
 * naming it; nothing is written then.
 */
export async function writeFlowRecords(db: Db, records: readonly FlowRecord[]): Promise<WriteResult> {
  const checked = checkBatch(records, 'records').map(checkFlowRecord);
  const empty: WriteResult = { events: 0, duplicates: 0, rows: 0, expired: 0 };
  if (checked.length === 0) return empty;
  return withClient(db, async (client) => {
    await ensureDays(client, 'flows', daysOf(checked.map((r) => r.firstSeen)));
    return transaction(client, async () => {
      const horizon = await lockHorizon(client, 'flows');
      const eventIds = new Set(checked.map((r) => r.eventId));
      const fresh = await claimEvents(client, 'flows', eventIds);
      const byFlow = new Map<string, FlowRecord>();
      let expired = 0;
      for (const r of checked) {
        if (!fresh.has(r.eventId)) continue;
        if (horizon !== null && r.firstSeen.getTime() < horizon) {
          expired++;
          continue;
        }
        const id = identityOf(r);
        const before = byFlow.get(id);
        byFlow.set(id, before === undefined ? r : mergeRecords(before, r));
      }
      const rows = byFlow.size === 0 ? 0 : await upsertFlows(client, [...byFlow.values()]);
      return { events: fresh.size, duplicates: eventIds.size - fresh.size, rows, expired };
    });
  });
}

async function upsertFlows(client: pg.ClientBase, rs: FlowRecord[]): Promise<number> {
  const column = <T>(f: (r: FlowRecord) => T): T[] => rs.map(f);
  const result = await client.query(UPSERT_FLOWS, [
    column((r) => r.zone),
    column((r) => r.protocol),
    column((r) => r.src),
    column((r) => r.srcPort),
    column((r) => r.dst),
    column((r) => r.dstPort),
    column((r) => r.firstSeen),
    column((r) => r.lastSeen),
    column((r) => r.state),
    column((r) => r.origPackets.toString()),
    column((r) => r.origBytes.toString()),
    column((r) => r.replyPackets.toString()),
    column((r) => r.replyBytes.toString()),
    column((r) => r.l7),
    column((r) => r.decidedBy),
    column((r) => r.mark),
    column((r) => r.ruleSetVersion),
    column((r) => JSON.stringify(r.edges)),
    column((r) => r.eventId),
  ]);
  return result.rowCount ?? 0;
}
