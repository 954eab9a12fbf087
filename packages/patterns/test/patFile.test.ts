import { describe, expect, it } from 'vitest';
import { PatternFileError, parsePatternFile, type PatternFileErrorCode } from '../src/index.js';

const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

function fileError(text: string, file: string, code: PatternFileErrorCode): PatternFileError {
  try {
    parsePatternFile(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(PatternFileError);
    expect((err as PatternFileError).code).toBe(code);
    return err as PatternFileError;
  }
  throw new Error('expected a PatternFileError');
}

const NEW_STYLE = `# Widget - A made-up chat protocol for tests
# Pattern attributes: good veryfast fast overmatch
# Protocol groups: chat p2p
# Wiki: http://example.test/wiki/Widget
# Specification: none, it is made up
# Rule: the client opens with WIDGET and a version;
#   the server answers: OK.
# FP-threshold: 0.01
# http://example.test/not-a-key
# Sample-match: WIDGET 1\\r\\nOK\\r\\n
# Sample-match: widget 2\\x00\\tx\\\\y
# Sample-nomatch: GADGET 1\\r\\n

widget
# comment between the name and the regex

^widget [0-9]
userspace pattern=^WIDGET [0-9]
userspace flags=REG_NOSUB REG_EXTENDED
# Sample-nomatch: late sample
`;

describe('parsePatternFile', () => {
  it('reads name, regex, line numbers and userspace lines', () => {
    const p = parsePatternFile(NEW_STYLE, 'dir/widget.pat');
    expect(p.name).toBe('widget');
    expect(p.file).toBe('dir/widget.pat');
    expect(p.nameLine).toBe(14);
    expect(p.regex).toBe('^widget [0-9]');
    expect(p.regexLine).toBe(17);
    expect(p.userspacePattern).toBe('^WIDGET [0-9]');
    expect(p.userspaceFlags).toBe('REG_NOSUB REG_EXTENDED');
  });

  it('reads the new-style metadata', () => {
    const p = parsePatternFile(NEW_STYLE, 'widget.pat');
    expect(p.description).toBe('A made-up chat protocol for tests');
    expect(p.attributes).toEqual(['good', 'veryfast', 'fast', 'overmatch']);
    expect(p.quality).toBe('good');
    expect(p.speed).toEqual(['veryfast', 'fast']);
    expect([p.overmatch, p.undermatch, p.subset, p.superset]).toEqual([true, false, false, false]);
    expect(p.groups).toEqual(['chat', 'p2p']);
    expect(p.wiki).toBe('http://example.test/wiki/Widget');
    expect(p.meta).toEqual({
      'pattern attributes': 'good veryfast fast overmatch',
      'protocol groups': 'chat p2p',
      wiki: 'http://example.test/wiki/Widget',
      specification: 'none, it is made up',
      rule: 'the client opens with WIDGET and a version; the server answers: OK.',
      'fp-threshold': '0.01',
    });
  });

  it('decodes sample escapes (\\r \\n \\t \\\\ \\xHH), anywhere in the file', () => {
    const p = parsePatternFile(NEW_STYLE, 'widget.pat');
    expect(p.samples.match).toEqual([bytes('WIDGET 1\r\nOK\r\n'), bytes('widget 2\0\tx\\y')]);
    expect(p.samples.nomatch).toEqual([bytes('GADGET 1\r\n'), bytes('late sample')]);
  });

  it('reads the old "Pattern quality" format and its spellings', () => {
    const text = `# Foo - old style file
# pattern quality: marginal notsofast undermatch subset
#
# Usually runs on port 80

foo
foo.*bar
`;
    const p = parsePatternFile(text, 'foo.pat');
    expect(p.quality).toBe('marginal');
    expect(p.speed).toEqual(['notsofast']);
    expect(p.undermatch).toBe(true);
    expect(p.subset).toBe(true);
    expect(p.groups).toEqual([]);
    expect(p.wiki).toBeUndefined();
    expect(p.userspacePattern).toBeUndefined();
    expect(p.samples).toEqual({ match: [], nomatch: [] });

    const hyphen = parsePatternFile('# Bar\n# Pattern-quality: ok\n# Pattern groups: p2p\nbar\nx\n', 'bar.pat');
    expect(hyphen.quality).toBe('ok');
    expect(hyphen.groups).toEqual(['p2p']);
    expect(hyphen.description).toBe('Bar');
  });

  it('reads lists separated by commas as well as spaces', () => {
    const p = parsePatternFile('# Baz - a test\n# Pattern attributes: good, fast\n# Protocol groups: networking, ietf_draft_standard,chat\nbaz\nx\n', 'baz.pat');
    expect(p.groups).toEqual(['networking', 'ietf_draft_standard', 'chat']);
    expect(p.attributes).toEqual(['good', 'fast']);
    expect(p.quality).toBe('good');
  });

  it('takes the first comment as title even when it holds a colon', () => {
    const p = parsePatternFile('# Thing : a protocol with a colon\n# Pattern quality: poor\nthing\nx\n', 'thing.pat');
    expect(p.description).toBe('Thing : a protocol with a colon');
    expect(p.meta).toEqual({ 'pattern quality': 'poor' });
    const none = parsePatternFile('# Pattern attributes: great\nthing\nx\n', 'thing.pat');
    expect(none.description).toBeUndefined();
    expect(none.quality).toBe('great');
  });

  it('handles CRLF files and keeps the regex exactly (trailing spaces too, as iptables did)', () => {
    const p = parsePatternFile('# Crlf - test\r\n\r\ncrlf\r\nab: \r\n', 'crlf.pat');
    expect(p.name).toBe('crlf');
    expect(p.regex).toBe('ab: ');
    expect(p.regexLine).toBe(4);
    expect(p.description).toBe('test');
  });

  it('cuts the name line at its first space or tab', () => {
    expect(parsePatternFile('http I am so cool\nx\n', 'http.pat').name).toBe('http');
    expect(parsePatternFile('http\textra\nx\n', 'http.pat').name).toBe('http');
  });

  it('ignores lines after the regex', () => {
    expect(parsePatternFile('a\nfirst\nsecond\n', 'a.pat').regex).toBe('first');
  });

  it('PAT_NAME_MISMATCH names both names, at the name line', () => {
    const err = fileError('# Comment\n\nhttp-fresh\nx\n', 'p/http-freshdownload.pat', 'PAT_NAME_MISMATCH');
    expect(err.line).toBe(3);
    expect(err.file).toBe('p/http-freshdownload.pat');
    expect(err.message).toMatch(/^p\/http-freshdownload\.pat:3: /);
    expect(err.message).toContain('"http-fresh"');
    expect(err.message).toContain('"http-freshdownload"');
  });

  it('PAT_NO_NAME for a file of comments only, PAT_NO_REGEX when the regex is missing', () => {
    expect(fileError('# only\n\n# comments\n', 'x.pat', 'PAT_NO_NAME').message).toMatch(/^x\.pat:\d+: /);
    expect(fileError('', 'x.pat', 'PAT_NO_NAME').line).toBe(1);
    const noRegex = fileError('# c\nx\n# no regex\nuserspace pattern=x\n', 'x.pat', 'PAT_NO_REGEX');
    expect(noRegex.line).toBe(2);
    expect(noRegex.message).toBe('x.pat:2: protocol "x" has no regex line after its name');
  });

  it('PAT_SYNTAX at the regex line with the column', () => {
    const err = fileError('x\n\n  (ab\n', 'x.pat', 'PAT_SYNTAX');
    expect(err.line).toBe(3);
    expect(err.column).toBe(3);
    expect(err.message).toBe('x.pat:3: column 3: unmatched (): this ( is never closed');
  });

  it('PAT_SAMPLE for a bad escape, with its column', () => {
    const err = fileError('# Sample-match: ok\\qbad\nx\ny\n', 'x.pat', 'PAT_SAMPLE');
    expect(err.line).toBe(1);
    expect(err.column).toBe(19);
    expect(err.message).toMatch(/unknown escape \\q/);
    fileError('# Sample-nomatch: \\x4\nx\ny\n', 'x.pat', 'PAT_SAMPLE');
    fileError('# Sample-match: trailing\\\nx\ny\n', 'x.pat', 'PAT_SAMPLE');
  });

  it('keeps bytes >= 0x80 of a latin1 regex line', () => {
    expect(parsePatternFile('hi\n^\xe9\xff\n', 'hi.pat').regex).toBe('^\xe9\xff');
  });
});
