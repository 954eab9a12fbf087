import { describeFailure, runCommand, targetArgv, type CommandResult, type NetfilterTarget } from './command.js';
import { IP_FAMILIES, type IpFamily } from './config.js';
import { invalidConfig, NetfilterError, type NetfilterErrorCode } from './errors.js';
import {
  checkTableName,
  DEFAULT_STATELESS_TABLE,
  IPTABLES_MANGLE_PRIORITY,
  resolveStatelessRules,
  type QueueVia,
  type ResolvedStatelessRules,
  type StatelessRulesConfig,
} from './statelessConfig.js';
import { renderStatelessRemoval, renderStatelessScript, statelessQueueRuleSpec, statelessQueueTag } from './statelessRules.js';

export interface StatelessApplyResult {
  /** How unknown packets are queued (the configured way, or what the kernel offers). */
  readonly queueVia: QueueVia;
  /** The nft script that was committed. */
  readonly script: string;
  /** Per family, the iptables-restore input committed for the queue rule (added or removed), if any. */
  readonly queueRules: Partial<Record<IpFamily, string>>;
}

export interface StatelessRemoveResult {
  readonly script: string;
  /** Our iptables queue rules (`queueVia: 'iptables'`) that were deleted. */
  readonly removedQueueRules: number;
}

const RESTORE: Record<IpFamily, { save: string; restore: string }> = {
  ipv4: { save: 'iptables-save', restore: 'iptables-restore' },
  ipv6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};
/** A `-D` of a rule read just before fails when someone changed the table in between; reading again is safe. */
const RACE_ATTEMPTS = 3;

async function run(code: NetfilterErrorCode, argv: readonly string[], target: NetfilterTarget, input?: string): Promise<CommandResult> {
  try {
    return await runCommand(argv, { input, timeoutMs: target.timeoutMs });
  } catch (cause) {
    throw new NetfilterError(code, `cannot run ${argv.join(' ')}: ${(cause as Error).message}`, { command: argv, cause });
  }
}

/** An error naming the script line nft complained about (`/dev/stdin:L:C-C: Error: ...`). */
function nftError(code: NetfilterErrorCode, what: string, result: CommandResult, script: string): NetfilterError {
  const stderr = result.stderr.trim();
  const m = /\/dev\/stdin:(\d+):\d+(?:-\d+)?: Error: ([^\n]*)/.exec(stderr);
  const line = m ? Number(m[1]) : undefined;
  const lineText = line === undefined ? undefined : script.split('\n')[line - 1];
  const where = line === undefined ? '' : ` at line ${line} (${JSON.stringify(lineText?.trim() ?? '')})`;
  return new NetfilterError(code, `${what} failed${where}: ${m?.[2] ?? (stderr || describeFailure(result))}`, {
    command: result.argv,
    stderr,
    line,
    lineText,
    input: script,
  });
}

async function nftScript(code: NetfilterErrorCode, what: string, script: string, target: NetfilterTarget): Promise<void> {
  const result = await run(code, targetArgv(target, ['nft', '-f', '-']), target, script);
  if (result.code !== 0) throw nftError(code, what, result, script);
}

/**
 * Does this kernel have nft's queue statement (nft_queue)? `nft -c` sends
 * the transaction and has the kernel check it without committing; a kernel
 * without the expression answers ENOENT at the `queue` statement.
 */
async function probeQueueVia(table: string, target: NetfilterTarget): Promise<QueueVia> {
  const script = `table inet ${table}_probe { chain c { queue num 0 bypass; }; }\n`;
  const result = await run('NF_APPLY', targetArgv(target, ['nft', '-c', '-f', '-']), target, script);
  if (result.code === 0) return 'nft';
  if (result.stderr.includes('No such file or directory')) return 'iptables';
  throw nftError('NF_APPLY', 'checking for nft queue support', result, script);
}

/** Our queue rules (iptables-save specs, with their chain) in one family's mangle table. */
async function readQueueRules(code: NetfilterErrorCode, family: IpFamily, table: string, target: NetfilterTarget): Promise<{ chain: string; spec: string }[]> {
  const argv = targetArgv(target, [RESTORE[family].save, '-t', 'mangle']);
  const result = await run(code, argv, target);
  if (result.code !== 0) {
    throw new NetfilterError(code, `${family}: reading the mangle table failed: ${describeFailure(result)}: ${result.stderr.trim()}`, {
      family,
      command: argv,
      stderr: result.stderr.trim(),
    });
  }
  const tag = statelessQueueTag(table);
  const rules: { chain: string; spec: string }[] = [];
  for (const line of result.stdout.split('\n')) {
    const m = /^-A (\S+) (.*)$/.exec(line.trim());
    if (m && (m[2]!.includes(`--comment "${tag}"`) || m[2]!.includes(`--comment ${tag} `))) rules.push({ chain: m[1]!, spec: m[2]! });
  }
  return rules;
}

