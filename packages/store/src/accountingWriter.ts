/**
 * The accounting writer: per-interval deltas from the edges, added to
 * 1-minute buckets, deduplicated by event key, in one transaction per batch.
 */
import type pg from 'pg';
import { transaction, withClient, type Db } from './db.js';
import { checkBatch, checkEventId, claimEvents, daysOf, ensureDays, lockHorizon, type WriteResult } from './ingest.js';
import { checkCounter, checkDate, checkName, checkOneOf } from './validate.js';

/** The customer side's direction: 'in' towards the customers, 'out' from them. */
export type TrafficDirection = 'in' | 'out';
export const TRAFFIC_DIRECTIONS: readonly TrafficDirection[] = ['in', 'out'];

export interface AccountingDelta {
  /** The dedupe key of the event that carried this delta. Deltas sharing one key are one event: written or skipped together, so they must come in the same call. */
  eventId: string;
  /** Any instant in the minute the delta belongs to; it is added to that minute's bucket (UTC). */
  minute: Date;
  edge: string;
  /** The uplink interface (transit is billed per link). */
  iface: string;
  l7: string;
  direction: TrafficDirection;
  /** Added to the bucket as given. */
  flows: number | bigint;
  packets: number | bigint;
  bytes: number | bigint;
}

interface CheckedDelta {
  eventId: string;
  minute: Date;
  edge: string;
  iface: string;
  l7: string;
  direction: TrafficDirection;
  flows: number | bigint;
  packets: number | bigint;
  bytes: number | bigint;
}

function checkDeltaFields(x: Record<string, unknown>): CheckedDelta {
  return {
    eventId: checkEventId(x.eventId, 'eventId'),
    minute: checkDate(x.minute, 'minute'),
    edge: checkName(x.edge, 'edge'),
    iface: checkName(x.iface, 'iface'),
    l7: checkName(x.l7, 'l7'),
    direction: checkOneOf(x.direction, 'direction', TRAFFIC_DIRECTIONS),
    flows: checkCounter(x.flows, 'flows'),
    packets: checkCounter(x.packets, 'packets'),
    bytes: checkCounter(x.bytes, 'bytes'),
  };
}

const EPOCH = `timestamptz '1970-01-01 00:00:00+00'`;

// Deltas of one bucket are summed first (one row may be updated only once
// per statement), and buckets are locked in key order against deadlocks.
const ADD_TO_MINUTES = `
INSERT INTO accounting_1m AS a (bucket, edge, iface, l7_protocol, direction, flows, packets, bytes)
SELECT date_bin('1 minute', r.minute, ${EPOCH}), r.edge, r.iface, r.l7, r.direction, sum(r.flows), sum(r.packets), sum(r.bytes)
  FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
       AS r(minute, edge, iface, l7, direction, flows, packets, bytes)
 GROUP BY 1, 2, 3, 4, 5
 ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (bucket, edge, iface, l7_protocol, direction) DO UPDATE SET
  flows   = a.flows + EXCLUDED.flows,
  packets = a.packets + EXCLUDED.packets,
  bytes   = a.bytes + EXCLUDED.bytes`;

// The row lock of DO UPDATE is the point: see accounting_dirty_hours in 004_accounting.sql.
const MARK_DIRTY = `
INSERT INTO accounting_dirty_hours (bucket)
SELECT DISTINCT date_bin('1 hour', m, ${EPOCH}) FROM unnest($1::timestamptz[]) AS m ORDER BY 1
ON CONFLICT (bucket) DO UPDATE SET marked_at = now()`;

/**
 * Adds a batch of accounting deltas to the 1-minute buckets in one
 * transaction: the batch's dedupe keys are inserted into ingested_events,
 * only the deltas of keys that were new are added, and the hours they touch
 * are marked for the rollup. Writing the same batch again adds nothing.
 * Deltas older than the retention horizon of the minutes are skipped
 * (counted as expired). A bad delta rejects the batch with
 * STORE_BAD_PARAMETER naming it; nothing is written then.
 */
export async function writeAccountingDeltas(db: Db, deltas: readonly AccountingDelta[]): Promise<WriteResult> {
  const checked = checkBatch(deltas, 'deltas', 'an accounting delta', checkDeltaFields);
  if (checked.length === 0) return { events: 0, duplicates: 0, skipped: 0, rows: 0, expired: 0 };
  return withClient(db, async (client) => {
    await ensureDays(client, 'accounting_1m', daysOf(checked, (d) => d.minute));
    return transaction(client, async () => {
      const horizon = await lockHorizon(client, 'accounting_1m');
      const eventIds = new Set(checked.map((d) => d.eventId));
      const taken = await claimEvents(client, 'accounting', eventIds);
      const kept: CheckedDelta[] = [];
      let skipped = 0;
      let expired = 0;
      for (const d of checked) {
        if (taken.has(d.eventId)) {
          skipped++;
          continue;
        }
        if (horizon !== null && d.minute.getTime() < horizon) expired++;
        else kept.push(d);
      }
      const rows = kept.length === 0 ? 0 : await addToMinutes(client, kept);
      return { events: eventIds.size - taken.size, duplicates: taken.size, skipped, rows, expired };
    });
  });
}

async function addToMinutes(client: pg.ClientBase, ds: CheckedDelta[]): Promise<number> {
  const column = <T>(f: (d: CheckedDelta) => T): T[] => ds.map(f);
  const minutes = column((d) => d.minute);
  const result = await client.query(ADD_TO_MINUTES, [
    minutes,
    column((d) => d.edge),
    column((d) => d.iface),
    column((d) => d.l7),
    column((d) => d.direction),
    column((d) => d.flows),
    column((d) => d.packets),
    column((d) => d.bytes),
  ]);
  await client.query(MARK_DIRTY, [minutes]);
  return result.rowCount ?? 0;
}
