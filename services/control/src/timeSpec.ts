/**
 * Times and durations as the CLI and the HTTP API take them: an instant is
 * either "this long ago" (`90s`, `15m`, `1h`, `7d`) or an ISO 8601 date or
 * date-time (`2024-03-10`, `2024-03-10T12:00:00Z`); a window is a whole
 * number of minutes (`5m`, `1h`, `1d`), as accounting buckets are minutes.
 */

/** The JSON-schema pattern of an instant. */
export const INSTANT_PATTERN = '^(\\d{1,9}[smhd]|\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})?)?)$';
/** The JSON-schema pattern of a window. */
export const WINDOW_PATTERN = '^\\d{1,6}[mhd]$';

const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const INSTANT = new RegExp(INSTANT_PATTERN);
const WINDOW = new RegExp(WINDOW_PATTERN);

/** An instant (see above) relative to `now`; undefined when the text is not one. */
export function parseInstant(text: string, now: Date = new Date()): Date | undefined {
  if (!INSTANT.test(text)) return undefined;
  const rel = /^(\d+)([smhd])$/.exec(text);
  if (rel) return new Date(now.getTime() - Number(rel[1]) * UNIT_SEC[rel[2]!]! * 1000);
  // A date alone is midnight UTC; a date-time without a zone is UTC too (never the host's zone).
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}Z`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** A window in seconds (a whole number of minutes); undefined when the text is not one. */
export function parseWindow(text: string): number | undefined {
  if (!WINDOW.test(text)) return undefined;
  const n = Number(text.slice(0, -1)) * UNIT_SEC[text.slice(-1)]!;
  return n >= 60 ? n : undefined;
}
