// nftGetElements against the real kernel: a throw-away namespace with an
// inet table of 5-tuple sets (with and without counters and timeouts),
// elements added with nftApplyElements and nft, counters made by real
// packets and by `nft add element ... counter packets N bytes M`; the reads
// done by a child process inside the namespace (fixtures/setwrite.mjs,
// using the built package). Also prints what a read costs per element
// against a dump of the set (nftSetElements).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, sleep } from '@l7mesh/netns';
import { ensureBuiltLocked, ERRNO, fixtureCalls, Proc, replyWithoutNetAdmin, startSetFixture, TUPLE_KEY, type Json } from './helpers.js';

const lab = new NetnsLab('l7read');
let ns = '';
let proc: Proc;

const { EPERM, ENOENT, EINVAL } = ERRNO;
const { V4, V6 } = TUPLE_KEY;
const A = '198.18.72.1';
const B = '198.18.72.2';
const A6 = '2001:db8::72:1';
const B6 = '::ffff:198.18.72.9';



const { request, ok, run } = fixtureCalls(() => proc);
const apply = async (ops: Json, table = 'l7r', family?: string) => {
  const r = await request('apply', { table, ops, family }, 120_000);
  if (r.error) throw new Error(`apply failed: ${r.error.code} ${r.error.message}`);
};
/** nftGetElements(table, reads); the reply has `values` (4 per read), or `error` when it threw. */
const get = (reads: Json, table = 'l7r', family?: string) => request('get', { table, reads, family }, 120_000);
/** The values of a get that must not throw, as one [found, packets, bytes, expiresMs] per read. */
async function read(reads: Json, table = 'l7r', family?: string): Promise<number[][]> {
  const r = await get(reads, table, family);
  if (r.error) throw new Error(`get failed: ${r.error.code} ${r.error.message}`);
  const out: number[][] = [];
  for (let i = 0; i < r.values.length; i += 4) out.push(r.values.slice(i, i + 4));
  return out;
}

interface Flow {
  set?: string;
  family?: 'ipv4' | 'ipv6';
  protocol?: Json;
  src?: Json;
  sport?: Json;
  dst?: Json;
  dport?: Json;
}
const v4 = (sport: number, more: Flow = {}): Json => ({ set: 'f4', family: 'ipv4', protocol: 'tcp', src: A, sport, dst: B, dport: 443, ...more });
const v6 = (sport: number, more: Flow = {}): Json => ({ set: 'f6', family: 'ipv6', protocol: 'udp', src: A6, sport, dst: B6, dport: 53, ...more });
const add = (f: Json, timeoutMs?: number): Json => ({ op: 'add', ...f, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
const text = (f: Json) => `${f.src} . ${f.protocol} . ${f.sport} . ${f.dst} . ${f.dport}`;

const bytes4 = (t: string) => t.split('.').map(Number);
const V6A = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x72, 0, 1];
const V6B = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 72, 9];
/** A packed 5-tuple: protocol, first address and port, second address and port. */
const pack = (proto: number, a: number[], aport: number, b: number[], bport: number) =>
  String.fromCharCode(proto, ...a, aport >> 8, aport & 255, ...b, bport >> 8, bport & 255);

beforeAll(async () => {
  await ensureBuiltLocked();
  ({ ns, proc } = await startSetFixture(lab, 'r', [A, B], 'setwrite.mjs'));
  await run(
    [
      'table inet l7r {',
      `  set f4 { type ${V4}; flags timeout; counter; }`,
      `  set f6 { type ${V6}; flags timeout; counter; }`,
      `  set plain { type ${V4}; }`,
      `  set big { type ${V4}; flags timeout; counter; }`,
      '  chain out {',
      '    type filter hook output priority 0;',
      '    ip saddr . meta l4proto . th sport . ip daddr . th dport @f4 accept',
      '  }',
      '}',
      `table ip l7rip { set f { type ${V4}; flags timeout; counter; }; }`,
    ].join('\n'),
  );
}, 400_000);

afterAll(async () => {
  Proc.killAll();
  await lab.cleanup();
});

