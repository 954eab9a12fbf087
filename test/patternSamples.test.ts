import { describe, expect, it } from 'vitest';
import { compilePatternSet } from '@l7mesh/engine';
import { loadPatternDirs } from '@l7mesh/patterns';
import { classify, conversation, ENGINES } from '../packages/engine/test/helpers.js';
import { PATTERNS_DIR } from './captureCorpus.js';

// Every pattern of the project's library carries sample payloads that prove
// it: each positive sample, sent as a flow's first payload packet, is
// classified by the pattern; no negative one is.
const { patterns, errors } = loadPatternDirs([PATTERNS_DIR]);

describe('project patterns', () => {
  it('all load without errors', () => {
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(patterns.length).toBeGreaterThanOrEqual(8);
  });

  const cases = patterns.flatMap((file) => ENGINES.map((engine) => ({ name: file.name, engine, file })));
  describe.each(cases)('$name ($engine)', ({ file, engine }) => {
    const set = compilePatternSet([file]);
    it('has at least one positive and one negative sample', () => {
      expect(file.samples.match.length).toBeGreaterThan(0);
      expect(file.samples.nomatch.length).toBeGreaterThan(0);
    });
    it('matches its positive samples', () => {
      for (const sample of file.samples.match) {
        const [r] = classify(set, engine, conversation([{ from: 'c', payload: sample }]));
        expect({ sample: Buffer.from(sample).toString('latin1'), l7: r!.l7 }).toEqual({ sample: Buffer.from(sample).toString('latin1'), l7: file.name });
      }
    });
    it('does not match its negative samples', () => {
      for (const sample of file.samples.nomatch) {
        const [r] = classify(set, engine, conversation([{ from: 'c', payload: sample }]));
        expect({ sample: Buffer.from(sample).toString('latin1'), l7: r!.l7 }).toEqual({ sample: Buffer.from(sample).toString('latin1'), l7: 'unset' });
      }
    });
  });
});
