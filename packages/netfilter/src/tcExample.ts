import { checkL7Mark, hex, hex32, parseMask, type MarkValue } from './config.js';
import { invalidConfig } from './errors.js';

/** One traffic class of the HTB example: the l7 mark of a protocol group and its rates. */
export interface TcGroup {
  /** A label for the comment, e.g. `bulk` or `p2p`. */
  readonly name: string;
  /** The verdict mark of the group; within the l7 mask, non-zero under it. */
  readonly mark: MarkValue;
  /** Guaranteed rate, tc syntax (`20mbit`). */
  readonly rate: string;
  /** Ceiling (default: the link rate). */
  readonly ceil?: string;
}

export interface TcHtbExampleConfig {
  /** Egress interface to shape (e.g. the uplink `eth1`). */
  readonly dev: string;
  /** The l7 mask (default 0x0000ff00). */
  readonly mask?: MarkValue;
  /** Rate of the link (root class). */
  readonly linkRate: string;
  readonly groups: readonly TcGroup[];
  /** Rate of the default class (unclassified and unmatched traffic; default: linkRate). */
  readonly defaultRate?: string;
  /**
   * Qdisc under each class (default `fq_codel`); false leaves HTB's
   * default (pfifo), for kernels built without fq_codel.
   */
  readonly leafQdisc?: string | false;
  /**
   * How packets find their class: `fw` (default) tc filters matching the
   * mark under the mask; `classify` iptables CLASSIFY rules in mangle
   * POSTROUTING instead, for kernels built without cls_fw
   * (CONFIG_NET_CLS_FW).
   */
  readonly classifier?: 'fw' | 'classify';
}

const RATE = /^\d+(\.\d+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$/;
const DEV = /^[A-Za-z0-9_.:@-]{1,15}$/;

function checkRate(value: unknown, field: string): string {
  if (typeof value !== 'string' || !RATE.test(value)) throw invalidConfig(field, `${JSON.stringify(value)} is not a tc rate (e.g. 20mbit)`);
  return value;
}

/**
 * A tc script (a string, one command a line) that shapes egress on `dev` by
 * the l7 mark: an HTB class per group, selected by `fw` filters matching the
 * packet mark under the l7 mask (`handle MARK/MASK fw`), everything else
 * (including connections not classified yet) in the default class.
 *
 * Why it works: PREROUTING restores the connection's l7 bits into the mark
 * of every packet (L7MESH-PRE), and the mark stays on the packet through
 * forwarding to the egress qdisc. The fw filter compares
 * `(skb->mark & MASK) == MARK`; all fw filters of one parent and priority
 * share one mask (the kernel refuses a different one), which holds here
 * since every group uses the l7 mask.
 *
 * Beware `u32 match mark`: on a kernel built without CONFIG_CLS_U32_MARK
 * tc accepts it and the kernel ignores the mark, so the filter matches
 * every packet. Hence fw, or CLASSIFY (see `classifier`).
 */
export function renderTcHtbExample(config: TcHtbExampleConfig): string {
  if (typeof config.dev !== 'string' || !DEV.test(config.dev)) throw invalidConfig('dev', `${JSON.stringify(config.dev)} is not an interface name`);
  const mask = config.mask === undefined ? 0x0000ff00 : parseMask(config.mask);
  const link = checkRate(config.linkRate, 'linkRate');
  const defaultRate = checkRate(config.defaultRate ?? link, 'defaultRate');
  if (!Array.isArray(config.groups) || config.groups.length === 0) throw invalidConfig('groups', 'name at least one group');
  if (config.groups.length > 0xfff0) throw invalidConfig('groups', 'too many groups');
  const dev = config.dev;
  const leaf = config.leafQdisc ?? 'fq_codel';
  if (leaf !== false && (typeof leaf !== 'string' || !/^[a-z_]+$/.test(leaf))) throw invalidConfig('leafQdisc', `${JSON.stringify(leaf)} is not a qdisc kind`);
  const seen = new Map<number, string>();
  const groups = config.groups.map((g, i) => {
    const mark = checkL7Mark(g.mark, mask, `groups[${i}].mark`);
    const other = seen.get(mark);
    if (other !== undefined) throw invalidConfig(`groups[${i}].mark`, `mark ${hex(mark)} is already used by group ${other}`);
    seen.set(mark, g.name);
    return {
      name: String(g.name).replace(/[\r\n]/g, ' '),
      mark,
      rate: checkRate(g.rate, `groups[${i}].rate`),
      ceil: checkRate(g.ceil ?? link, `groups[${i}].ceil`),
      // Class ids are hex in tc; 1:10, 1:11, ... leave 1:1 (root) and the
      // default class (1:ffff) free.
      classid: `1:${(0x10 + i).toString(16)}`,
    };
  });
  const lines = [
    `# l7mesh: shape egress on ${dev} by the l7 mark (packet-mark bits ${hex32(mask)})`,
    `tc qdisc replace dev ${dev} root handle 1: htb default ffff`,
    `tc class add dev ${dev} parent 1: classid 1:1 htb rate ${link} ceil ${link}`,
  ];
  for (const g of groups) {
    lines.push(`# group ${g.name}: l7 mark ${hex(g.mark)}`);
    lines.push(`tc class add dev ${dev} parent 1:1 classid ${g.classid} htb rate ${g.rate} ceil ${g.ceil}`);
    if (leaf) lines.push(`tc qdisc add dev ${dev} parent ${g.classid} ${leaf}`);
  }
  lines.push(`# unclassified (l7 bits 0) and every other mark`);
  lines.push(`tc class add dev ${dev} parent 1:1 classid 1:ffff htb rate ${defaultRate} ceil ${link}`);
  if (leaf) lines.push(`tc qdisc add dev ${dev} parent 1:ffff ${leaf}`);
  const classifier = config.classifier ?? 'fw';
  if (classifier === 'fw') {
    lines.push(`# fw with a mask: matches (packet mark & ${hex(mask)}) == handle; bits outside the mask (routing marks) are ignored`);
    for (const g of groups) {
      lines.push(`tc filter add dev ${dev} parent 1: protocol all prio 1 handle ${hex(g.mark)}/${hex(mask)} fw classid ${g.classid}`);
    }
  } else if (classifier === 'classify') {
    // HTB takes skb->priority as the class when it names one of its own
    // (1:xx); CLASSIFY sets it. The rules are the operator's, so they do not
    // use the L7MESH- chain prefix (apply would treat such a chain as ours).
    lines.push(`# without cls_fw: CLASSIFY sets the class from the l7 mark (mangle POSTROUTING, after L7MESH-POST)`);
    for (const g of groups) {
      lines.push(`iptables -t mangle -A POSTROUTING -o ${dev} -m mark --mark ${hex(g.mark)}/${hex(mask)} -j CLASSIFY --set-class ${g.classid}`);
    }
  } else {
    throw invalidConfig('classifier', `${JSON.stringify(classifier)} is not fw or classify`);
  }
  return lines.join('\n') + '\n';
}
