// Real netfilter, no mocks: two network namespaces joined by a veth pair
// (client 198.18.50.1 -> server 198.18.50.2), iptables NFQUEUE rules in the
// server namespace, and the NFQUEUE consumer running INSIDE that namespace in
// a child process (test/fixtures/consumer.mjs, using the built package).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poll, sleep } from '@l7mesh/netns';
import { ensureBuilt, fixture, inNs, NetLab, Proc, type Json } from './helpers.js';

type Pkg = typeof import('@l7mesh/nfqueue');
let pkg: Pkg;
const lab = new NetLab();
let listener: Proc;

const ENOENT = 2;
const EPERM = 1;

async function report(): Promise<Record<string, { datagrams: number; bad: number; bytes: number }>> {
  listener.send('report');
  return (await listener.next((l) => l.event === 'report')).counts;
}

async function arrived(port: number, want: number, timeoutMs = 3_000): Promise<number> {
  let got = 0;
  await poll(async () => {
    got = (await report())[port]!.datagrams;
    return got >= want;
  }, timeoutMs);
  return got;
}

async function consumer(cfg: Json): Promise<Proc> {
  const p = new Proc(lab.server, 'consumer.mjs', [JSON.stringify(cfg)]);
  const ready = await p.next((l) => l.event === 'ready' || l.event === 'open-failed', 10_000);
  if (ready.event !== 'ready') throw new Error(`consumer failed to open: ${JSON.stringify(ready)}`);
  return p;
}

async function seenPackets(p: Proc, want: number, timeoutMs = 5_000): Promise<Json> {
  let st: Json;
  await poll(async () => {
    st = await p.request('stats');
    return st.seen.packets >= want;
  }, timeoutMs);
  return st;
}

async function finish(p: Proc): Promise<void> {
  await p.request('exit');
  expect(await p.exited(5_000)).toBe(0); // the process exits on its own once closed
}

beforeAll(async () => {
  ensureBuilt();
  pkg = await import('@l7mesh/nfqueue');
  await lab.setup();
  const S = lab.server;
  const rules = [
    // port -> queue
    '-t mangle -A PREROUTING -p udp --dport 5555 -j NFQUEUE --queue-num 3 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5556 -j NFQUEUE --queue-num 4 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5557 -j NFQUEUE --queue-num 5 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5558 -j NFQUEUE --queue-num 6 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5559 -j NFQUEUE --queue-num 7',
    '-t mangle -A PREROUTING -p udp --dport 5560 -j NFQUEUE --queue-balance 10:11 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5561 -j NFQUEUE --queue-num 8 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5563 -j NFQUEUE --queue-num 9 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5564 -j NFQUEUE --queue-num 12 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5565 -j NFQUEUE --queue-num 13 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5566 -j NFQUEUE --queue-num 15 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5567 -j NFQUEUE --queue-num 17 --queue-bypass',
    '-t mangle -A PREROUTING -p tcp --dport 5570 -j NFQUEUE --queue-num 16 --queue-bypass',
    '-t mangle -A PREROUTING -p udp --dport 5568 -j NFQUEUE --queue-num 18 --queue-bypass',
    // conntrack mark test: every entry of port 5562 starts with mark 0x1
    '-t mangle -A PREROUTING -p udp --dport 5562 -j CONNMARK --set-mark 0x1',
    // counters after the queue (INPUT comes after the PREROUTING verdict)
    '-t mangle -A INPUT -p udp --dport 5555 -m mark --mark 0x100/0xff00 -m comment --comment marked-5555',
    '-t mangle -A INPUT -p udp --dport 5555 -j CONNMARK --save-mark',
    '-t mangle -A INPUT -p udp --dport 5556 -m mark --mark 0x200/0xff00 -m comment --comment marked-5556',
    '-t mangle -A INPUT -p udp --dport 5557 -m comment --comment in-5557',
    '-t mangle -A INPUT -p udp --dport 5565 -m mark --mark 0x300 -m comment --comment marked-5565',
    '-t mangle -A INPUT -p udp --dport 5567 -m comment --comment in-5567',
    '-t mangle -A INPUT -p udp --dport 5568 -m mark --mark 0x400 -m comment --comment marked-5568-400',
    '-t mangle -A INPUT -p udp --dport 5568 -m mark --mark 0x500 -m comment --comment marked-5568-500',
    '-t mangle -A INPUT -p udp --dport 5568 -m mark --mark 0 -m comment --comment unmarked-5568',
  ];
  for (const r of rules) lab.iptables(S, r);
  listener = new Proc(S, 'listener.mjs', [lab.serverIp, '5555,5556,5557,5558,5559,5560,5561,5562,5563,5564,5565,5566,5567,5568']);
  await listener.next((l) => l.event === 'ready', 10_000);
}, 240_000);

