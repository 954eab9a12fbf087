import { ByteSet, posixClass } from './byteSet.js';
import { PatternSyntaxError } from './errors.js';
import type { PreprocessedRegex } from './l7Preprocess.js';
import { alt, BOL, EOL, repeat, seq, type RegexNode, type RepeatOp } from './regexAst.js';

export interface SpencerOptions {
  /**
   * Accept POSIX classes such as `[:alpha:]` inside brackets. Spencer's
   * regexp.c (and so the l7-filter kernel module) has none: there `[[:alpha:]]`
   * is one of `[ : a l p h` followed by a literal `]`. Set false for that.
   */
  posixClasses: boolean;
}

/** regexp.h: NSUBEXP is 10 and group 0 is the whole match, so 9 `(` at most. */
const MAX_GROUPS = 9;
/** regcomp() refused programs of 32767 bytes or more ("regexp too big"). */
const MAX_PROGRAM_SIZE = 32767;
/** The characters regatom() does not gobble into a literal run. */
const META = new Set([...'^$.[()|?+*\\'].map((c) => c.charCodeAt(0)));
const isMult = (c: number | undefined) => c === 0x2a || c === 0x2b || c === 0x3f;

const ch = (c: string) => c.charCodeAt(0);

interface Parsed {
  node: RegexNode;
  /** Spencer's HASWIDTH: known never to match the empty string. */
  hasWidth: boolean;
  /** Spencer's SIMPLE: one byte wide, so x* and x+ are a cheap STAR/PLUS node. */
  simple: boolean;
}

/**
 * Henry Spencer's 1986 regcomp() as the l7-filter kernel module used it,
 * rewritten to build a syntax tree. It accepts and rejects exactly what that
 * compiler did (same errors, in the same order), including its size limits:
 * `size` follows regcomp()'s first pass byte for byte. The one addition is
 * `[:class:]` inside brackets, which SpencerOptions can turn off.
 */
class SpencerParser {
  readonly #p: number[];
  readonly #columns: number[];
  readonly #endColumn: number;
  readonly #options: SpencerOptions;
  #i = 0;
  #groups = 0;
  /** Program size as regcomp()'s sizing pass counts it; starts with the magic byte. */
  #size = 1;

  constructor(input: PreprocessedRegex, options: SpencerOptions) {
    this.#p = input.bytes;
    this.#columns = input.columns;
    this.#endColumn = input.endColumn;
    this.#options = options;
  }

  parse(): RegexNode {
    const { node } = this.#reg(false, 0);
    if (this.#size >= MAX_PROGRAM_SIZE) {
      throw new PatternSyntaxError(
        `regexp too big: its compiled program is ${this.#size} bytes, the kernel's limit is ${MAX_PROGRAM_SIZE - 1}`,
        1,
      );
    }
    return node;
  }

