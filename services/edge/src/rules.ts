import { describeEdgeRules, renderEdgeRules, renderStatelessRules, type EdgeRulesConfig, type QueueHook } from '@l7mesh/netfilter';
import type { EdgeConfig } from './config.js';
import { MarkPolicy } from './markPolicy.js';
import { statelessRulesConfig } from './stateless.js';

/** The netfilter package's view of an edge configuration. */
export function edgeRulesConfig(config: Pick<EdgeConfig, 'queue' | 'netfilter' | 'classification'>): EdgeRulesConfig {
  const n = config.netfilter;
  const hooks: QueueHook[] = [];
  if (n.chains.forward) hooks.push('FORWARD');
  if (n.chains.input) hooks.push('INPUT');
  if (n.chains.output) hooks.push('OUTPUT');
  const q = config.queue;
  return {
    mask: n.mask,
    queue: q.first === q.last ? { num: q.first } : { balance: [q.first, q.last] },
    packets: n.maxPackets,
    hooks,
    families: n.families,
    ftpHelperPorts: n.ftpHelper ? [...new Set(config.classification.ftpPorts)] : [],
  };
}

/**
 * What `l7mesh edge rules` prints: in conntrack mode the description, then
 * the exact iptables-restore input per family; in stateless mode the nft
 * script of the edge's table (with nft's queue statement: on a kernel
 * without it, `edge run` queues through one iptables rule instead).
 */
export function renderRulesReport(config: EdgeConfig): string {
  if (config.netfilter.mode === 'stateless') {
    const script = renderStatelessRules(statelessRulesConfig(config, new MarkPolicy(config.marks)));
    return [`# stateless mode: nft -f - <<'EOF'`, script.trimEnd(), '# EOF', ''].join('\n');
  }
  const rc = edgeRulesConfig(config);
  const rendered = renderEdgeRules(rc);
  const out = [describeEdgeRules(rc)];
  for (const [family, text] of Object.entries(rendered)) {
    if (text === undefined) continue;
    out.push(`# ${family}: ${family === 'ipv4' ? 'iptables-restore' : 'ip6tables-restore'} --noflush <<'EOF'`, text.trimEnd(), '# EOF', '');
  }
  return out.join('\n');
}
