import { fileURLToPath } from 'node:url';
import { classifyCapture, type FlowRecord } from '@l7mesh/engine';
import { describe, expect, it } from 'vitest';
import { loadEdgePatterns, MarkPolicy, parseEdgeConfig, replayCapture, type ReplayRecord } from '../src/index.js';

const capture = fileURLToPath(new URL('../../../test/captures/mixed/lab-mixed.pcap', import.meta.url));
const keyOf = (r: FlowRecord) => `${r.proto} ${r.src}:${r.sport} -> ${r.dst}:${r.dport} @${r.first_ts}`;

describe('replay mode', () => {
  const config = parseEdgeConfig(
    ['marks:', '  unknown: 0x0f00', '  protocols: { http: 0x0100, dns: 0x0400, tls: 0x0200 }', '  groups:', '    mail: { mark: 0x1000, protocols: [smtp, imap, pop3] }'].join('\n'),
    '/test/edge.yaml',
  );
  const { set } = loadEdgePatterns(config);

  it('gives every flow of the lab capture the verdict `l7mesh classify` gives it', async () => {
    const expected = new Map<string, string>();
    await classifyCapture(capture, set, { maxPackets: 10, maxDataLen: 2048, onFlow: (r) => expected.set(keyOf(r), r.l7) });
    const got = new Map<string, string>();
    const records: ReplayRecord[] = [];
    // Small batches, so that flows straddle batch boundaries.
    const result = await replayCapture(capture, config, set, { batchSize: 7, onFlow: (r) => (records.push(r), got.set(keyOf(r), r.l7)) });
    expect(expected.size).toBeGreaterThan(5);
    expect(got).toEqual(expected);
    expect(new Set(got.values()).size).toBeGreaterThan(2);
    expect(result.stats.mode).toBe('replay');
    expect(result.stats.flows.active).toBe(0);
    expect(result.stats.packets.received).toBe(result.frames);
    // Marks follow the policy.
    const policy = new MarkPolicy(config.marks);
    for (const r of records) {
      const mark = policy.markOf(r.l7);
      expect(r.mark).toBe(mark === undefined ? undefined : `0x${mark.toString(16)}`);
      if (mark !== undefined) expect(r.mark_state).toBe('packet');
    }
    // Per-protocol accounting adds up to the flow records.
    const sum = new Map<string, { flows: number; packets: number; bytes: number }>();
    for (const r of records) {
      const t = sum.get(r.l7) ?? { flows: 0, packets: 0, bytes: 0 };
      sum.set(r.l7, { flows: t.flows + 1, packets: t.packets + r.packets, bytes: t.bytes + r.bytes });
    }
    expect(new Map(result.stats.protocols.map((p) => [p.l7, { flows: p.flows, packets: p.packets, bytes: p.bytes }]))).toEqual(sum);
  });
});
