/**
 * Our own kernel regexes, one per construct met in the real l7-protocols
 * files (hex escapes of metacharacters, brackets with odd members, `{`, `\\`,
 * `|` and `$` in odd places, long alternations...), each with payloads and
 * the kernel's verdict on them. Payloads are raw (before NUL removal and
 * lowercasing); `\xHH` in a JS string literal is just the byte.
 */
export interface SyntheticCase {
  what: string;
  regex: string;
  match: string[];
  nomatch: string[];
}

/** 255 branches "B .? x8 B" for every byte B, written the way old patterns wrote them. */
function sameByteTwice(): string {
  // Metacharacters need a backslash: \x2a would reach the compiler as a bare `*`.
  const spelled: Record<number, string> = {};
  for (const c of '$()*+.?[\\^|') spelled[c.charCodeAt(0)] = `\\${c}`;
  const branches: string[] = [];
  for (let b = 1; b < 256; b++) {
    const t = spelled[b] ?? `\\x${b.toString(16).padStart(2, '0')}`;
    branches.push(`${t}${'.?'.repeat(8)}${t}`);
  }
  return `^(${branches.join('|')})`;
}

export const SYNTHETIC: SyntheticCase[] = [
  { what: 'plain hex bytes at start', regex: '^\\x16\\x03[\\x01-\\x04]..?\\x02', match: ['\x16\x03\x02ab\x02', '\x16\x03\x01a\x02zz'], nomatch: ['\x16\x03\x05ab\x02', 'x\x16\x03\x02ab\x02'] },
  { what: '\\x2e is a dot', regex: 'ab\\x2ecd', match: ['abXcd', 'ab.cd'], nomatch: ['abcd'] },
  { what: '\\x5c escapes the next char', regex: 'ab\\x5c.cd', match: ['ab.cd'], nomatch: ['abxcd', 'ab\\.cd'] },
  { what: '\\x5c escapes a following bar', regex: '^a\\x5c|b', match: ['a|b'], nomatch: ['a', 'b'] },
  { what: '\\x7c alternates', regex: '^ab\\x7ccd', match: ['abz', 'zzcd'], nomatch: ['zab', 'ac'] },
  { what: '\\x28 \\x29 group, \\x2b repeats', regex: '^\\x28ab\\x29\\x2b$', match: ['ababab'], nomatch: ['(ab)+', 'aba'] },
  { what: '\\x5b opens a bracket', regex: 'q\\x5bxyz]', match: ['qy'], nomatch: ['q[', 'qa'] },
  { what: '\\x24 anchors the end', regex: 'end\\x24', match: ['the end'], nomatch: ['end$', 'ending'] },
  { what: '\\x5e anchors the start', regex: '\\x5estart', match: ['start here'], nomatch: ['^start', ' start'] },
  { what: '\\x3f \\x2a are operators', regex: '^colou\\x3fr x\\x2ay', match: ['color y', 'colour xxxy'], nomatch: ['colou?r y'] },
  { what: 'uppercase, also from hex, is lowercased', regex: 'GET \\x41BC[A-C]', match: ['get abcb', 'GET ABCB'], nomatch: ['get abcd'] },
  { what: 'NUL ends the pattern', regex: 'abc\\x00def', match: ['xxabcxx'], nomatch: ['ab'] },
  { what: 'NUL first: empty pattern matches anything', regex: '\\x00', match: ['', 'x'], nomatch: [] },
  { what: '\\w \\d \\s \\n \\b are letters', regex: '\\w\\d\\s\\n\\b', match: ['wdsnb'], nomatch: ['a1 \nx'] },
  { what: 'escaped metacharacters', regex: '\\$\\(\\)\\.\\*\\+\\?\\[\\^\\|\\#', match: ['$().*+?[^|#'], nomatch: ['$()x*+?[^|#'] },
  { what: 'escaped backslash then a class', regex: '{\\\\tag[12]', match: ['{\\tag1'], nomatch: ['{tag1', '{\\tag3'] },
  { what: 'braces are literals', regex: '^x{2}$', match: ['x{2}'], nomatch: ['xx'] },
  { what: 'closing bracket outside is a literal', regex: 'a]b}', match: ['a]b}'], nomatch: ['ab'] },
  { what: 'empty branch first', regex: '|abc', match: ['', 'zzz'], nomatch: [] },
  { what: 'empty branch last', regex: 'abc|', match: ['', 'q'], nomatch: [] },
  { what: 'empty branch in a group', regex: '^x(|y)z', match: ['xz', 'xyz'], nomatch: ['xyyz'] },
  { what: 'doubled bar', regex: '^(a||b)c', match: ['c', 'ac', 'bc'], nomatch: ['dc'] },
  { what: '$ inside a group at its end', regex: '^ab(cd|ef$|gh)', match: ['abcdxx', 'abef', 'abgh!'], nomatch: ['abefx'] },
  { what: '$ before more text: that branch is dead', regex: '$[a-z]+|login: ', match: ['x login: '], nomatch: ['abc', ''] },
  { what: '^ after an optional byte', regex: 'a?^b', match: ['bcd'], nomatch: ['abc', 'cb'] },
  { what: '^ inside a repeated group', regex: '(^a|b)+c', match: ['ac', 'abc', 'bbc', 'xbc', 'abbc'], nomatch: ['xac', 'c'] },
  { what: '$ inside a repeated group', regex: 'x(a$|b)*', match: ['x', 'xbba', 'zzx'], nomatch: [''] },
  { what: '$ then more: optional tail still fine', regex: 'ab$c?', match: ['xab'], nomatch: ['abc', 'abx'] },
  { what: '^ and $ together', regex: '^$', match: [''], nomatch: ['a'] },
  { what: '$ then ^', regex: 'a|$^', match: ['', 'xa'], nomatch: ['b'] },
  { what: 'anchors in the middle make it impossible', regex: 'a$b', match: [], nomatch: ['ab', 'a', 'a$b'] },
  { what: 'optional anchors do nothing', regex: 'x^?$?y', match: ['xy'], nomatch: ['x', 'y'] },
  { what: 'dash first is literal', regex: '^[-)(0-9a-z ~.]+$', match: ['-(9 z~.)'], nomatch: ['A_', '!'] },
  { what: 'dash last is literal', regex: '^[a-]$', match: ['a', '-'], nomatch: ['b'] },
  { what: 'bracket right after [ is literal', regex: '^[]a]+$', match: [']a]'], nomatch: ['b'] },
  { what: 'negated with leading ]', regex: '^[^]x]$', match: ['y', '\n'], nomatch: [']', 'x'] },
  { what: 'hex range mixed with letters', regex: '^[\\x01-\\x3Fa-c]+$', match: ['ab?\x01 9'], nomatch: ['d', '@'] },
  { what: 'backslash is a member; range after it starts at it', regex: '^[a-z0-9\\-_]+$', match: ['z\\]^_', '9'], nomatch: ['a-', '`', '.'] },
  { what: 'chained ranges a-c-e', regex: '^[a-c-e]$', match: ['a', 'd', 'e'], nomatch: ['-', 'f'] },
  { what: 'range of one char', regex: '^[x-x]$', match: ['x'], nomatch: ['y'] },
  { what: 'high bytes in a class', regex: '[\\x80-\\xff]', match: ['a\xe9'], nomatch: ['plain ascii \x7f'] },
  { what: 'negated class matches newline', regex: '^[^\\x0d]+$', match: ['a\nb'], nomatch: ['a\rb'] },
  { what: 'dot matches newline and high bytes', regex: '^a.b$', match: ['a\nb', 'a\xffb'], nomatch: ['ab'] },
  { what: 'POSIX alnum', regex: '^[[:alnum:]]+$', match: ['Abc123'], nomatch: ['ab-1', ''] },
  { what: 'POSIX space and punct, negated', regex: '^[^[:space:][:punct:]]+$', match: ['word9'], nomatch: ['two words', 'a.b'] },
  { what: 'POSIX xdigit and upper (data is lowercase)', regex: '^[[:xdigit:]]+[[:upper:]]?$', match: ['DEADbeef', 'ABCDEF'], nomatch: ['xyz'] },
  { what: 'POSIX blank, cntrl, print, graph, lower, digit, alpha', regex: '^[[:blank:]][[:cntrl:]][[:print:]][[:graph:]][[:lower:]][[:digit:]][[:alpha:]]$', match: [' \x01 !a1z'], nomatch: [' \x01 !a1-'] },
  { what: 'optional chain after literal', regex: '^\\x01.?.?.?.?\\x02', match: ['\x01\x02', '\x01abcd\x02'], nomatch: ['\x01abcde\x02'] },
  { what: 'nested optional groups', regex: '#! ?/(usr/(local/)?)?bin/sh', match: ['#!/bin/sh', '#! /usr/local/bin/sh'], nomatch: ['#!/usr/lib/bin/sh'] },
  { what: 'group repeated with +', regex: '^(ab|c)+d', match: ['abcabd', 'cd'], nomatch: ['d', 'abab'] },
  { what: 'star of a class then literal', regex: '^220[\\x09-\\x0d -~]*ftp', match: ['220 Welcome to FTP'], nomatch: ['220 hello\x01ftp'] },
  { what: 'long same-byte alternation', regex: sameByteTwice(), match: ['\x05abc\x05', '$x$', 'zz', '\xff12345678\xff'], nomatch: ['\x05123456789\x05', 'ab'] },
  { what: 'data NULs vanish before matching', regex: '^ab\\x01c', match: ['a\x00b\x00\x01c'], nomatch: ['a\x00x\x01c'] },
];