/**
 * One `iptables-restore --noflush` transaction per family: delete our queue
 * rules found just before, then append the family's new one (if it has
 * one: a family no longer configured loses its rule).
 * Returns the inputs committed; nothing is run for a family with nothing to do.
 */
async function replaceQueueRules(
  code: NetfilterErrorCode,
  table: string,
  specOf: (family: IpFamily) => string | undefined,
  target: NetfilterTarget,
): Promise<{ inputs: Partial<Record<IpFamily, string>>; removed: number }> {
  const inputs: Partial<Record<IpFamily, string>> = {};
  let removed = 0;
  for (const family of IP_FAMILIES) {
    const spec = specOf(family);
    for (let attempt = 1; ; attempt++) {
      const old = await readQueueRules(code, family, table, target);
      if (old.length === 0 && spec === undefined) break;
      const lines = ['*mangle', ...old.map((r) => `-D ${r.chain} ${r.spec}`)];
      if (spec !== undefined) lines.push(`-A PREROUTING ${spec}`);
      const input = [...lines, 'COMMIT', ''].join('\n');
      const result = await run(code, targetArgv(target, [RESTORE[family].restore, '--wait', '--noflush']), target, input);
      if (result.code === 0) {
        inputs[family] = input;
        removed += old.length;
        break;
      }
      if (attempt < RACE_ATTEMPTS && old.length > 0) continue;
      throw new NetfilterError(code, `${family}: ${spec === undefined ? 'removing' : 'installing'} the stateless queue rule failed: ${result.stderr.trim() || describeFailure(result)}`, {
        family,
        command: result.argv,
        stderr: result.stderr.trim(),
        input,
      });
    }
  }
  return { inputs, removed };
}

/**
 * Installs (or replaces) the stateless edge table in one nft transaction
 * (`nft -f -`); the operator's tables are not touched. With `queueVia:
 * 'iptables'` (configured, or chosen because the kernel lacks nft_queue) the
 * iptables queue rule is put in place first: it matches only packets our
 * table tags, so it is inert until the table exists. Otherwise any queue
 * rule of ours left from an earlier apply is deleted afterwards.
 */
export async function applyStatelessRules(config: StatelessRulesConfig, target: NetfilterTarget = {}): Promise<StatelessApplyResult> {
  const r: ResolvedStatelessRules = resolveStatelessRules(config);
  targetArgv(target, []); // validate netns before running anything
  const queueVia = r.queueVia === 'auto' ? await probeQueueVia(r.table, target) : r.queueVia;
  if (queueVia === 'iptables' && r.priority >= IPTABLES_MANGLE_PRIORITY) {
    throw invalidConfig('priority', `${r.priority} must be below ${IPTABLES_MANGLE_PRIORITY} (iptables' mangle): this kernel has no nft queue, so iptables queues`);
  }
  const script = renderStatelessScript(r, queueVia);
  if (queueVia === 'iptables') {
    const spec = statelessQueueRuleSpec(r);
    const { inputs } = await replaceQueueRules('NF_APPLY', r.table, (f) => (r.families.includes(f) ? spec : undefined), target);
    await nftScript('NF_APPLY', `applying the stateless table ${r.table}`, script, target);
    return { queueVia, script, queueRules: inputs };
  }
  await nftScript('NF_APPLY', `applying the stateless table ${r.table}`, script, target);
  const { inputs } = await replaceQueueRules('NF_APPLY', r.table, () => undefined, target);
  return { queueVia, script, queueRules: inputs };
}

/**
 * Removes the table (one transaction; harmless when it is absent) and then
 * our iptables queue rules of either family, if any. Takes the applied
 * configuration or just `{ table }`.
 */
export async function removeStatelessRules(
  config: Pick<StatelessRulesConfig, 'table'> = {},
  target: NetfilterTarget = {},
): Promise<StatelessRemoveResult> {
  const table = checkTableName(config.table ?? DEFAULT_STATELESS_TABLE);
  targetArgv(target, []);
  const script = renderStatelessRemoval(table);
  await nftScript('NF_REMOVE', `removing the stateless table ${table}`, script, target);
  const { removed } = await replaceQueueRules('NF_REMOVE', table, () => undefined, target);
  return { script, removedQueueRules: removed };
}
