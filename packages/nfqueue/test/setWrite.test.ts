// nftApplyElements and nftRemoveElements against the real kernel: a
// throw-away namespace with an inet table of 5-tuple sets (made with
// nftRun), the writes done by a child process inside it
// (fixtures/setwrite.mjs, using the built package), and the result read
// back with `nft -j list set` and nftSetElements.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, sleep } from '@l7mesh/netns';
import { ensureBuiltLocked, ERRNO, fixtureCalls, Proc, replyWithoutNetAdmin, startSetFixture, TUPLE_KEY, type Json } from './helpers.js';

const lab = new NetnsLab('l7write');
let ns = '';
let proc: Proc;

const { EPERM, ENOENT, EINVAL, ENFILE } = ERRNO;
const { V4, V6 } = TUPLE_KEY;
const A = '198.18.71.1';
const B = '198.18.71.2';



const { request, ok, run } = fixtureCalls(() => proc);
/** nftApplyElements(table, ops); the reply has `error` when it threw. */
const apply = (ops: Json, table = 'l7w', family?: string) => request('apply', { table, ops, family }, 60_000);
/** nftRemoveElements(table, removals); the reply has `values` (4 per removal), or `error` when it threw. */
const remove = (removals: Json, table = 'l7w', family?: string) => request('remove', { table, removals, family }, 60_000);
const dump = async (set: string): Promise<Json[]> => (await ok('dump', { table: 'l7w', set }, 60_000)).elements;

