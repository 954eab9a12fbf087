import { resolveEdgeRules, type EdgeRulesConfig } from './config.js';
import type { InstalledRules } from './installedRules.js';
import { buildRuleModel, EDGE_TABLES, jumpSpec, type EdgeRuleModel } from './ruleModel.js';

/** The iptables-restore input for each configured family. */
export interface RenderedEdgeRules {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/**
 * One iptables-restore transaction (for `--noflush`) that installs `model`,
 * one section per table that holds something of the model or of ours.
 *
 * Without `installed` it is the input for tables holding nothing of ours
 * (what `renderEdgeRules` shows). With `installed` (parsed from
 * iptables-save just before) it first deletes every existing jump into our
 * chains and drops our chains the model no longer has, so that applying is
 * idempotent: the built-in chains end up with exactly the jumps of the
 * model, whatever was there, in one atomic commit.
 *
 * Order inside each table's section:
 *   1. `:CHAIN - [0:0]` declares our chains (creates them; under --noflush an
 *      existing user chain is flushed by the declaration, too);
 *   2. `-D` of every old jump (before any insert, so a delete can never hit
 *      a jump this transaction has just made);
 *   3. `-F` of our chains (explicit, though under --noflush the declaration
 *      already flushes an existing chain: iptables 1.8.9 nf_tables does);
 *   4. `-F` then `-X` of stale chains of ours (a previous layout's), once
 *      nothing refers to them any more;
 *   5. our rules; 6. the jumps; 7. COMMIT.
 */
export function renderRestoreInput(model: EdgeRuleModel, installed?: InstalledRules): string {
  const lines: string[] = [];
  for (const table of EDGE_TABLES) {
    const chains = model.chains.filter((c) => c.table === table);
    const jumps = model.jumps.filter((j) => j.table === table);
    const oldJumps = (installed?.jumps ?? []).filter((j) => j.table === table);
    const ours = new Set(chains.map((c) => c.name));
    const stale = (installed?.chains ?? []).filter((c) => c.table === table && !ours.has(c.name));
    if (chains.length === 0 && oldJumps.length === 0 && stale.length === 0) continue;
    lines.push(`*${table}`);
    for (const c of chains) lines.push(`:${c.name} - [0:0]`);
    for (const j of oldJumps) lines.push(`-D ${j.chain} ${j.spec}`);
    for (const c of chains) lines.push(`-F ${c.name}`);
    // Flush every stale chain before deleting any: they may refer to each other.
    for (const c of stale) lines.push(`-F ${c.name}`);
    for (const c of stale) lines.push(`-X ${c.name}`);
    for (const c of chains) for (const rule of c.rules) lines.push(`-A ${c.name} ${rule}`);
    for (const j of jumps) lines.push(`${j.position === 'first' ? '-I' : '-A'} ${j.from} ${jumpSpec(j)}`);
    lines.push('COMMIT');
  }
  return lines.join('\n') + '\n';
}

/**
 * The transaction removing everything of ours in `installed`: the jumps
 * into our chains, then (once nothing refers to them) flush and delete of
 * the chains, table by table. Undefined when nothing is installed.
 */
export function renderRemovalInput(installed: InstalledRules): string | undefined {
  if (!installed.installed) return undefined;
  const lines: string[] = [];
  for (const table of EDGE_TABLES) {
    const jumps = installed.jumps.filter((j) => j.table === table);
    const chains = installed.chains.filter((c) => c.table === table);
    if (jumps.length === 0 && chains.length === 0) continue;
    lines.push(`*${table}`);
    for (const j of jumps) lines.push(`-D ${j.chain} ${j.spec}`);
    // Flush all before deleting any: one of our chains may jump to another.
    for (const c of chains) lines.push(`-F ${c.name}`);
    for (const c of chains) lines.push(`-X ${c.name}`);
    lines.push('COMMIT');
  }
  return lines.join('\n') + '\n';
}

/**
 * The exact iptables-restore input (for `iptables-restore --noflush`) that
 * installs the edge rules into a table holding nothing of ours; one entry per
 * configured family, the same text for both. `applyEdgeRules` adds the
 * deletions of whatever is installed at the time.
 */
export function renderEdgeRules(config: EdgeRulesConfig = {}): RenderedEdgeRules {
  const r = resolveEdgeRules(config);
  const text = renderRestoreInput(buildRuleModel(r));
  const out: { ipv4?: string; ipv6?: string } = {};
  for (const f of r.families) out[f] = text;
  return out;
}

