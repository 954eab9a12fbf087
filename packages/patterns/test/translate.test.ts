import { describe, expect, it } from 'vitest';
import { PatternSyntaxError, translateL7Regex } from '../src/index.js';
import { jsMatches, l7Data } from './support/l7Data.js';
import { spencerOracle } from './support/spencerOracle.js';
import { SYNTHETIC } from './support/syntheticPatterns.js';

const matches = (regex: string, payload: string) => jsMatches(translateL7Regex(regex).javascript, payload);

function syntaxError(regex: string, options = {}): PatternSyntaxError {
  try {
    translateL7Regex(regex, options);
  } catch (err) {
    expect(err).toBeInstanceOf(PatternSyntaxError);
    return err as PatternSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(regex)} to be rejected`);
}

describe('synthetic corpus: each construct met in l7-protocols', () => {
  for (const c of SYNTHETIC) {
    it(c.what, () => {
      const t = translateL7Regex(c.regex);
      const oracle = spencerOracle(c.regex);
      for (const payload of c.match) {
        expect(jsMatches(t.javascript, payload), `should match ${JSON.stringify(payload)}`).toBe(true);
        expect(oracle(l7Data(payload))).toBe(true);
      }
      for (const payload of c.nomatch) {
        expect(jsMatches(t.javascript, payload), `should not match ${JSON.stringify(payload)}`).toBe(false);
        expect(oracle(l7Data(payload))).toBe(false);
      }
    });
  }
});

describe('hex escapes are decoded before parsing, as iptables did', () => {
  it('\\x2e is a metacharacter dot, \\. is a literal dot', () => {
    expect(matches('a\\x2eb', 'a-b')).toBe(true);
    expect(matches('a\\.b', 'a-b')).toBe(false);
    expect(matches('a\\.b', 'a.b')).toBe(true);
  });

  it('\\x5c becomes a backslash that escapes what follows', () => {
    expect(matches('^\\x5c\\x2e$', '.')).toBe(true); // \x5c\x2e -> \.
    expect(matches('^\\x5c\\x2e$', 'x')).toBe(false);
    expect(matches('^\\x5cw$', 'w')).toBe(true);
  });

  it('one pass only: \\x5cx41 is \\x then "41", and \\\\x41 is \\A (a literal a)', () => {
    expect(matches('^\\x5cx41$', 'x41')).toBe(true);
    expect(matches('^\\\\x41$', 'a')).toBe(true);
    expect(matches('^\\\\x41$', '\\A')).toBe(false);
  });

  it('needs two hex digits, in either case; otherwise the text stays', () => {
    expect(matches('^\\x4A$', 'j')).toBe(true);
    expect(matches('^\\x4$', 'x4')).toBe(true); // \x is the letter x
    expect(matches('^\\xg1$', 'xg1')).toBe(true);
  });

  it('case folds bytes from hex too: \\x41 is a', () => {
    const t = translateL7Regex('\\x41\\x5A');
    expect(t.javascript).toBe('az');
    expect(t.hyperscan).toBe('az');
    expect(matches('\\x41', 'A')).toBe(true); // data is lowercased as well
  });

  it('high bytes are not case folded (C locale tolower)', () => {
    expect(translateL7Regex('\\xC9').javascript).toBe('\\xc9');
    expect(matches('\\xC9', '\xe9')).toBe(false);
  });

  it('a NUL cuts the pattern', () => {
    const t = translateL7Regex('ab\\x00cd');
    expect(t.javascript).toBe('ab');
    expect(translateL7Regex('\\x00anything').matchesEmpty).toBe(true);
  });

  it('a raw NUL char cuts the pattern too', () => {
    expect(translateL7Regex('ab\0cd').javascript).toBe('ab');
  });
});

describe("Spencer's dialect", () => {
  it('any escaped char is itself: \\w \\d \\s \\n \\t are letters', () => {
    expect(translateL7Regex('\\w\\d\\s\\n\\t').javascript).toBe('wdsnt');
    expect(matches('\\n', '\n')).toBe(false);
  });

  it('{ and } are literals, no bounded repetition', () => {
    expect(matches('^a{2}$', 'aa')).toBe(false);
    expect(matches('^a{2}$', 'a{2}')).toBe(true);
    expect(translateL7Regex('a{2,3}').javascript).toBe('a\\x7b2\\x2c3\\x7d');
  });

  it('a backslash inside brackets is a literal member', () => {
    expect(matches('^[\\]]$', '\\]')).toBe(true); // [\] then a literal ]
    expect(matches('^[\\n]$', 'n')).toBe(true);
    expect(matches('^[\\n]$', '\\')).toBe(true);
    expect(matches('^[\\n]$', '\n')).toBe(false);
  });

  it('POSIX classes are accepted (C locale)', () => {
    expect(matches('^[[:digit:]]+$', '0123')).toBe(true);
    expect(matches('^[[:digit:]]+$', '12a')).toBe(false);
    expect(matches('^[x[:space:]]+$', 'x \t\r\n\v\f')).toBe(true);
    expect(matches('[[:punct:]]', 'abc')).toBe(false);
  });

  it('posixClasses: false reads [[:alpha:]] as the kernel did: one of "[:alph" then "]"', () => {
    const t = translateL7Regex('^[[:alpha:]]$', { posixClasses: false });
    expect(jsMatches(t.javascript, 'a]')).toBe(true);
    expect(jsMatches(t.javascript, ':]')).toBe(true);
    expect(jsMatches(t.javascript, 'b')).toBe(false);
  });

  it('^ is start of data and $ end of data wherever they stand', () => {
    expect(matches('x^y', 'x^y')).toBe(false);
    expect(matches('(^|,)a', 'a')).toBe(true);
    expect(matches('(^|,)a', 'b,a')).toBe(true);
    expect(matches('(^|,)a', 'ba')).toBe(false);
    expect(matches('a$', 'a\n')).toBe(false); // not "before a final newline"
  });

  it('. and negated classes match newline; a negated class is emitted as [^...]', () => {
    const t = translateL7Regex('[^a-c].');
    expect(t.hyperscan).toBe('[^a-c].');
    expect(t.javascript).toBe('[^a-c][^]');
    expect(jsMatches(t.javascript, '\n\n')).toBe(true);
  });

  it('bracket sets become explicit ranges of \\xHH, letters and digits kept', () => {
    expect(translateL7Regex('[ -~\\x09-\\x0d]').javascript).toBe('[\\x09-\\x0d\\x20-\\x7e]');
    expect(translateL7Regex('[zyxa-c5]').javascript).toBe('[5a-cx-z]');
    expect(translateL7Regex('[ab]').javascript).toBe('[ab]');
  });

  it('groups do not capture', () => {
    const t = translateL7Regex('(a)(b|c)');
    expect(t.javascript).toBe('a(?:b|c)');
    expect(new RegExp(t.javascript).exec('ab')).toHaveLength(1);
  });

  it('every output is one byte per char, no NUL, and compiles', () => {
    for (const c of SYNTHETIC) {
      const t = translateL7Regex(c.regex);
      expect(t.hyperscan).toMatch(/^[\x01-\xff]*$/);
      expect(() => new RegExp(t.javascript, '')).not.toThrow();
    }
  });
});

describe('flags for the engines', () => {
  it('usesEndAnchor: $ survives', () => {
    expect(translateL7Regex('ab$').usesEndAnchor).toBe(true);
    expect(translateL7Regex('ab$').hyperscan).toBe('ab\\z');
    expect(translateL7Regex('ab$').javascript).toBe('ab$');
    expect(translateL7Regex('ab\\$').usesEndAnchor).toBe(false);
    // the only $ is in a branch that can never match: nothing to check at packet ends
    expect(translateL7Regex('$a|b').usesEndAnchor).toBe(false);
    expect(translateL7Regex('ab$?').usesEndAnchor).toBe(false);
  });

  it('matchesEmpty: the pattern can match the empty string', () => {
    expect(translateL7Regex('a|').matchesEmpty).toBe(true);
    expect(translateL7Regex('x*').matchesEmpty).toBe(true);
    expect(translateL7Regex('^').matchesEmpty).toBe(true);
    expect(translateL7Regex('(a|b?)').matchesEmpty).toBe(true);
    expect(translateL7Regex('a*b').matchesEmpty).toBe(false);
    expect(translateL7Regex('^a').matchesEmpty).toBe(false);
  });

  it('a pattern that can never match becomes \\x00 (the data has no NUL)', () => {
    const t = translateL7Regex('a$b');
    expect(t.hyperscan).toBe('\\x00');
    expect(t.javascript).toBe('\\x00');
    expect(t.matchesEmpty).toBe(false);
    expect(t.usesEndAnchor).toBe(false);
  });

  it('embedded anchors are moved to the edges Hyperscan accepts', () => {
    expect(translateL7Regex('a?^b').hyperscan).toBe('^b');
    expect(translateL7Regex('ab$c?').hyperscan).toBe('ab\\z');
    expect(translateL7Regex('^ab|cd$').hyperscan).toBe('^ab|cd\\z'); // already fine: left alone
  });
});

describe('errors the kernel compiler raised, with the column in the line as written', () => {
  const cases: Array<[string, RegExp, number]> = [
    ['ab\\', /trailing \\/, 3],
    ['*a', /\?\+\* follows nothing/, 1],
    ['a|+b', /follows nothing/, 3],
    ['(+a)', /follows nothing/, 2],
    ['(ab', /unmatched \(\)/, 1],
    ['x(a(b)', /unmatched \(\)/, 2],
    ['ab)', /unmatched \(\)/, 3],
    ['x[ab', /unmatched \[\]/, 2],
    ['[]', /unmatched \[\]/, 1],
    ['[z-a]', /invalid \[\] range/, 3],
    ['[Z-a]', /invalid \[\] range/, 3], // lowercased first: z-a
    ['[a-\\x01]', /invalid \[\] range/, 3],
    ['a**', /nested \*\?\+/, 3],
    ['a+?', /nested \*\?\+/, 3],
    ['ab\\x2a\\x2a', /nested \*\?\+/, 7],
    ['^*', /operand could be empty/, 2],
    ['(a|)+', /operand could be empty/, 5],
    ['(^)*x', /operand could be empty/, 4],
    ['(a*)*', /operand could be empty/, 5],
    ['\\x28a', /unmatched \(\)/, 1],
    ['[[:nope:]]', /unknown character class \[:nope:\]/, 2],
    ['[[:alpha:]-z]', /character class cannot start a range/, 11],
    ['(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)', /too many \(\)/, 28],
    ['ab\u0100', /not a byte/, 3],
  ];
  for (const [regex, message, column] of cases) {
    it(`${JSON.stringify(regex)}: ${message.source} at column ${column}`, () => {
      const err = syntaxError(regex);
      expect(err.message).toMatch(message);
      expect(err.column).toBe(column);
      expect(err.code).toBe('PAT_SYNTAX');
    });
  }

  it('9 groups are fine, as are ? on anchors and empty groups', () => {
    expect(() => translateL7Regex('(a)(b)(c)(d)(e)(f)(g)(h)(i)')).not.toThrow();
    expect(() => translateL7Regex('^?$?()(a|)?')).not.toThrow();
  });

  it('regexp too big: the compiled program would pass 32766 bytes', () => {
    const big = '[\\x01-\\xff]'.repeat(130); // 1430 chars, 259 program bytes each
    expect(syntaxError(big).message).toMatch(/regexp too big/);
    expect(() => translateL7Regex('[\\x01-\\xff]'.repeat(120))).not.toThrow();
  });

  it('lines of 8192 bytes or more were refused by iptables', () => {
    expect(syntaxError('a'.repeat(8192)).column).toBe(8192);
    expect(() => translateL7Regex('a'.repeat(8191))).not.toThrow();
  });
});

describe('repeated translations', () => {
  it('give the same result each time, as a fresh object, for each posixClasses setting', () => {
    const a = translateL7Regex('^[[:alpha:]]+ x$');
    const b = translateL7Regex('^[[:alpha:]]+ x$');
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
    b.hyperscan = 'changed';
    expect(translateL7Regex('^[[:alpha:]]+ x$').hyperscan).toBe(a.hyperscan);
    const kernel = translateL7Regex('^[[:alpha:]]+ x$', { posixClasses: false });
    expect(kernel.javascript).not.toBe(a.javascript);
    expect(translateL7Regex('^[[:alpha:]]+ x$', { posixClasses: false })).toEqual(kernel);
    expect(() => translateL7Regex('(a')).toThrow(PatternSyntaxError);
    expect(() => translateL7Regex('(a')).toThrow(PatternSyntaxError);
  });
});