interface Flow {
  set?: string;
  family?: 'ipv4' | 'ipv6';
  protocol?: string;
  src?: Json;
  sport?: Json;
  dst?: Json;
  dport?: Json;
  timeoutMs?: Json;
}
const v4 = (sport: number, more: Flow = {}): Json => ({ set: 'f4', family: 'ipv4', protocol: 'tcp', src: A, sport, dst: B, dport: 443, ...more });
const v6 = (sport: number, more: Flow = {}): Json => ({ set: 'f6', family: 'ipv6', protocol: 'udp', src: '2001:db8::1', sport, dst: '::ffff:198.18.71.9', dport: 53, ...more });
const add = (f: Json, timeoutMs?: number): Json => ({ op: 'add', ...f, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
const del = (f: Json): Json => ({ op: 'delete', ...f });

/** The set (or map) as `nft -j list set` shows it: key text -> { timeout (s), expires (s) }. */
async function nftList(set: string, kind: 'set' | 'map' = 'set'): Promise<Map<string, { timeout?: number; expires?: number }>> {
  const r = await lab.exec(ns, ['nft', '-j', 'list', kind, 'inet', 'l7w', set]);
  const doc = JSON.parse(r.stdout);
  const s = doc.nftables.find((o: Json) => o[kind])[kind];
  return new Map(
    (s.elem ?? []).map((e: Json) => {
      const el = e.elem ?? { val: e };
      return [el.val.concat.join(' . '), { timeout: el.timeout, expires: el.expires }];
    }),
  );
}
/** Flow i of fixtures/setwrite.mjs's `generate`, as nftSetElements reads it back (ipv4). */
function generatedFlow(i: number): Json {
  return {
    family: 'ipv4',
    protocol: i % 3 === 0 ? 'udp' : 'tcp',
    src: `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`,
    sport: 1 + ((i * 7) % 65535),
    dst: `198.19.${(i * 13) & 255}.${(i >> 3) & 255}`,
    dport: 65535 - (i % 1000),
  };
}
const sortedKeys = (els: Json[]) => els.map((e) => `${e.src} ${e.protocol} ${e.sport} ${e.dst} ${e.dport}`).sort();

beforeAll(async () => {
  await ensureBuiltLocked();
  ({ ns, proc } = await startSetFixture(lab, 'w', [A, B], 'setwrite.mjs'));
  await run(
    [
      'table inet l7w {',
      `  set f4 { type ${V4}; flags timeout; counter; }`,
      `  set f6 { type ${V6}; flags timeout; counter; }`,
      `  set g4 { type ${V4}; flags timeout; counter; }`,
      `  set plain { type ${V4}; }`,
      `  set small { type ${V4}; size 2; flags timeout; }`,
      `  map vm { type ${V4} : verdict; }`,
      `  set big4 { type ${V4}; flags timeout; counter; }`,
      `  set big6 { type ${V6}; flags timeout; counter; }`,
      '  chain c { accept; }',
      '  chain out {',
      '    type filter hook output priority 0;',
      '    ip saddr . meta l4proto . th sport . ip daddr . th dport @f4 accept',
      '  }',
      '}',
      `table ip l7ip { set f { type ${V4}; flags timeout; }; }`,
    ].join('\n'),
  );
}, 400_000);

afterAll(async () => {
  Proc.killAll();
  await lab.cleanup();
});

describe('nftApplyElements', () => {
  it('adds and deletes ipv4 and ipv6 elements, with their timeouts, in one call', async () => {
    const r = await apply([add(v4(1001), 60_000), add(v4(1002)), add(v6(2001), 90_000), add(v4(1003, { protocol: 'udp' }), 30_000)]);
    expect(r.error).toBeUndefined();

    const listed4 = await nftList('f4');
    expect([...listed4.keys()].sort()).toEqual([`${A} . tcp . 1001 . ${B} . 443`, `${A} . tcp . 1002 . ${B} . 443`, `${A} . udp . 1003 . ${B} . 443`]);
    expect(listed4.get(`${A} . tcp . 1001 . ${B} . 443`)).toMatchObject({ timeout: 60 });
    expect(listed4.get(`${A} . tcp . 1002 . ${B} . 443`)?.timeout).toBeUndefined(); // no timeout asked, none in the set
    expect(listed4.get(`${A} . udp . 1003 . ${B} . 443`)).toMatchObject({ timeout: 30 });
    const listed6 = await nftList('f6');
    expect([...listed6.keys()]).toEqual(['2001:db8::1 . udp . 2001 . ::ffff:198.18.71.9 . 53']);
    expect(listed6.get('2001:db8::1 . udp . 2001 . ::ffff:198.18.71.9 . 53')).toMatchObject({ timeout: 90 });

    const d4 = await dump('f4');
    const e1001 = d4.find((e) => e.sport === 1001);
    expect(e1001).toMatchObject({ family: 'ipv4', protocol: 'tcp', src: A, dst: B, dport: 443, packets: 0 });
    expect(e1001.expiresMs).toBeGreaterThan(55_000);
    expect(e1001.expiresMs).toBeLessThanOrEqual(60_000);
    expect(d4.find((e) => e.sport === 1002).expiresMs).toBeNull();
    const [e6] = await dump('f6');
    expect(e6).toMatchObject({ family: 'ipv6', protocol: 'udp', src: '2001:db8::1', sport: 2001, dst: '::ffff:198.18.71.9', dport: 53 });
    expect(e6.expiresMs).toBeGreaterThan(85_000);

    // delete, add, delete of one key in one call: ops run in order
    expect((await apply([del(v4(1001)), del(v6(2001)), add(v4(1001), 5_000), del(v4(1001)), del(v4(1002)), del(v4(1003, { protocol: 'udp' }))])).error).toBeUndefined();
    expect(await dump('f4')).toEqual([]);
    expect(await dump('f6')).toEqual([]);
    expect((await nftList('f4')).size).toBe(0);
  });

  it('takes 5-tuples packed in strings (one char per byte), either way round, with the same result as fields', async () => {
    // tcp, A:3001 then B:443 (A = ${A}, B = ${B}); and an IPv6 one, udp 2001:db8::1:2002 then ::ffff:198.18.71.9:53.
    const bytes = (text: string) => text.split('.').map(Number);
    const packed4 = String.fromCharCode(6, ...bytes(A), 3001 >> 8, 3001 & 255, ...bytes(B), 1, 187);
    const v6a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const v6b = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 71, 9];
    const packed6 = String.fromCharCode(17, ...v6a, 2002 >> 8, 2002 & 255, ...v6b, 0, 53);
    const r = await apply([
      { op: 'add', set: 'f4', tuple: packed4, timeoutMs: 60_000 },
      { op: 'add', set: 'f4', tuple: packed4, reverse: true },
      { op: 'add', set: 'f6', tuple: packed6 },
    ]);
    expect(r.error).toBeUndefined();
    expect(sortedKeys(await dump('f4'))).toEqual([`${A} tcp 3001 ${B} 443`, `${B} tcp 443 ${A} 3001`].sort());
    expect(sortedKeys(await dump('f6'))).toEqual(['2001:db8::1 udp 2002 ::ffff:198.18.71.9 53']);
    expect((await apply([{ op: 'add', set: 'f4', tuple: packed4.slice(1) }])).error).toMatchObject({ code: 'NFQ_INVALID_ARGUMENT', index: 0 });
    expect((await apply([{ op: 'add', set: 'f4', tuple: String.fromCharCode(1) + packed4.slice(1) }])).error.message).toContain('ops[0].tuple has protocol 1');
    expect((await apply([{ op: 'delete', set: 'f4', tuple: packed4 }, { op: 'delete', set: 'f4', tuple: packed4, reverse: true }, { op: 'delete', set: 'f6', tuple: packed6 }])).error).toBeUndefined();
    expect(await dump('f4')).toEqual([]);
    expect(await dump('f6')).toEqual([]);
  });

  it('a table of family ip, and an empty list of ops (nothing sent)', async () => {
    expect((await apply([add(v4(1, { set: 'f' }), 10_000)], 'l7ip', 'ip')).error).toBeUndefined();
    const r = await lab.exec(ns, ['nft', 'list', 'set', 'ip', 'l7ip', 'f']);
    expect(r.stdout).toContain(`${A} . tcp . 1 . ${B} . 443 timeout 10s`);
    expect((await apply([], 'l7ip', 'ip')).error).toBeUndefined();
    expect((await apply([del(v4(1, { set: 'f' }))], 'l7ip')).error).toMatchObject({ code: 'NFT_WRITE', errno: ENOENT }); // inet is the default
  });

  it('re-adding an element keeps it and its counter, and resets its expiry to the new timeout', async () => {
    await apply([add(v4(40001, { protocol: 'udp', sport: 40001, dport: 50001 }), 20_000)]);
    await ok('udp', { src: A, sport: 40001, dst: B, dport: 50001, count: 3 });
    await sleep(1500);
    const before = (await dump('f4')).find((e) => e.sport === 40001);
    expect(before.packets).toBe(3);
    expect(before.expiresMs).toBeLessThan(19_000);

    // nft's re-add with the same timeout (it sends no expiration): the expiry keeps running down.
    await run(`add element inet l7w f4 { ${A} . udp . 40001 . ${B} . 50001 timeout 20s }`);
    expect((await dump('f4')).find((e) => e.sport === 40001).expiresMs).toBeLessThan(19_000);

    // The same timeout through nftApplyElements: the expiry starts over (the addon sends the expiration too).
    expect((await apply([add(v4(40001, { protocol: 'udp', dport: 50001 }), 20_000)])).error).toBeUndefined();
    const again = (await dump('f4')).find((e) => e.sport === 40001);
    expect(again.packets).toBe(3);
    expect(again.expiresMs).toBeGreaterThan(19_000);

    // Another timeout: taken, counter kept.
    await apply([add(v4(40001, { protocol: 'udp', dport: 50001 }), 120_000)]);
    const longer = (await dump('f4')).find((e) => e.sport === 40001);
    expect(longer).toMatchObject({ packets: 3 });
    expect(longer.expiresMs).toBeGreaterThan(115_000);
    expect((await nftList('f4')).get(`${A} . udp . 40001 . ${B} . 50001`)).toMatchObject({ timeout: 120 });

    // No timeout: the kernel resets the element's timeout to the set's own (none here): it no longer expires.
    await apply([add(v4(40001, { protocol: 'udp', dport: 50001 }))]);
    expect((await dump('f4')).find((e) => e.sport === 40001)).toMatchObject({ packets: 3, expiresMs: null });

    // Delete then add in one call: a new element, its counter at 0.
    await apply([del(v4(40001, { protocol: 'udp', dport: 50001 })), add(v4(40001, { protocol: 'udp', dport: 50001 }), 20_000)]);
    expect((await dump('f4')).find((e) => e.sport === 40001)).toMatchObject({ packets: 0 });
    await apply([del(v4(40001, { protocol: 'udp', dport: 50001 }))]);
  });

  it('a batch with one bad delete changes nothing and names that op, its set and ENOENT', async () => {
    await apply([add(v4(3001), 60_000), add(v4(3002), 60_000), add(v6(3003), 60_000)]);
    const before4 = sortedKeys(await dump('f4'));
    const before6 = sortedKeys(await dump('f6'));
    const r = await apply([
      add(v4(3010), 60_000), // op 0, message 1
      del(v4(3001)), // op 1, message 2
      del(v4(3999)), // op 2: not there
      del(v4(3002)), // op 3
      add(v6(3011), 60_000), // op 4, message 3
    ]);
    expect(r.error).toMatchObject({ name: 'NfqueueError', code: 'NFT_WRITE', errno: ENOENT, index: 2 });
    expect(r.error.message).toBe(
      `nftApplyElements: table inet l7w, set f4, op 2 (delete ${A} . tcp . 3999 . ${B} . 443): ENOENT (No such file or directory): no such element; the batch changed nothing`,
    );
    expect(sortedKeys(await dump('f4'))).toEqual(before4);
    expect(sortedKeys(await dump('f6'))).toEqual(before6);

    // Without that op the same batch goes through.
    expect((await apply([add(v4(3010), 60_000), del(v4(3001)), del(v4(3002)), add(v6(3011), 60_000)])).error).toBeUndefined();
    expect((await dump('f4')).map((e) => e.sport)).toEqual([3010]);
    expect((await dump('f6')).map((e) => e.sport).sort()).toEqual([3003, 3011]);

    // Two bad messages: the first is reported, the other counted.
    const two = await apply([del(v4(3998)), add(v6(3012), 1000), del(v6(3997))]);
    expect(two.error).toMatchObject({ errno: ENOENT, index: 0 });
    expect(two.error.message).toContain('1 more message(s) of the batch failed too');

    // destroy: a missing element is no error.
    expect((await apply([{ ...del(v4(3998)), op: 'destroy' }, { ...del(v4(3010)), op: 'destroy' }])).error).toBeUndefined();
    expect(await dump('f4')).toEqual([]);
    await apply([del(v6(3003)), del(v6(3011))]);
  });

  it('a missing set or table: ENOENT, index the first op on it, the message says which', async () => {
    const noSet = await apply([add(v4(1), 1000), add(v4(2, { set: 'nosuch' }), 1000), add(v4(3, { set: 'nosuch' }))]);
    expect(noSet.error).toMatchObject({ code: 'NFT_WRITE', errno: ENOENT, index: 1 });
    expect(noSet.error.message).toBe(
      'nftApplyElements: table inet l7w has no set nosuch (ops 1..2, add): ENOENT (No such file or directory); the batch changed nothing',
    );
    expect(await dump('f4')).toEqual([]); // op 0 was taken back
    const noTable = await apply([add(v4(1), 1000)], 'nosuch');
    expect(noTable.error).toMatchObject({ code: 'NFT_WRITE', errno: ENOENT, index: 0 });
    expect(noTable.error.message).toBe(
      'nftApplyElements: no table inet nosuch (ops 0..0, add on set f4): ENOENT (No such file or directory); the batch changed nothing',
    );
  });

  it('what the kernel refuses: a key of the other family (EINVAL), a timeout without `flags timeout` (EINVAL), a full set (ENFILE)', async () => {
    const wrongFamily = await apply([add(v4(1, { set: 'f6' }))]);
    expect(wrongFamily.error).toMatchObject({ code: 'NFT_WRITE', errno: EINVAL, index: 0 });
    expect(wrongFamily.error.message).toContain('an ipv4 op on an ipv6 set?');
    const timeout = await apply([add(v4(1, { set: 'plain' })), add(v4(2, { set: 'plain' }), 1000)]);
    expect(timeout.error).toMatchObject({ code: 'NFT_WRITE', errno: EINVAL, index: 1 });
    expect(timeout.error.message).toContain('a timeout needs `flags timeout` on the set');
    const full = await apply([1, 2, 3].map((p) => add(v4(p, { set: 'small' }), 60_000)));
    expect(full.error).toMatchObject({ code: 'NFT_WRITE', errno: ENFILE, index: 2 });
    expect(full.error.message).toContain('the set is full');
    expect((await nftList('small')).size).toBe(0);
    // A map: deleting works (a key is a key), adding needs data that is not written.
    await run(`add element inet l7w vm { ${A} . tcp . 1 . ${B} . 443 : goto c }`);
    const mapAdd = await apply([add(v4(2, { set: 'vm' }))]);
    expect(mapAdd.error).toMatchObject({ code: 'NFT_WRITE', errno: EINVAL, index: 0 });
    expect(mapAdd.error.message).toContain('adding to a map needs data');
    expect((await apply([del(v4(1, { set: 'vm' }))])).error).toBeUndefined();
    expect((await nftList('vm', 'map')).size).toBe(0);
    expect((await nftList('plain')).size).toBe(0);
  });

  it('refuses bad arguments before sending anything (NFQ_INVALID_ARGUMENT, with the op index)', async () => {
    const bad = async (ops: Json, index: number | undefined, text: string, table = 'l7w', family?: string) => {
      const r = await apply(ops, table, family);
      expect(r.error, text).toMatchObject({ code: 'NFQ_INVALID_ARGUMENT' });
      expect(r.error.index, text).toBe(index);
      expect(r.error.message).toContain(text);
    };
    const good = add(v4(7), 1000);
    await bad([good, add(v4(8, { src: [198, 18, 71] }))], 1, 'ops[1].src must be a Uint8Array of 4 bytes (ipv4), got 3 bytes');
    await bad([good, add(v6(8, { dst: A }))], 1, 'ops[1].dst must be a Uint8Array of 16 bytes (ipv6), got 4 bytes');
    await bad([{ ...add(v4(8)), src: 42 }], 0, 'ops[0].src must be a Uint8Array of 4 bytes (ipv4), got number');
    await bad([good, good, add(v4(70_000))], 2, 'ops[2].sport must be a port (an integer 0..65535), got 70000');
    await bad([add(v4(1, { dport: 1.5 }))], 0, 'ops[0].dport must be a port');
    await bad([{ ...good, op: 'replace' }], 0, `ops[0].op must be 'add', 'delete' or 'destroy', got "replace"`);
    await bad([add(v4(1, { family: 'ipv5' as never }))], 0, `ops[0].family must be 'ipv4' or 'ipv6', got "ipv5"`);
    await bad([add(v4(1, { protocol: 'icmp' }))], 0, `ops[0].protocol must be 'tcp' or 'udp', got "icmp"`);
    await bad([del(v4(1, { timeoutMs: 1000 }))], 0, `ops[0].timeoutMs is for 'add' only, not 'delete'`);
    await bad([add(v4(1), 0)], 0, 'ops[0].timeoutMs must be an integer 1..4294967295 (milliseconds), got 0');
    await bad([add(v4(1), 2 ** 32)], 0, 'ops[0].timeoutMs must be an integer 1..4294967295');
    await bad([add(v4(1, { set: 'x'.repeat(256) }))], 0, 'ops[0].set must be 1..255 bytes without NUL');
    await bad([add(v4(1, { set: '' }))], 0, 'ops[0].set must be 1..255 bytes without NUL');
    await bad([null], 0, 'ops[0] must be an object');
    await bad([good], undefined, 'nftApplyElements: table must be 1..255 bytes without NUL', '');
    await bad([good], undefined, `nftApplyElements: family must be 'inet', 'ip' or 'ip6', got bridge`, 'l7w', 'bridge');
    await bad('not a list', undefined, 'nftApplyElements: ops must be an array');
    // none of the good ops before a bad one went out
    expect(await dump('f4')).toEqual([]);
  });

  it('without CAP_NET_ADMIN the kernel refuses the whole batch: EPERM, no op index', async () => {
    const req = { cmd: 'apply', table: 'l7w', ops: [add(v4(9), 1000)] };
    const reply = await replyWithoutNetAdmin(lab, ns, req);
    expect(reply.error).toMatchObject({ code: 'NFT_WRITE', errno: EPERM });
    expect(reply.error.index).toBeUndefined();
    expect(reply.error.message).toBe(
      'nftApplyElements: table inet l7w: the kernel refused the batch: EPERM (Operation not permitted) (needs CAP_NET_ADMIN in the network namespace); nothing was changed',
    );
    expect(await dump('f4')).toEqual([]);
  });

  it('10 000 ipv4 and 10 000 ipv6 elements in one call each (many messages), then a bad op deep in a long run', async () => {
    const t4 = await apply({ generate: { set: 'big4', family: 'ipv4', from: 0, count: 10_000, timeoutMs: 600_000 } });
    expect(t4.error).toBeUndefined();
    const t6 = await apply({ generate: { set: 'big6', family: 'ipv6', from: 0, count: 10_000, timeoutMs: 600_000 } });
    expect(t6.error).toBeUndefined();
    const big4 = await dump('big4');
    expect(big4.length).toBe(10_000);
    expect(new Set(sortedKeys(big4)).size).toBe(10_000);
    for (const i of [0, 1, 255, 256, 5_000, 9_999]) expect(big4).toContainEqual(expect.objectContaining(generatedFlow(i)));
    expect(big4.every((e) => e.expiresMs > 590_000)).toBe(true);
    const big6 = await dump('big6');
    expect(big6.length).toBe(10_000);
    // the same flows in IPv4-compatible addresses (::198.18.39.15 is flow 9999's source)
    expect(big6).toContainEqual(expect.objectContaining({ family: 'ipv6', src: '::198.18.39.15', sport: generatedFlow(9_999).sport }));

    // Flow 10 000 is not in the set: deleting flows 0..10 000 fails at op 10 000 (not in the first message).
    const r = await apply({ generate: { set: 'big6', family: 'ipv6', from: 0, count: 10_001, op: 'delete' } });
    expect(r.error).toMatchObject({ code: 'NFT_WRITE', errno: ENOENT, index: 10_000 });
    expect(r.error.message).toContain('op 10000 (delete ::198.18.39.16 . tcp . ');
    expect((await dump('big6')).length).toBe(10_000);

    expect((await apply({ generate: { set: 'big4', family: 'ipv4', from: 0, count: 10_000, op: 'delete' } })).error).toBeUndefined();
    expect((await apply({ generate: { set: 'big6', family: 'ipv6', from: 0, count: 10_000, op: 'delete' } })).error).toBeUndefined();
    expect(await dump('big4')).toEqual([]);
    expect(await dump('big6')).toEqual([]);
  });
});

describe('nftRemoveElements', () => {
  const found = (values: number[]) => values.filter((_, i) => i % 4 === 0);

  it('removes what is there and answers each element\'s final counter; a missing one is found 0, not an error', async () => {
    const counted = v4(40002, { protocol: 'udp', dport: 50002 });
    expect((await apply([add(counted, 60_000), add(v4(3001), 60_000), add(v6(3002), 60_000)])).error).toBeUndefined();
    // 4 datagrams counted into the udp element by the output rule: IPv4 20 + UDP 8 + 10 each
    await ok('udp', { src: A, sport: 40002, dst: B, dport: 50002, count: 4 });
    const r = await remove([counted, v4(3009), v6(3002), v4(3001)]);
    expect(r.error).toBeUndefined();
    expect(r.values).toEqual([1, 4, 4 * 38, -1, 0, 0, 0, -1, 1, 0, 0, -1, 1, 0, 0, -1]);
    const left = (await dump('f4')).map((e) => e.sport);
    expect(left).not.toContain(40002);
    expect(left).not.toContain(3001);
    expect((await dump('f6')).map((e) => e.sport)).not.toContain(3002);
    // Removed already: found 0 the second time.
    expect((await remove([counted])).values).toEqual([0, 0, 0, -1]);
  });

  it('2 500 removals in one call (three transactions), present and missing mixed, packed tuples', async () => {
    expect((await apply({ generate: { set: 'big4', family: 'ipv4', from: 0, count: 1_500, timeoutMs: 600_000 } })).error).toBeUndefined();
    // flows 0..1499 are in the set, 1500..2499 are not
    const r = await remove({ generate: { set: 'big4', family: 'ipv4', from: 0, count: 2_500, packed: true } });
    expect(r.error).toBeUndefined();
    const f = found(r.values);
    expect(f.length).toBe(2_500);
    expect(f.slice(0, 1_500).every((x) => x === 1)).toBe(true);
    expect(f.slice(1_500).every((x) => x === 0)).toBe(true);
    expect(await dump('big4')).toEqual([]);
  });

  it('a missing set: NFT_WRITE ENOENT with the index of the removal at fault, also past the first transaction', async () => {
    const r = await remove([v4(1), v4(2, { set: 'nosuch' })]);
    expect(r.error).toMatchObject({ code: 'NFT_WRITE', errno: ENOENT, index: 1 });
    expect(r.error.message).toContain('has no set nosuch');
    const late = await remove([...Array.from({ length: 1_100 }, (_, i) => v4(10_000 + i)), v4(3, { set: 'nosuch' })]);
    expect(late.error).toMatchObject({ code: 'NFT_WRITE', errno: ENOENT, index: 1_100 });
    expect(late.error.message).toContain('(in removals 1024..1100; those before were removed)');
  });
});