afterAll(() => lab.destroy());

describe('NFQUEUE in a network namespace', () => {
  it('delivers packets with metadata and bytes; per-packet verdict() with a mark', async () => {
    const sizes = [16, 100, 1400];
    const p = await consumer({ queues: 3, mode: 'single', mark: 0x100, keep: 20 });
    expect(lab.send({ port: 5555, count: 20, sizes, sport: 40000 }).sent).toBe(20);
    const st = await seenPackets(p, 20);
    expect(st.seen.packets).toBe(20);
    expect(st.seen.queues).toEqual({ 3: 20 });
    expect(st.stats.verdicts).toBe(20);
    expect(st.seen.errors).toEqual([]);
    const portId = st.stats.portId;
    for (const [i, k] of (st.seen.kept as Json[]).entries()) {
      const payloadLen = sizes[i % sizes.length]!;
      expect(k.queue).toBe(3);
      expect(k.hwProtocol).toBe(0x0800);
      expect(k.hook).toBe(0); // PREROUTING
      expect(k.inIfindex).toBeGreaterThan(0);
      expect(k.length).toBe(20 + 8 + payloadLen); // IPv4 + UDP + payload
      expect(k.origLength).toBe(k.length);
      const b = Buffer.from(k.hex, 'hex');
      expect(b[9]).toBe(17); // UDP
      expect([...b.subarray(12, 16)].join('.')).toBe('198.18.50.1');
      expect([...b.subarray(16, 20)].join('.')).toBe('198.18.50.2');
      expect(b.readUInt16BE(20)).toBe(40000);
      expect(b.readUInt16BE(22)).toBe(5555);
      const payload = b.subarray(28);
      expect(payload.readUInt32BE(0)).toBe(i); // sequence number
      expect(payload.readUInt32BE(4)).toBe(payloadLen);
      expect(payload.subarray(8).every((x) => x === (i & 0xff))).toBe(true);
    }
    // the kernel's view of the queue
    const proc = (st.proc as Json[]).find((q) => q.queue === 3);
    expect(proc).toMatchObject({ portId, queueTotal: 0, copyMode: 2, queueDropped: 0, userDropped: 0, idSequence: 20 });
    // arrived, marked (INPUT counter), and the mark saved to conntrack by CONNMARK --save-mark
    expect(await arrived(5555, 20)).toBe(20);
    expect((await report())[5555]!.bad).toBe(0);
    expect(lab.counter('INPUT', 'marked-5555')).toBe(20);
    expect(lab.conntrack(['-p', 'udp', '--dport', '5555'])).toMatch(/sport=40000 dport=5555 .*mark=256\b/);
    await finish(p);
  });

  it('drains bursts in batches: 2000 datagrams, far fewer callbacks, all verdicted in batched sends', async () => {
    const p = await consumer({ queues: 4, mode: 'accept', mark: 0x200, maxLen: 8192 });
    const N = 2000;
    expect(lab.send({ port: 5556, count: N, sizes: [64], burst: 100 }).sent).toBe(N);
    const st = await seenPackets(p, N, 10_000);
    expect(st.seen.packets).toBe(N);
    expect(st.stats.verdicts).toBe(N);
    expect(st.seen.errors).toEqual([]);
    expect(st.stats.batches).toBeLessThan(N);
    expect(st.seen.maxBatch).toBeGreaterThan(1);
    // verdictAll: one sendto per batch
    expect(st.stats.verdictSends).toBe(st.stats.batches);
    expect(st.stats.recvCalls).toBeLessThan(N);
    const proc = (st.proc as Json[]).find((q) => q.queue === 4);
    expect(proc).toMatchObject({ queueTotal: 0, queueDropped: 0, userDropped: 0, idSequence: N });
    expect(await poll(() => lab.counter('INPUT', 'marked-5556') === N, 3_000)).toBe(true);
    console.log(
      `batching: ${N} packets in ${st.stats.batches} batches (max ${st.seen.maxBatch}), ` +
        `${st.stats.recvCalls} recvmmsg calls, ${st.stats.verdictSends} verdict sends, ` +
        `listener got ${(await report())[5556]!.datagrams}`,
    );
    await finish(p);
  });

  it('reuseBatch: every batch in the same two buffers, right while onBatch runs and overwritten after; by default a kept batch stays as it was', async () => {
    const N = 600;
    for (const reuseBatch of [true, false]) {
      const p = await consumer({ queues: 4, mode: 'accept', mark: 0x200, maxLen: 8192, reuseBatch, keep: N });
      const before = lab.counter('INPUT', 'marked-5556');
      expect(lab.send({ port: 5556, count: N, sizes: [64], burst: 50 }).sent).toBe(N);
      const st = await seenPackets(p, N, 10_000);
      expect(st.seen.errors).toEqual([]);
      expect(st.stats.verdicts).toBe(N);
      // Read inside onBatch: every packet's bytes, in order.
      const seqs = (st.seen.kept as Json[]).map((k) => Buffer.from(k.hex, 'hex').readUInt32BE(28));
      expect(seqs).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(st.seen.batches).toBeGreaterThan(1);
      if (reuseBatch) {
        expect(st.seen.sameBuffers).toBe(st.seen.batches - 1);
        // The first batch's views now show the last batch's first packet.
        expect(st.first.now).not.toEqual(st.first.seen);
      } else {
        expect(st.seen.sameBuffers).toBe(0);
        expect(st.first.now).toEqual(st.first.seen);
      }
      expect(await poll(() => lab.counter('INPUT', 'marked-5556') === before + N, 3_000)).toBe(true);
      await finish(p);
    }
  });

  it('DROP verdicts: packets are seen but never arrive', async () => {
    const p = await consumer({ queues: 5, mode: 'drop' });
    lab.send({ port: 5557, count: 10, sizes: [32] });
    const st = await seenPackets(p, 10);
    expect(st.seen.packets).toBe(10);
    expect(st.stats.verdicts).toBe(10);
    await sleep(200);
    expect((await report())[5557]!.datagrams).toBe(0);
    expect(lab.counter('INPUT', 'in-5557')).toBe(0);
    await finish(p);
  });

  it('--queue-bypass lets traffic through while no consumer is bound (and without it, it is dropped)', async () => {
    lab.send({ port: 5558, count: 10, sizes: [32] });
    lab.send({ port: 5559, count: 10, sizes: [32] });
    expect(await arrived(5558, 10)).toBe(10);
    await sleep(100);
    expect((await report())[5559]!.datagrams).toBe(0);
  });

  it('binds a --queue-balance range on one socket and sees both queues', async () => {
    const p = await consumer({ queues: [10, 11], mode: 'accept' });
    // --queue-balance hashes addresses (not ports): 16 client addresses spread over both queues
    const srcs = Array.from({ length: 16 }, (_, i) => `198.18.50.${10 + i}`);
    for (const a of srcs) await lab.addClientAddress(a);
    lab.send({ port: 5560, count: 64, sizes: [40], flows: 16, srcs });
    const st = await seenPackets(p, 64);
    expect(st.seen.packets).toBe(64);
    expect(Object.keys(st.seen.queues).sort()).toEqual(['10', '11']);
    expect(st.stats.queues).toEqual([10, 11]);
    const mine = (st.proc as Json[]).filter((q) => q.queue === 10 || q.queue === 11);
    expect(mine.map((q) => q.portId)).toEqual([st.stats.portId, st.stats.portId]);
    expect(await arrived(5560, 64)).toBe(64);
    await finish(p);
  });

  it('FAIL_OPEN: a full queue accepts the overflow; close() accepts what was held', async () => {
    const p = await consumer({ queues: 8, mode: 'hold', maxLen: 4, failOpen: true });
    lab.send({ port: 5561, count: 30, sizes: [24] });
    expect(await arrived(5561, 26)).toBe(26); // 4 held by the consumer, 26 bypassed the full queue
    const st = await seenPackets(p, 4);
    expect(st.seen.packets).toBe(4);
    expect((st.proc as Json[]).find((q) => q.queue === 8)).toMatchObject({ queueTotal: 4, queueDropped: 0 });
    const closed = await p.request('close'); // acceptPending defaults to true
    expect(closed.closed).toBe(true);
    expect(closed.proc.find((q: Json) => q.queue === 8)).toBeUndefined(); // unbound
    expect(await arrived(5561, 30)).toBe(30);
    await finish(p);
  });

  it('without FAIL_OPEN a full queue drops, and close({ acceptPending: false }) drops what was held', async () => {
    const p = await consumer({ queues: 9, mode: 'hold', maxLen: 4, failOpen: false });
    lab.send({ port: 5563, count: 30, sizes: [24] });
    await seenPackets(p, 4);
    const st = await p.request('stats');
    expect((st.proc as Json[]).find((q) => q.queue === 9)).toMatchObject({ queueTotal: 4, queueDropped: 26 });
    await p.request('close', { acceptPending: false });
    await sleep(200);
    expect((await report())[5563]!.datagrams).toBe(0);
    await finish(p);
  });

  it('onBatch throwing: the batch is accepted (fail-open) and the error reported as NFQ_CALLBACK', async () => {
    const p = await consumer({ queues: 12, mode: 'throw' });
    lab.send({ port: 5564, count: 5, sizes: [24] });
    expect(await arrived(5564, 5)).toBe(5);
    const st = await p.request('stats');
    expect(st.seen.errors.length).toBeGreaterThan(0);
    expect(st.seen.errors[0]).toMatchObject({ name: 'NfqueueError', code: 'NFQ_CALLBACK' });
    expect(st.seen.errors[0].message).toContain('consumer exploded on purpose');
    await finish(p);
  });

  it('verdictBatch with setMark flags and verdictUpTo; a verdict for an unknown id is reported async (ENOENT)', async () => {
    const p = await consumer({ queues: 13, mode: 'hold' });
    lab.send({ port: 5565, count: 6, sizes: [24] });
    await seenPackets(p, 6);
    // verdictUpTo accepts ids 1..3 without a mark; a batch marks 4 and 6 with 0x300, leaves 5 alone
    let r = await p.request('verdict', { queue: 13, id: 999_999, verdict: 1 });
    expect(r.threw).toBe(false);
    const st = await poll(async () => {
      const s = await p.request('stats');
      return s.stats.verdictErrors > 0 ? s : null;
    }, 3_000);
    expect(st!.seen.errors[0]).toMatchObject({ code: 'NFQ_VERDICT', errno: ENOENT, queue: 13 });
    expect(st!.seen.errors[0].message).toContain('999999');
    r = await p.request('upto', { queue: 13, id: 3 });
    expect(r.threw).toBe(false);
    r = await p.request('marks', { queue: 13, ids: [4, 5, 6], marks: [0x300, 0x300, 0x300], setMark: [1, 0, 1] });
    expect(r.threw).toBe(false);
    expect(await arrived(5565, 6)).toBe(6);
    expect(lab.counter('INPUT', 'marked-5565')).toBe(2);
    await finish(p);
  });

  it('verdictBatch whole: a run of consecutive ids with one verdict and mark goes as one message, marks kept per run; ids out of order go one by one', async () => {
    const p = await consumer({ queues: 18, mode: 'hold', keep: 16, noHex: true });
    const L = pkg.NO_MARK;
    lab.send({ port: 5568, count: 12, sizes: [24] });
    let st = await seenPackets(p, 12);
    const ids = (st.seen.kept as Json[]).map((k) => k.id as number);
    expect(ids).toEqual(Array.from({ length: 12 }, (_, i) => ids[0]! + i));
    const before = st.stats.verdictMessages;
    // runs: 4 x 0x400, 3 left alone, 2 x 0x500, 3 x 0x400 -> 4 messages
    const marks = [0x400, 0x400, 0x400, 0x400, L, L, L, 0x500, 0x500, 0x400, 0x400, 0x400];
    let r = await p.request('marks', { queue: 18, ids, marks, whole: true });
    expect(r.threw).toBe(false);
    expect(await arrived(5568, 12)).toBe(12);
    st = await p.request('stats');
    expect(st.stats.verdictMessages - before).toBe(4);
    expect(st.seen.errors).toEqual([]);
    expect(lab.counter('INPUT', 'marked-5568-400')).toBe(7);
    expect(lab.counter('INPUT', 'marked-5568-500')).toBe(2);
    expect(lab.counter('INPUT', 'unmarked-5568')).toBe(3);
    // Not in id order: nothing is coalesced (a batch verdict would take the skipped id with it).
    lab.send({ port: 5568, count: 4, sizes: [24] });
    st = await seenPackets(p, 16);
    const more = (st.seen.kept as Json[]).slice(12).map((k) => k.id as number);
    r = await p.request('marks', { queue: 18, ids: [more[0], more[2], more[1], more[3]], marks: [0x500, 0x500, 0x500, 0x500], whole: true });
    expect(r.threw).toBe(false);
    expect(await arrived(5568, 16)).toBe(16);
    st = await p.request('stats');
    expect(st.stats.verdictMessages - before).toBe(8);
    expect(st.stats.verdicts).toBe(16);
    expect(st.seen.errors).toEqual([]);
    expect(lab.counter('INPUT', 'marked-5568-500')).toBe(6);
    await finish(p);
  });

  it('setConntrackMark changes only the masked bits of an existing entry; a missing entry gives false', async () => {
    lab.send({ port: 5562, count: 1, sizes: [16], sport: 41000 });
    expect(lab.conntrack(['-p', 'udp', '--dport', '5562'])).toMatch(/sport=41000 dport=5562 .*mark=1 /);
    const p = await consumer({}); // no queue: conntrack only
    const tuple = { family: 4, protocol: 17, src: lab.clientIp, dst: lab.serverIp, sport: 41000, dport: 5562 };
    const r = await p.request('ct', {
      updates: [
        { tuple, mark: 0x12344200, mask: 0x0000ff00 }, // bits outside the mask are ignored
        { tuple: { ...tuple, dport: 5999 }, mark: 1, mask: 1 }, // no such entry
      ],
    });
    expect(r.found).toEqual([true, false]);
    expect(lab.conntrack(['-p', 'udp', '--dport', '5562'])).toMatch(/sport=41000 dport=5562 .*mark=16897 /); // 0x4201
    // batched form, and a second update of other bits keeps the first ones
    const b = await p.request('ctBatch', { updates: [{ tuple, mark: 0x00070000, mask: 0x000f0000 }] });
    expect(b.found).toEqual([true]);
    expect(lab.conntrack(['-p', 'udp', '--dport', '5562'])).toMatch(new RegExp(`mark=${0x74201} `));
    await finish(p);
  });

  it('validates arguments with clear NfqueueErrors, never crashing', async () => {
    const p = await consumer({ queues: 14, mode: 'hold' });
    const v = await p.request('validate');
    const expectErr = (r: Json, code: string, text: string) => {
      expect(r.threw).toBe(true);
      expect(r.isNfqueueError).toBe(true);
      expect(r.code).toBe(code);
      expect(r.message).toContain(text);
    };
    expectErr(v.unboundQueue, 'NFQ_INVALID_ARGUMENT', 'queue 1014 is not bound by this NfQueue (bound: 14)');
    expectErr(v.badVerdict, 'NFQ_INVALID_ARGUMENT', 'must be DROP (0), ACCEPT (1) or REPEAT (4), got 3');
    expectErr(v.zeroId, 'NFQ_INVALID_ARGUMENT', 'packet id must be an integer in 1..4294967295');
    expectErr(v.fractionalId, 'NFQ_INVALID_ARGUMENT', 'got 1.5');
    expectErr(v.badMark, 'NFQ_INVALID_ARGUMENT', 'mark must be an integer');
    expectErr(v.lengthMismatch, 'NFQ_INVALID_ARGUMENT', 'queues has 2 elements but ids has 1');
    expectErr(v.wrongArrayType, 'NFQ_INVALID_ARGUMENT', 'queues must be a Uint16Array');
    expectErr(v.batchBadQueue, 'NFQ_INVALID_ARGUMENT', 'queues[1] = 1014 is not bound');
    expect(v.batchBadQueue.index).toBe(1);
    expectErr(v.batchBadVerdict, 'NFQ_INVALID_ARGUMENT', 'verdicts[1] = 7');
    expectErr(v.setMarkWithoutMarks, 'NFQ_INVALID_ARGUMENT', 'setMark given without marks');
    expectErr(v.doubleBind, 'NFQ_BIND', 'binding queue 14');
    expect(v.doubleBind.errno).toBe(EPERM);
    expect(v.doubleBind.message).toMatch(/already bound by another socket \(netlink portid \d+\)/);
    expectErr(v.ctBadFamily, 'NFQ_INVALID_ARGUMENT', 'family must be 4 or 6');
    expectErr(v.ctBadAddress, 'NFQ_INVALID_ARGUMENT', "'198.18.50.1' is not an IPv6 address");
    expectErr(v.ctBadProtocol, 'NFQ_INVALID_ARGUMENT', 'protocol must be 6 (TCP), 17 (UDP)');
    expectErr(v.ctBadPort, 'NFQ_INVALID_ARGUMENT', 'sport must be an integer in 0..65535');
    expectErr(v.ctBadMask, 'NFQ_INVALID_ARGUMENT', 'mask must be an integer');
    // still alive and working after all that
    const st = await p.request('stats');
    expect(st.stats.closed).toBe(false);
    const c = await p.request('validateClosed');
    expectErr(c.verdict, 'NFQ_CLOSED', 'verdict: NfQueue (queues 14) is closed');
    expectErr(c.verdictBatch, 'NFQ_CLOSED', 'is closed');
    expectErr(c.verdictUpTo, 'NFQ_CLOSED', 'is closed');
    expect(c.closeAgain.threw).toBe(false);
    expect(c.stats.closed).toBe(true);
    await finish(p);
  });

  it('with unref: true an open queue does not keep the process alive', async () => {
    const p = new Proc(lab.server, 'unref-exit.mjs', ['15']);
    await p.next((l) => l.event === 'ready');
    expect(await p.exited(5_000)).toBe(0);
    expect((await p.next((l) => l.event === 'exit')).closed).toBe(false); // closed later, by the teardown hook
  });

  it('a process that ends without close() accepts its held packets at teardown', async () => {
    const p = new Proc(lab.server, 'unref-exit.mjs', ['15', '3']);
    await p.next((l) => l.event === 'ready');
    lab.send({ port: 5566, count: 3, sizes: [24] });
    const held = await p.next((l) => l.event === 'held');
    expect(held.seen).toBe(3);
    expect(held.queueTotal).toBe(3);
    expect(await p.exited(5_000)).toBe(0);
    expect(await arrived(5566, 3)).toBe(3);
  });

  it('ENOBUFS: a tiny receive buffer overflows; it is counted, FAIL_OPEN lets the overflow pass, reading goes on', async () => {
    const p = await consumer({ queues: 17, mode: 'accept', rcvBufBytes: 4096 });
    const N = 400;
    lab.send({ port: 5567, count: N, sizes: [200], noWait: true });
    // every packet passed the queue (verdicted or failed open); counted at INPUT because
    // the UDP listener's own socket buffer may overflow on such a burst
    expect(await poll(() => lab.counter('INPUT', 'in-5567') === N, 5_000)).toBe(true);
    const st = await p.request('stats');
    expect(st.stats.rcvBufForced).toBe(true);
    expect(st.stats.rcvBufBytes).toBeLessThan(16384);
    expect(st.stats.enobufs).toBeGreaterThan(0);
    expect(st.stats.socketErrors).toBe(0);
    expect(st.seen.packets).toBeGreaterThan(0);
    expect(st.seen.packets).toBeLessThan(N);
    expect(st.stats.verdicts).toBe(st.seen.packets);
    expect((st.proc as Json[]).find((q) => q.queue === 17)).toMatchObject({ queueTotal: 0, userDropped: 0 });
    // still working afterwards
    lab.send({ port: 5567, count: 5, sizes: [100] });
    const after = await seenPackets(p, st.seen.packets + 5);
    expect(after.seen.packets).toBe(st.seen.packets + 5);
    console.log(`ENOBUFS: ${st.stats.enobufs} overruns, ${st.seen.packets}/${N} packets reached the consumer`);
    await finish(p);
  });

  it('GSO flag: whole GSO super-packets (cut to the copy range) with it, MTU-sized segments without', async () => {
    const sink = new Proc(lab.server, 'tcp.mjs', ['sink', lab.serverIp, '5570']);
    await sink.next((l) => l.event === 'ready');
    const BYTES = 400_000;
    const transfer = async (cfg: Json) => {
      const p = await consumer({ queues: 16, mode: 'accept', keep: 100_000, noHex: true, ...cfg });
      const sent = JSON.parse(inNs(lab.client, 'node', [fixture('tcp.mjs'), 'send', lab.serverIp, '5570', String(BYTES)]));
      expect(sent.event).toBe('sent');
      expect((await sink.next((l) => l.event === 'done')).bytes).toBe(BYTES);
      const st = await p.request('stats');
      await finish(p);
      return st.seen.kept as Json[];
    };
    const withGso = await transfer({ gso: true, copyRange: 256 });
    const big = withGso.filter((k) => k.origLength > 1500);
    expect(big.length).toBeGreaterThan(0);
    for (const k of big) {
      expect(k.length).toBe(256); // cut to the copy range...
      expect(k.skbInfo & pkg.SkbInfo.GSO).toBe(pkg.SkbInfo.GSO); // ...of a GSO packet
    }
    const withoutGso = await transfer({ gso: false });
    expect(withoutGso.length).toBeGreaterThan(BYTES / 1500);
    expect(Math.max(...withoutGso.map((k) => k.origLength))).toBeLessThanOrEqual(1500);
    expect(withoutGso.every((k) => k.length === k.origLength)).toBe(true);
    sink.child.stdin!.end(); // lets the sink exit
    console.log(
      `GSO: with the flag ${withGso.length} packets (largest ${Math.max(...withGso.map((k) => k.origLength))} bytes), ` +
        `without ${withoutGso.length}`,
    );
  });
});

