import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { classifyCapture, loadPatternSet, type FlowRecord } from '@l7mesh/engine';
import { flowJsonMaxBytes, writeFlowJson } from '../src/flowJson.js';

const captures = fileURLToPath(new URL('../../../test/captures/', import.meta.url));
const patterns = fileURLToPath(new URL('../../../patterns/', import.meta.url));

/** What writeFlowJson wrote, or undefined when it left the record to JSON.stringify. */
function written(r: FlowRecord, capture?: string): string | undefined {
  const buf = Buffer.alloc(flowJsonMaxBytes(r, capture) + 64, 0xff);
  const end = writeFlowJson(buf, 32, r, capture);
  if (end < 0) return undefined;
  expect(end - 32).toBeLessThanOrEqual(flowJsonMaxBytes(r, capture));
  expect(buf[end]).toBe(0xff); // nothing written beyond the end it returns
  return buf.toString('latin1', 32, end);
}

const record: FlowRecord = {
  proto: 'tcp', src: '2001:db8::1', sport: 40000, dst: '198.18.0.1', dport: 80, l7: 'http',
  packets: 12, bytes: 4096, packets_orig: 6, packets_reply: 6, bytes_orig: 1024, bytes_reply: 3072,
  first_ts: 1700000000.000001, last_ts: 1700000000.5, end: 'end', why: { by: 'http.pat', packet: 4 },
};

describe('writeFlowJson', () => {
  it("writes JSON.stringify's line for every flow of the lab captures, with and without the capture's name", async () => {
    const { set } = loadPatternSet([patterns]);
    let records = 0;
    for (const dir of readdirSync(captures)) {
      for (const file of readdirSync(join(captures, dir)).filter((f) => f.endsWith('.pcap'))) {
        const path = join(captures, dir, file);
        await classifyCapture(path, set, {
          onFlow: (r) => {
            records++;
            expect(written(r)).toBe(JSON.stringify(r));
            expect(written(r, path)).toBe(JSON.stringify({ capture: path, ...r }));
          },
        });
      }
    }
    expect(records).toBeGreaterThan(100);
  });

  it('writes inherited decisions with their parent, and flows without a decision', () => {
    const inherited = { ...record, l7: 'ftp', why: { by: 'inherited', packet: 1, parent: '198.18.0.2:21 -> 198.18.0.1:40000' } };
    expect(written(inherited)).toBe(JSON.stringify(inherited));
    const { why: _, ...undecided } = record;
    expect(written({ ...undecided, l7: 'unset' })).toBe(JSON.stringify({ ...undecided, l7: 'unset' }));
  });

  it('writes numbers as Number does: integers up to 2^53, timestamps rounded to the microsecond below 2^31 s', () => {
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 20_000; i++) {
      const ts = Math.round((Math.floor(rand() * 2 ** 31) + Math.floor(rand() * 1e9) / 1e9) * 1e6) / 1e6;
      const small = Math.round(rand() * 1e6) / 1e6;
      const r = { ...record, bytes: Math.floor(rand() * 2 ** 53), bytes_orig: Math.floor(rand() * 1e4), first_ts: ts, last_ts: small };
      expect(written(r)).toBe(JSON.stringify(r));
    }
    for (const ts of [0, 1, 0.000001, 0.1, 1e9, 2147483647.999999]) expect(written({ ...record, first_ts: ts })).toBe(JSON.stringify({ ...record, first_ts: ts }));
  });

  it('leaves to JSON.stringify what it does not write the same way', () => {
    for (const odd of [
      { l7: 'caf\u00e9' },
      { l7: 'a"b' },
      { why: { by: 'back\\slash.pat', packet: 1 } },
      { src: 'tab\there' },
      { bytes: 2 ** 53 },
      { bytes: -1 },
      { bytes: 1.5 },
      { packets: NaN },
      { first_ts: 1.0000001 },
      { last_ts: 2 ** 31 },
      { last_ts: -1 },
    ] as Partial<FlowRecord>[]) {
      expect(written({ ...record, ...odd })).toBeUndefined();
    }
    expect(written(record, 'caf\u00e9.pcap')).toBeUndefined();
  });
});
