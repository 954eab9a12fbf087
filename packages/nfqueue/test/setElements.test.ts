// nftSetElements against the real kernel: a throw-away namespace with an
// inet table of 5-tuple sets, real packets counted into their elements by
// an output-hook rule, and a 100k-element set. The dump runs in a child
// process inside the namespace (fixtures/setdump.mjs, using the built
// package), since it reads its own process's namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab } from '@l7mesh/netns';
import { ensureBuilt, ERRNO, fixtureCalls, Proc, startSetFixture, TUPLE_KEY, type Json } from './helpers.js';

const lab = new NetnsLab('l7dump');
let proc: Proc;

const { ENOENT, EINTR } = ERRNO;
const { V4, V6 } = TUPLE_KEY;
const BIG = 100_000;
const MID = 30_000;
const HOUR_MS = 3_600_000;

// Loopback addresses of the namespace (198.18.0.0/15 only; IPv6 uses ::1).
const A = '198.18.70.1';
const B = '198.18.70.2';

const { request, ok, run } = fixtureCalls(() => proc);
const dump = (set: string, extra: Json = {}, timeoutMs?: number) => request('dump', { table: 'l7dump', set, ...extra }, timeoutMs);

/** The i-th flow of the generated sets: distinct 5-tuples, both protocols, the whole port range used. */
function flowAt(i: number): { src: string; sport: number; dst: string; dport: number; protocol: 'tcp' | 'udp' } {
  const hi = i >> 8;
  return {
    src: `198.${18 + (hi >> 8)}.${hi & 255}.${i & 255}`,
    sport: 1 + ((i * 7) % 65535),
    dst: `198.19.${(i * 13) & 255}.${(i >> 3) & 255}`,
    dport: 65535 - (i % 1000),
    protocol: i % 3 === 0 ? 'udp' : 'tcp',
  };
}
const keyText = (f: ReturnType<typeof flowAt>) => `${f.src} . ${f.protocol} . ${f.sport} . ${f.dst} . ${f.dport}`;
const pickKey = (f: ReturnType<typeof flowAt>) => `${f.src} ${f.sport} ${f.dst} ${f.dport} ${f.protocol}`;

/** Adds flows [from, to) to `set`, 25k per transaction. */
async function fill(set: string, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 25_000) {
    const els: string[] = [];
    for (let i = start; i < Math.min(to, start + 25_000); i++) els.push(`${keyText(flowAt(i))} timeout 1h`);
    await run(`add element inet l7dump ${set} {\n${els.join(',\n')}\n}\n`, 60_000);
  }
}

