import { isIPv4, isIPv6 } from 'node:net';
import type { IpFamily } from './config.js';
import { invalidElement } from './errors.js';
import { checkTableName, statelessTargetSet, type ElementTarget } from './statelessConfig.js';

/** One direction of a flow, as the flow sets and the live set key it. */
export interface FlowTuple {
  readonly family: IpFamily;
  readonly protocol: 'tcp' | 'udp';
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
}

/** An element to add to, or delete from, the set of `target` (`statelessTargetSet`). */
export type ElementOp =
  | { readonly op: 'add'; readonly key: FlowTuple; readonly target: ElementTarget; readonly timeoutSec: number }
  | { readonly op: 'delete'; readonly key: FlowTuple; readonly target: ElementTarget };

function checkPort(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw invalidElement(field, `${String(value)} is not a port (0 to 65535)`);
  }
  return value;
}

/**
 * The tuple as nft writes a key. Addresses must be literal (nft would
 * resolve a host name through DNS on the hot path); a zone index (`%eth0`)
 * has no place in the key.
 */
export function renderFlowKey(key: FlowTuple, field = 'key'): string {
  if (typeof key !== 'object' || key === null) throw invalidElement(field, 'must be a flow tuple');
  if (key.family !== 'ipv4' && key.family !== 'ipv6') throw invalidElement(`${field}.family`, `${JSON.stringify(key.family)} is not ipv4 or ipv6`);
  if (key.protocol !== 'tcp' && key.protocol !== 'udp') throw invalidElement(`${field}.protocol`, `${JSON.stringify(key.protocol)} is not tcp or udp`);
  const isAddr = key.family === 'ipv4' ? isIPv4 : isIPv6;
  for (const side of ['src', 'dst'] as const) {
    const a: unknown = key[side];
    if (typeof a !== 'string' || !isAddr(a) || a.includes('%')) {
      throw invalidElement(`${field}.${side}`, `${JSON.stringify(a)} is not an ${key.family} address`);
    }
  }
  const sport = checkPort(key.sport, `${field}.sport`);
  const dport = checkPort(key.dport, `${field}.dport`);
  return `${key.src} . ${key.protocol} . ${sport} . ${key.dst} . ${dport}`;
}

/** `60s`, or milliseconds for a fraction (nft takes both). */
function renderTimeout(value: unknown, field: string): string {
  // nft's upper bound for a set timeout is about 49 days (u32 ms in places); a day is plenty for a verdict.
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0.001 || value > 86_400) {
    throw invalidElement(field, `${String(value)} is not a timeout in seconds (0.001 to 86400)`);
  }
  return Number.isInteger(value) ? `${value}s` : `${Math.round(value * 1000)}ms`;
}

/** What one line of a rendered batch does: an element to add to or delete from a target's set, and the op it came from. */
export interface ElementLine {
  readonly verb: 'add' | 'delete';
  readonly key: FlowTuple;
  readonly target: ElementTarget;
  /** Index in `ops` of the op that asked for it. */
  readonly opIndex: number;
}

export interface ElementBatch {
  /** The nft commands, for `nft -f -` or `nftRun`. */
  readonly script: string;
  /** lines[L - 1] describes line L of the script (undefined for a command's first and last line). */
  readonly lines: readonly (ElementLine | undefined)[];
}

/**
 * The nft commands that carry out `ops` on table `table`'s flow sets, in as
 * few commands as there are sets: every delete first (one `delete element`
 * per set), then every add (one `add element` per set), one element a line,
 * so the line nft names in an error (nftRun's `line`, `nft -f`'s
 * `/dev/stdin:L`) is the element at fault: `lines` says which.
 *
 * Per set and key the last op counts: add then delete is a delete; add after
 * add is the last add; delete then add is both (a refresh). Moving a flow to
 * another target is the caller's delete from the old set and add to the new
 * one. The caller adds both directions' keys of a flow.
 *
 * Caveats (nft 1.0.6, kernel 6.x): one failing element aborts the whole
 * transaction; deleting an element that has expired meanwhile fails with
 * ENOENT (nft 1.0.6 has no `destroy element`), so a caller retries without
 * the delete the error names. Adding an element that is there already
 * succeeds, and sets its new timeout only on kernels >= 6.12 (before: a
 * refresh is delete + add, which also zeroes its counter).
 */
export function renderElementBatch(table: string, ops: readonly ElementOp[]): ElementBatch {
  checkTableName(table);
  if (!Array.isArray(ops)) throw invalidElement('ops', 'must be a list of element operations');
  interface Pending {
    set: string;
    target: ElementTarget;
    tuple: FlowTuple;
    key: string;
    deleteBy: number | undefined;
    add: { text: string; by: number } | undefined;
  }
  // The last op per (set, key), in first-seen order.
  const pending = new Map<string, Pending>();
  ops.forEach((op, i) => {
    const field = `ops[${i}]`;
    if (typeof op !== 'object' || op === null) throw invalidElement(field, 'must be { op, key, target, ... }');
    if (op.op !== 'add' && op.op !== 'delete') {
      throw invalidElement(`${field}.op`, `${JSON.stringify((op as { op?: unknown }).op)} is not add or delete`);
    }
    const key = renderFlowKey(op.key, `${field}.key`);
    const set = statelessTargetSet(op.key.family, op.target, `${field}.target`);
    const id = `${set} ${key}`;
    const entry: Pending = pending.get(id) ?? { set, target: op.target, tuple: op.key, key, deleteBy: undefined, add: undefined };
    if (op.op === 'delete') {
      entry.deleteBy = i;
      entry.add = undefined;
    } else {
      entry.add = { text: `${key} timeout ${renderTimeout(op.timeoutSec, `${field}.timeoutSec`)}`, by: i };
    }
    pending.set(id, entry);
  });

  const text: string[] = [];
  const lines: (ElementLine | undefined)[] = [];
  for (const verb of ['delete', 'add'] as const) {
    const bySet = new Map<string, { text: string; line: ElementLine }[]>();
    for (const e of pending.values()) {
      const by = verb === 'delete' ? e.deleteBy : e.add?.by;
      if (by === undefined) continue;
      const elements = bySet.get(e.set) ?? [];
      elements.push({ text: verb === 'delete' ? e.key : e.add!.text, line: { verb, key: e.tuple, target: e.target, opIndex: by } });
      bySet.set(e.set, elements);
    }
    for (const [set, elements] of bySet) {
      text.push(`${verb} element inet ${table} ${set} {`);
      lines.push(undefined);
      elements.forEach((e, i) => {
        text.push(`\t${e.text}${i < elements.length - 1 ? ',' : ''}`);
        lines.push(e.line);
      });
      text.push('}');
      lines.push(undefined);
    }
  }
  return { script: text.length > 0 ? text.join('\n') + '\n' : '', lines };
}

/** `renderElementBatch(table, ops).script`. */
export function renderElementOps(table: string, ops: readonly ElementOp[]): string {
  return renderElementBatch(table, ops).script;
}
