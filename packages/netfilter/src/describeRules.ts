import { hex, hex32, resolveEdgeRules, type EdgeRulesConfig } from './config.js';
import { buildRuleModel, HELPER_CHAIN, QUEUE_CHAIN, RESTORE_CHAIN, SAVE_CHAIN } from './ruleModel.js';

/**
 * A human-readable account of what `applyEdgeRules` installs for `config`
 * (for docs and `l7mesh edge rules`); `renderEdgeRules` gives the exact input.
 */
export function describeEdgeRules(config: EdgeRulesConfig = {}): string {
  const r = resolveEdgeRules(config);
  const model = buildRuleModel(r);
  const m = hex32(r.mask);
  const queue =
    r.queue.kind === 'num'
      ? `NFQUEUE ${r.queue.num}`
      : `NFQUEUE ${r.queue.first}..${r.queue.last}, chosen by ${r.queue.cpuFanout ? 'CPU' : 'flow hash'}`;
  const tools = r.families.map((f) => (f === 'ipv4' ? 'iptables-restore' : 'ip6tables-restore')).join(' and ');
  const purpose: Record<string, string> = {
    [RESTORE_CHAIN]: `copy the connection's l7 bits (${m}) into the packet mark; other packet-mark bits are kept`,
    [QUEUE_CHAIN]:
      `TCP and UDP packets of connections whose l7 bits are still 0, among the first ${r.packets} packets of the ` +
      `connection (both directions), go to ${queue}; with no edge bound they pass (--queue-bypass)`,
    [SAVE_CHAIN]: `save the packet's l7 bits (${m}) into the connection mark; other connmark bits are kept`,
    [HELPER_CHAIN]:
      `conntrack's FTP helper on TCP port${r.ftpHelperPorts.length > 1 ? 's' : ''} ${r.ftpHelperPorts.join(', ')} (not on connections untracked by earlier raw rules): ` +
      `a data connection starts with its control connection's mark, so it carries the control's verdict and is not queued`,
  };
  const tables = r.ftpHelperPorts.length > 0 ? 'raw and mangle tables' : 'mangle table';
  const lines = [
    `l7mesh edge rules: ${tables}, ${r.families.join(' + ')}, applied atomically with ${tools} --noflush`,
    `l7 mark mask ${m}: l7mesh sets only these bits; a connection is "unclassified" while they are 0.`,
    '',
  ];
  for (const chain of model.chains) {
    const from = model.jumps.filter((j) => j.to === chain.name);
    const where = from.map((j) => `${j.from} (${j.position} rule)`).join(', ');
    lines.push(`  ${chain.table} ${chain.name}, jumped to from ${where}:`, `    ${purpose[chain.name] ?? ''}`);
  }
  lines.push(
    '',
    `Also: net.netfilter.nf_conntrack_acct=1 in the namespace (connbytes needs conntrack accounting).`,
    `Only chains named L7MESH-* and the jumps into them are touched; removal deletes exactly those.`,
  );
  if (r.hooks.includes('INPUT')) {
    lines.push(
      `Note: packets queued in INPUT never reach POSTROUTING, so a verdict mark set on them is not saved;` +
        ` mark the connection through a packet of the other direction (queued in OUTPUT) or set the conntrack mark directly.`,
    );
  }
  lines.push(`Verdict marks must lie within ${m} and be non-zero under it, e.g. ${hex(lowestBit(r.mask))}.`);
  return lines.join('\n') + '\n';
}

function lowestBit(mask: number): number {
  return (mask & -mask) >>> 0;
}
