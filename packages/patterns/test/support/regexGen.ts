import type { Prng } from './prng.js';

/**
 * Random kernel-regex text, biased toward the constructs that matter:
 * hex escapes of metacharacters, anchors anywhere, odd brackets, nested
 * groups, empty branches. Many results are invalid on purpose.
 */
const HEX_BYTES = [0x2e, 0x2a, 0x2b, 0x3f, 0x5c, 0x7c, 0x28, 0x29, 0x5b, 0x5d, 0x24, 0x5e, 0x41, 0x5a, 0x61, 0x00, 0x0a, 0x0d, 0x80, 0xff, 0x2d, 0x7b];
const hex = (b: number) => `\\x${b.toString(16).padStart(2, '0')}`;

export function randomRegex(r: Prng, depth = 0): string {
  const branches = r.chance(0.3) ? 1 + r.int(3) : 1;
  return Array.from({ length: branches }, () => randomBranch(r, depth)).join('|');
}

function randomBranch(r: Prng, depth: number): string {
  let out = '';
  const n = r.int(5);
  for (let i = 0; i < n; i++) out += randomPiece(r, depth);
  return out;
}

function randomPiece(r: Prng, depth: number): string {
  const atom = randomAtom(r, depth);
  return r.chance(0.3) ? atom + r.pick(['*', '+', '?']) : atom;
}

function randomAtom(r: Prng, depth: number): string {
  switch (r.int(12)) {
    case 0:
    case 1:
      return r.pick(['a', 'b', 'c', 'A', 'B', '0', '1', ' ', '-', '{', '}', ']', ':', '\xe9']);
    case 2:
      return '.';
    case 3:
      return r.pick(['^', '$']);
    case 4:
      return hex(r.chance(0.7) ? r.pick(HEX_BYTES) : r.int(256));
    case 5:
      return `\\${r.pick([...'wdsnbt.$^()[]|*+?\\x{a'])}`;
    case 6:
    case 7:
      return randomBracket(r);
    case 8:
    case 9:
      return depth < 3 ? `(${randomRegex(r, depth + 1)})` : 'a';
    case 10:
      return r.pick(['ab', 'abc', 'ba', 'get ', 'xy']);
    default:
      return r.pick(['*', '+', '?', '(', ')', '[', '|', '\\']); // usually an error
  }
}

function randomBracket(r: Prng): string {
  let out = '[';
  if (r.chance(0.3)) out += '^';
  if (r.chance(0.15)) out += r.pick([']', '-']);
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    switch (r.int(7)) {
      case 0:
        out += r.pick(['a', 'b', 'z', '0', ' ', '\\', '.', '[', '$']);
        break;
      case 1:
        out += r.pick(['a-c', '0-9', 'x-z', ' -~', 'c-a', 'a-a']);
        break;
      case 2:
        out += `${hex(1 + r.int(0x7f))}-${hex(0x40 + r.int(0xc0))}`;
        break;
      case 3:
        out += hex(r.pick(HEX_BYTES));
        break;
      case 4:
        out += `[:${r.pick(['alpha', 'digit', 'space', 'punct', 'upper', 'xdigit', 'nope', 'alnum'])}:]`;
        break;
      case 5:
        out += '-';
        break;
      default:
        out += r.pick(['A', 'Z', '_', ':', '|', '(']);
    }
  }
  return r.chance(0.95) ? `${out}]` : out;
}

/** Data to try a pattern on: bytes the pattern mentions, lowercased, no NUL (as l7-filter's data). */
export function randomData(r: Prng, regex: string): string {
  const alphabet = new Set<string>(['x', '\n', '\xff', 'a']);
  for (let i = 0; i < regex.length; i++) {
    const h = /^\\x([0-9a-fA-F]{2})/.exec(regex.slice(i));
    const ch = h ? String.fromCharCode(parseInt(h[1]!, 16)) : regex[i]!;
    if (h) i += 3;
    if (ch !== '\0' && ch.charCodeAt(0) <= 0xff) alphabet.add(ch.replace(/[A-Z]/, (c) => c.toLowerCase()));
  }
  const chars = [...alphabet];
  const len = r.int(13);
  let out = '';
  for (let i = 0; i < len; i++) out += r.pick(chars);
  return out;
}
