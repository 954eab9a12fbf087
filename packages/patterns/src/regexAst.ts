import type { ByteSet } from './byteSet.js';

/**
 * A parsed kernel regex, engine-neutral. `seq` with no items matches the
 * empty string; `alt` with no branches matches nothing. Nodes are immutable.
 */
export type RegexNode =
  | { readonly kind: 'byte'; readonly value: number }
  | { readonly kind: 'any' }
  | { readonly kind: 'set'; readonly members: ByteSet; readonly negated: boolean }
  | { readonly kind: 'bol' }
  | { readonly kind: 'eol' }
  | { readonly kind: 'seq'; readonly items: readonly RegexNode[] }
  | { readonly kind: 'alt'; readonly branches: readonly RegexNode[] }
  | { readonly kind: 'repeat'; readonly op: RepeatOp; readonly child: RegexNode };

export type RepeatOp = '*' | '+' | '?';

export const EMPTY: RegexNode = { kind: 'seq', items: [] };
export const DEAD: RegexNode = { kind: 'alt', branches: [] };
export const BOL: RegexNode = { kind: 'bol' };
export const EOL: RegexNode = { kind: 'eol' };

export const isEmpty = (n: RegexNode) => n.kind === 'seq' && n.items.length === 0;
export const isDead = (n: RegexNode) => n.kind === 'alt' && n.branches.length === 0;

/** Concatenation, simplified: nested sequences flattened, a dead item kills it. */
export function seq(items: readonly RegexNode[]): RegexNode {
  const out: RegexNode[] = [];
  for (const item of items) {
    if (isDead(item)) return DEAD;
    if (item.kind === 'seq') out.push(...item.items);
    else out.push(item);
  }
  return out.length === 1 ? out[0]! : { kind: 'seq', items: out };
}

/** Alternation, simplified: nested alternations flattened, dead branches dropped. */
export function alt(branches: readonly RegexNode[]): RegexNode {
  const out: RegexNode[] = [];
  for (const b of branches) {
    if (b.kind === 'alt') out.push(...b.branches);
    else out.push(b);
  }
  return out.length === 1 ? out[0]! : { kind: 'alt', branches: out };
}

/** x*, x+ or x?, simplified when x is dead or can only match the empty string. */
export function repeat(op: RepeatOp, child: RegexNode): RegexNode {
  if (isDead(child)) return op === '+' ? DEAD : EMPTY;
  // Zero-width only (anchors, empty): repeating adds nothing, and the
  // optional forms also allow skipping it, which covers every case.
  if (zeroWidthOnly(child)) return op === '+' ? child : EMPTY;
  return { kind: 'repeat', op, child };
}

/** Structural equality (same shape, same bytes), to spot rewrites that changed nothing. */
export function sameTree(a: RegexNode, b: RegexNode): boolean {
  if (a === b) return true;
  switch (a.kind) {
    case 'byte':
      return b.kind === 'byte' && a.value === b.value;
    case 'set':
      return b.kind === 'set' && a.negated === b.negated && a.members.equals(b.members);
    case 'seq':
      return b.kind === 'seq' && a.items.length === b.items.length && a.items.every((n, i) => sameTree(n, b.items[i]!));
    case 'alt':
      return b.kind === 'alt' && a.branches.length === b.branches.length && a.branches.every((n, i) => sameTree(n, b.branches[i]!));
    case 'repeat':
      return b.kind === 'repeat' && a.op === b.op && sameTree(a.child, b.child);
    default:
      return a.kind === b.kind;
  }
}

/** Whether the node contains a node of this kind. */
export function contains(node: RegexNode, kind: 'bol' | 'eol'): boolean {
  switch (node.kind) {
    case 'bol':
    case 'eol':
      return node.kind === kind;
    case 'seq':
      return node.items.some((n) => contains(n, kind));
    case 'alt':
      return node.branches.some((n) => contains(n, kind));
    case 'repeat':
      return contains(node.child, kind);
    default:
      return false;
  }
}

/** Can match the empty string, counting anchors as satisfiable. */
export function nullable(node: RegexNode): boolean {
  switch (node.kind) {
    case 'byte':
    case 'any':
    case 'set':
      return false;
    case 'bol':
    case 'eol':
      return true;
    case 'seq':
      return node.items.every(nullable);
    case 'alt':
      return node.branches.some(nullable);
    case 'repeat':
      return node.op !== '+' || nullable(node.child);
  }
}

/** No path through the node consumes a byte (only anchors and empties). */
export function zeroWidthOnly(node: RegexNode): boolean {
  switch (node.kind) {
    case 'byte':
    case 'any':
    case 'set':
      return false;
    case 'bol':
    case 'eol':
      return true;
    case 'seq':
      return node.items.every(zeroWidthOnly);
    case 'alt':
      return node.branches.every(zeroWidthOnly);
    case 'repeat':
      return zeroWidthOnly(node.child);
  }
}
