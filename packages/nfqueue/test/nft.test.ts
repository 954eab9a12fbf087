// nftRun (libnftables in-process) in a throw-away network namespace: the
// runner lives in a child process started inside it (fixtures/nft.mjs, using
// the built package), since nftRun acts on its own process's namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab } from '@l7mesh/netns';
import { ensureBuilt, Proc, type Json } from './helpers.js';

const lab = new NetnsLab('l7nft');
let ns = '';
let nft: Proc;

const ENOENT = 2;
const EEXIST = 17;
const KEY = 'ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service';

async function run(commands: string, json?: boolean): Promise<Json> {
  return nft.request('run', { commands, json });
}

/** Runs and expects success; returns nft's output. */
async function ok(commands: string, json?: boolean): Promise<string> {
  const r = await run(commands, json);
  if (r.error) throw new Error(`nftRun failed: ${r.error.message}`);
  return r.out;
}

/** The keys (src port) of map m, read back through nftRun's JSON listing. */
async function mapPorts(): Promise<number[]> {
  const doc = JSON.parse(await ok('list map inet nfr m', true));
  const map = doc.nftables.find((o: Json) => o.map).map;
  return (map.elem ?? []).map((e: Json) => e[0].elem.val.concat[2]).sort((a: number, b: number) => a - b);
}

const elem = (sport: number, chain = 'c1') => `198.18.90.1 . tcp . ${sport} . 198.18.90.2 . 80 timeout 60s : goto ${chain}`;
const key = (sport: number) => `198.18.90.1 . tcp . ${sport} . 198.18.90.2 . 80`;

beforeAll(async () => {
  ensureBuilt();
  ns = await lab.ns('nft');
  nft = new Proc(ns, 'nft.mjs', []);
  await nft.next((l) => l.event === 'ready', 10_000);
  await ok(
    [
      'table inet nfr {',
      `  map m { type ${KEY} : verdict; flags timeout; counter; }`,
      '  chain c1 { accept; }',
      '  chain c2 { accept; }',
      '  chain pre { type filter hook prerouting priority 0; ip saddr . meta l4proto . th sport . ip daddr . th dport vmap @m; }',
      '}',
    ].join('\n'),
  );
}, 240_000);

afterAll(async () => {
  Proc.killAll();
  await lab.cleanup();
});

describe('nftRun in a network namespace', () => {
  it('acts on its own namespace: the table is there, not in the test process\'s namespace', async () => {
    expect(await ok('list tables')).toContain('table inet nfr');
    expect((await lab.exec(ns, ['nft', 'list', 'tables'])).stdout).toContain('table inet nfr');
    // the host: reading only
    expect((await lab.sh(['nft', 'list', 'table', 'inet', 'nfr'], { allowFail: true })).code).not.toBe(0);
  });

  it('adds, lists (JSON) and deletes elements; the output of a command without output is empty', async () => {
    expect(await ok(`add element inet nfr m {\n\t${elem(1001)},\n\t${elem(1002, 'c2')}\n}\n`)).toBe('');
    expect(await mapPorts()).toEqual([1001, 1002]);
    const text = await ok('list map inet nfr m');
    expect(text).toContain('198.18.90.1 . tcp . 1002 . 198.18.90.2 . 80');
    expect(text).toContain('goto c2');
    expect(await ok(`delete element inet nfr m { ${key(1001)} }`)).toBe('');
    expect(await mapPorts()).toEqual([1002]);
    // after listings (the context is renewed then), element updates still work
    expect(await ok(`add element inet nfr m { ${elem(1003)} }`)).toBe('');
    expect(await mapPorts()).toEqual([1002, 1003]);
  });

  it('a bad command throws NFT with nft\'s own text and the line it names', async () => {
    const r = await run('list tables\nbogus command here\n');
    expect(r.error).toMatchObject({ name: 'NfqueueError', code: 'NFT', line: 2 });
    expect(r.error.errno).toBeUndefined();
    expect(r.error.message).toMatch(/^input:2:\d+-\d+: Error: syntax error/);
    expect(r.error.message).toContain('bogus command here');
  });

  it('deleting a missing element: ENOENT naming that element\'s line; the whole transaction is rolled back', async () => {
    await ok(`add element inet nfr m { ${elem(2001)}, ${elem(2002)} }`);
    // line 2 exists, line 3 does not: nothing is deleted
    const r = await run(`delete element inet nfr m {\n\t${key(2001)},\n\t${key(2999)}\n}\n`);
    expect(r.error).toMatchObject({ code: 'NFT', errno: ENOENT, line: 3 });
    expect(r.error.message).toContain('No such file or directory');
    expect(r.error.message).toContain(key(2999));
    expect(await mapPorts()).toContain(2001);
  });

  it('re-adding a key with another verdict: EEXIST; with the same verdict it is accepted', async () => {
    await ok(`add element inet nfr m { ${elem(3001)} }`);
    expect(await ok(`add element inet nfr m { ${elem(3001)} }`)).toBe('');
    const r = await run(`add element inet nfr m { ${elem(3001, 'c2')} }`);
    expect(r.error).toMatchObject({ code: 'NFT', errno: EEXIST, line: 1 });
    expect(r.error.message).toContain('File exists');
  });

  it('1000 element adds in one call', async () => {
    const els = Array.from({ length: 1000 }, (_, i) => elem(10_000 + i));
    const r = await run(`add element inet nfr m {\n\t${els.join(',\n\t')}\n}\n`);
    expect(r.error).toBeUndefined();
    expect((await mapPorts()).filter((p) => p >= 10_000)).toHaveLength(1000);
    console.log(`nftRun: 1000 element adds took ${r.ms.toFixed(1)} ms`);
  });

  it('rejects a NUL in the script before running anything', async () => {
    const r = await run('list tables\0');
    expect(r.error).toMatchObject({ code: 'NFQ_INVALID_ARGUMENT' });
    expect(r.error.message).toContain('NUL');
  });
});
