/**
 * Error codes of the netfilter package; callers branch on `code`, never on
 * the message.
 *
 * - NF_INVALID_CONFIG: a configuration value is wrong; `field` names it
 *   (e.g. `mask`, `queue.balance`, `groups[2].mark`).
 * - NF_APPLY: installing the rules failed; nothing of that family changed
 *   (iptables-restore and nft commit all or nothing). `stderr`, `line` and
 *   `lineText` say what iptables-restore or nft rejected.
 * - NF_REMOVE: removing the rules failed, same details as NF_APPLY.
 * - NF_LIST: reading the installed rules (iptables-save) failed.
 * - NF_INVALID_ELEMENT: a flow-set element operation is wrong; `field`
 *   names it (e.g. `ops[3].key.src`).
 * - NF_PARSE: `nft -j` output is not what the parser expects (`field` names
 *   the place, e.g. `nftables[1].set.elem[4]`).
 * - NF_SYSCTL: conntrack accounting (net.netfilter.nf_conntrack_acct) could
 *   not be switched on; without it connbytes never matches and no packet
 *   would ever be queued, so this is an error, not a warning.
 */
export type NetfilterErrorCode =
  | 'NF_INVALID_CONFIG'
  | 'NF_APPLY'
  | 'NF_REMOVE'
  | 'NF_LIST'
  | 'NF_SYSCTL'
  | 'NF_INVALID_ELEMENT'
  | 'NF_PARSE';

export interface NetfilterErrorDetails {
  /** NF_INVALID_CONFIG / NF_INVALID_ELEMENT / NF_PARSE: the field at fault, as a path. */
  readonly field?: string;
  /** ipv4 or ipv6, when the failure concerns one family. */
  readonly family?: 'ipv4' | 'ipv6';
  /** The command that failed, as run (including `ip netns exec NS`). */
  readonly command?: readonly string[];
  /** Its standard error, trimmed. */
  readonly stderr?: string;
  /** The input line iptables-restore or nft named (1-based), if it named one. */
  readonly line?: number;
  /** The text of that line of the input. */
  readonly lineText?: string;
  /** The whole iptables-restore or nft input that was rejected. */
  readonly input?: string;
  readonly cause?: unknown;
}

export class NetfilterError extends Error {
  readonly field: string | undefined;
  readonly family: 'ipv4' | 'ipv6' | undefined;
  readonly command: readonly string[] | undefined;
  readonly stderr: string | undefined;
  readonly line: number | undefined;
  readonly lineText: string | undefined;
  readonly input: string | undefined;

  constructor(
    readonly code: NetfilterErrorCode,
    message: string,
    details: NetfilterErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'NetfilterError';
    this.field = details.field;
    this.family = details.family;
    this.command = details.command;
    this.stderr = details.stderr;
    this.line = details.line;
    this.lineText = details.lineText;
    this.input = details.input;
  }
}

/** Shorthand for an NF_INVALID_CONFIG error whose message starts with the field. */
export function invalidConfig(field: string, message: string): NetfilterError {
  return new NetfilterError('NF_INVALID_CONFIG', `${field}: ${message}`, { field });
}

/** Shorthand for an NF_INVALID_ELEMENT error whose message starts with the field. */
export function invalidElement(field: string, message: string): NetfilterError {
  return new NetfilterError('NF_INVALID_ELEMENT', `${field}: ${message}`, { field });
}
