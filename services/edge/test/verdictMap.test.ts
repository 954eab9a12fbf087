/**
 * The stateless edge's book of flow-set elements, against a fake nftables
 * that behaves as the kernel does where it matters: one set per target, a
 * transaction applies all or nothing, and deleting a missing element fails. (The real map and its
 * traffic are tested in the multi-homed lab, test/multihomed.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { flowKeyOfEndpoints, IPPROTO_TCP } from '@l7mesh/flow';
import type { ElementTarget, FlowTuple } from '@l7mesh/netfilter';
import { tuplesOf, VerdictMap, type FlowChange, type FlowElement, type VerdictMapDriver } from '../src/verdictMap.js';

function tupleText(t: FlowTuple): string {
  return `${t.protocol} ${t.src}:${t.sport}>${t.dst}:${t.dport}`;
}

/** Elements by set (its target) and tuple: what the kernel holds. */
class FakeNft implements VerdictMapDriver {
  readonly elements_ = new Map<string, FlowElement>();
  readonly live_ = new Set<string>();
  transactions: FlowChange[][] = [];

  apply(changes: readonly FlowChange[]): void {
    const next = new Map(this.elements_);
    for (const c of changes) {
      for (const t of tuplesOf(c.key)) {
        const id = `${JSON.stringify(c.target)} ${tupleText(t)}`;
        if (c.op === 'delete') {
          if (!next.delete(id)) throw new Error(`No such file or directory (${id})`);
        } else if (!next.has(id)) next.set(id, { key: t, target: c.target, packets: 0, bytes: 0 });
      }
    }
    this.transactions.push([...changes]);
    this.elements_.clear();
    for (const [k, v] of next) this.elements_.set(k, v);
  }

  async live(): Promise<FlowTuple[]> {
    return [...this.elements_.values()].filter((e) => this.live_.has(tupleText(e.key))).map((e) => e.key);
  }

  async elements(): Promise<FlowElement[]> {
    return [...this.elements_.values()].map((e) => ({ ...e }));
  }

  /** The targets of each direction's elements (a flow has elements in one set only). */
  targetOf(key: string): ElementTarget[][] {
    return tuplesOf(key).map((t) => [...this.elements_.values()].filter((e) => tupleText(e.key) === tupleText(t)).map((e) => e.target));
  }

  element(t: FlowTuple): FlowElement {
    return [...this.elements_.values()].find((e) => tupleText(e.key) === tupleText(t))!;
  }

  expire(key: string): void {
    for (const t of tuplesOf(key)) for (const [id, e] of this.elements_) if (tupleText(e.key) === tupleText(t)) this.elements_.delete(id);
  }
}

const key = (sport: number) => flowKeyOfEndpoints({ protocol: IPPROTO_TCP, src: '198.18.1.2', sport, dst: '198.18.2.2', dport: 80 });
const HTTP = { mark: 0x100 };

function setup(over: Partial<ConstructorParameters<typeof VerdictMap>[0]> = {}) {
  const nft = new FakeNft();
  const clock = { sec: 1000 };
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

  it('the sweep ends flows gone from the live set (counters read first), keeps young and live ones, and re-adds live ones before they expire', async () => {
    const { nft, map, clock, counted } = setup();
    for (const sport of [30, 31, 32]) map.decide(key(sport), 0x100, false);
    map.commit();
    const [t30] = tuplesOf(key(30));
    nft.element(t30).packets = 7;
    nft.element(t30).bytes = 700;
    nft.live_.add(tupleText(tuplesOf(key(31))[1]));
    // Young: nothing is ended although nothing is live yet.
    clock.sec += 10;
    await map.sweep();
    expect(map.size).toBe(3);
    clock.sec += 30;
    // Missing from one dump is not enough (a dump is no snapshot): the second sweep ends them.
    await map.sweep();
    expect(counted).toEqual([]);
    await map.sweep();
    expect(counted).toEqual([
      [key(30), 7, 700, true],
      [key(32), 0, 0, true],
    ]);
    expect(map.has(key(31))).toBe(true);
    expect(nft.elements_.size).toBe(2);
    // Near its expiry (600 s, less three sweeps), the live flow's elements are re-added.
    const before = nft.transactions.length;
    clock.sec += 560;
    await map.sweep();
    expect(map.counters.refreshed).toBe(1);
    expect(nft.transactions.slice(before).flat().map((op) => op.op)).toEqual(['delete', 'add']);
    expect(nft.targetOf(key(31))).toEqual([[HTTP], [HTTP]]);
  });

  it('reports counters per direction, and a re-added flow\'s totals go on from what its old elements counted', async () => {
    const seen: [number, number, boolean][] = [];
    const { nft, map, clock } = setup({ onCounted: (_k, c, ended) => seen.push([c.origPackets, c.replyPackets, ended]) });
    map.decide(key(70), 0x100, false);
    map.commit();
    const [up, down] = tuplesOf(key(70));
    nft.element(up).packets = 5;
    nft.element(down).packets = 9;
    nft.live_.add(tupleText(up));
    clock.sec += 590;
    await map.sweep();
    // Re-added: its new elements count from zero.
    nft.element(up).packets = 1;
    nft.live_.clear();
    clock.sec += 31;
    await map.sweep();
    await map.sweep();
    expect(seen).toEqual([
      [5, 9, false],
      [6, 9, true],
    ]);
  });

  it('a flow whose elements expired before the sweep ended them is dropped from the book and counted', async () => {
    const { nft, map, clock } = setup();
    map.hold(key(40));
    map.commit();
    nft.elements_.clear();
    clock.sec += 31;
    await map.sweep();
    await map.sweep();
    expect(map.size).toBe(0);
    expect(map.counters.expired).toBe(1);
    expect(map.counters.ended).toBe(0);
  });

  it('a flow decided while the sweep reads the sets is left for the next sweep', async () => {
    const { nft, map, clock } = setup();
    map.hold(key(50));
    map.commit();
    clock.sec += 31;
    await map.sweep();
    const live = nft.live.bind(nft);
    nft.live = async () => {
      const l = await live();
      map.decide(key(50), 0x100, false);
      return l;
    };
    await map.sweep();
    expect(map.counters.ended).toBe(0);
    map.commit();
    expect(nft.targetOf(key(50))).toEqual([[HTTP], [HTTP]]);
  });

  it('commits wait while the flow sets are dumped, and go out after', async () => {
    const { nft, map, clock } = setup();
    map.hold(key(60));
    map.commit();
    clock.sec += 31;
    await map.sweep();
    const elements = nft.elements.bind(nft);
    let during = -1;
    nft.elements = async () => {
      map.decide(key(61), 0x100, false);
      map.commit();
      during = nft.transactions.length;
      return elements();
    };
    const before = nft.transactions.length;
    await map.sweep();
    expect(during).toBe(before);
    expect(nft.targetOf(key(61))).toEqual([[HTTP], [HTTP]]);
    expect(map.counters.ended).toBe(1);
  });
});
