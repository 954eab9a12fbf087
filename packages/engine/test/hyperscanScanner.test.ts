import { describe, expect, it } from 'vitest';
import { HyperscanHeadScanner } from '../src/index.js';
import { patternSet } from './helpers.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('HyperscanHeadScanner', () => {
  // Patterns in file-name order: a_get (0), b_end (1, uses `$`), c_two (2).
  const set = patternSet({ a_get: '^get ', b_end: 'ok$', c_two: 'second' });

  it('scans a batch in rounds: a flow head\'s chunks after the one that matched are left unrun, the others run in order', () => {
    const scanner = new HyperscanHeadScanner(set);
    const decided = scanner.open();
    const later = scanner.open();
    const atEnd = scanner.open();
    const append = (h: number, text: string) => scanner.append(h, bytes(text), 2047);
    append(decided, 'GET / '); // 0: matches a_get
    append(later, 'nothing'); // 1
    append(decided, 'a second'); // 2: would match c_two, left unrun
    append(later, 'the second'); // 3: matches c_two, as of the flow's whole head
    append(atEnd, 'ok'); // 4: b_end, at the end of this chunk
    append(decided, 'ok'); // 5: left unrun
    append(atEnd, ' and more'); // 6: after a match, left unrun
    expect([...scanner.flush()]).toEqual([0, -1, -1, 2, 1, -1, -1]);
    // The next batch carries on with the streams as they were.
    append(later, ' ok');
    expect([...scanner.flush()]).toEqual([1]);
    scanner.close();
  });

  it('keeps released streams for the next flows, each starting empty', () => {
    const scanner = new HyperscanHeadScanner(set);
    const first = scanner.open();
    scanner.append(first, bytes('xx sec'), 2047);
    expect([...scanner.flush()]).toEqual([-1]);
    scanner.release(first);
    const second = scanner.open();
    expect(second).toBe(first);
    // "ond" alone: nothing of the last flow's "sec" is left in the stream.
    scanner.append(second, bytes('ond'), 2047);
    expect([...scanner.flush()]).toEqual([-1]);
    scanner.append(second, bytes(' GET second'), 2047);
    expect([...scanner.flush()]).toEqual([2]);
    scanner.close();
  });

  it('restarts a reused stream at the next flush, before any scan, once however often it changed hands', () => {
    const scanner = new HyperscanHeadScanner(set);
    const first = scanner.open();
    scanner.append(first, bytes('xx sec'), 2047);
    expect([...scanner.flush()]).toEqual([-1]);
    scanner.release(first);
    // Taken and given back within one batch, then taken again.
    scanner.release(scanner.open());
    const third = scanner.open();
    expect(third).toBe(first);
    // ^ matches only at a stream's start: the restart came before this chunk.
    scanner.append(third, bytes('GET / '), 2047);
    expect([...scanner.flush()]).toEqual([0]);
    scanner.close();
  });

  it('leaves out of the restarts a reused stream that was closed before the flush (the park was full)', () => {
    const scanner = new HyperscanHeadScanner(set);
    // 1024 released streams fill the park; one more is open.
    const handles = Array.from({ length: 1025 }, () => scanner.open());
    for (const h of handles.slice(0, 1024)) scanner.release(h);
    const reused = scanner.open();
    scanner.release(handles[1024]!);
    // The park is full again: this release closes the stream, whose restart was due.
    scanner.release(reused);
    const fresh = scanner.open();
    scanner.append(fresh, bytes('GET / '), 2047);
    expect([...scanner.flush()]).toEqual([0]);
    scanner.close();
  });
});
