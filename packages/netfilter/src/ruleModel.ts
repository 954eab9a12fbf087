import { hex, type QueueHook, type ResolvedEdgeRules } from './config.js';

/**
 * Every chain whose name starts with this prefix belongs to l7mesh: apply
 * and remove treat such chains (and every jump into them) as theirs.
 */
export const CHAIN_PREFIX = 'L7MESH-';
/** PREROUTING (and OUTPUT when it is queued): connmark -> packet mark, l7 bits only. */
export const RESTORE_CHAIN = 'L7MESH-PRE';
/** FORWARD / INPUT / OUTPUT: unclassified TCP/UDP connections, first packets -> NFQUEUE. */
export const QUEUE_CHAIN = 'L7MESH-QUEUE';
/** POSTROUTING: packet mark -> connmark, l7 bits only. */
export const SAVE_CHAIN = 'L7MESH-POST';
/** raw PREROUTING (and OUTPUT when it is queued): conntrack's FTP helper on the FTP control ports. */
export const HELPER_CHAIN = 'L7MESH-RAW';

/** The tables the edge's rules live in, in the order a transaction handles them. */
export const EDGE_TABLES = ['raw', 'mangle'] as const;
export type EdgeTable = (typeof EDGE_TABLES)[number];

export type BuiltinChain = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

/** A jump from a built-in chain into one of ours. */
export interface EdgeJump {
  readonly table: EdgeTable;
  readonly from: BuiltinChain;
  readonly to: string;
  /**
   * `first`: inserted at the top of the built-in chain; `last`: appended.
   * See buildRuleModel for why each jump goes where it does.
   */
  readonly position: 'first' | 'last';
}

/** One of our chains and its rules, each written without `-A CHAIN`. */
export interface EdgeChain {
  readonly table: EdgeTable;
  readonly name: string;
  readonly rules: readonly string[];
}

export interface EdgeRuleModel {
  readonly chains: readonly EdgeChain[];
  readonly jumps: readonly EdgeJump[];
}

/** The match + target that sends a packet of `proto` to NFQUEUE. */
function queueRule(r: ResolvedEdgeRules, proto: 'tcp' | 'udp'): string {
  const mask = hex(r.mask);
  const target =
    r.queue.kind === 'num'
      ? `--queue-num ${r.queue.num} --queue-bypass`
      : `--queue-balance ${r.queue.first}:${r.queue.last} --queue-bypass${r.queue.cpuFanout ? ' --queue-cpu-fanout' : ''}`;
  // One rule with every match, not a chain of RETURNs: a packet without a
  // conntrack entry (untracked, invalid) fails both the connmark and the
  // connbytes match, so it is never queued; with `! --mark ... -j RETURN`
  // such a packet would fall through to NFQUEUE.
  //
  // connbytes range 0:N: at the mangle hooks conntrack (priority -200) has
  // already counted the current packet, so the first packet of a connection
  // sees 1 and the range 0:N matches packets 1..N, exactly the first N (both
  // directions together). Measured on Linux 6.18 / iptables 1.8.9 by the
  // traffic test. The lower bound 0 (not 1) keeps the first packet queued
  // even on a kernel that counted before the packet; there the budget would
  // be N+1, never N-1.
  //
  // The words are in the order iptables-save prints them, so that the
  // rendered rules and the installed ones read the same.
  return (
    `-p ${proto} -m connmark --mark 0x0/${mask}` +
    ` -m connbytes --connbytes 0:${r.packets} --connbytes-mode packets --connbytes-dir both` +
    ` -j NFQUEUE ${target}`
  );
}

/**
 * The rules and jumps of a resolved configuration, independent of family
 * (the same words work for iptables and ip6tables).
 */
export function buildRuleModel(r: ResolvedEdgeRules): EdgeRuleModel {
  const mask = hex(r.mask);
  const chains: EdgeChain[] = [
    // --nfmask/--ctmask M: packet mark = (packet mark & ~M) | (ct mark & M),
    // so policy-routing bits of the packet mark survive the restore.
    { table: 'mangle', name: RESTORE_CHAIN, rules: [`-j CONNMARK --restore-mark --nfmask ${mask} --ctmask ${mask}`] },
    { table: 'mangle', name: QUEUE_CHAIN, rules: [queueRule(r, 'tcp'), queueRule(r, 'udp')] },
    // ct mark = (ct mark & ~M) | (packet mark & M): only our bits are saved;
    // a routing bit set on the packet never leaks into the connection mark.
    { table: 'mangle', name: SAVE_CHAIN, rules: [`-j CONNMARK --save-mark --nfmask ${mask} --ctmask ${mask}`] },
  ];
  // Positions:
  // - restore FIRST in PREROUTING, so the operator's later rules (and
  //   routing) already see the l7 bits, and an early ACCEPT of theirs cannot
  //   skip it;
  // - save FIRST in POSTROUTING for the same reason (a save changes no
  //   verdict, so it cannot hide the operator's rules);
  // - queue LAST: NFQUEUE (a verdict, and with --queue-bypass the implicit
  //   accept when no edge listens) ends the traversal of the mangle chain,
  //   so a queue jump at the top would make the first packets of every
  //   connection skip the operator's mangle rules (TCPMSS clamping on SYNs,
  //   DSCP marking, ...). Appended, those rules run first.
  const jumps: EdgeJump[] = [{ table: 'mangle', from: 'PREROUTING', to: RESTORE_CHAIN, position: 'first' }];
  // Locally generated packets never pass PREROUTING: when OUTPUT is queued,
  // restore there as well, so they carry their connection's l7 bits (for tc
  // and for the operator's rules) like forwarded packets do.
  if (r.hooks.includes('OUTPUT')) jumps.push({ table: 'mangle', from: 'OUTPUT', to: RESTORE_CHAIN, position: 'first' });
  for (const hook of r.hooks) jumps.push({ table: 'mangle', from: hook satisfies QueueHook, to: QUEUE_CHAIN, position: 'last' });
  jumps.push({ table: 'mangle', from: 'POSTROUTING', to: SAVE_CHAIN, position: 'first' });
  if (r.ftpHelperPorts.length > 0) {
    // The helper is attached by a template in raw, before conntrack sees the
    // connection's first packet. Appended, and never on a packet the
    // operator's raw rules untracked (`CT --notrack` does not end the
    // traversal, so a later CT rule would undo it).
    chains.unshift({
      table: 'raw',
      name: HELPER_CHAIN,
      rules: r.ftpHelperPorts.map((port) => `-p tcp -m tcp --dport ${port} -m conntrack ! --ctstate UNTRACKED -j CT --helper ftp`),
    });
    jumps.unshift({ table: 'raw', from: 'PREROUTING', to: HELPER_CHAIN, position: 'last' });
    if (r.hooks.includes('OUTPUT')) jumps.splice(1, 0, { table: 'raw', from: 'OUTPUT', to: HELPER_CHAIN, position: 'last' });
  }
  return { chains, jumps };
}

/** The rule spec of a jump, as iptables-save prints it (without `-A CHAIN`). */
export function jumpSpec(jump: EdgeJump): string {
  return `-j ${jump.to}`;
}
