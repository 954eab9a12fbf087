import type { IpFamily } from './config.js';
import { CHAIN_PREFIX, EDGE_TABLES, type EdgeTable } from './ruleModel.js';

/** A rule in someone else's chain (usually a built-in one) that jumps into ours. */
export interface InstalledJump {
  readonly table: EdgeTable;
  /** The chain holding the rule, e.g. `PREROUTING`. */
  readonly chain: string;
  /** Our chain it jumps (`-j`) or goes (`-g`) to. */
  readonly target: string;
  /** The rule as iptables-save prints it, without `-A CHAIN`. */
  readonly spec: string;
}

/** What of l7mesh is in one family's raw and mangle tables. */
export interface InstalledRules {
  readonly family: IpFamily;
  /** Our chains (name starts with L7MESH-), in iptables-save order, with their rules. */
  readonly chains: readonly { readonly table: EdgeTable; readonly name: string; readonly rules: readonly string[] }[];
  /** Every rule outside our chains that jumps into one of them, in table order. */
  readonly jumps: readonly InstalledJump[];
  /** True when any chain or jump of ours is present. */
  readonly installed: boolean;
}

/**
 * Splits a rule into words the way iptables-restore does: blanks separate,
 * double quotes group (iptables-save quotes comments that contain blanks).
 */
export function ruleWords(spec: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < spec.length) word += spec[++i];
      else if (c === '"') quoted = false;
      else word += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function jumpTarget(spec: string): string | undefined {
  const words = ruleWords(spec);
  for (let i = 0; i + 1 < words.length; i++) {
    const w = words[i];
    if (w === '-j' || w === '--jump' || w === '-g' || w === '--goto') return words[i + 1];
  }
  return undefined;
}

/**
 * Reads the raw and mangle tables out of `iptables-save` (or
 * `ip6tables-save`) output, other tables ignored: our chains and every jump
 * into them. Counters (`-c`, `[p:b]` prefixes) are tolerated and dropped.
 */
export function parseIptablesSave(text: string, family: IpFamily): InstalledRules {
  const chains = new Map<string, { table: EdgeTable; name: string; rules: string[] }>();
  const jumps: InstalledJump[] = [];
  let table: EdgeTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      const name = line.slice(1);
      table = EDGE_TABLES.find((t) => t === name);
      continue;
    }
    if (table === undefined || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0] ?? '';
      if (name.startsWith(CHAIN_PREFIX)) chains.set(`${table} ${name}`, { table, name, rules: [] });
      continue;
    }
    const m = /^(?:\[\d+:\d+\]\s+)?-A\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const chain = m[1]!;
    const spec = m[2]!;
    const ours = chains.get(`${table} ${chain}`);
    if (ours) {
      ours.rules.push(spec);
      continue;
    }
    const target = jumpTarget(spec);
    if (target?.startsWith(CHAIN_PREFIX)) jumps.push({ table, chain, target, spec });
  }
  const list = [...chains.values()];
  return { family, chains: list, jumps, installed: list.length > 0 || jumps.length > 0 };
}
