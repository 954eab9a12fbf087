import { seededRandom } from '@l7mesh/flow';
import { parsePatternFile, type PatternFile } from '@l7mesh/patterns';

/**
 * Synthetic l7-style patterns to bring a benchmark set past 100 patterns, in
 * the proportions of the l7-protocols set: mostly `^`-anchored protocol
 * openings with classes and alternations, some unanchored (which the
 * l7-filter method pays for on every byte), a few ending in `$`.
 */
export function generatePatterns(count: number, seed = 7): PatternFile[] {
  const rand = seededRandom(seed);
  const word = (min: number, max: number) => {
    let s = '';
    const n = min + Math.floor(rand() * (max - min + 1));
    for (let i = 0; i < n; i++) s += String.fromCharCode(97 + Math.floor(rand() * 26));
    return s;
  };
  const pieces = [() => ' [0-9]+ ', () => '[a-z]*', () => '\\x0d\\x0a', () => `(${word(2, 5)}|${word(2, 5)})`, () => '[\\x01-\\x09]', () => '.?.?'];
  const piece = () => pieces[Math.floor(rand() * pieces.length)]!();
  const files: PatternFile[] = [];
  for (let i = 0; i < count; i++) {
    const r = rand();
    let regex: string;
    if (r < 0.7) regex = `^${word(3, 8)}${piece()}${word(2, 6)}`;
    else if (r < 0.92) regex = `${word(4, 8)}.*${word(3, 6)}${piece()}`;
    else regex = `^${word(3, 6)}${piece()}${word(2, 4)}$`;
    const name = `gen${String(i).padStart(3, '0')}`;
    files.push(parsePatternFile(`# ${name} - generated benchmark pattern\n${name}\n${regex}\n`, `/bench/${name}.pat`));
  }
  return files;
}
