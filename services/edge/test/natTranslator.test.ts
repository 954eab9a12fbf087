/**
 * The edge behind its own source NAT reports flows under the external
 * tuple (what the other routers see), with a stand-in conntrack lookup.
 * The real NAT is in the MASQUERADE router test (nat.netns.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { endpointsOfKey, flowKeyOfEndpoints, IPPROTO_TCP } from '@l7mesh/flow';
import { Direction, type HeadSegment, type Verdict } from '@l7mesh/wire';
import { NatTranslator } from '../src/natTranslator.js';
import type { ConntrackTuple } from '../src/types.js';

const CLIENT = { addr: '198.18.10.2', port: 40000 };
const SERVER = { addr: '198.18.20.2', port: 80 };
const EXTERNAL = { addr: '198.18.30.1', port: 61000 };

function segment(from: { addr: string; port: number }, to: { addr: string; port: number }, counter: number): HeadSegment {
  const key = flowKeyOfEndpoints({ protocol: IPPROTO_TCP, src: from.addr, sport: from.port, dst: to.addr, dport: to.port });
  const low = endpointsOfKey(key, true);
  const direction = low.src === from.addr && low.sport === from.port ? Direction.LowToHigh : Direction.HighToLow;
  return { zone: 0, key, direction, generation: 1, counter, flags: 0, tcpFlags: 0x02, seq: 0, ack: 0, tsSec: 1, tsNsec: 0, ipLength: 60, payload: new Uint8Array(0) };
}

/** Who sent a segment, and to whom, as its key and direction say. */
function endpoints(s: HeadSegment): string {
  const e = endpointsOfKey(s.key, s.direction === Direction.LowToHigh);
  return `${e.src}:${e.sport} > ${e.dst}:${e.dport}`;
}

function setup(entries: { original: ConntrackTuple; reply: ConntrackTuple }[]) {
  const sent: HeadSegment[] = [];
  const lookups: ConntrackTuple[] = [];
  const nat = new NatTranslator(
    { send: (s) => sent.push(s), sendTogether: (ss) => sent.push(...ss) },
    {
      keepSec: 600,
      lookup: (t) => {
        lookups.push(t);
        return entries.find((e) => JSON.stringify(e.original) === JSON.stringify(t))?.reply;
      },
    },
  );
  return { nat, sent, lookups };
}

const tcp = (a: { addr: string; port: number }, b: { addr: string; port: number }): ConntrackTuple => ({ family: 'ipv4', protocol: 'tcp', src: a.addr, sport: a.port, dst: b.addr, dport: b.port });
const MASQUERADED = { original: tcp(CLIENT, SERVER), reply: tcp(SERVER, EXTERNAL) };

