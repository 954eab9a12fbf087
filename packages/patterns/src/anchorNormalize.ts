import { alt, BOL, contains, DEAD, EMPTY, EOL, repeat, sameTree, seq, type RegexNode } from './regexAst.js';

/*
 * Spencer lets `^` and `$` stand anywhere: `^` holds at offset 0 of the data,
 * `$` at its end. Hyperscan only accepts a start anchor where nothing can have
 * been consumed before it (syntactically), and `\z` where nothing can follow
 * it ("Embedded start/end anchors not supported"). So a top-level branch with
 * an anchor elsewhere is rewritten into an equal-meaning one:
 *
 *   B  ==  ^ S(B)  |  M(B)        M: B with every ^ impossible,
 *                                 S: B read from offset 0 (a ^ holds until a byte is consumed)
 *   B  ==  E(B) \z |  N(B)        N: B with every $ impossible,
 *                                 E: B read up to the end ($ holds after the last byte consumed)
 *
 * S and E are computed by splitting each node into the paths that consume
 * nothing and those that consume something. Repeated nodes always consume
 * (regcomp() refuses `*` and `+` on what could match nothing), which keeps the
 * loops simple. Branches that become impossible (e.g. `$x`) disappear.
 */

interface Split {
  /** The paths that consume no byte. */
  empty: RegexNode;
  /** The paths that consume at least one byte. */
  consumed: RegexNode;
}

const without = (kind: 'bol' | 'eol') =>
  function strip(node: RegexNode): RegexNode {
    if (!contains(node, kind)) return node;
    switch (node.kind) {
      case 'bol':
      case 'eol':
        return DEAD;
      case 'seq':
        return seq(node.items.map(strip));
      case 'alt':
        return alt(node.branches.map(strip));
      case 'repeat':
        return repeat(node.op, strip(node.child));
      default:
        return node;
    }
  };

const withoutBol = without('bol');
const withoutEol = without('eol');

/** S split: read from offset 0, so `^` holds until the first byte is consumed. */
function fromStart(node: RegexNode): Split {
  switch (node.kind) {
    case 'byte':
    case 'any':
    case 'set':
      return { empty: DEAD, consumed: node };
    case 'bol':
      return { empty: EMPTY, consumed: DEAD };
    case 'eol':
      return { empty: EOL, consumed: DEAD };
    case 'alt': {
      const parts = node.branches.map(fromStart);
      return { empty: alt(parts.map((p) => p.empty)), consumed: alt(parts.map((p) => p.consumed)) };
    }
    case 'seq': {
      if (node.items.length === 0) return { empty: EMPTY, consumed: DEAD };
      const first = fromStart(node.items[0]!);
      const rest = seq(node.items.slice(1));
      const restSplit = fromStart(rest);
      return {
        empty: seq([first.empty, restSplit.empty]),
        consumed: alt([seq([first.empty, restSplit.consumed]), seq([first.consumed, withoutBol(rest)])]),
      };
    }
    case 'repeat': {
      const child = fromStart(node.child);
      if (node.op === '?') return { empty: alt([EMPTY, child.empty]), consumed: child.consumed };
      const more = seq([child.consumed, repeat('*', withoutBol(node.child))]);
      return { empty: node.op === '*' ? EMPTY : child.empty, consumed: more };
    }
  }
}

/** E split: read up to the end, so `$` holds once no byte is consumed after it. */
function toEnd(node: RegexNode): Split {
  switch (node.kind) {
    case 'byte':
    case 'any':
    case 'set':
      return { empty: DEAD, consumed: node };
    case 'eol':
      return { empty: EMPTY, consumed: DEAD };
    case 'bol':
      return { empty: BOL, consumed: DEAD };
    case 'alt': {
      const parts = node.branches.map(toEnd);
      return { empty: alt(parts.map((p) => p.empty)), consumed: alt(parts.map((p) => p.consumed)) };
    }
    case 'seq': {
      if (node.items.length === 0) return { empty: EMPTY, consumed: DEAD };
      const last = toEnd(node.items[node.items.length - 1]!);
      const init = seq(node.items.slice(0, -1));
      const initSplit = toEnd(init);
      return {
        empty: seq([initSplit.empty, last.empty]),
        consumed: alt([seq([initSplit.consumed, last.empty]), seq([withoutEol(init), last.consumed])]),
      };
    }
    case 'repeat': {
      const child = toEnd(node.child);
      if (node.op === '?') return { empty: alt([EMPTY, child.empty]), consumed: child.consumed };
      const more = seq([repeat('*', withoutEol(node.child)), child.consumed]);
      return { empty: node.op === '*' ? EMPTY : child.empty, consumed: more };
    }
  }
}

/** Every `^` in the node is where Hyperscan accepts it: nothing can come before it. */
function bolLeading(node: RegexNode): boolean {
  if (!contains(node, 'bol')) return true;
  switch (node.kind) {
    case 'bol':
      return true;
    case 'seq':
      return bolLeading(node.items[0]!) && node.items.slice(1).every((n) => !contains(n, 'bol'));
    case 'alt':
      return node.branches.every(bolLeading);
    case 'repeat':
      return node.op === '?' && bolLeading(node.child);
    default:
      return true;
  }
}

/** Every `$` in the node is where Hyperscan accepts `\z`: nothing can come after it. */
function eolTrailing(node: RegexNode): boolean {
  if (!contains(node, 'eol')) return true;
  switch (node.kind) {
    case 'eol':
      return true;
    case 'seq':
      return eolTrailing(node.items[node.items.length - 1]!) && node.items.slice(0, -1).every((n) => !contains(n, 'eol'));
    case 'alt':
      return node.branches.every(eolTrailing);
    case 'repeat':
      return node.op === '?' && eolTrailing(node.child);
    default:
      return true;
  }
}

const branchesOf = (node: RegexNode) => (node.kind === 'alt' ? node.branches : [node]);
const whole = (s: Split) => alt([s.empty, s.consumed]);

/** B as `^ S(B) | M(B)`, or just M(B) when reading from offset 0 changes nothing (every `^` was dead). */
function splitAtStart(b: RegexNode): RegexNode {
  const mid = withoutBol(b);
  const start = whole(fromStart(b));
  return sameTree(start, mid) ? mid : alt([seq([BOL, start]), mid]);
}

/** B as `E(B) \z | N(B)`, or just N(B) when every `$` was dead. */
function splitAtEnd(b: RegexNode): RegexNode {
  const notEnd = withoutEol(b);
  const end = whole(toEnd(b));
  return sameTree(end, notEnd) ? notEnd : alt([seq([end, EOL]), notEnd]);
}

/** Rewrites anchors into the positions Hyperscan accepts, without changing what matches. */
export function normalizeAnchors(root: RegexNode): RegexNode {
  const bolDone = alt(branchesOf(root).map((b) => (bolLeading(b) ? b : splitAtStart(b))));
  return alt(branchesOf(bolDone).map((b) => (eolTrailing(b) ? b : splitAtEnd(b))));
}
