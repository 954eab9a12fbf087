/**
 * The stateless edge's book of flow-set elements, against a fake nftables
 * that behaves as the kernel does where it matters: one set per target, a
 * transaction applies all or nothing, and deleting a missing element fails;
 * a kernel from 6.3 also removes elements with their counts (RemovingNft).
 * (The real map and its traffic are tested in the multi-homed lab,
 * test/multihomed.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { flowKeyOfEndpoints, IPPROTO_TCP } from '@l7mesh/flow';
import type { ElementTarget, FlowTuple } from '@l7mesh/netfilter';
import { READ_FIELDS, tuplesOf, VerdictMap, type ElementRead, type FlowChange, type FlowRemoval, type VerdictMapDriver } from '../src/verdictMap.js';

function tupleText(t: FlowTuple): string {
  return `${t.protocol} ${t.src}:${t.sport}>${t.dst}:${t.dport}`;
}

interface FakeElement {
  key: FlowTuple;
  target: ElementTarget;
  packets: number;
  bytes: number;
  /** Clock second at which it expires. */
  expiresAt: number;
}

/** Elements by set (its target) and tuple, and the live set's tuples with their expiry: what the kernel holds. */
class FakeNft implements VerdictMapDriver {
  readonly elements_ = new Map<string, FakeElement>();
  /** Tuple text -> clock second at which its live element expires. */
  readonly live_ = new Map<string, number>();
  transactions: FlowChange[][] = [];
  reads = 0;

  constructor(private readonly clock: { sec: number }) {}

  apply(changes: readonly FlowChange[]): void {
    const next = new Map(this.elements_);
    for (const c of changes) {
      for (const t of tuplesOf(c.key)) {
        const id = `${JSON.stringify(c.target)} ${tupleText(t)}`;
        if (c.op === 'delete') {
          if (!next.delete(id)) throw new Error(`No such file or directory (${id})`);
        } else if (c.op === 'destroy') {
          next.delete(id);
        } else if (!next.has(id)) next.set(id, { key: t, target: c.target, packets: 0, bytes: 0, expiresAt: this.clock.sec + (c.timeoutSec ?? 1e9) });
      }
    }
    this.transactions.push([...changes]);
    this.elements_.clear();
    for (const [k, v] of next) this.elements_.set(k, v);
  }

  read(reads: readonly ElementRead[]): Float64Array {
    this.reads += reads.length;
    const out = new Float64Array(reads.length * READ_FIELDS);
    reads.forEach((r, i) => {
      const t = tuplesOf(r.key)[r.reverse ? 1 : 0];
      const at = i * READ_FIELDS;
      if (r.target === 'live') {
        const expiresAt = this.live_.get(tupleText(t));
        if (expiresAt !== undefined && expiresAt > this.clock.sec) out.set([1, 0, 0, (expiresAt - this.clock.sec) * 1000], at);
        return;
      }
      const e = this.elements_.get(`${JSON.stringify(r.target)} ${tupleText(t)}`);
      if (e && e.expiresAt > this.clock.sec) out.set([1, e.packets, e.bytes, (e.expiresAt - this.clock.sec) * 1000], at);
    });
    return out;
  }

  /** A packet of this direction just passed: its live element expires 30 s (the tests' liveTimeout) from now. */
  touch(t: FlowTuple): void {
    this.live_.set(tupleText(t), this.clock.sec + 30);
  }

  /** The targets of each direction's elements (a flow has elements in one set only). */
  targetOf(key: string): ElementTarget[][] {
    return tuplesOf(key).map((t) => [...this.elements_.values()].filter((e) => tupleText(e.key) === tupleText(t)).map((e) => e.target));
  }

  element(t: FlowTuple): FakeElement {
    return [...this.elements_.values()].find((e) => tupleText(e.key) === tupleText(t))!;
  }

