/**
 * The fuzz suites' state check can fail: on a gateway with a tenant, a conversation and its
 * messages, a planted change of one column of one row (no row added or removed) is reported for
 * its table, as are an insert and a delete; a change of a volatile column (the customer presence
 * stamp) is not; and a snapshot taken twice with nothing done is equal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSession, type TestSession } from '../chat/helpers.js';
import { putEndpoint } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { changed, snapshot } from './state.js';

describe.each(engines())('the fuzz state check on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let session: TestSession;

  beforeAll(async () => {
    t = await startNexus({ engine });
    tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'support' });
    session = await newSession(t, tenant);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('catches a changed, an added and a removed row, and ignores the presence stamp', async () => {
    const db = t.nexus.db;
    const id = session.conversationId;
    const base = await snapshot(db);
    expect(base.conversations.rows).toBeGreaterThan(0);
    expect(changed(base, await snapshot(db))).toEqual([]);

    // One column of one row, same row count: a count-only check would pass this.
    const ccid = tenant.ccid;
    const { rows } = await db.query<{ name: string }>('SELECT name FROM tenants WHERE ccid = $1', [ccid]);
    await db.query('UPDATE tenants SET name = $2 WHERE ccid = $1', [ccid, `${rows[0].name}!`]);
    const planted = await snapshot(db);
    expect(planted.tenants.rows).toBe(base.tenants.rows);
    expect(changed(base, planted)).toEqual(['tenants: a row changed']);
    await db.query('UPDATE tenants SET name = $2 WHERE ccid = $1', [ccid, rows[0].name]);
    expect(changed(base, await snapshot(db))).toEqual([]);

    // The presence stamp moves without any request: left out.
    await db.query(`UPDATE conversations SET customer_seen_at = now() + interval '1 hour' WHERE id = $1`, [
      id,
    ]);
    expect(changed(base, await snapshot(db))).toEqual([]);

    // Rows added and removed are counted.
    const tenants = base.tenants.rows;
    await db.query(`INSERT INTO tenants (ccid, name) VALUES ('planted-tenant', 'planted')`);
    expect(changed(base, await snapshot(db))).toEqual([`tenants: ${tenants} → ${tenants + 1} rows`]);
    await db.query(`DELETE FROM tenants WHERE ccid = 'planted-tenant'`);
    expect(changed(base, await snapshot(db))).toEqual([]);
  });
});
