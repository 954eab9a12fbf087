/**
 * The stateless edge's book when its flow-set elements renew themselves
 * (no counters), against a fake nftables that fails as the kernel does: a
 * transaction applies all or nothing, and deleting a missing element fails.
 * The flows are real flow-table entries, which hold their bookings. (The
 * real sets and their traffic: packages/netfilter/test/stateless.test.ts
 * and the multi-homed lab, test/multihomed.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { FlowTable, IPPROTO_UDP, TcpFlag, type FlowEntry } from '@l7mesh/flow';
import type { ElementTarget } from '@l7mesh/netfilter';
import { RenewingBook } from '../src/renewingBook.js';
import { tuplesOf, type FlowChange } from '../src/verdictMap.js';

class FakeNft {
  /** `target tuple` of each element. */
  readonly elements = new Set<string>();
  readonly transactions: FlowChange[][] = [];
  /** Keys whose adds fail (a full set). */
  readonly refusing = new Set<string>();

  apply(changes: readonly FlowChange[]): void {
    const next = new Set(this.elements);
    for (const c of changes) {
      if (c.op === 'add' && this.refusing.has(c.key)) throw new Error('No space left on device');
      for (const id of ids(c.key, c.target)) {
        if (c.op === 'add') next.add(id);
        else if (!next.delete(id)) throw new Error(`No such file or directory (${id})`);
      }
    }
    this.transactions.push([...changes]);
    this.elements.clear();
    for (const id of next) this.elements.add(id);
  }

  /** The after-queue chain: a packet going back with `target`'s code adds its flow's elements. */
  learn(key: string, target: ElementTarget): void {
    for (const id of ids(key, target)) this.elements.add(id);
  }

  expire(key: string): void {
    for (const id of this.of(key)) this.elements.delete(id);
  }

  /** The targets of the flow's elements, one per element. */
  targetsOf(key: string): string[] {
    return this.of(key).map((id) => id.split(' ')[0]!);
  }

  private of(key: string): string[] {
    const tuples = tupleTexts(key);
    return [...this.elements].filter((id) => tuples.includes(id.split(' ')[1]!));
  }
}

function tupleTexts(key: string): string[] {
  return tuplesOf(key).map((t) => `${t.src}:${t.sport}>${t.dst}:${t.dport}`);
}

function ids(key: string, target: ElementTarget): string[] {
  return tupleTexts(key).map((t) => `${JSON.stringify(target)} ${t}`);
}

const HTTP = 0x100;
const DNS = 0x200;
const LIVE_TIMEOUT = 30;

function setup(options: { maxFlows?: number; sec?: number } = {}) {
  const clock = { sec: options.sec ?? 1_000_000 };
  const nft = new FakeNft();
  const logs: string[] = [];
  const book = new RenewingBook({ driver: nft, maxFlows: options.maxFlows ?? 100, liveTimeoutSec: LIVE_TIMEOUT, nowSec: () => clock.sec, log: (l) => logs.push(l) });
  const table = new FlowTable({ onEnd: () => undefined });
  const flow = (sport: number): FlowEntry =>
    table.track({
      tsSec: 100, tsNsec: 0, ipVersion: 4, protocol: IPPROTO_UDP,
      srcAddr: Uint8Array.of(198, 18, 1, 2), dstAddr: Uint8Array.of(198, 18, 2, 2), srcPort: sport, dstPort: 53,
      tcpFlags: TcpFlag.ACK, tcpSeq: 0, tcpAck: 0, ipLength: 60, payload: new Uint8Array(0), payloadLength: 0,
    }).flow;
  return { clock, nft, book, flow, logs };
}

