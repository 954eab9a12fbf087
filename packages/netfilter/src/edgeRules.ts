import { describeFailure, runCommand, targetArgv, type CommandResult, type NetfilterTarget } from './command.js';
import { resolveEdgeRules, type EdgeRulesConfig, type IpFamily } from './config.js';
import { ensureConntrackAccounting, type AccountingState } from './conntrackAccounting.js';
import { NetfilterError, type NetfilterErrorCode } from './errors.js';
import { parseIptablesSave, type InstalledRules } from './installedRules.js';
import { renderRemovalInput, renderRestoreInput } from './restoreInput.js';
import { buildRuleModel, EDGE_TABLES } from './ruleModel.js';

const TOOLS: Record<IpFamily, { save: string; restore: string }> = {
  ipv4: { save: 'iptables-save', restore: 'iptables-restore' },
  ipv6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

/**
 * A delete (`-D`) of a jump read from iptables-save fails when someone
 * changed the table between our read and our commit; the whole transaction
 * is then rolled back by the kernel, so reading again and retrying is safe.
 */
const RACE_ATTEMPTS = 3;

export interface ListOptions extends NetfilterTarget {
  /** Families to read (default `['ipv4']`). */
  readonly families?: readonly IpFamily[];
}

export interface FamilyApplyResult {
  /** The exact iptables-restore input that was committed. */
  readonly input: string;
  /** Jumps into our chains that were there before and were replaced. */
  readonly replacedJumps: number;
  /** Chains of ours from an earlier layout that were deleted. */
  readonly removedChains: readonly string[];
}

export interface ApplyResult {
  readonly families: Partial<Record<IpFamily, FamilyApplyResult>>;
  /** `already-on` or `switched-on` (net.netfilter.nf_conntrack_acct). */
  readonly accounting: Exclude<AccountingState, 'missing'>;
}

export interface FamilyRemoveResult {
  /** The iptables-restore input that was committed; undefined when nothing was installed. */
  readonly input: string | undefined;
  readonly removedJumps: number;
  readonly removedChains: readonly string[];
}

export interface RemoveResult {
  readonly families: Partial<Record<IpFamily, FamilyRemoveResult>>;
}

async function run(
  code: NetfilterErrorCode,
  family: IpFamily,
  argv: readonly string[],
  input?: string,
  timeoutMs?: number,
): Promise<CommandResult> {
  try {
    return await runCommand(argv, { input, timeoutMs });
  } catch (cause) {
    throw new NetfilterError(code, `${family}: cannot run ${argv.join(' ')}: ${(cause as Error).message}`, {
      family,
      command: argv,
      cause,
    });
  }
}

/** Our chains and the jumps into them, read from the tables the edge uses (one iptables-save per table). */
async function readInstalled(code: NetfilterErrorCode, family: IpFamily, target: NetfilterTarget): Promise<InstalledRules> {
  let saved = '';
  for (const table of EDGE_TABLES) {
    const argv = targetArgv(target, [TOOLS[family].save, '-t', table]);
    const result = await run(code, family, argv, undefined, target.timeoutMs);
    if (result.code !== 0) {
      const stderr = result.stderr.trim();
      throw new NetfilterError(code, `${family}: reading the installed ${table} rules failed: ${describeFailure(result)}: ${stderr}`, {
        family,
        command: argv,
        stderr,
      });
    }
    saved += result.stdout;
  }
  return parseIptablesSave(saved, family);
}

/** What went wrong in iptables-restore's stderr, without the usage noise. */
function restoreComplaint(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.replace(/^ip6?tables-restore(?: v[\d.]+)?(?: \([^)]*\))?:\s*/, '').trim())
    .filter((l) => l !== '' && !/^Try `/.test(l) && !/^Error occurred at line/.test(l))
    .join('; ');
}

/** The input line iptables-restore names in `stderr`, if any. */
function restoreLine(stderr: string): number | undefined {
  const m = /Error occurred at line: (\d+)/.exec(stderr) ?? /\bline (\d+)(?: failed|:)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/** An NF_APPLY / NF_REMOVE error for a failed iptables-restore run. */
function restoreError(code: NetfilterErrorCode, family: IpFamily, result: CommandResult, input: string): NetfilterError {
  const stderr = result.stderr.trim();
  const line = restoreLine(stderr);
  const lineText = line === undefined ? undefined : input.split('\n')[line - 1];
  const complaint = restoreComplaint(stderr) || describeFailure(result);
  let where = '';
  if (line !== undefined) {
    where = ` at line ${line} (${JSON.stringify(lineText ?? '')})`;
    // nf_tables checks some things (jumps to missing chains) only at commit
    // and then names the COMMIT line, not the rule.
    if (lineText === 'COMMIT') where += ' — nf_tables reports some rule errors only at COMMIT';
  }
  const verb = code === 'NF_REMOVE' ? 'removing' : 'applying';
  return new NetfilterError(code, `${family}: ${verb} the edge rules failed${where}: ${complaint}`, {
    family,
    command: result.argv,
    stderr,
    line,
    lineText,
    input,
  });
}

function isStaleDelete(stderr: string, input: string): boolean {
  const line = restoreLine(stderr);
  return line !== undefined && (input.split('\n')[line - 1] ?? '').startsWith('-D ');
}

/**
 * Reads the tables, renders a transaction from what they hold and commits it
 * with `iptables-restore --noflush`, retrying when the table changed in
 * between (see RACE_ATTEMPTS). Internal (not in index.ts); exported for the
 * tests, which feed it inputs the configuration checks would refuse.
 */
export async function commitRules(
  code: NetfilterErrorCode,
  family: IpFamily,
  target: NetfilterTarget,
  render: (installed: InstalledRules) => string | undefined,
): Promise<{ installed: InstalledRules; input: string | undefined }> {
  const argv = targetArgv(target, [TOOLS[family].restore, '--wait', '--noflush']);
  for (let attempt = 1; ; attempt++) {
    const installed = await readInstalled(code, family, target);
    const input = render(installed);
    if (input === undefined) return { installed, input };
    const result = await run(code, family, argv, input, target.timeoutMs);
    if (result.code === 0) return { installed, input };
    if (attempt < RACE_ATTEMPTS && isStaleDelete(result.stderr, input)) continue;
    throw restoreError(code, family, result, input);
  }
}

/**
 * Installs the edge rules: switches on conntrack accounting, then per family
 * one atomic `iptables-restore --noflush` transaction that touches only our
 * chains and the jumps into them. Idempotent: the transaction deletes the
 * jumps found by iptables-save just before and inserts the configured ones,
 * so applying twice (or with a changed configuration) leaves exactly one
 * jump per built-in chain and hook. The operator's rules are never flushed
 * or rewritten; their relative order is kept.
 *
 * Every family's input is first run through `iptables-restore --test`, so a
 * syntax problem in one family is found before any family is changed. Each
 * family's commit is atomic on its own; if IPv6 fails after IPv4 committed,
 * IPv4 holds the new rules (applying again after the fix is safe).
 */
export async function applyEdgeRules(config: EdgeRulesConfig = {}, target: NetfilterTarget = {}): Promise<ApplyResult> {
  const r = resolveEdgeRules(config);
  const model = buildRuleModel(r);
  targetArgv(target, []); // validate netns before running anything

  // Parse check of every family (a clean-table rendering has the same rule
  // words as the real transaction; --test does not contact the kernel).
  for (const family of r.families) {
    const input = renderRestoreInput(model);
    const argv = targetArgv(target, [TOOLS[family].restore, '--noflush', '--test']);
    const result = await run('NF_APPLY', family, argv, input, target.timeoutMs);
    if (result.code !== 0) throw restoreError('NF_APPLY', family, result, input);
  }

  // Accounting before the rules, so that no connection created after the
  // rules appear lacks the counters connbytes needs.
  let accounting = await ensureConntrackAccounting(target);

  const families: Partial<Record<IpFamily, FamilyApplyResult>> = {};
  for (const family of r.families) {
    const { installed, input } = await commitRules('NF_APPLY', family, target, (installed) => renderRestoreInput(model, installed));
    const keep = new Set(model.chains.map((c) => c.name));
    families[family] = {
      input: input ?? '',
      replacedJumps: installed.jumps.length,
      removedChains: installed.chains.map((c) => c.name).filter((n) => !keep.has(n)),
    };
  }

  if (accounting === 'missing') {
    // The rules just loaded nf_conntrack; its sysctl exists now.
    accounting = await ensureConntrackAccounting(target);
    if (accounting === 'missing') {
      throw new NetfilterError(
        'NF_SYSCTL',
        'the edge rules are installed but net.netfilter.nf_conntrack_acct does not exist (is nf_conntrack available?); connbytes will not match',
      );
    }
  }
  return { families, accounting };
}

/**
 * Removes everything of ours: the jumps into L7MESH-* chains (wherever they
 * are) and the chains themselves, in one transaction per family. Harmless
 * when nothing is installed (then nothing is run but iptables-save).
 * Conntrack accounting is left on: other users may rely on it.
 */
export async function removeEdgeRules(config: EdgeRulesConfig = {}, target: NetfilterTarget = {}): Promise<RemoveResult> {
  const r = resolveEdgeRules(config);
  targetArgv(target, []);
  const families: Partial<Record<IpFamily, FamilyRemoveResult>> = {};
  for (const family of r.families) {
    const { installed, input } = await commitRules('NF_REMOVE', family, target, renderRemovalInput);
    families[family] = {
      input,
      removedJumps: input === undefined ? 0 : installed.jumps.length,
      removedChains: input === undefined ? [] : installed.chains.map((c) => c.name),
    };
  }
  return { families };
}

/** What of l7mesh is installed now, per family (iptables-save -t raw, -t mangle). */
export async function listInstalled(options: ListOptions = {}): Promise<Partial<Record<IpFamily, InstalledRules>>> {
  const out: Partial<Record<IpFamily, InstalledRules>> = {};
  for (const family of options.families ?? ['ipv4']) {
    if (family !== 'ipv4' && family !== 'ipv6') {
      throw new NetfilterError('NF_INVALID_CONFIG', `families: ${JSON.stringify(family)} is not ipv4 or ipv6`, { field: 'families' });
    }
    out[family] = await readInstalled('NF_LIST', family, options);
  }
  return out;
}
