import { describe, expect, it } from 'vitest';
import { TcpFlag, type DecodedPacket } from '@l7mesh/flow';
import { createHeadScanner, FlowClassifier, type FlowRecord } from '../src/index.js';
import { classify, conversation, ENGINES, HANDSHAKE, patternSet } from './helpers.js';

// l7-filter's semantics one by one, each checked on both engines.
describe.each(ENGINES)('l7 semantics (%s engine)', (engine) => {
  it('drops NUL bytes from the data before matching', () => {
    const set = patternSet({ abc: '^abc' });
    const [r] = classify(set, engine, conversation([...HANDSHAKE, { from: 'c', payload: 'a\0b\0\0c' }]));
    expect(r!.l7).toBe('abc');
    expect(r!.why).toEqual({ by: 'abc.pat', packet: 4 });
  });

  it('lowercases the data and the pattern, including \\xHH bytes', () => {
    const set = patternSet({ upper: '^\\x48ello WORLD' }); // \x48 is 'H'
    expect(classify(set, engine, conversation([{ from: 'c', payload: 'HELLO world' }]))[0]!.l7).toBe('upper');
  });

  it('counts the handshake and bare ACKs towards the packet limit', () => {
    const set = patternSet({ late: '^late' });
    const pkts = [...HANDSHAKE, { from: 'c' as const }, { from: 's' as const, payload: 'late' }];
    expect(classify(set, engine, conversation(pkts), { maxPackets: 5 })[0]!.l7).toBe('late');
    const [r] = classify(set, engine, conversation(pkts), { maxPackets: 4 });
    // Packet 5 is past the budget: unknown, decided by the limit at packet 5.
    expect(r!.l7).toBe('unknown');
    expect(r!.why).toEqual({ by: 'packet-limit', packet: 5 });
  });

  it('still tests the 10th packet and gives up on the 11th', () => {
    const set = patternSet({ tenth: 'tenth' });
    const filler = Array.from({ length: 9 }, (_, i) => ({ from: (i % 2 ? 's' : 'c') as 'c' | 's', payload: `x${i}` }));
    const at10 = classify(set, engine, conversation([...filler, { from: 'c', payload: 'tenth' }]));
    expect(at10[0]!.why).toEqual({ by: 'tenth.pat', packet: 10 });
    const at11 = classify(set, engine, conversation([...filler, { from: 'c', payload: 'x' }, { from: 's', payload: 'tenth' }]));
    expect(at11[0]!.l7).toBe('unknown');
    expect(at11[0]!.why).toEqual({ by: 'packet-limit', packet: 11 });
  });

  it('keeps at most maxdatalen-1 bytes of head and then calls the flow unknown', () => {
    const set = patternSet({ tail: 'abcz' });
    // maxdatalen 8 keeps 7 bytes: "abcdefg"; "z" never enters the head.
    const [r] = classify(set, engine, conversation([{ from: 'c', payload: 'abcdefg' }, { from: 'c', payload: 'hz' }]), { maxDataLen: 8 });
    expect(r!.l7).toBe('unknown');
    expect(r!.why).toEqual({ by: 'byte-limit', packet: 1 });
    const fits = classify(set, engine, conversation([{ from: 'c', payload: 'abc' }, { from: 'c', payload: 'zzzzzzzzz' }]), { maxDataLen: 8 });
    expect(fits[0]!.why).toEqual({ by: 'tail.pat', packet: 2 });
  });

  it('appends both directions into one buffer in packet order', () => {
    const set = patternSet({ dialog: '^hello\\r\\nwelcome' }); // Spencer: \r is the letter r
    const [r] = classify(set, engine, conversation([{ from: 'c', payload: 'hellor' }, { from: 's', payload: 'nwelcome' }]));
    expect(r!.why).toEqual({ by: 'dialog.pat', packet: 2 });
  });

  it('checks $ at packet boundaries: the end of the data so far', () => {
    const set = patternSet({ exact: '^hello$' });
    const split = classify(set, engine, conversation([{ from: 'c', payload: 'hel' }, { from: 'c', payload: 'lo' }, { from: 'c', payload: '!' }]));
    expect(split[0]!.why).toEqual({ by: 'exact.pat', packet: 2 });
    const joined = classify(set, engine, conversation([{ from: 'c', payload: 'hello!' }]));
    expect(joined[0]!.l7).toBe('unset');
  });

  it('does not test a packet that adds nothing', () => {
    const set = patternSet({ ab: '^ab' });
    const [r] = classify(set, engine, conversation([{ from: 'c', payload: 'a' }, { from: 'c', payload: '\0\0' }, { from: 'c' }, { from: 'c', payload: 'b' }]));
    expect(r!.why).toEqual({ by: 'ab.pat', packet: 4 });
  });

  it('picks the first pattern in order when several match, and --order changes it', () => {
    const defs = { alpha: 'shared', beta: '^shared' };
    expect(classify(patternSet(defs), engine, conversation([{ from: 'c', payload: 'shared' }]))[0]!.l7).toBe('alpha');
    expect(classify(patternSet(defs, ['beta']), engine, conversation([{ from: 'c', payload: 'shared' }]))[0]!.l7).toBe('beta');
  });

  it('never scans a decided flow again', () => {
    const set = patternSet({ first: 'second', second: 'one' });
    const [r] = classify(set, engine, conversation([{ from: 'c', payload: 'one' }, { from: 'c', payload: 'second' }]));
    expect(r!.l7).toBe('second');
    expect(r!.why!.packet).toBe(1);
  });

  it('leaves a flow that ends unmatched before the limits unset', () => {
    const set = patternSet({ never: '^never' });
    const [r] = classify(set, engine, conversation([...HANDSHAKE, { from: 'c', payload: 'something else' }, { from: 'c', flags: TcpFlag.FIN | TcpFlag.ACK }]));
    expect(r!.l7).toBe('unset');
    expect(r!.why).toBeUndefined();
    expect(r!.packets).toBe(5);
  });

  it('classifies UDP datagrams of both directions into one flow', () => {
    const set = patternSet({ udpish: '^ping.*pong' });
    const recs = classify(set, engine, conversation([{ from: 'c', payload: 'ping' }, { from: 's', payload: 'pong' }], { proto: 'udp', port: 9999 }));
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ proto: 'udp', src: '198.18.0.1', sport: 40000, dst: '198.18.0.2', dport: 9999, l7: 'udpish', packets: 2 });
  });
});

