import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { captureCorpus, classifyFile, projectPatternSet } from './captureCorpus.js';

// Golden tests: each capture recorded from real programs in test/captures/
// has its expected flows beside it (`<capture>.flows.json`). Review changes
// as a diff; `UPDATE_GOLDEN=1 npm test` regenerates them.
const update = process.env.UPDATE_GOLDEN === '1';
const set = projectPatternSet();

describe('golden captures', () => {
  it.each(captureCorpus())('$name gives its expected flows', async ({ file }) => {
    const records = await classifyFile(file, set, 'hyperscan');
    const expectedFile = `${file.replace(/\.pcap(ng)?$/, '')}.flows.json`;
    const text = `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
    if (update || !existsSync(expectedFile)) {
      if (!update) throw new Error(`${expectedFile} is missing: run UPDATE_GOLDEN=1 npm test and review it`);
      writeFileSync(expectedFile, text);
    }
    expect(text).toBe(readFileSync(expectedFile, 'utf8'));
  });

  it.each(captureCorpus().filter((c) => c.folder !== 'mixed'))('every flow of $name is $folder', async ({ file, folder }) => {
    const records = await classifyFile(file, set, 'hyperscan');
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(`${r.src}:${r.sport}->${r.dst}:${r.dport} ${r.l7}`).toBe(`${r.src}:${r.sport}->${r.dst}:${r.dport} ${folder}`);
  });
});
