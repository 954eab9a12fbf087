// Native memory must not grow with churn: streams and databases are freed on
// close (and by finalizers). RSS is measured after a warm-up so allocator and
// heap growth that happens once is not counted.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Database, HsFlag, StreamSet } from '../src/index.js';
import { addon } from '../src/native.js'; // white-box: live database count

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void; // a gc() without restarting the worker
const MB = 1024 * 1024;

async function settledRss(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r)); // let deferred finalizers run
  }
  return process.memoryUsage().rss;
}

const patterns = [
  { id: 1, expression: 'GET /[^ ]* HTTP/1\\.[01]', flags: 0 },
  { id: 2, expression: '^\\x16\\x03[\\x00-\\x03]', flags: 0 },
  { id: 3, expression: 'ssh-[12]\\.[0-9]', flags: HsFlag.CASELESS },
  { id: 4, expression: 'end\\z', flags: 0 },
];

describe('memory', () => {
  it('opening and closing 1,000,000 streams does not grow RSS', async () => {
    const db = Database.compile(patterns, 'stream');
    const set = new StreamSet(db, { eodCheck: true });
    const BATCH = 10_000;
    const data = Buffer.from('GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nend', 'latin1');
    const slots = new Uint32Array(BATCH / 2);
    const starts = new Uint32Array(BATCH / 2);
    const ends = new Uint32Array(BATCH / 2).fill(data.length);
    const open = new Uint32Array(BATCH);
    let matched = 0;
    const round = (i: number) => {
      for (let k = 0; k < BATCH; k++) open[k] = set.open();
      slots.set(open.subarray(0, BATCH / 2)); // scan a little data into half of them
      matched += set.scanBatch(slots, data, starts, ends).filter((id) => id >= 0).length;
      if (i % 10 === 9) {
        set.closeAll(); // also exercise the bulk path
      } else {
        for (let k = 0; k < BATCH; k++) set.close(open[k]!);
      }
    };
    for (let i = 0; i < 10; i++) round(i); // warm-up: 100k streams
    const before = await settledRss();
    for (let i = 10; i < 100; i++) round(i); // 900k more
    const after = await settledRss();
    expect(set.openCount).toBe(0);
    expect(matched).toBe(100 * (BATCH / 2)); // every scanned stream matched id 1
    expect((after - before) / MB).toBeLessThan(20);
    db.close();
  }, 30_000);

  // 20 literals: ~8 KB databases that compile in ~1 ms. Databases are small,
  // so besides RSS the native live-database count is checked exactly.
  const literals = Array.from({ length: 20 }, (_, i) => ({ id: i, expression: `lit${i}xyz${i * 7}`, flags: 0 }));

  it('compiling and closing 2000 databases keeps RSS flat', async () => {
    await settledRss(); // finalize leftovers of earlier tests first
    const baseline = addon.liveDatabases();
    const churn = (n: number) => {
      for (let i = 0; i < n; i++) {
        const db = Database.compile(literals, i % 2 ? 'stream' : 'block');
        db.close();
        expect(addon.liveDatabases()).toBe(baseline); // freed now, not at GC
      }
    };
    churn(500);
    const before = await settledRss();
    churn(1500);
    const after = await settledRss();
    // Measured: ~3 MB of allocator noise; leaking the databases costs ~12 MB.
    expect((after - before) / MB).toBeLessThan(6);
  }, 30_000);

  it('databases and stream sets that are never closed are freed by GC finalizers', async () => {
    await settledRss();
    const baseline = addon.liveDatabases();
    const leave = () => {
      for (let i = 0; i < 500; i++) {
        const set = new StreamSet(Database.compile(literals, 'stream'));
        set.scan(set.open(), Buffer.from('lit3xyz21')); // a set left with an open stream
      }
    };
    leave();
    expect(addon.liveDatabases()).toBe(baseline + 500);
    await settledRss();
    // Each set's finalizer closes its streams and drops its share of the Core.
    expect(addon.liveDatabases()).toBe(baseline);
  }, 30_000);
});
