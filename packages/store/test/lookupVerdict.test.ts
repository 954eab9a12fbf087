/** The pickup's last resort: a connection's verdict from the flow table, by its endpoints either way round. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupVerdict, writeFlowRecords } from '@l7mesh/store';
import { expectStoreError } from './expectStoreError.js';
import { at, DAY0, flowRecord, HOUR } from './samples.js';
import { createTestDatabase, type TestDatabase } from './testDatabase.js';

let db: TestDatabase;
const SINCE = at(DAY0);
const ENDS = { a: '198.18.0.10', aPort: 40000, b: '198.19.0.80', bPort: 80 };

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  await writeFlowRecords(db.pool, [
    // An older connection on the same tuple, ended; then the live one; one undecided; one in another zone.
    flowRecord({ eventId: 'old', firstSeen: at(DAY0 + HOUR), lastSeen: at(DAY0 + HOUR + 5), state: 'ended', l7: 'ssh', decidedBy: 'ssh.pat' }),
    flowRecord({ eventId: 'live', l7: 'http', decidedBy: 'http.pat', mark: 0x100, ruleSetVersion: 7 }),
    flowRecord({ eventId: 'unset', srcPort: 40001, l7: 'unset', decidedBy: 'unset' }),
    flowRecord({ eventId: 'zone9', zone: 9, l7: 'dns', decidedBy: 'dns.pat' }),
  ]);
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

describe('lookupVerdict', () => {
  it('finds the live connection between the endpoints, in either order', async () => {
    const want = { l7: 'http', decidedBy: 'http.pat', mark: 0x100, ruleSetVersion: 7 };
    expect(await lookupVerdict(db.pool, { zone: 0, protocol: 6, ...ENDS, since: SINCE })).toMatchObject(want);
    expect(await lookupVerdict(db.pool, { zone: 0, protocol: 6, a: ENDS.b, aPort: ENDS.bPort, b: ENDS.a, bPort: ENDS.aPort, since: SINCE })).toMatchObject(want);
  });

  it('finds nothing for another zone, protocol or port, an undecided connection, or before `since`', async () => {
    expect(await lookupVerdict(db.pool, { zone: 9, protocol: 6, ...ENDS, since: SINCE })).toMatchObject({ l7: 'dns' });
    expect(await lookupVerdict(db.pool, { zone: 1, protocol: 6, ...ENDS, since: SINCE })).toBeUndefined();
    expect(await lookupVerdict(db.pool, { zone: 0, protocol: 17, ...ENDS, since: SINCE })).toBeUndefined();
    expect(await lookupVerdict(db.pool, { zone: 0, protocol: 6, ...ENDS, aPort: 40001, since: SINCE })).toBeUndefined();
    expect(await lookupVerdict(db.pool, { zone: 0, protocol: 6, ...ENDS, since: at(DAY0 + 20 * HOUR) })).toBeUndefined();
  });

  it('names a bad parameter', async () => {
    await expectStoreError(() => lookupVerdict(db.pool, { zone: 0, protocol: 6, ...ENDS, a: '198.18.0.0/15' }), 'STORE_BAD_PARAMETER', 'a');
    await expectStoreError(() => lookupVerdict(db.pool, { zone: -1, protocol: 6, ...ENDS }), 'STORE_BAD_PARAMETER', 'zone');
  });
});
