/** A flow's verdict from the cluster's flow table: the mid-stream pickup's last resort after the verdict cache. */
import type { Db } from './db.js';
import { withClient } from './db.js';
import { checkAddress, checkInteger } from './validate.js';

export interface VerdictLookup {
  zone: number;
  protocol: number;
  /** The connection's two endpoints, either way round. */
  a: string;
  aPort: number;
  b: string;
  bPort: number;
  /** Only connections that started at or after this (default: a week ago): bounds the partitions read. */
  since?: Date;
}

export interface StoredVerdict {
  l7: string;
  decidedBy: string;
  mark: number;
  ruleSetVersion: number;
  firstSeen: Date;
}

const DEFAULT_WINDOW_MS = 7 * 86_400_000;

/**
 * The verdict of the newest decided connection between the two endpoints
 * (a live one first): what an edge that picks the connection up mid-stream
 * should mark it with, once the verdict cache has forgotten it.
 */
export async function lookupVerdict(db: Db, q: VerdictLookup): Promise<StoredVerdict | undefined> {
  checkInteger(q.zone, 'zone', 0, 0xffffffff);
  checkInteger(q.protocol, 'protocol', 0, 255);
  checkAddress(q.a, 'a');
  checkAddress(q.b, 'b');
  checkInteger(q.aPort, 'aPort', 0, 65535);
  checkInteger(q.bPort, 'bPort', 0, 65535);
  const since = q.since ?? new Date(Date.now() - DEFAULT_WINDOW_MS);
  const { rows } = await withClient(db, (c) =>
    c.query<{ l7_protocol: string; decided_by: string; mark: string; rule_set_version: string; first_seen: Date }>(
      `SELECT l7_protocol, decided_by, mark, rule_set_version, first_seen FROM flows
        WHERE zone = $1 AND protocol = $2 AND first_seen >= $7 AND l7_protocol <> 'unset'
          AND ((src_addr = $3 AND src_port = $4 AND dst_addr = $5 AND dst_port = $6)
            OR (src_addr = $5 AND src_port = $6 AND dst_addr = $3 AND dst_port = $4))
        ORDER BY (state = 'live') DESC, last_seen DESC
        LIMIT 1`,
      [q.zone, q.protocol, q.a, q.aPort, q.b, q.bPort, since],
    ),
  );
  const r = rows[0];
  if (!r) return undefined;
  return { l7: r.l7_protocol, decidedBy: r.decided_by, mark: Number(r.mark), ruleSetVersion: Number(r.rule_set_version), firstSeen: r.first_seen };
}