  /** The after-queue chain: a packet of `ipLength` bytes going back with `target`'s code adds both elements, each counting it. */
  learn(key: string, target: ElementTarget, ipLength: number, timeoutSec = 600): void {
    for (const t of tuplesOf(key)) {
      const id = `${JSON.stringify(target)} ${tupleText(t)}`;
      if (!this.elements_.has(id)) this.elements_.set(id, { key: t, target, packets: 1, bytes: ipLength, expiresAt: this.clock.sec + timeoutSec });
    }
  }

  expire(key: string): void {
    for (const t of tuplesOf(key)) for (const [id, e] of this.elements_) if (tupleText(e.key) === tupleText(t)) this.elements_.delete(id);
  }
}

/** A kernel with destroy (6.3+): removals answer what the elements counted. */
class RemovingNft extends FakeNft {
  removed = 0;
  /** The `counted` argument of each call. */
  countedCalls: boolean[] = [];

  remove(removals: readonly FlowRemoval[], counted: boolean): Float64Array | undefined {
    this.countedCalls.push(counted);
    const out = new Float64Array(removals.length * 2 * READ_FIELDS);
    removals.forEach((r, i) => {
      tuplesOf(r.key).forEach((t, d) => {
        const id = `${JSON.stringify(r.target)} ${tupleText(t)}`;
        const e = this.elements_.get(id);
        if (!this.elements_.delete(id) || !e) return;
        this.removed++;
        out.set([1, e.packets, e.bytes, -1], (2 * i + d) * READ_FIELDS);
      });
    });
    return counted ? out : undefined;
  }
}

const key = (sport: number) => flowKeyOfEndpoints({ protocol: IPPROTO_TCP, src: '198.18.1.2', sport, dst: '198.18.2.2', dport: 80 });
const HTTP = { mark: 0x100 };

function setup(over: Partial<ConstructorParameters<typeof VerdictMap>[0]> = {}, removing = false) {
  const clock = { sec: 1000 };
  const nft = removing ? new RemovingNft(clock) : new FakeNft(clock);
  const counted: [string, number, number, boolean][] = [];
  const map = new VerdictMap({
    driver: nft,
    maxFlows: 100,
    liveTimeoutSec: 30,
    elementTimeoutSec: 600,
    sweepSec: 5,
    nowSec: () => clock.sec,
    onCounted: (k, c, ended) => counted.push([k, c.origPackets + c.replyPackets, c.origBytes + c.replyBytes, ended]),
    ...over,
  });
  return { nft, clock, map, counted };
}

