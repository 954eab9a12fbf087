/**
 * A deliberately naive, independent model of the l7-filter kernel's matcher,
 * written from the semantics (not from src/): decode \xHH, cut at NUL,
 * lowercase, then match Spencer's syntax by backtracking straight over the
 * text. Used only as an oracle for differential tests, on patterns that
 * translateL7Regex accepted. Returns undefined when the step budget runs out.
 */
type Cont = (i: number) => boolean;
type Matcher = (s: string, i: number, k: Cont) => boolean;

class OutOfSteps extends Error {}

const CLASSES: Record<string, RegExp> = {
  alpha: /[A-Za-z]/,
  digit: /[0-9]/,
  alnum: /[0-9A-Za-z]/,
  upper: /[A-Z]/,
  lower: /[a-z]/,
  xdigit: /[0-9A-Fa-f]/,
  space: /[\t\n\v\f\r ]/,
  blank: /[\t ]/,
  punct: /[!-/:-@[-`{-~]/,
  print: /[ -~]/,
  graph: /[!-~]/,
  cntrl: /[\x00-\x1f\x7f]/,
};

export function spencerOracle(regex: string, posixClasses = true): (data: string) => boolean | undefined {
  let text = '';
  for (let i = 0; i < regex.length; i++) {
    const hex = regex.slice(i + 2, i + 4);
    if (regex[i] === '\\' && regex[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      text += String.fromCharCode(parseInt(hex, 16));
      i += 3;
    } else {
      text += regex[i];
    }
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) text = text.slice(0, nul);
  text = text.replace(/[A-Z]/g, (c) => c.toLowerCase());

  let pos = 0;
  let steps = 0;
  const tick = () => {
    if (++steps > 300_000) throw new OutOfSteps();
  };

  const alternation = (): Matcher => {
    const branches = [sequence()];
    while (text[pos] === '|') {
      pos++;
      branches.push(sequence());
    }
    return (s, i, k) => branches.some((b) => b(s, i, k));
  };

  const sequence = (): Matcher => {
    const pieces: Matcher[] = [];
    while (pos < text.length && text[pos] !== '|' && text[pos] !== ')') pieces.push(piece());
    return pieces.reduceRight<Matcher>(
      (rest, m) => (s, i, k) => m(s, i, (j) => rest(s, j, k)),
      (_s, i, k) => k(i),
    );
  };

  const piece = (): Matcher => {
    const a = atom();
    const op = text[pos];
    if (op !== '*' && op !== '+' && op !== '?') return a;
    pos++;
    if (op === '?') return (s, i, k) => a(s, i, k) || k(i);
    const star: Matcher = (s, i, k) => {
      tick();
      return a(s, i, (j) => j > i && star(s, j, k)) || k(i);
    };
    return op === '*' ? star : (s, i, k) => a(s, i, (j) => star(s, j, k));
  };

  const atom = (): Matcher => {
    const m = plainAtom();
    return (s, i, k) => {
      tick();
      return m(s, i, k);
    };
  };

  const plainAtom = (): Matcher => {
    const c = text[pos++]!;
    if (c === '^') return (_s, i, k) => i === 0 && k(i);
    if (c === '$') return (s, i, k) => i === s.length && k(i);
    if (c === '.') return (s, i, k) => i < s.length && k(i + 1);
    if (c === '(') {
      const inner = alternation();
      pos++; // ')'
      return inner;
    }
    if (c === '[') return bracket();
    const literal = c === '\\' ? text[pos++]! : c;
    return (s, i, k) => s[i] === literal && k(i + 1);
  };

  const bracket = (): Matcher => {
    const members = new Set<string>();
    const tests: RegExp[] = [];
    const negated = text[pos] === '^';
    if (negated) pos++;
    if (text[pos] === ']' || text[pos] === '-') members.add(text[pos++]!);
    while (pos < text.length && text[pos] !== ']') {
      const next = text[pos + 1];
      if (text[pos] === '-' && next !== undefined && next !== ']') {
        // Spencer: the range starts at whatever char precedes the dash.
        for (let c = text.charCodeAt(pos - 1); c <= next.charCodeAt(0); c++) members.add(String.fromCharCode(c));
        pos += 2;
        continue;
      }
      const cls = posixClasses ? /^\[:([a-z]+):\]/.exec(text.slice(pos)) : null;
      if (cls && CLASSES[cls[1]!]) {
        tests.push(CLASSES[cls[1]!]!);
        pos += cls[0].length;
        continue;
      }
      members.add(text[pos++]!);
    }
    pos++; // ']'
    const inSet = (ch: string) => members.has(ch) || tests.some((t) => t.test(ch));
    return (s, i, k) => i < s.length && inSet(s[i]!) !== negated && k(i + 1);
  };

  const matcher = alternation();
  return (data) => {
    steps = 0;
    try {
      for (let start = 0; start <= data.length; start++) {
        if (matcher(data, start, () => true)) return true;
      }
      return false;
    } catch (err) {
      if (err instanceof OutOfSteps) return undefined;
      throw err;
    }
  };
}
