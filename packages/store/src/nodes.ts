/** The cluster's members (edges, workers) as control last heard of them. */
import type { Db } from './db.js';
import { checkDate, checkName, checkOneOf, checkText } from './validate.js';

export type NodeKind = 'edge' | 'worker';
const NODE_KINDS: readonly NodeKind[] = ['edge', 'worker'];

export interface NodeInfo {
  kind: NodeKind;
  id: string;
  /** A human name (host name, site); may be empty. */
  name: string;
  /** The software version the node reported. */
  version: string;
  /** When it was seen first and last (its heartbeat's own clock). */
  firstSeen: Date;
  lastSeen: Date;
}

export type NodeSighting = Omit<NodeInfo, 'firstSeen' | 'lastSeen'> & { seenAt: Date };

// Table names come from this map only, never from the caller.
const TABLE: Record<NodeKind, string> = { edge: 'edges', worker: 'workers' };

/**
 * Records a sighting of an edge or worker. Sightings may arrive out of
 * order: last_seen only moves forward, and name and version are taken from
 * the newest sighting.
 */
export async function upsertNode(db: Db, node: NodeSighting): Promise<void> {
  const kind = checkOneOf(node.kind, 'kind', NODE_KINDS);
  const id = checkName(node.id, 'id');
  const name = checkText(node.name, 'name', 256);
  const version = checkText(node.version, 'version', 64);
  const seenAt = checkDate(node.seenAt, 'seenAt');
  await db.query(
    `INSERT INTO ${TABLE[kind]} AS n (id, name, version, first_seen, last_seen)
     VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (id) DO UPDATE SET
       name       = CASE WHEN EXCLUDED.last_seen >= n.last_seen THEN EXCLUDED.name ELSE n.name END,
       version    = CASE WHEN EXCLUDED.last_seen >= n.last_seen THEN EXCLUDED.version ELSE n.version END,
       first_seen = least(n.first_seen, EXCLUDED.first_seen),
       last_seen  = greatest(n.last_seen, EXCLUDED.last_seen)`,
    [id, name, version, seenAt],
  );
}

/** The nodes of one kind, by id. */
export async function listNodes(db: Db, kind: NodeKind): Promise<NodeInfo[]> {
  const k = checkOneOf(kind, 'kind', NODE_KINDS);
  const { rows } = await db.query<{ id: string; name: string; version: string; first_seen: Date; last_seen: Date }>(
    `SELECT id, name, version, first_seen, last_seen FROM ${TABLE[k]} ORDER BY id`,
  );
  return rows.map((r) => ({ kind: k, id: r.id, name: r.name, version: r.version, firstSeen: r.first_seen, lastSeen: r.last_seen }));
}
