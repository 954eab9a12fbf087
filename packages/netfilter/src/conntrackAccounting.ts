import { describeFailure, runCommand, targetArgv, type NetfilterTarget } from './command.js';
import { NetfilterError } from './errors.js';

const KEY = 'net.netfilter.nf_conntrack_acct';

/**
 * What was found: accounting already on, switched on now, or the sysctl
 * does not exist yet (nf_conntrack is not loaded; installing rules that use
 * connmark/connbytes loads it, so the caller tries again afterwards).
 */
export type AccountingState = 'already-on' | 'switched-on' | 'missing';

async function readAccounting(target: NetfilterTarget): Promise<'0' | '1' | 'missing'> {
  const argv = targetArgv(target, ['sysctl', '-n', KEY]);
  let result;
  try {
    result = await runCommand(argv, { timeoutMs: target.timeoutMs });
  } catch (cause) {
    throw new NetfilterError('NF_SYSCTL', `cannot run ${argv.join(' ')}: ${(cause as Error).message}`, { command: argv, cause });
  }
  if (result.code === 0) {
    const value = result.stdout.trim();
    if (value === '0' || value === '1') return value;
    throw new NetfilterError('NF_SYSCTL', `${KEY} reads ${JSON.stringify(value)}, expected 0 or 1`, { command: argv });
  }
  if (/cannot stat|No such file/i.test(result.stderr)) return 'missing';
  throw new NetfilterError('NF_SYSCTL', `${describeFailure(result)}: ${result.stderr.trim()}`, {
    command: argv,
    stderr: result.stderr.trim(),
  });
}

/**
 * Makes sure net.netfilter.nf_conntrack_acct is 1 in the target namespace.
 *
 * connbytes (the packet budget of the queue rule) reads conntrack's
 * accounting extension, which is attached to a connection only when it is
 * created while accounting is on; without it connbytes never matches and no
 * packet is ever queued. The setting is per network namespace and starts at
 * 0 in every new one (the nf_conntrack `acct` module parameter), so it is
 * set explicitly. Connections that existed before stay unaccounted and are
 * never queued.
 */
export async function ensureConntrackAccounting(target: NetfilterTarget = {}): Promise<AccountingState> {
  const before = await readAccounting(target);
  if (before === '1') return 'already-on';
  if (before === 'missing') return 'missing';
  const argv = targetArgv(target, ['sysctl', '-w', `${KEY}=1`]);
  let result;
  try {
    result = await runCommand(argv, { timeoutMs: target.timeoutMs });
  } catch (cause) {
    throw new NetfilterError('NF_SYSCTL', `cannot run ${argv.join(' ')}: ${(cause as Error).message}`, { command: argv, cause });
  }
  // Read back: a read-only /proc/sys (containers) may swallow the write.
  const after = result.code === 0 ? await readAccounting(target) : undefined;
  if (after !== '1') {
    const why = result.code === 0 ? `it still reads ${String(after)}` : result.stderr.trim();
    throw new NetfilterError(
      'NF_SYSCTL',
      `cannot switch on conntrack accounting (${KEY}=1), needed by the connbytes packet budget: ${why}`,
      { command: argv, stderr: result.stderr.trim() },
    );
  }
  return 'switched-on';
}