beforeAll(async () => {
  ensureBuilt();
  ({ proc } = await startSetFixture(lab, 'd', [A, B], 'setdump.mjs'));
  await run(
    [
      'table inet l7dump {',
      `  set f4 { type ${V4}; flags timeout; counter; }`,
      `  set f6 { type ${V6}; flags dynamic,timeout; counter; }`,
      `  set plain { type ${V4}; }`,
      `  set empty { type ${V4}; flags timeout; counter; }`,
      `  set typed { typeof ip saddr . meta l4proto . th sport . ip daddr . th dport; counter; }`,
      '  set addrs { type ipv4_addr; }',
      `  set ranges { type ${V4}; flags interval; }`,
      `  set mixed { type ${V4}; }`,
      `  set big { type ${V4}; flags timeout; counter; }`,
      `  set mid { type ${V4}; flags timeout; counter; }`,
      `  set other { type ${V4}; flags timeout; }`,
      '  chain out {',
      '    type filter hook output priority 0;',
      '    ip saddr . meta l4proto . th sport . ip daddr . th dport @f4 accept',
      '    ip6 saddr . meta l4proto . th sport . ip6 daddr . th dport @f6 accept',
      '    ip saddr . meta l4proto . th sport . ip daddr . th dport @plain accept',
      '  }',
      '}',
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  Proc.killAll();
  await lab.cleanup();
});

describe('nftSetElements', () => {
  it('decodes every field of ipv4 and ipv6 elements, with the counts of real packets', async () => {
    await run(
      [
        `add element inet l7dump f4 { ${A} . udp . 40001 . ${B} . 50001 timeout 1h, ${A} . tcp . 40002 . ${B} . 50002 timeout 1h }`,
        // no traffic, no timeout; the extremes of the port range
        'add element inet l7dump f4 { 198.19.255.254 . tcp . 65535 . 198.18.0.0 . 1 }',
        'add element inet l7dump f6 { ::1 . udp . 40003 . ::1 . 50003 timeout 1h, ::1 . tcp . 40004 . ::1 . 50004 timeout 1h }',
        'add element inet l7dump f6 { ::ffff:198.18.70.9 . udp . 0 . ::ffff:198.19.0.1 . 443 timeout 10m }',
      ].join('\n'),
    );
    // IPv4 UDP: 3 datagrams of 28 header bytes (IP 20 + UDP 8) plus the payload
    await ok('udp', { family: 4, src: A, sport: 40001, dst: B, dport: 50001, sizes: [10, 100, 1000] });
    // IPv4 TCP: one SYN to a closed port (refused by RST): IP 20 + TCP 20 + options 20 (mss, sack, ts, wscale)
    expect((await ok('syn', { family: 4, src: A, sport: 40002, dst: B, dport: 50002 })).refused).toBe(true);
    // IPv6: IP 40 + UDP 8 per datagram; the SYN is 40 + 40
    await ok('udp', { family: 6, src: '::1', sport: 40003, dst: '::1', dport: 50003, sizes: [20, 200] });
    expect((await ok('syn', { family: 6, src: '::1', sport: 40004, dst: '::1', dport: 50004 })).refused).toBe(true);

    const v4 = await dump('f4');
    expect(v4.error).toBeUndefined();
    const byPort = (els: Json[]) => [...els].sort((x, y) => x.sport - y.sport);
    const [udp4, tcp4, idle4] = byPort(v4.elements);
    expect(v4.count).toBe(3);
    expect(udp4).toEqual({ family: 'ipv4', protocol: 'udp', src: A, sport: 40001, dst: B, dport: 50001, packets: 3, bytes: 3 * 28 + 1110, expiresMs: udp4.expiresMs });
    expect(tcp4).toEqual({ family: 'ipv4', protocol: 'tcp', src: A, sport: 40002, dst: B, dport: 50002, packets: 1, bytes: 60, expiresMs: tcp4.expiresMs });
    expect(idle4).toEqual({ family: 'ipv4', protocol: 'tcp', src: '198.19.255.254', sport: 65535, dst: '198.18.0.0', dport: 1, packets: 0, bytes: 0, expiresMs: null });
    expect(v4.allHaveExpiresKey).toBe(true); // present, undefined (null on the wire) without a timeout
    for (const e of [udp4, tcp4]) {
      expect(e.expiresMs).toBeGreaterThan(HOUR_MS - 60_000);
      expect(e.expiresMs).toBeLessThanOrEqual(HOUR_MS);
    }

    const v6 = await dump('f6');
    expect(v6.error).toBeUndefined();
    const [mapped, udp6, tcp6] = byPort(v6.elements);
    expect(v6.count).toBe(3);
    expect(udp6).toEqual({ family: 'ipv6', protocol: 'udp', src: '::1', sport: 40003, dst: '::1', dport: 50003, packets: 2, bytes: 2 * 48 + 220, expiresMs: udp6.expiresMs });
    expect(tcp6).toEqual({ family: 'ipv6', protocol: 'tcp', src: '::1', sport: 40004, dst: '::1', dport: 50004, packets: 1, bytes: 80, expiresMs: tcp6.expiresMs });
    expect(mapped).toEqual({ family: 'ipv6', protocol: 'udp', src: '::ffff:198.18.70.9', sport: 0, dst: '::ffff:198.19.0.1', dport: 443, packets: 0, bytes: 0, expiresMs: mapped.expiresMs });
    expect(mapped.expiresMs).toBeGreaterThan(600_000 - 60_000);
    expect(mapped.expiresMs).toBeLessThanOrEqual(600_000);
  });

  it('a set without counters gives 0 packets and 0 bytes even for matched packets', async () => {
    await run(`add element inet l7dump plain { ${A} . udp . 40005 . ${B} . 50005 }`);
    await ok('udp', { family: 4, src: A, sport: 40005, dst: B, dport: 50005, sizes: [50, 50] });
    const r = await dump('plain');
    expect(r.elements).toEqual([{ family: 'ipv4', protocol: 'udp', src: A, sport: 40005, dst: B, dport: 50005, packets: 0, bytes: 0, expiresMs: null }]);
  });

  it('reads a set declared with typeof, and an empty set as []', async () => {
    await run(`add element inet l7dump typed { ${A} . tcp . 1 . ${B} . 2 }`);
    expect((await dump('typed')).elements).toEqual([
      { family: 'ipv4', protocol: 'tcp', src: A, sport: 1, dst: B, dport: 2, packets: 0, bytes: 0, expiresMs: null },
    ]);
    expect(await dump('empty')).toMatchObject({ count: 0, elements: [] });
  });

  it('a missing set or table rejects with NFT_DUMP naming both, and the errno', async () => {
    const noSet = await dump('nosuchset');
    expect(noSet.error).toMatchObject({ name: 'NfqueueError', code: 'NFT_DUMP', errno: ENOENT });
    expect(noSet.error.message).toBe(
      'nftSetElements: set inet l7dump nosuchset: table inet l7dump has no set nosuchset: ENOENT (No such file or directory)',
    );
    const noTable = await request('dump', { table: 'nosuchtable', set: 'f4' });
    expect(noTable.error).toMatchObject({ code: 'NFT_DUMP', errno: ENOENT });
    expect(noTable.error.message).toBe('nftSetElements: set inet nosuchtable f4: no table inet nosuchtable: ENOENT (No such file or directory)');
    // the table is inet: in family ip it does not exist
    const otherFamily = await dump('f4', { family: 'ip' });
    expect(otherFamily.error).toMatchObject({ code: 'NFT_DUMP', errno: ENOENT });
    expect(otherFamily.error.message).toContain('no table ip l7dump');
  });

  it('refuses a set whose key is not a 5-tuple (even an empty one), an interval set, and elements of other protocols', async () => {
    const r = await dump('addrs');
    expect(r.error).toMatchObject({ code: 'NFT_DUMP' });
    expect(r.error.message).toContain('set inet l7dump addrs: not a 5-tuple flow set: its key has type 0x7 and 4 bytes');
    const ranges = await dump('ranges');
    expect(ranges.error).toMatchObject({ code: 'NFT_DUMP' });
    expect(ranges.error.message).toContain('an interval set (flags interval) holds ranges, not flows');
    await run(`add element inet l7dump mixed { ${A} . icmp . 0 . ${B} . 0 }`);
    const icmp = await dump('mixed');
    expect(icmp.error).toMatchObject({ code: 'NFT_DUMP' });
    expect(icmp.error.message).toContain(`element ${A} . 1 . 0 . ${B} . 0 has protocol 1`);
  });

  it('rejects bad arguments with NFQ_INVALID_ARGUMENT', async () => {
    expect((await dump('f4', { family: 'bridge' })).error).toMatchObject({ code: 'NFQ_INVALID_ARGUMENT' });
    expect((await request('dump', { table: '', set: 'f4' })).error).toMatchObject({ code: 'NFQ_INVALID_ARGUMENT' });
    expect((await request('dump', { table: 'l7dump', set: 'x'.repeat(256) })).error).toMatchObject({ code: 'NFQ_INVALID_ARGUMENT' });
  });

  it(`dumps ${BIG} elements completely (many netlink messages), off the event loop`, async () => {
    await fill('big', 0, BIG);
    const spots = [0, 1, 255, 256, 65_535, 65_536, 77_777, BIG - 1].map(flowAt);
    const r = await dump('big', { keys: spots.map(pickKey) }, 60_000);
    expect(r.error).toBeUndefined();
    expect(r.count).toBe(BIG);
    expect(r.distinct).toBe(BIG);
    for (const f of spots) {
      const e = r.picked[pickKey(f)];
      expect(e).toEqual({ family: 'ipv4', ...f, packets: 0, bytes: 0, expiresMs: e?.expiresMs });
      expect(e.expiresMs).toBeGreaterThan(HOUR_MS - 120_000);
    }
    // The dump ran on another thread: the 2 ms timer kept firing meanwhile.
    expect(r.ticks).toBeGreaterThan(3);
    console.log(`nftSetElements: ${BIG} elements in ${r.ms.toFixed(0)} ms; longest event-loop gap ${r.maxGapMs.toFixed(1)} ms`);
  }, 180_000);

  describe('while nft commits run', () => {
    beforeAll(async () => {
      await fill('mid', 0, MID);
    }, 120_000);

    it('commits to other sets do not disturb a dump', async () => {
      const r = await ok('dumpWhileCommitting', {
        table: 'l7dump',
        set: 'mid',
        commands: 'add element inet l7dump other { 198.18.80.1 . tcp . {n} . 198.18.80.2 . 80 }',
        commits: 20,
      });
      expect(r.error).toBeUndefined();
      expect(r).toMatchObject({ count: MID, distinct: MID, commits: 20 });
    }, 60_000);

    it('commits to the dumped set make it dump again: the answer holds every element, once', async () => {
      const r = await ok('dumpWhileCommitting', {
        table: 'l7dump',
        set: 'mid',
        commands: 'add element inet l7dump mid { 198.18.81.1 . tcp . {n} . 198.18.81.2 . 80 timeout 1h }',
        commits: 3,
      });
      expect(r.error).toBeUndefined();
      expect(r).toMatchObject({ count: MID + 3, distinct: MID + 3 });
      console.log(`nftSetElements: a dump overlapping 3 commits to its set took ${r.attempts} attempt(s)`);
    }, 60_000);

    it('a set that changes through every dump rejects with EINTR instead of a partial answer', async () => {
      const r = await request(
        'dumpWhileCommitting',
        {
          table: 'l7dump',
          set: 'mid',
          commands: 'add element inet l7dump mid { 198.18.82.1 . udp . {n} . 198.18.82.2 . 53 timeout 1h }',
          untilSettled: true,
        },
        120_000,
      );
      expect(r.error).toMatchObject({ code: 'NFT_DUMP', errno: EINTR });
      expect(r.error.message).toContain('the set changed during each of 5 dumps');
    }, 150_000);
  });
});
