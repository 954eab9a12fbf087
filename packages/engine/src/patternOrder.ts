import type { PatternFile } from '@l7mesh/patterns';
import { EngineError } from './errors.js';
import { canonicalProtocol } from './protocolNames.js';

/**
 * The order patterns are tried in, which decides between two that both match
 * (first in order wins, as with l7-filter's rule order): the names given in
 * `first`, in that order; then the rest by file name, with those whose
 * metadata say `overmatch` last, since they match too much to be trusted
 * before a precise one. A name in `first` may be any alias of a pattern's
 * name (`ssl` for tls, or `tls` for an l7-protocols ssl.pat): see
 * PROTOCOL_ALIASES.
 */
export function orderPatterns(patterns: readonly PatternFile[], first: readonly string[] = []): PatternFile[] {
  const byName = new Map(patterns.map((p) => [p.name, p]));
  const head: PatternFile[] = [];
  const byCanonical = new Map<string, PatternFile>();
  for (const p of patterns) if (!byCanonical.has(canonicalProtocol(p.name))) byCanonical.set(canonicalProtocol(p.name), p);
  for (const name of first) {
    const p = byName.get(name) ?? byCanonical.get(canonicalProtocol(name));
    if (!p) throw new EngineError('ENGINE_UNKNOWN_PATTERN', `--order names "${name}", which no loaded pattern file defines`);
    if (!head.includes(p)) head.push(p);
  }
  const fileName = (p: PatternFile) => p.file.slice(p.file.lastIndexOf('/') + 1);
  const rest = patterns
    .filter((p) => !head.includes(p))
    .sort((a, b) => Number(a.overmatch) - Number(b.overmatch) || (fileName(a) < fileName(b) ? -1 : fileName(a) > fileName(b) ? 1 : 0));
  return [...head, ...rest];
}
