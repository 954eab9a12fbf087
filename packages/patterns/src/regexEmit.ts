import type { ByteSet } from './byteSet.js';
import { isDead, type RegexNode } from './regexAst.js';

/** Which engine's syntax to write: Hyperscan (PCRE, with HS_FLAG_DOTALL) or a JS RegExp with no flags. */
export type RegexFlavor = 'hyperscan' | 'javascript';

/**
 * Bytes other than a-z and 0-9 are written as \xHH: both engines read that
 * as one byte (Hyperscan without UTF8, JS on a latin1 string), and no byte
 * can then be taken for syntax by either.
 */
function byteText(byte: number): string {
  const plain = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39);
  return plain ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
}

/** Members as explicit ranges; `[^...]` for a negated set, which matches newline in both engines as in Spencer's. */
function setText(members: ByteSet, negated: boolean): string {
  const parts = members.ranges().map(([first, last]) => {
    if (first === last) return byteText(first);
    if (last === first + 1) return byteText(first) + byteText(last);
    return `${byteText(first)}-${byteText(last)}`;
  });
  return `[${negated ? '^' : ''}${parts.join('')}]`;
}

function nodeText(node: RegexNode, flavor: RegexFlavor): string {
  switch (node.kind) {
    case 'byte':
      return byteText(node.value);
    case 'any':
      // Hyperscan gets HS_FLAG_DOTALL; a JS RegExp without the s flag needs [^].
      return flavor === 'hyperscan' ? '.' : '[^]';
    case 'set':
      return setText(node.members, node.negated);
    case 'bol':
      return '^';
    case 'eol':
      // Spencer's $ is the end of the data only. PCRE's $ also matches before
      // a final newline, so Hyperscan gets \z; JS's $ without the m flag is right.
      return flavor === 'hyperscan' ? '\\z' : '$';
    case 'seq':
      return node.items.map((item) => (item.kind === 'alt' ? group(item, flavor) : nodeText(item, flavor))).join('');
    case 'alt':
      return node.branches.map((b) => nodeText(b, flavor)).join('|');
    case 'repeat': {
      const c = node.child;
      const single = c.kind === 'byte' || c.kind === 'any' || c.kind === 'set';
      return (single ? nodeText(c, flavor) : group(c, flavor)) + node.op;
    }
  }
}

/** Spencer's groups only group (no back-references), so they become non-capturing. */
const group = (node: RegexNode, flavor: RegexFlavor) => `(?:${nodeText(node, flavor)})`;

/**
 * Writes the tree as a regex source. A tree that can never match becomes
 * `\x00`: the data never contains a NUL byte (l7-filter removes them), and
 * both engines accept it, unlike an empty class.
 */
export function emitRegex(root: RegexNode, flavor: RegexFlavor): string {
  if (isDead(root)) return '\\x00';
  const text = nodeText(root, flavor);
  return text === '' ? '(?:)' : text;
}
