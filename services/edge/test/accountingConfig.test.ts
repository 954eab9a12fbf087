/** The edge configuration's `accounting:` and `records:` blocks: defaults, values, and problems named by key. */
import { describe, expect, it } from 'vitest';
import { EdgeConfigError, parseEdgeConfig } from '../src/index.js';

const MINIMAL = 'marks:\n  unknown: 0x0f00\n';

function problemsOf(text: string): string[] {
  try {
    parseEdgeConfig(text, '/etc/l7mesh/edge.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(EdgeConfigError);
    return (err as EdgeConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('accounting and records configuration', () => {
  it('has defaults: the interface from the capture, the originator side as the customer, 60 s, records on', () => {
    const c = parseEdgeConfig(MINIMAL, '/etc/l7mesh/edge.yaml');
    expect(c.accounting).toEqual({ interface: undefined, customerNetworks: undefined, intervalSec: 60 });
    expect(c.records).toEqual({ enabled: true, maxBuffered: 200_000, flushMs: 200 });
  });

  it('takes an interface, customer prefixes of both families, an interval and the records bounds', () => {
    const c = parseEdgeConfig(
      `${MINIMAL}accounting:\n  interface: eth1.100\n  customerNetworks: [198.18.0.0/15, "2001:db8::/32", 198.19.5.5]\n  interval: 300\nrecords:\n  enabled: false\n  maxBuffered: 5000\n  flushMs: 50\n`,
      '/etc/l7mesh/edge.yaml',
    );
    expect(c.accounting).toEqual({ interface: 'eth1.100', customerNetworks: ['198.18.0.0/15', '2001:db8::/32', '198.19.5.5'], intervalSec: 300 });
    expect(c.records).toEqual({ enabled: false, maxBuffered: 5000, flushMs: 50 });
  });

  it('names each bad key', () => {
    const problems = problemsOf(`${MINIMAL}accounting:\n  interface: "eth 1"\n  customerNetworks: [198.18.0.0/33, nonsense]\n  interval: 0\n  colour: red\nrecords:\n  maxBuffered: 10\n`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^accounting\.interface: "eth 1" is not an interface name/),
        expect.stringMatching(/^accounting\.customerNetworks\[0\]: "198\.18\.0\.0\/33" is not an address prefix/),
        expect.stringMatching(/^accounting\.customerNetworks\[1\]: "nonsense" is not an address prefix/),
        expect.stringMatching(/^accounting\.interval: 0 is not an integer from 1 to 3600/),
        'accounting.colour: unknown field',
        expect.stringMatching(/^records\.maxBuffered: 10 is not an integer from 1000/),
      ]),
    );
  });
});
