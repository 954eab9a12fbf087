import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPatternDirs } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'l7-patterns-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(rel: string, text: string): string {
  const path = join(root, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text, 'latin1');
  return path;
}

const good = (name: string, regex = `^${name}`) => `# ${name} - test protocol\n# Pattern attributes: ok fast\n\n${name}\n${regex}\n`;

describe('loadPatternDirs', () => {
  const lib = join(root, 'lib');
  write('lib/zeta.pat', good('zeta'));
  write('lib/alpha.pat', good('alpha'));
  write('lib/notes.txt', 'not a pattern');
  write('lib/extra/beta.pat', good('beta'));
  write('lib/extra/deeper/gamma.pat', good('gamma')); // two levels down: not searched
  const bad = write('lib/extra/broken.pat', '# Broken - has a bad regex\n\nbroken\n^(unclosed\n');
  const wrong = write('lib/wrongname.pat', good('other'));
  write('lib/hibyte.pat', good('hibyte', '^\xe9\\xff'));
  const dupFirst = write('lib/extra/alpha2.pat', good('alpha2'));

  it('loads the directory and its immediate subdirectories, sorted by file name', () => {
    const { patterns } = loadPatternDirs([lib]);
    expect(patterns.map((p) => p.name)).toEqual(['alpha', 'alpha2', 'beta', 'hibyte', 'zeta']);
    expect(patterns.find((p) => p.name === 'beta')!.file).toBe(join(lib, 'extra', 'beta.pat'));
  });

  it('reports each bad file with file:line and still loads the rest', () => {
    const { patterns, errors } = loadPatternDirs([lib]);
    expect(patterns).toHaveLength(5);
    expect(errors.map((e) => e.code).sort()).toEqual(['PAT_NAME_MISMATCH', 'PAT_SYNTAX']);
    const syntax = errors.find((e) => e.code === 'PAT_SYNTAX')!;
    expect(syntax.file).toBe(bad);
    expect(syntax.message).toMatch(new RegExp(`^${escape(bad)}:4: column 2: unmatched \\(\\)`));
    expect(errors.find((e) => e.code === 'PAT_NAME_MISMATCH')!.message).toMatch(new RegExp(`^${escape(wrong)}:4: `));
  });

  it('reads files as latin1, keeping every byte of the regex', () => {
    const { patterns } = loadPatternDirs([lib]);
    expect(patterns.find((p) => p.name === 'hibyte')!.regex).toBe('^\xe9\\xff');
  });

  it('a protocol defined twice is an error naming both files; the first is kept', () => {
    const other = join(root, 'other');
    const second = write('other/alpha2.pat', good('alpha2', 'second'));
    const { patterns, errors } = loadPatternDirs([lib, other]);
    expect(patterns.find((p) => p.name === 'alpha2')!.file).toBe(dupFirst);
    const dup = errors.find((e) => e.code === 'PAT_DUPLICATE')!;
    expect(dup.file).toBe(second);
    expect(dup.line).toBe(4);
    expect(dup.message).toContain(second);
    expect(dup.message).toContain(`${dupFirst}:4`);
  });

  it('a missing directory is a PAT_IO error, not a crash', () => {
    const missing = join(root, 'nope');
    const { patterns, errors } = loadPatternDirs([missing]);
    expect(patterns).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('PAT_IO');
    expect(errors[0]!.message).toMatch(new RegExp(`^${escape(missing)}: cannot read pattern directory`));
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
