import { describe, expect, it } from 'vitest';
import { parsePatternFile } from '@l7mesh/patterns';
import { EngineError, orderPatterns } from '../src/index.js';

function pat(name: string, attributes = 'good fast'): ReturnType<typeof parsePatternFile> {
  return parsePatternFile(`# ${name} - test\n# Pattern attributes: ${attributes}\n${name}\n^${name}\n`, `/p/${name}.pat`);
}

describe('pattern order', () => {
  const files = [pat('zeta'), pat('alpha', 'ok fast overmatch'), pat('mid'), pat('beta')];

  it('sorts by file name with overmatch patterns last', () => {
    expect(orderPatterns(files).map((p) => p.name)).toEqual(['beta', 'mid', 'zeta', 'alpha']);
  });

  it('puts --order names first, in the order given', () => {
    expect(orderPatterns(files, ['zeta', 'alpha']).map((p) => p.name)).toEqual(['zeta', 'alpha', 'beta', 'mid']);
  });

  it('takes aliases of the pattern names (l7-filter-era names keep working)', () => {
    const named = [pat('tls'), pat('xmpp'), pat('ssh')];
    expect(orderPatterns(named, ['jabber', 'SSL']).map((p) => p.name)).toEqual(['xmpp', 'tls', 'ssh']);
    // and the other way round: an l7-protocols directory's ssl.pat, asked for as tls
    expect(orderPatterns([pat('ssl'), pat('ftp')], ['tls']).map((p) => p.name)).toEqual(['ssl', 'ftp']);
  });

  it('rejects a name no pattern defines', () => {
    expect(() => orderPatterns(files, ['nope'])).toThrowError(EngineError);
  });
});