describe('RenewingBook', () => {
  it('a flow decided in a packet batch gets its elements from its packet: no transaction; one decided between batches gets them in the commit', () => {
    const { nft, book, flow } = setup();
    const a = flow(1000);
    book.decide(a, HTTP, false);
    expect(book.carry(a)).toEqual({ mark: HTTP });
    nft.learn(a.key, { mark: HTTP });
    book.commit();
    expect(nft.transactions).toEqual([]);
    const b = flow(1001);
    book.decide(b, DNS, false);
    book.commit();
    // Both directions, with the set's own timeout (the elements renew themselves).
    expect(nft.transactions).toEqual([[{ op: 'add', key: b.key, target: { mark: DNS } }]]);
    expect(nft.targetsOf(b.key)).toEqual([JSON.stringify({ mark: DNS }), JSON.stringify({ mark: DNS })]);
    expect([book.size, book.counters.decided, book.counters.learned]).toEqual([2, 2, 1]);
    expect([a.userValue, b.userValue].every((v) => Number.isInteger(v) && v > 0 && v < 2 ** 31)).toBe(true);
    // A packet of a learned flow in flight before its elements came: the same code again, nothing owed.
    expect(book.carry(a)).toEqual({ mark: HTTP });
    book.commit();
    expect(nft.transactions).toHaveLength(1);
  });

  it('sends nothing for a repeated verdict; a held flow decided later has its hold elements replaced in one transaction', () => {
    const { nft, book, flow } = setup();
    const a = flow(1000);
    book.hold(a);
    expect(book.carry(a)).toBe('hold');
    nft.learn(a.key, 'hold');
    book.hold(a);
    book.decide(a, HTTP, false);
    // Until the commit replaces them, its packets keep their mark (the hold elements count them).
    expect(book.carry(a)).toBeUndefined();
    book.decide(a, HTTP, false);
    book.commit();
    expect(nft.transactions).toEqual([
      [
        { op: 'delete', key: a.key, target: 'hold' },
        { op: 'add', key: a.key, target: { mark: HTTP } },
      ],
    ]);
    expect(nft.targetsOf(a.key)).toEqual([JSON.stringify({ mark: HTTP }), JSON.stringify({ mark: HTTP })]);
    expect([book.size, book.counters.held, book.counters.decided, book.counters.replaced]).toEqual([1, 1, 0, 1]);
  });

  it('a flow held and decided within one batch owes only the verdict; a watched one stays queued with its watch elements', () => {
    const { nft, book, flow } = setup();
    const a = flow(1000);
    book.hold(a);
    book.decide(a, HTTP, false);
    const ftp = flow(1001);
    book.decide(ftp, undefined, true);
    expect(book.carry(ftp)).toBeUndefined();
    book.commit();
    expect(nft.transactions).toEqual([
      [
        { op: 'add', key: ftp.key, target: 'watch' },
        { op: 'add', key: a.key, target: { mark: HTTP } },
      ],
    ]);
    // A verdict without a mark only stops queueing.
    const b = flow(1002);
    book.decide(b, undefined, false);
    expect(book.carry(b)).toBe('hold');
  });

  it('a booking lapses a live timeout and a second after it was made; a packet of the flow then books it again', async () => {
    const { nft, book, flow, clock } = setup();
    const a = flow(1000);
    const b = flow(1001);
    book.decide(a, HTTP, false);
    book.carry(a);
    clock.sec += 10;
    book.decide(b, HTTP, false);
    book.carry(b);
    // a's booking is LIVE_TIMEOUT s old now.
    clock.sec += LIVE_TIMEOUT - 10;
    expect([book.has(a), book.has(b), book.size]).toEqual([true, true, 2]);
    clock.sec += 1;
    expect([book.has(a), book.has(b), book.size, book.counters.ended]).toEqual([false, true, 1, 1]);
    expect(book.carry(a)).toBeNull();
    expect(book.resume(a, HTTP, false)).toBe(true);
    expect(book.carry(a)).toEqual({ mark: HTTP });
    expect([book.size, book.counters.resumed, book.counters.learned]).toEqual([2, 1, 3]);
    // A sweep after a long pause lets every booking go.
    clock.sec += 1000;
    await book.sweep();
    expect([book.size, book.counters.ended]).toEqual([0, 3]);
    expect(nft.transactions).toEqual([]);
  });

  it('a flow whose packet is queued two clock seconds after its booking has lost its elements: netlink adds them', () => {
    const { nft, book, flow, clock } = setup();
    const a = flow(1000);
    book.decide(a, HTTP, false);
    book.carry(a);
    clock.sec += 1;
    // In flight while the elements were added: nothing owed.
    expect(book.carry(a)).toEqual({ mark: HTTP });
    book.commit();
    expect(nft.transactions).toEqual([]);
    clock.sec += 1;
    expect(book.carry(a)).toEqual({ mark: HTTP });
    book.commit();
    expect(nft.transactions).toEqual([[{ op: 'add', key: a.key, target: { mark: HTTP } }]]);
    expect([book.counters.repaired, book.size]).toEqual([1, 1]);
  });

  it('refuses flows past its size and counts them; a resume into a full book is refused without counting', () => {
    const { book, flow } = setup({ maxFlows: 2 });
    const [a, b, c] = [flow(1000), flow(1001), flow(1002)];
    book.decide(a, HTTP, false);
    book.hold(b);
    book.decide(c, HTTP, false);
    book.hold(c);
    expect([book.has(c), book.size, book.counters.full]).toEqual([false, 2, 2]);
    expect(book.resume(c, HTTP, false)).toBe(false);
    expect(book.counters.full).toBe(2);
    // A replacement takes no more room.
    book.decide(b, DNS, false);
    expect([book.size, book.counters.replaced]).toEqual([2, 1]);
  });

  it('one stale element does not stop the others: a flow whose old elements expired gets its verdict, one whose add fails is let go', () => {
    const { nft, book, flow, logs } = setup();
    const [a, b, c] = [flow(1000), flow(1001), flow(1002)];
    for (const f of [a, b, c]) {
      book.hold(f);
      book.carry(f);
      nft.learn(f.key, 'hold');
    }
    nft.expire(a.key);
    nft.refusing.add(c.key);
    for (const f of [a, b, c]) book.decide(f, HTTP, false);
    book.commit();
    expect(nft.targetsOf(a.key)).toEqual([JSON.stringify({ mark: HTTP }), JSON.stringify({ mark: HTTP })]);
    expect(nft.targetsOf(b.key)).toEqual([JSON.stringify({ mark: HTTP }), JSON.stringify({ mark: HTTP })]);
    expect(nft.targetsOf(c.key)).toEqual(['"hold"', '"hold"']);
    expect([book.has(c), book.size, book.counters.batchFailures, book.counters.flowFailures]).toEqual([false, 2, 1, 1]);
    expect(logs).toEqual([expect.stringMatching(/^stateless book: udp 198\.18\.1\.2:1002 <-> 198\.18\.2\.2:53: No space left on device$/)]);
  });

  it('keeps bookings right across the wrap of its due seconds', async () => {
    // Dues are kept modulo 2^19 s: book just before a multiple of it.
    const { book, flow, clock } = setup({ sec: 4 * 2 ** 19 - 5 });
    const a = flow(1000);
    book.decide(a, HTTP, false);
    book.carry(a);
    clock.sec += LIVE_TIMEOUT;
    expect([book.has(a), book.carry(a)]).toEqual([true, { mark: HTTP }]);
    clock.sec += 1;
    expect([book.has(a), book.size]).toEqual([false, 0]);
    // A booking is told from one made half the range earlier.
    book.decide(a, DNS, false);
    clock.sec += 2 ** 18 - 100;
    expect(book.has(a)).toBe(false);
    await book.sweep();
    expect(book.size).toBe(0);
  });
});