  #column(at: number): number {
    return at < this.#columns.length ? this.#columns[at]! : this.#endColumn;
  }

  #fail(message: string, at: number): never {
    throw new PatternSyntaxError(message, this.#column(at));
  }

  #peek(offset = 0): number | undefined {
    return this.#p[this.#i + offset];
  }

  /** reg(): a whole regex or a parenthesised one (the `(` already consumed at openAt). */
  #reg(paren: boolean, openAt: number): Parsed {
    if (paren) {
      if (this.#groups >= MAX_GROUPS) this.#fail(`too many (): the kernel allows ${MAX_GROUPS} groups`, openAt);
      this.#groups++;
      this.#size += 3; // OPEN
    }
    const branches = [this.#branch()];
    while (this.#peek() === ch('|')) {
      this.#i++;
      branches.push(this.#branch());
    }
    this.#size += 3; // CLOSE or END
    if (paren) {
      if (this.#peek() !== ch(')')) this.#fail('unmatched (): this ( is never closed', openAt);
      this.#i++;
    } else if (this.#i < this.#p.length) {
      // Only `)` can stop the top-level branch loop early.
      this.#fail('unmatched (): ) without a matching (', this.#i);
    }
    return {
      node: alt(branches.map((b) => b.node)),
      hasWidth: branches.every((b) => b.hasWidth),
      simple: false,
    };
  }

  /** regbranch(): a concatenation; `|` and `)` end it, and it may be empty. */
  #branch(): Parsed {
    this.#size += 3; // BRANCH
    const items: RegexNode[] = [];
    let hasWidth = false;
    while (this.#i < this.#p.length && this.#peek() !== ch('|') && this.#peek() !== ch(')')) {
      const piece = this.#piece();
      items.push(piece.node);
      hasWidth ||= piece.hasWidth;
    }
    if (items.length === 0) this.#size += 3; // NOTHING
    return { node: seq(items), hasWidth, simple: false };
  }

  /** regpiece(): an atom and at most one of `*` `+` `?`. */
  #piece(): Parsed {
    const atom = this.#atom();
    const op = this.#peek();
    if (!isMult(op)) return atom;
    const opAt = this.#i;
    if (!atom.hasWidth && op !== ch('?')) {
      this.#fail(`*+ operand could be empty: ${String.fromCharCode(op!)} repeats something that can match nothing`, opAt);
    }
    if (op === ch('?')) this.#size += 9; // BRANCH, BRANCH, NOTHING
    else this.#size += atom.simple ? 3 : 12; // STAR/PLUS, or BRANCH/BACK loop
    this.#i++;
    if (isMult(this.#peek())) this.#fail('nested *?+: a repetition operator cannot follow another', this.#i);
    return { node: repeat(String.fromCharCode(op!) as RepeatOp, atom.node), hasWidth: op === ch('+'), simple: false };
  }

  /** regatom(): the smallest units. */
  #atom(): Parsed {
    const at = this.#i;
    const c = this.#p[this.#i++]!;
    switch (c) {
      case ch('^'):
        this.#size += 3;
        return { node: BOL, hasWidth: false, simple: false };
      case ch('$'):
        this.#size += 3;
        return { node: EOL, hasWidth: false, simple: false };
      case ch('.'):
        this.#size += 3;
        return { node: { kind: 'any' }, hasWidth: true, simple: true };
      case ch('['):
        return this.#bracket(at);
      case ch('('): {
        const inner = this.#reg(true, at);
        return { node: inner.node, hasWidth: inner.hasWidth, simple: false };
      }
      case ch('?'):
      case ch('+'):
      case ch('*'):
        return this.#fail('?+* follows nothing: a repetition operator needs something before it', at);
      case ch('\\'): {
        // Any escaped character is itself: \w is "w", \n is "n", \. is ".".
        if (this.#i >= this.#p.length) this.#fail('trailing \\: the pattern ends with a backslash', at);
        this.#size += 5; // EXACTLY, one byte, NUL
        return { node: { kind: 'byte', value: this.#p[this.#i++]! }, hasWidth: true, simple: true };
      }
      default:
        return this.#literalRun(at);
    }
  }

  /** A run of ordinary bytes; one before a `*+?` is left out, so the operator applies to one byte. */
  #literalRun(start: number): Parsed {
    let end = start;
    while (end < this.#p.length && !META.has(this.#p[end]!)) end++;
    if (end - start > 1 && isMult(this.#p[end])) end--;
    this.#i = end;
    this.#size += 3 + (end - start) + 1; // EXACTLY, the bytes, NUL
    const bytes = this.#p.slice(start, end).map((value): RegexNode => ({ kind: 'byte', value }));
    return { node: seq(bytes), hasWidth: true, simple: end - start === 1 };
  }

  /**
   * A bracket expression, the opening `[` at `open`. As in regexp.c: `]` or
   * `-` right after `[` or `[^` is literal, so is `-` before `]`; a range's
   * start is whatever byte precedes the `-` in the text (so `a-c-e` is a-e);
   * a backslash is an ordinary member.
   */
  #bracket(open: number): Parsed {
    const members = new ByteSet();
    let negated = false;
    let emitted = 0; // bytes regc() would have written into the ANYOF operand
    if (this.#peek() === ch('^')) {
      negated = true;
      this.#i++;
    }
    if (this.#peek() === ch(']') || this.#peek() === ch('-')) {
      members.add(this.#p[this.#i++]!);
      emitted++;
    }
    let afterClass = false;
    while (this.#i < this.#p.length && this.#peek() !== ch(']')) {
      const c = this.#p[this.#i]!;
      if (c === ch('-')) {
        const dashAt = this.#i++;
        const next = this.#peek();
        if (next === ch(']') || next === undefined) {
          members.add(c);
          emitted++;
        } else {
          if (afterClass) this.#fail('invalid [] range: a character class cannot start a range', dashAt);
          const first = this.#p[this.#i - 2]! + 1; // the start itself is already a member
          const last = next;
          if (first > last + 1) {
            this.#fail(`invalid [] range: ${describe(first - 1)}-${describe(last)} ends below its start`, dashAt);
          }
          if (first <= last) members.addRange(first, last);
          emitted += Math.max(0, last - first + 1);
          this.#i++;
        }
        afterClass = false;
        continue;
      }
      const cls = c === ch('[') && this.#options.posixClasses ? this.#posixClass() : undefined;
      if (cls) {
        members.addSet(cls);
        emitted += cls.size;
        afterClass = true;
        continue;
      }
      members.add(c);
      emitted++;
      this.#i++;
      afterClass = false;
    }
    this.#size += 3 + emitted + 1; // ANYOF/ANYBUT, members, NUL
    if (this.#peek() !== ch(']')) this.#fail('unmatched []: this [ is never closed', open);
    this.#i++;
    return { node: { kind: 'set', members, negated }, hasWidth: true, simple: true };
  }

  /** At `[`: a `[:name:]` class is consumed and returned; anything else is left alone. */
  #posixClass(): ByteSet | undefined {
    if (this.#peek(1) !== ch(':')) return undefined;
    let end = this.#i + 2;
    while (end < this.#p.length && this.#p[end]! >= ch('a') && this.#p[end]! <= ch('z')) end++;
    if (this.#p[end] !== ch(':') || this.#p[end + 1] !== ch(']')) return undefined;
    const name = String.fromCharCode(...this.#p.slice(this.#i + 2, end));
    const set = posixClass(name);
    if (!set) this.#fail(`unknown character class [:${name}:]`, this.#i);
    this.#i = end + 2;
    return set;
  }
}

function describe(byte: number): string {
  return byte > 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
}

/** Parses preprocessed kernel regex bytes; throws PatternSyntaxError where regcomp() failed. */
export function parseSpencerRegex(input: PreprocessedRegex, options: SpencerOptions): RegexNode {
  return new SpencerParser(input, options).parse();
}