describe('in-process argument validation (nothing gets bound)', () => {
  it('NfQueue.open rejects bad options with NFQ_INVALID_ARGUMENT', () => {
    const { NfQueue, NfqueueError } = pkg;
    const onBatch = () => {};
    const bad: Array<[Json, string]> = [
      [{ queues: 70000, onBatch }, 'options.queues must be a queue number in 0..65535, got 70000'],
      [{ queues: -1, onBatch }, 'got -1'],
      [{ queues: 1.5, onBatch }, 'got 1.5'],
      [{ queues: '3', onBatch }, 'must be a queue number or a [first, last] range'],
      [{ queues: [5, 3], onBatch }, 'range [5, 3] is reversed'],
      [{ queues: [0, 5000], onBatch }, 'spans more than 1024 queues'],
      [{ queues: 3 }, 'options.onBatch must be a function'],
      [{ queues: 3, onBatch, onError: 5 }, 'options.onError must be a function'],
      [{ queues: 3, onBatch, copyRange: 0 }, 'options.copyRange must be an integer in 1..65535, got 0'],
      [{ queues: 3, onBatch, copyRange: 70000 }, 'options.copyRange'],
      [{ queues: 3, onBatch, maxLen: 0 }, 'options.maxLen'],
      [{ queues: 3, onBatch, maxBatch: 0 }, 'options.maxBatch'],
      [{ queues: 3, onBatch, failOpen: 'yes' }, 'options.failOpen must be a boolean'],
    ];
    for (const [opts, text] of bad) {
      let err: unknown;
      try {
        NfQueue.open(opts);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(opts)).toBeInstanceOf(NfqueueError);
      expect((err as InstanceType<typeof NfqueueError>).code).toBe('NFQ_INVALID_ARGUMENT');
      expect((err as Error).message).toContain(text);
    }
    expect(() => NfQueue.open(null as never)).toThrow(NfqueueError);
  });

  it('setConntrackMark(s) validate before touching the kernel', () => {
    const { setConntrackMark, setConntrackMarks, NfqueueError } = pkg;
    const t = { family: 4 as const, protocol: 17, src: '198.18.50.1', dst: '198.18.50.2', sport: 1, dport: 2 };
    expect(() => setConntrackMark({ ...t, src: 'nope' }, 1)).toThrow(/src 'nope' is not an IPv4 address/);
    expect(() => setConntrackMark(t, -1)).toThrow(NfqueueError);
    expect(() => setConntrackMark({ ...t, dport: 1e6 }, 1)).toThrow(/dport must be an integer in 0..65535/);
    expect(() => setConntrackMarks([{ tuple: null as never, mark: 1 }])).toThrow(/needs a tuple/);
    expect(() => setConntrackMarks('x' as never)).toThrow(/must be an array/);
    expect(setConntrackMarks([])).toEqual([]);
  });

  it('parses /proc/net/netfilter/nfnetlink_queue lines', () => {
    const { parseQueueProcStats, NfqueueError } = pkg;
    const text = '    3  28057     2 2 65531     0     0       20  1\n   10   4242     0 2  1500     7     9   123456  1\n';
    expect(parseQueueProcStats(text)).toEqual([
      { queue: 3, portId: 28057, queueTotal: 2, copyMode: 2, copyRange: 65531, queueDropped: 0, userDropped: 0, idSequence: 20 },
      { queue: 10, portId: 4242, queueTotal: 0, copyMode: 2, copyRange: 1500, queueDropped: 7, userDropped: 9, idSequence: 123456 },
    ]);
    expect(parseQueueProcStats('')).toEqual([]);
    expect(() => parseQueueProcStats('garbage line\n')).toThrow(NfqueueError);
  });

  it('packetAt returns views of one packet and checks the index', () => {
    const { packetAt } = pkg;
    const data = Buffer.from('aabbccdd', 'hex');
    const b = {
      count: 2,
      ids: Uint32Array.of(7, 8),
      queues: Uint16Array.of(3, 3),
      marks: Uint32Array.of(0, 1),
      hwProtocols: Uint16Array.of(0x800, 0x86dd),
      hooks: Uint8Array.of(0, 2),
      inIfindex: Uint32Array.of(2, 2),
      outIfindex: Uint32Array.of(0, 3),
      timestampsUs: Float64Array.of(0, 1),
      offsets: Uint32Array.of(0, 1),
      lengths: Uint32Array.of(1, 3),
      origLengths: Uint32Array.of(1, 9),
      skbInfo: Uint8Array.of(0, 2),
      data,
    };
    const p = packetAt(b, 1);
    expect(p).toMatchObject({ id: 8, queue: 3, mark: 1, hwProtocol: 0x86dd, hook: 2, outIfindex: 3, origLength: 9, skbInfo: 2 });
    expect(p.payload.toString('hex')).toBe('bbccdd');
    expect(() => packetAt(b, 2)).toThrow(RangeError);
  });
});