describe('classifier hooks', () => {
  it('returns each packet\'s flow and tells of each verdict once, after flush', () => {
    const set = patternSet({ abc: '^abc' });
    const decided: string[] = [];
    const records: unknown[] = [];
    const scanner = createHeadScanner('hyperscan', set);
    const c = new FlowClassifier(set, scanner, { onFlow: (r) => records.push(r), onDecision: (f) => decided.push(f.l7) });
    const [first, second] = conversation([{ from: 'c', payload: 'abc' }, { from: 's', payload: 'x' }]);
    const flow = c.process(first!);
    expect(flow.l7).toBe('unset'); // queued, not yet scanned
    c.flush();
    expect(flow.l7).toBe('abc');
    expect(c.process(second!)).toBe(flow);
    c.finish();
    expect(decided).toEqual(['abc']);
    expect(records).toHaveLength(1);
  });
});

describe('bounded expiry', () => {
  it('ends the same flows with the same records when at most one idle flow is ended per packet', () => {
    const set = patternSet({ abc: '^abc' });
    const packets: DecodedPacket[] = [];
    // 40 flows idle out together, then traffic goes on: some of them come back.
    for (let i = 0; i < 40; i++) packets.push(...conversation([{ from: 'c', payload: i % 2 ? 'abc' : 'xyz' }], { proto: 'udp', clientPort: 1000 + i, t0: 100 }));
    for (let i = 0; i < 40; i++) packets.push(...conversation([{ from: 'c', payload: 'abc' }], { proto: 'udp', clientPort: 1000 + ((i * 7) % 50), t0: 200 + i }));
    const run = (expiryBudget?: number) => {
      const records: FlowRecord[] = [];
      const c = new FlowClassifier(set, createHeadScanner('hyperscan', set), { expiryBudget, onFlow: (r) => records.push(r) });
      for (const p of packets) c.process(p);
      c.finish();
      return records.sort((a, b) => a.sport - b.sport || a.first_ts - b.first_ts);
    };
    const unbounded = run();
    expect(unbounded.filter((r) => r.end === 'idle').length).toBeGreaterThanOrEqual(40);
    expect(run(1)).toEqual(unbounded);
  });
});