describe('VerdictMap', () => {
  it('gives a flow elements in both directions, and replaces a hold by the verdict in one transaction', () => {
    const { nft, map } = setup();
    map.hold(key(1));
    map.commit();
    expect(nft.targetOf(key(1))).toEqual([['hold'], ['hold']]);
    map.decide(key(1), 0x100, false);
    map.commit();
    expect(nft.targetOf(key(1))).toEqual([[HTTP], [HTTP]]);
    expect(nft.transactions.at(-1)!.map((op) => op.op)).toEqual(['delete', 'add']);
    expect(map.counters).toMatchObject({ held: 1, replaced: 1, batchFailures: 0 });
  });

  it('sends nothing for a repeated verdict, and only the verdict for a flow held and decided within one batch', () => {
    const { nft, map } = setup();
    map.hold(key(2));
    map.decide(key(2), 0x100, false);
    map.commit();
    expect(nft.transactions).toHaveLength(1);
    expect(nft.transactions[0]!.map((op) => op.op)).toEqual(['add']);
    map.decide(key(2), 0x100, false);
    map.commit();
    expect(nft.transactions).toHaveLength(1);
  });

  it('a verdict without a mark only stops queueing; an FTP control connection stays watched', () => {
    const { nft, map } = setup();
    map.decide(key(3), undefined, false);
    map.decide(key(4), 0x200, true);
    map.commit();
    expect(nft.targetOf(key(3))).toEqual([['hold'], ['hold']]);
    expect(nft.targetOf(key(4))).toEqual([['watch'], ['watch']]);
  });

  it('a flow decided or held in a batch is added by the kernel from its packet: no transaction, and what its elements counted of that packet is set right', async () => {
    const seen = new Map<string, [number, number, number, number, boolean]>();
    const { nft, map, clock } = setup({ onCounted: (k, c, ended) => seen.set(k, [c.origPackets, c.origBytes, c.replyPackets, c.replyBytes, ended]) });
    // key(80): the edge's own verdict in a batch (its counters at the verdict hold the packet);
    // key(81): held; key(82): a verdict from the cluster, then a packet from the higher endpoint.
    map.decide(key(80), 0x100, false, true);
    map.hold(key(81));
    map.decide(key(82), 0x100, false, false);
    expect(map.carry(key(80), 60, true)).toEqual(HTTP);
    expect(map.carry(key(81), 1500, true)).toBe('hold');
    expect(map.carry(key(82), 90, false)).toEqual(HTTP);
    nft.learn(key(80), HTTP, 60);
    nft.learn(key(81), 'hold', 1500);
    nft.learn(key(82), HTTP, 90);
    map.commit();
    expect(nft.transactions).toEqual([]);
    expect(map.counters).toMatchObject({ decided: 2, held: 1, learned: 3 });
    // Carried again in the next batch (a packet that was queued before the elements existed): still its target, learned once.
    expect(map.carry(key(80), 60, true)).toEqual(HTTP);
    expect(map.counters.learned).toBe(3);
    // Afterwards key(80)'s request element counts 4 more packets of 100 bytes, its reply's 3 of 1000.
    const [up, down] = tuplesOf(key(80));
    nft.element(up).packets += 4;
    nft.element(up).bytes += 400;
    nft.element(down).packets += 3;
    nft.element(down).bytes += 3000;
    clock.sec += 31;
    await map.sweep();
    // The packet in flight counts on top: the edge saw it after its verdict, no element counted it.
    expect(seen.get(key(80))).toEqual([5, 460, 3, 3000, true]);
    // Neither the hold nor the cluster's verdict counted the packet: its own direction's element did, rightly.
    expect(seen.get(key(81))).toEqual([1, 1500, 0, 0, true]);
    expect(seen.get(key(82))).toEqual([0, 0, 1, 90, true]);
    expect(map.size).toBe(0);
  });

  it('packets of a flow in flight while its elements were added count once: not in the batch of its own verdict, but after it and after a verdict from the cluster', async () => {
    const seen = new Map<string, [number, number, number, number]>();
    const { nft, map, clock } = setup({ onCounted: (k, c) => seen.set(k, [c.origPackets, c.origBytes, c.replyPackets, c.replyBytes]) });
    // key(86): the edge's own verdict; two more of its packets in that batch (in the verdict's counts), one in the next.
    map.decide(key(86), 0x100, false, true);
    for (const len of [60, 70, 80]) map.carry(key(86), len, true);
    nft.learn(key(86), HTTP, 60);
    map.commit();
    map.carry(key(86), 90, false);
    // key(87): a verdict from the cluster, added over netlink; two packets queued before that come back afterwards.
    map.decide(key(87), 0x200, false, false);
    map.commit();
    map.carry(key(87), 100, true);
    map.carry(key(87), 110, false);
    clock.sec += 31;
    await map.sweep();
    expect(seen.get(key(86))).toEqual([0, 0, 1, 90]);
    expect(seen.get(key(87))).toEqual([1, 100, 1, 110]);
    expect(map.counters.learned).toBe(1);
  });

  it('a flow whose kernel-added elements are missing (its packet queued again two clock seconds later) gets them over netlink, and every packet no element counted counts on top', async () => {
    const seen: [number, number][] = [];
    const { nft, map, clock } = setup({ onCounted: (_k, c) => seen.push([c.origPackets, c.origBytes]) });
    map.decide(key(85), 0x100, false);
    map.carry(key(85), 60, true);
    // The kernel's add failed; a packet queued in the same clock second, or the next, may still be one that was in flight: nothing sent.
    map.carry(key(85), 60, true);
    map.commit();
    clock.sec += 1;
    expect(map.carry(key(85), 70, true)).toEqual(HTTP);
    map.commit();
    expect(nft.transactions).toEqual([]);
    expect(map.counters.repaired).toBe(0);
    clock.sec += 1;
    expect(map.carry(key(85), 70, true)).toEqual(HTTP);
    map.commit();
    expect(nft.targetOf(key(85))).toEqual([[HTTP], [HTTP]]);
    expect(map.counters).toMatchObject({ learned: 1, repaired: 1 });
    nft.element(tuplesOf(key(85))[0]).packets = 3;
    nft.element(tuplesOf(key(85))[0]).bytes = 300;
    clock.sec += 30;
    await map.sweep();
    // After the cluster's verdict the edge saw 60 (its add failed), 60 and 70 (in flight, or so it seemed) and 70 (it made the edge add them) bytes; then the elements counted 3 packets.
    expect(seen).toEqual([[7, 560]]);
  });

  it('carries nothing for a flow without elements, a watched one, or one whose elements the next commit replaces', () => {
    const { nft, map } = setup();
    expect(map.carry(key(90), 60, true)).toBeNull();
    map.decide(key(91), 0x200, true);
    expect(map.carry(key(91), 60, true)).toBeUndefined();
    map.hold(key(92));
    expect(map.carry(key(92), 60, true)).toBe('hold');
    nft.learn(key(92), 'hold', 60);
    map.decide(key(92), 0x100, false);
    expect(map.carry(key(92), 60, true)).toBeUndefined();
    map.commit();
    expect(nft.targetOf(key(91))).toEqual([['watch'], ['watch']]);
    expect(nft.targetOf(key(92))).toEqual([[HTTP], [HTTP]]);
    expect(nft.transactions.flat().map((op) => `${op.op} ${JSON.stringify(op.target)}`)).toEqual(['add "watch"', 'delete "hold"', 'add {"mark":256}']);
    expect(map.counters).toMatchObject({ learned: 1, replaced: 1 });
  });

  it('refuses flows past its size and counts them', () => {
    const { nft, map } = setup({ maxFlows: 2 });
    for (let i = 10; i < 15; i++) map.hold(key(i));
    map.commit();
    expect(map.size).toBe(2);
    expect(nft.elements_.size).toBe(4);
    expect(map.counters.full).toBe(3);
  });

  it('one stale element does not stop the others: the flow whose old elements expired gets its verdict added', () => {
    const { nft, map } = setup();
    map.hold(key(20));
    map.hold(key(21));
    map.commit();
    // key(20)'s elements expire in the kernel behind the edge's back.
    nft.expire(key(20));
    map.decide(key(20), 0x100, false);
    map.decide(key(21), 0x100, false);
    map.commit();
    expect(map.counters.batchFailures).toBe(1);
    expect(map.counters.flowFailures).toBe(0);
    expect(nft.targetOf(key(20))).toEqual([[HTTP], [HTTP]]);
    expect(nft.targetOf(key(21))).toEqual([[HTTP], [HTTP]]);
  });

  it('the sweep reads only the flows due: it ends idle ones (counters read first), leaves young ones, and re-adds live ones before they expire', async () => {
    const { nft, map, clock, counted } = setup();
    for (const sport of [30, 31, 32]) map.decide(key(sport), 0x100, false);
    map.commit();
    const [t30] = tuplesOf(key(30));
    nft.element(t30).packets = 7;
    nft.element(t30).bytes = 700;
    // Young: nothing is read.
    clock.sec += 10;
    nft.touch(tuplesOf(key(31))[1]);
    await map.sweep();
    expect(nft.reads).toBe(0);
    // Due (a live timeout and a second after the verdict): key(31) had a packet 21 s ago, the others none since their verdict.
    clock.sec += 21;
    await map.sweep();
    expect(nft.reads).toBe(12);
    expect(counted).toEqual([
      [key(30), 7, 700, true],
      [key(32), 0, 0, true],
    ]);
    expect(map.has(key(31))).toBe(true);
    expect(nft.elements_.size).toBe(2);
    // key(31) is due again when its live element would expire (10 s): not before.
    clock.sec += 5;
    await map.sweep();
    expect(nft.reads).toBe(12);
    // Packets keep coming: near its elements' expiry (600 s) they are re-added, counters carried.
    const before = nft.transactions.length;
    for (let i = 0; i < 60; i++) {
      clock.sec += 10;
      nft.touch(tuplesOf(key(31))[0]);
      await map.sweep();
    }
    expect(map.counters.refreshed).toBe(1);
    expect(nft.transactions.slice(before).flat().map((op) => op.op)).toEqual(['delete', 'add']);
    expect(nft.targetOf(key(31))).toEqual([[HTTP], [HTTP]]);
    expect(map.counters.ended).toBe(2);
  });

  it('reports counters per direction, and a re-added flow\'s totals go on from what its old elements counted', async () => {
    const seen: [number, number, boolean][] = [];
    const { nft, map, clock } = setup({ onCounted: (_k, c, ended) => seen.push([c.origPackets, c.replyPackets, ended]) });
    map.decide(key(70), 0x100, false);
    map.commit();
    const [up, down] = tuplesOf(key(70));
    nft.element(up).packets = 5;
    nft.element(down).packets = 9;
    clock.sec += 580;
    nft.touch(up);
    await map.sweep();
    // Re-added: its new elements count from zero.
    expect(map.counters.refreshed).toBe(1);
    nft.element(up).packets = 1;
    clock.sec += 31;
    await map.sweep();
    expect(seen).toEqual([
      [5, 9, false],
      [6, 9, true],
    ]);
  });

  it('a learned flow re-added before its expiry has its learning packet taken off once', async () => {
    const seen: [number, number, boolean][] = [];
    const { nft, map, clock } = setup({ onCounted: (_k, c, ended) => seen.push([c.origPackets, c.replyPackets, ended]) });
    map.decide(key(71), 0x100, false, true);
    map.carry(key(71), 100, true);
    nft.learn(key(71), HTTP, 100);
    const [up, down] = tuplesOf(key(71));
    nft.element(up).packets += 5;
    nft.element(down).packets += 9;
    clock.sec += 580;
    nft.touch(up);
    await map.sweep();
    expect(map.counters.refreshed).toBe(1);
    nft.element(up).packets = 2;
    clock.sec += 31;
    await map.sweep();
    expect(seen).toEqual([
      [5, 9, false],
      [7, 9, true],
    ]);
  });

  it('a flow whose elements expired before the sweep ended them is dropped from the book and counted', async () => {
    const { nft, map, clock } = setup();
    map.hold(key(40));
    map.commit();
    nft.elements_.clear();
    clock.sec += 31;
    await map.sweep();
    expect(map.size).toBe(0);
    expect(map.counters.expired).toBe(1);
    expect(map.counters.ended).toBe(0);
  });

  it('a flow changed while a sweep is under way is left for later', async () => {
    const { nft, map, clock } = setup({ maxFlows: 10_000 });
    for (let sport = 1000; sport < 4000; sport++) map.hold(key(sport));
    map.commit();
    clock.sec += 31;
    // The first slice is read at once; the flow decided before the second slice (not committed yet) is left alone.
    const sweep = map.sweep();
    map.decide(key(3500), 0x100, false);
    await sweep;
    expect(map.counters.ended).toBe(2999);
    map.commit();
    expect(nft.targetOf(key(3500))).toEqual([[HTTP], [HTTP]]);
  });

  it('a sweep of many due flows reads them in slices', async () => {
    const { nft, map, clock } = setup({ maxFlows: 10_000 });
    for (let sport = 1000; sport < 6000; sport++) map.hold(key(sport));
    map.commit();
    clock.sec += 31;
    const calls: number[] = [];
    const read = nft.read.bind(nft);
    nft.read = (reads) => (calls.push(reads.length), read(reads));
    await map.sweep();
    // Per slice: the live elements, then the ended flows' elements.
    expect(calls).toEqual([2048 * 2, 2048 * 2, 2048 * 2, 2048 * 2, 904 * 2, 904 * 2]);
    expect(map.counters.ended).toBe(5000);
    expect(map.size).toBe(0);
  });

  it('on a kernel that removes with counts, an ended flow costs a read of its live elements and a removal that answers its final counters', async () => {
    const seen: [string, number, number, boolean][] = [];
    const { nft, map, clock } = setup({ onCounted: (k, c, ended) => seen.push([k, c.origPackets, c.replyPackets, ended]) }, true);
    const removing = nft as RemovingNft;
    for (const sport of [80, 81, 82]) map.decide(key(sport), 0x100, false);
    map.decide(key(83), 0x100, false, true);
    map.carry(key(83), 100, false);
    nft.learn(key(83), HTTP, 100);
    map.commit();
    const [up, down] = tuplesOf(key(80));
    nft.element(up).packets = 4;
    nft.element(down).packets = 6;
    nft.element(tuplesOf(key(83))[1]).packets += 2;
    // key(81) is live; key(82)'s elements expired before the sweep.
    nft.expire(key(82));
    clock.sec += 31;
    nft.touch(tuplesOf(key(81))[0]);
    await map.sweep();
    // Live elements of all four, then the flow elements of the live one only.
    expect(nft.reads).toBe(4 * 2 + 2);
    // key(83)'s learning packet is taken off both elements' counts (the edge's own counters at its verdict hold it).
    expect(seen).toEqual([
      [key(80), 4, 6, true],
      [key(83), 0, 2, true],
    ]);
    expect(removing.removed).toBe(4);
    expect(map.counters.ended).toBe(2);
    expect(map.counters.expired).toBe(1);
    expect(map.has(key(81))).toBe(true);
    expect(nft.targetOf(key(81))).toEqual([[HTTP], [HTTP]]);
    expect(nft.elements_.size).toBe(2);
    // Nothing went through delete transactions.
    expect(nft.transactions.flat().filter((op) => op.op === 'delete')).toEqual([]);
    expect(removing.countedCalls).toEqual([true]);
  });

  it('a decided flow that ended and comes back to the queue (an idle connection resumed) is booked again: its packet adds the elements, which count from it', async () => {
    const { nft, map, clock, counted } = setup();
    map.decide(key(95), 0x100, false);
    map.commit();
    clock.sec += 31;
    await map.sweep();
    expect(map.has(key(95))).toBe(false);
    expect(counted).toEqual([[key(95), 0, 0, true]]);
    const transactions = nft.transactions.length;
    // Its next packet (from the client, 60 bytes) is queued again.
    expect(map.resume(key(95), 0x100, false)).toBe(true);
    expect(map.resume(key(95), 0x100, false)).toBe(false);
    expect(map.carry(key(95), 60, true)).toEqual(HTTP);
    nft.learn(key(95), HTTP, 60);
    map.commit();
    expect(nft.transactions).toHaveLength(transactions); // none: the kernel added the new elements
    expect(map.counters).toMatchObject({ decided: 1, resumed: 1, learned: 1, ended: 1 });
    // At its end the packet that added them counts once (each new element counted it).
    clock.sec += 31;
    await map.sweep();
    expect(counted.at(-1)).toEqual([key(95), 1, 60, true]);
  });

  it('resumes nothing into a full map, and counts no refusal for it (the verdict counted one)', () => {
    const { map } = setup({ maxFlows: 1 });
    map.decide(key(96), 0x100, false);
    map.decide(key(97), 0x100, false);
    expect(map.counters.full).toBe(1);
    expect(map.resume(key(97), 0x100, false)).toBe(false);
    expect(map.counters).toMatchObject({ full: 1, resumed: 0 });
    expect(map.has(key(97))).toBe(false);
  });

  it('with nobody reading counts, ended flows are removed without them', async () => {
    const { nft, map, clock } = setup({ onCounted: undefined }, true);
    const removing = nft as RemovingNft;
    for (const sport of [90, 91]) map.decide(key(sport), 0x100, false);
    map.commit();
    clock.sec += 31;
    await map.sweep();
    expect(removing.countedCalls).toEqual([false]);
    expect(removing.removed).toBe(4);
    expect(nft.elements_.size).toBe(0);
    expect(map.counters.ended).toBe(2);
    expect(map.size).toBe(0);
  });
});
