import { badOption } from './errors.js';

/**
 * Every subject, stream and bucket name, made once from a prefix (default
 * 'l7'), so tests and several clusters on one server never collide.
 */
export interface BusNames {
  readonly prefix: string;
  /** Flow-head segments of one partition (core NATS only, never stored). */
  head(partition: number): string;
  readonly headWildcard: string;
  /** Verdicts for one edge. */
  verdict(edge: string): string;
  readonly verdictWildcard: string;
  /** Watermarks of one edge. */
  edgeWatermark(edge: string): string;
  readonly edgeWatermarkWildcard: string;
  /** The only subject the events stream stores. */
  readonly eventsSubject: string;
  /** JetStream stream of verdict events (uppercase prefix, `_EVENTS`). */
  readonly eventsStream: string;
  /** KV bucket of member heartbeats. */
  readonly membersBucket: string;
  /** KV bucket of cached verdicts. */
  readonly verdictsBucket: string;
}

export const DEFAULT_PREFIX = 'l7';
const PREFIX_RE = /^[a-z0-9_]{1,32}$/;
/** One subject token: no wildcard, no dot, no whitespace, not empty. */
const TOKEN_RE = /^[^\s.*>]+$/;

/** Builds the names for `prefix` ([a-z0-9_]{1,32}); BUS_BAD_OPTION otherwise. */
export function busNames(prefix: string = DEFAULT_PREFIX): BusNames {
  if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix)) {
    throw badOption('prefix', `${JSON.stringify(prefix)} must match [a-z0-9_]{1,32}`);
  }
  const partitionToken = (partition: number): string => {
    if (!Number.isSafeInteger(partition) || partition < 0) throw badOption('partition', `${partition} must be an integer >= 0`);
    return String(partition);
  };
  const edgeToken = (edge: string): string => {
    if (typeof edge !== 'string' || !TOKEN_RE.test(edge)) {
      throw badOption('edge', `${JSON.stringify(edge)} must be one subject token (no '.', '*', '>' or whitespace)`);
    }
    return edge;
  };
  return Object.freeze({
    prefix,
    head: (partition: number) => `${prefix}.head.${partitionToken(partition)}`,
    headWildcard: `${prefix}.head.*`,
    verdict: (edge: string) => `${prefix}.verdict.${edgeToken(edge)}`,
    verdictWildcard: `${prefix}.verdict.>`,
    edgeWatermark: (edge: string) => `${prefix}.edge.${edgeToken(edge)}`,
    edgeWatermarkWildcard: `${prefix}.edge.*`,
    eventsSubject: `${prefix}.events.verdict`,
    eventsStream: `${prefix.toUpperCase()}_EVENTS`,
    membersBucket: `${prefix}_members`,
    verdictsBucket: `${prefix}_verdicts`,
  });
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * The KV key of a cached verdict: `${zone}.${hex of the key's bytes}`.
 * `key` is a flow key as a string of bytes (every char code 0..255); KV keys
 * allow only [A-Za-z0-9_=.-], hence the hex.
 */
export function verdictCacheKey(zone: number, key: string): string {
  if (!Number.isSafeInteger(zone) || zone < 0) throw badOption('zone', `${zone} must be an integer >= 0`);
  if (typeof key !== 'string' || key.length === 0) throw badOption('key', 'must be a non-empty string of bytes');
  let hex = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 255) throw badOption('key', `char ${i} is ${c}, not a byte (0..255)`);
    hex += HEX[c]!;
  }
  return `${zone}.${hex}`;
}