describe('NatTranslator', () => {
  it('names a NATed flow for the records by its external key, the originator where the external key has it; an untranslated one not at all', () => {
    const { nat } = setup([MASQUERADED, { original: tcp({ addr: '198.18.10.3', port: 40001 }, SERVER), reply: tcp(SERVER, { addr: '198.18.10.3', port: 40001 }) }]);
    const internal = segment(CLIENT, SERVER, 1);
    nat.send(internal);
    const plain = segment({ addr: '198.18.10.3', port: 40001 }, SERVER, 1);
    nat.send(plain);
    nat.resolve();
    const origIsLow = internal.direction === Direction.LowToHigh;
    const named = nat.external(internal.key, origIsLow)!;
    const e = endpointsOfKey(named.key, named.origIsLow);
    expect(`${e.src}:${e.sport} > ${e.dst}:${e.dport}`).toBe(`${EXTERNAL.addr}:${EXTERNAL.port} > ${SERVER.addr}:${SERVER.port}`);
    expect(nat.external(plain.key, plain.direction === Direction.LowToHigh)).toBeUndefined();
    expect(nat.external(segment(CLIENT, { addr: '198.18.20.9', port: 80 }, 1).key, true)).toBeUndefined();
  });

  it('holds a new flow until its NAT binding exists, then sends every segment under the external tuple', () => {
    const { nat, sent } = setup([MASQUERADED]);
    nat.send(segment(CLIENT, SERVER, 1));
    expect(sent).toEqual([]);
    nat.resolve();
    nat.send(segment(SERVER, CLIENT, 2));
    nat.send(segment(CLIENT, SERVER, 3));
    expect(sent.map(endpoints)).toEqual([
      `${EXTERNAL.addr}:${EXTERNAL.port} > ${SERVER.addr}:${SERVER.port}`,
      `${SERVER.addr}:${SERVER.port} > ${EXTERNAL.addr}:${EXTERNAL.port}`,
      `${EXTERNAL.addr}:${EXTERNAL.port} > ${SERVER.addr}:${SERVER.port}`,
    ]);
    expect(sent.map((s) => s.counter)).toEqual([1, 2, 3]);
    expect(nat.counters).toEqual({ translated: 1, untranslated: 0, missing: 0 });
  });

  it('gives verdicts for the external tuple back under the internal one', () => {
    const { nat, sent } = setup([MASQUERADED]);
    nat.send(segment(CLIENT, SERVER, 1));
    nat.resolve();
    const internal = segment(CLIENT, SERVER, 1).key;
    const v = { zone: 0, key: sent[0]!.key, generation: 1, l7: 'http' } as Verdict;
    expect(nat.inbound(v).key).toBe(internal);
    const other = { ...v, key: segment(SERVER, { addr: '198.18.40.1', port: 5 }, 1).key };
    expect(nat.inbound(other)).toBe(other);
    // The flow's start names its originator by place in the key: the client, external outside, internal inside.
    const ext = endpointsOfKey(sent[0]!.key, true);
    const clientLowOutside = ext.src === EXTERNAL.addr;
    const start = { origIsLow: clientLowOutside, firstSec: 1, firstNsec: 0 };
    const mapped = nat.inbound({ ...v, start });
    const inside = endpointsOfKey(mapped.key, mapped.start!.origIsLow);
    expect([inside.src, inside.sport]).toEqual([CLIENT.addr, CLIENT.port]);
  });

  it('an edge that saw the reply first finds the entry by the reversed tuple', () => {
    const { nat, sent, lookups } = setup([MASQUERADED]);
    nat.send(segment(SERVER, CLIENT, 1));
    nat.resolve();
    expect(lookups).toHaveLength(2);
    expect(sent.map(endpoints)).toEqual([`${SERVER.addr}:${SERVER.port} > ${EXTERNAL.addr}:${EXTERNAL.port}`]);
  });

  it('sends flows that are not NATed, or have no conntrack entry, as they are', () => {
    const { nat, sent } = setup([{ original: tcp(CLIENT, SERVER), reply: tcp(SERVER, CLIENT) }]);
    const plain = segment(CLIENT, SERVER, 1);
    const unknown = segment({ addr: '198.18.10.9', port: 1 }, SERVER, 1);
    nat.send(plain);
    nat.send(unknown);
    nat.resolve();
    expect(sent).toEqual([plain, unknown]);
    expect(nat.counters).toEqual({ translated: 0, untranslated: 1, missing: 1 });
  });

  it('a group sent together (a re-send with FTP announcements) stays together and in order', () => {
    const { nat, sent } = setup([MASQUERADED]);
    nat.sendTogether([segment(CLIENT, SERVER, 1), segment(SERVER, CLIENT, 2)]);
    expect(sent).toEqual([]);
    nat.resolve();
    expect(sent.map((s) => s.counter)).toEqual([1, 2]);
    expect(new Set(sent.map((s) => s.key)).size).toBe(1);
    // A group of two flows, one of them new: both resolved, sent together.
    const other = segment({ addr: '198.18.10.3', port: 40001 }, SERVER, 1);
    nat.sendTogether([segment(CLIENT, SERVER, 3), other]);
    nat.sendTogether([other]);
    nat.resolve();
    expect(sent.slice(2).map((s) => s.counter)).toEqual([3, 1, 1]);
    expect(nat.counters).toEqual({ translated: 1, untranslated: 0, missing: 1 });
  });
});
