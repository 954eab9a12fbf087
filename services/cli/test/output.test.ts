import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { blockingWrites, LineOutput } from '../src/output.js';
import { humanBytes, humanCount, humanDuration, progressFields } from '../src/progress.js';

/** A stream that takes `delayMs` per write, and remembers every chunk it got. */
function slowSink(delayMs: number, highWaterMark: number) {
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark,
    decodeStrings: false,
    write(chunk: string, _enc, done) {
      chunks.push(chunk);
      setTimeout(done, delayMs);
    },
  });
  return { stream, chunks };
}

describe('LineOutput', () => {
  it('collects lines into few large writes, in order, each line ended', async () => {
    const { stream, chunks } = slowSink(0, 1 << 20);
    const out = new LineOutput(stream, 1000);
    const lines = Array.from({ length: 500 }, (_, i) => `{"flow":${i}}`);
    for (const l of lines) out.line(l);
    await out.end();
    await finished(stream.end());
    expect(chunks.join('')).toBe(lines.map((l) => `${l}\n`).join(''));
    expect(chunks.length).toBeLessThan(10);
    expect(chunks.slice(0, -1).every((c) => c.length >= 1000)).toBe(true);
  });

  it('asks the producer to wait while the stream is over its mark (back-pressure)', async () => {
    const { stream, chunks } = slowSink(5, 100);
    const out = new LineOutput(stream, 50);
    expect(out.ready()).toBeUndefined();
    let waits = 0;
    for (let batch = 0; batch < 5; batch++) {
      for (let i = 0; i < 20; i++) out.line(`line ${batch}.${i}`);
      const wait = out.ready();
      if (wait) {
        waits++;
        await wait;
        expect(stream.writableNeedDrain).toBe(false);
      }
    }
    await out.end();
    await finished(stream.end());
    expect(waits).toBeGreaterThan(0);
    expect(chunks.join('').split('\n')).toHaveLength(101);
  });
});

describe('LineOutput buffers', () => {
  it('reuses its buffer when the stream took a write at once, and leaves a queued chunk alone', async () => {
    // Synchronous: each chunk copied as written (as a file or a blocking pipe takes it).
    const copies: Buffer[] = [];
    const sync = new Writable({
      write(chunk: Buffer, _enc, done) {
        copies.push(Buffer.from(chunk));
        done();
      },
    });
    const kept: Buffer[] = [];
    const { stream: slow } = slowSink(1, 1 << 20);
    const slowWrite = slow.write.bind(slow);
    slow.write = ((chunk: Buffer) => {
      kept.push(chunk);
      return slowWrite(chunk);
    }) as typeof slow.write;
    const lines = Array.from({ length: 3000 }, (_, i) => `{"flow":${i},"l7":"h\u00e9llo ${'x'.repeat(i % 50)}"}`);
    for (const stream of [sync, slow]) {
      const out = new LineOutput(stream, 4096);
      for (const l of lines) out.line(l);
      await out.end();
    }
    const expected = lines.map((l) => `${l}\n`).join('');
    expect(Buffer.concat(copies).toString('utf8')).toBe(expected);
    // Chunks still queued in the slow stream were not overwritten by later lines.
    expect(Buffer.concat(kept).toString('utf8')).toBe(expected);
    expect(kept.length).toBeGreaterThan(10);
    expect(new Set(kept.map((b) => b.buffer)).size).toBe(kept.length);
    await finished(slow.end());
  });

  it('writes a line longer than a chunk whole', async () => {
    const { stream, chunks } = slowSink(0, 1 << 20);
    const out = new LineOutput(stream, 64);
    const long = 'y'.repeat(1000);
    out.line('a');
    out.line(long);
    out.line('b');
    await out.end();
    await finished(stream.end());
    expect(chunks.join('')).toBe(`a\n${long}\nb\n`);
  });

  it('blockingWrites sets a libuv handle blocking and leaves other streams alone', () => {
    const calls: boolean[] = [];
    const piped = Object.assign(new Writable(), { _handle: { setBlocking: (b: boolean) => (calls.push(b), 0) } });
    blockingWrites(piped);
    blockingWrites(new Writable());
    expect(calls).toEqual([true]);
  });
});

describe('progress figures', () => {
  it('shows bytes in binary units', () => {
    expect(humanBytes(0)).toBe('0 B');
    expect(humanBytes(1023)).toBe('1023 B');
    expect(humanBytes(1536)).toBe('1.50 KiB');
    expect(humanBytes(16777216)).toBe('16.0 MiB');
    expect(humanBytes(507198144)).toBe('483.7 MiB');
    expect(humanBytes(3 * 2 ** 30)).toBe('3.00 GiB');
  });

  it('shows counts with SI prefixes and durations as m:ss or h:mm:ss', () => {
    expect([humanCount(950), humanCount(12_345), humanCount(375_000), humanCount(1_020_000)]).toEqual(['950', '12.3k', '375.0k', '1.02M']);
    expect([humanDuration(0), humanDuration(65), humanDuration(3725), humanDuration(Infinity), humanDuration(-1)]).toEqual(['0:00', '1:05', '1:02:05', '--:--', '--:--']);
  });

  it('gives done/size, the byte and packet rates and the time left, like pv', () => {
    expect(progressFields({ read: 16777216, total: 507198144, frames: 40_000, elapsed: 2 })).toEqual({
      done: '16.0 MiB',
      size: '483.7 MiB',
      rate: '8.00 MiB/s',
      pps: '20.0k pkt/s',
      elapsed: '0:02',
      remaining: '0:58',
    });
    expect(progressFields({ read: 0, total: 100, frames: 0, elapsed: 0 }).remaining).toBe('--:--');
  });
});