describe('nftGetElements', () => {
  it('reads elements by key: found, counters, expiry; a missing key is found 0, not an error', async () => {
    await apply([add(v4(1001), 60_000), add(v4(1002)), add(v6(2001), 90_000), add(v4(1004, { set: 'plain' })), add(v4(40001, { protocol: 'udp', dport: 50001 }), 60_000)]);
    await run(`add element inet l7r f4 { ${text(v4(1003))} counter packets 5 bytes 300 timeout 30s }`);
    // 3 datagrams counted into the udp element by the output rule: IPv4 20 + UDP 8 + 10 each
    await ok('udp', { src: A, sport: 40001, dst: B, dport: 50001, count: 3 });
    const r = await read([
      v4(1001), // 0: timeout 60 s, no traffic
      v4(1003), // 1: counter 5/300 given, timeout 30 s
      v4(1002), // 2: no timeout
      v4(9999), // 3: not there
      v6(2001), // 4: ipv6, timeout 90 s
      v4(1004, { set: 'plain' }), // 5: a set without counter or timeout
      v6(2002), // 6: not there (ipv6)
      v4(40001, { protocol: 'udp', dport: 50001 }), // 7: real packets
      v4(1001, { set: 'plain' }), // 8: the key of 0, in another set: not there
    ]);
    expect(r.map((v) => v[0])).toEqual([1, 1, 1, 0, 1, 1, 0, 1, 0]);
    expect(r[0]!.slice(1, 3)).toEqual([0, 0]);
    expect(r[0]![3]).toBeGreaterThan(55_000);
    expect(r[0]![3]).toBeLessThanOrEqual(60_000);
    expect(r[1]!.slice(1, 3)).toEqual([5, 300]);
    expect(r[1]![3]).toBeGreaterThan(25_000);
    expect(r[1]![3]).toBeLessThanOrEqual(30_000);
    expect(r[2]).toEqual([1, 0, 0, -1]);
    expect(r[3]).toEqual([0, 0, 0, -1]);
    expect(r[4]!.slice(0, 3)).toEqual([1, 0, 0]);
    expect(r[4]![3]).toBeGreaterThan(85_000);
    expect(r[4]![3]).toBeLessThanOrEqual(90_000);
    expect(r[5]).toEqual([1, 0, 0, -1]);
    expect(r[6]).toEqual([0, 0, 0, -1]);
    expect(r[7]!.slice(0, 3)).toEqual([1, 3, 3 * 38]);
    expect(r[7]![3]).toBeGreaterThan(0);
    expect(r[7]![3]).toBeLessThanOrEqual(60_000);
    expect(r[8]).toEqual([0, 0, 0, -1]);

    // The same numbers as the dump of the set.
    const dumped = (await ok('dump', { table: 'l7r', set: 'f4' })).elements;
    const udp = dumped.find((e: Json) => e.sport === 40001);
    expect(udp).toMatchObject({ packets: 3, bytes: 114 });
    expect(dumped.find((e: Json) => e.sport === 1003)).toMatchObject({ packets: 5, bytes: 300 });
  });

  it('takes packed tuples, either way round, with the same answers as fields (ipv4 and ipv6)', async () => {
    const packed4 = pack(6, bytes4(A), 3001, bytes4(B), 443);
    const packed6 = pack(17, V6A, 3002, V6B, 53);
    await apply([add(v6(3002), 60_000)]);
    await run(`add element inet l7r f4 { ${text(v4(3001))} counter packets 9 bytes 900 timeout 60s }`);
    const r = await read([
      { set: 'f4', tuple: packed4 },
      { set: 'f4', tuple: packed4, reverse: true }, // B:443 -> A:3001: not added
      { set: 'f6', tuple: packed6 },
      { set: 'f6', tuple: packed6, reverse: true },
      v4(3001),
    ]);
    expect(r.map((v) => v[0])).toEqual([1, 0, 1, 0, 1]);
    expect(r[0]!.slice(1, 3)).toEqual([9, 900]);
    expect(r[4]).toEqual(r[0]);
    expect(r[2]![3]).toBeGreaterThan(55_000);

    // The reverse direction, added as such, is found by the reversed tuple and by its fields.
    await apply([add(v4(443, { src: B, dst: A, dport: 3001 }), 60_000), add(v6(53, { src: B6, dst: A6, dport: 3002 }))]);
    const back = await read([
      { set: 'f4', tuple: packed4, reverse: true },
      v4(443, { src: B, dst: A, dport: 3001 }),
      { set: 'f6', tuple: packed6, reverse: true },
    ]);
    expect(back.map((v) => v[0])).toEqual([1, 1, 1]);
    expect(back[2]![3]).toBe(-1); // added without a timeout
  });

  it('an element past its timeout is found 0, before garbage collection removes it', async () => {
    await apply([add(v4(5001), 1_000)]);
    expect((await read([v4(5001)]))[0]![0]).toBe(1);
    await sleep(1_300);
    expect(await read([v4(5001)])).toEqual([[0, 0, 0, -1]]);
  });

  it('a table of family ip; no reads is an empty result (nothing sent)', async () => {
    await apply([add(v4(1, { set: 'f' }), 10_000)], 'l7rip', 'ip');
    const r = await read([v4(1, { set: 'f' }), v4(2, { set: 'f' })], 'l7rip', 'ip');
    expect(r.map((v) => v[0])).toEqual([1, 0]);
    expect(r[0]![3]).toBeLessThanOrEqual(10_000);
    expect((await get([], 'l7rip', 'ip')).values).toEqual([]);
    // inet is the default family: no such table there
    expect((await get([v4(1, { set: 'f' })], 'l7rip')).error).toMatchObject({ code: 'NFT_READ', errno: ENOENT, index: 0 });
  });

  it('a missing set or table throws NFT_READ (ENOENT) naming it and the read; a key of the wrong family EINVAL', async () => {
    const noSet = await get([v4(1001), v4(9999), v4(1, { set: 'nosuch' }), v4(2, { set: 'nosuch' })]);
    expect(noSet.error).toMatchObject({ name: 'NfqueueError', code: 'NFT_READ', errno: ENOENT, index: 2 });
    expect(noSet.error.message).toBe('nftGetElements: table inet l7r has no set nosuch (read 2): ENOENT (No such file or directory)');
    const noTable = await get([v4(1001)], 'nosuch');
    expect(noTable.error).toMatchObject({ code: 'NFT_READ', errno: ENOENT, index: 0 });
    expect(noTable.error.message).toBe('nftGetElements: no table inet nosuch (read 0, set f4): ENOENT (No such file or directory)');
    const wrongFamily = await get([v4(1001), v4(1, { set: 'f6' })]);
    expect(wrongFamily.error).toMatchObject({ code: 'NFT_READ', errno: EINVAL, index: 1 });
    expect(wrongFamily.error.message).toBe(
      `nftGetElements: table inet l7r, set f6, read 1 (${A} . tcp . 1 . ${B} . 443): EINVAL (Invalid argument): is the set's key this read's 5-tuple (an ipv4 read on an ipv6 set?)`,
    );
    // the socket is still good afterwards
    expect((await read([v4(1001)]))[0]![0]).toBe(1);
  });

  it('refuses bad arguments before sending anything (NFQ_INVALID_ARGUMENT, with the read index)', async () => {
    const bad = async (reads: Json, index: number | undefined, message: string, table = 'l7r', family?: string) => {
      const r = await get(reads, table, family);
      expect(r.error, message).toMatchObject({ code: 'NFQ_INVALID_ARGUMENT' });
      expect(r.error.index, message).toBe(index);
      expect(r.error.message).toContain(message);
    };
    const good = v4(1001);
    const packed4 = pack(6, bytes4(A), 1001, bytes4(B), 443);
    await bad('not a list', undefined, 'nftGetElements: reads must be an array');
    await bad([good, null], 1, 'nftGetElements: reads[1] must be an object');
    await bad([good, { set: 'f4', tuple: packed4.slice(1) }], 1, 'nftGetElements: reads[1].tuple must be a packed 5-tuple of 13 (IPv4) or 37 (IPv6) chars');
    await bad([{ set: 'f4', tuple: String.fromCharCode(1) + packed4.slice(1) }], 0, 'reads[0].tuple has protocol 1, not tcp (6) or udp (17)');
    await bad([{ set: 'f4', tuple: 42 }], 0, 'reads[0].tuple must be a packed 5-tuple');
    await bad([v4(1, { set: '' })], 0, 'nftGetElements: reads[0].set must be 1..255 bytes without NUL');
    await bad([v4(1, { set: 'x'.repeat(256) })], 0, 'reads[0].set must be 1..255 bytes without NUL');
    await bad([good, good, v4(70_000)], 2, 'nftGetElements: reads[2].sport must be a port (an integer 0..65535), got 70000');
    await bad([v4(1, { dport: -1 })], 0, 'reads[0].dport must be a port');
    await bad([v4(1, { src: [198, 18, 72] })], 0, 'reads[0].src must be a Uint8Array of 4 bytes (ipv4), got 3 bytes');
    await bad([v6(1, { dst: A })], 0, 'reads[0].dst must be a Uint8Array of 16 bytes (ipv6), got 4 bytes');
    await bad([v4(1, { family: 'ipv5' as never })], 0, `reads[0].family must be 'ipv4' or 'ipv6', got "ipv5"`);
    await bad([v4(1, { protocol: 'icmp' })], 0, `reads[0].protocol must be 'tcp' or 'udp', got "icmp"`);
    await bad([good], undefined, 'nftGetElements: table must be 1..255 bytes without NUL', '');
    await bad([good], undefined, `nftGetElements: family must be 'inet', 'ip' or 'ip6', got bridge`, 'l7r', 'bridge');
  });

  it('without CAP_NET_ADMIN the kernel refuses: EPERM, no read index', async () => {
    const req = { cmd: 'get', table: 'l7r', reads: [v4(1001), v4(1002)] };
    const reply = await replyWithoutNetAdmin(lab, ns, req);
    expect(reply.error).toMatchObject({ code: 'NFT_READ', errno: EPERM });
    expect(reply.error.index).toBeUndefined();
    expect(reply.error.message).toBe(
      'nftGetElements: table inet l7r: the kernel refused the request: EPERM (Operation not permitted) (needs CAP_NET_ADMIN in the network namespace)',
    );
  });

  it('20 000 reads in one call (many chunks), found and missing mixed, between writes on the same socket', async () => {
    await apply({ generate: { set: 'big', family: 'ipv4', from: 0, count: 10_000, timeoutMs: 600_000 } });
    // flows 0..9999 are in the set, 10 000..19 999 are not; read them interleaved, field form and packed
    const mixed = await get({ generate: { set: 'big', family: 'ipv4', from: 0, count: 20_000, packed: true } });
    expect(mixed.error).toBeUndefined();
    const found = (values: number[]) => values.filter((_, i) => i % 4 === 0);
    const f = found(mixed.values);
    expect(f.length).toBe(20_000);
    expect(f.slice(0, 10_000).every((x) => x === 1)).toBe(true);
    expect(f.slice(10_000).every((x) => x === 0)).toBe(true);
    const expires = mixed.values.filter((_: number, i: number) => i % 4 === 3).slice(0, 10_000);
    expect(expires.every((ms: number) => ms > 590_000 && ms <= 600_000)).toBe(true);
    const fields = await get({ generate: { set: 'big', family: 'ipv4', from: 9_990, count: 20 } });
    expect(found(fields.values)).toEqual([...Array(10).fill(1), ...Array(10).fill(0)]);

    // delete flows 0..499, and read 0..999 again
    await apply({ generate: { set: 'big', family: 'ipv4', from: 0, count: 500, op: 'delete' } });
    const again = await get({ generate: { set: 'big', family: 'ipv4', from: 0, count: 1_000, packed: true } });
    expect(found(again.values)).toEqual(Array.from({ length: 1_000 }, (_, i) => (i < 500 ? 0 : 1)));
    await apply({ generate: { set: 'big', family: 'ipv4', from: 500, count: 9_500, op: 'delete' } });
  }, 120_000);

  it('measures: reads by key against a dump of the whole set (printed, not asserted)', async () => {
    const READS = 20_000;
    const rows: string[] = [];
    let have = 0;
    for (const size of [20_000, 100_000]) {
      for (; have < size; have += 10_000) await apply({ generate: { set: 'big', family: 'ipv4', from: have, count: 10_000, timeoutMs: 3_600_000 } });
      const b = await ok('readBench', { table: 'l7r', set: 'big', count: size, reads: READS, reps: 7 }, 300_000);
      expect(b).toMatchObject({ found: READS, foundMissing: 0, dumped: size });
      const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(2);
      rows.push(
        `set of ${size}: nftGetElements ${READS} present: ${b.get.wallMs.toFixed(1)} ms wall, ${b.get.cpuMs.toFixed(1)} ms CPU ` +
          `(${us(b.get.wallMs, READS)} µs/read wall, ${us(b.get.cpuMs, READS)} CPU); ${READS} missing: ${b.getMissing.wallMs.toFixed(1)} ms ` +
          `(${us(b.getMissing.wallMs, READS)} µs/read); 1 read: ${(b.getOne.wallMs * 1000).toFixed(1)} µs; ` +
          `nftSetElements dump: ${b.dump.wallMs.toFixed(0)} ms wall, ${b.dump.cpuMs.toFixed(0)} ms CPU (${us(b.dump.wallMs, size)} µs/element)`,
      );
    }
    console.log(rows.join('\n'));
  }, 600_000);
});
