/**
 * The outbox API's edges on both engines: who may use it, what it refuses, and that it shows no
 * secret of what it lists. (Listing and re-driving real deliveries is exercised by the campaign and
 * webhook suites.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';

describe.each(engines())('outbox API (%s)', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let entryId: string;
  beforeAll(async () => {
    t = await startNexus({ engine });
    tenant = await createTenant(t);
    // An entry whose payload carries credential-looking fields, and that no handler takes.
    const ids = await t.nexus.db.tx((q) =>
      t.nexus.plugins.outbox.enqueue(q, [
        {
          ccid: tenant.ccid,
          orderingKey: 'k',
          kind: 'test-nobody-handles',
          target: 'Nowhere',
          payload: {
            messageId: 'm',
            headers: { authorization: 'Bearer hunter2' },
            secret: { key: 'hunter2' },
          },
        },
      ]),
    );
    entryId = ids[0];
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const list = (query: string, headers: Record<string, string>, ccid = tenant.ccid) =>
    api(t.url, 'GET', `/nexus/v3/outbox/${ccid}${query}`, { headers });

  it('lists pending entries with credentials redacted, for the admin and a provisioning key', async () => {
    const admin = { authorization: `Bearer ${t.adminToken}` };
    const a = await list('?state=pending', admin);
    expect(a.status).toBe(200);
    expect(a.body.data.entries).toHaveLength(1);
    expect(a.body.data.entries[0]).toMatchObject({
      id: entryId,
      kind: 'test-nobody-handles',
      target: 'Nowhere',
      state: 'pending',
      attempts: 0,
      payload: { messageId: 'm', headers: { authorization: '[redacted]' }, secret: '[redacted]' },
    });
    expect(JSON.stringify(a.body)).not.toContain('hunter2');
    const ops = await createApiKey(t, { tenant: tenant.ccid, permissions: ['nexus:provisioning:*'] });
    expect((await list('', keyHeaders(ops.apiKey))).body.data.entries).toHaveLength(1);
    expect((await list('?state=dead', keyHeaders(ops.apiKey))).body.data.entries).toEqual([]);
  });

  it('refuses narrower keys, other tenants and bad parameters with their codes', async () => {
    const narrow = await createApiKey(t, {
      tenant: tenant.ccid,
      permissions: ['nexus:provisioning:services'],
    });
    expect((await list('', keyHeaders(narrow.apiKey))).status).toBe(403);
    const other = await createTenant(t);
    expect((await list('', keyHeaders(other.apiKey))).status).toBe(403);
    const mine = keyHeaders(tenant.apiKey);
    for (const q of ['?state=failed', '?limit=0', '?limit=1001', '?limit=abc']) {
      const r = await list(q, mine);
      expect([q, r.status, r.body.status.code]).toEqual([q, 400, 1004]);
    }
    const none = await list('', { authorization: `Bearer ${t.adminToken}` }, 'no-such-tenant');
    expect([none.status, none.body.status.code]).toEqual([404, 3000]);
    for (const id of ['abc', '99999999999', "1' OR '1'='1", '1'.repeat(40)]) {
      const r = await api(
        t.url,
        'POST',
        `/nexus/v3/outbox/${tenant.ccid}/${encodeURIComponent(id)}/redrive`,
        {
          headers: mine,
        },
      );
      expect([id, r.status, r.body.status.code]).toEqual([id, 404, 5110]);
    }
    // Another tenant's entry is not found, not re-driven.
    const cross = await api(t.url, 'POST', `/nexus/v3/outbox/${other.ccid}/${entryId}/redrive`, {
      headers: keyHeaders(other.apiKey),
    });
    expect([cross.status, cross.body.status.code]).toEqual([404, 5110]);
  });

  it('re-drives a pending entry (fresh attempts) and answers it', async () => {
    const r = await api(t.url, 'POST', `/nexus/v3/outbox/${tenant.ccid}/${entryId}/redrive`, {
      headers: keyHeaders(tenant.apiKey),
    });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ id: entryId, state: 'pending', attempts: 0 });
    expect(JSON.stringify(r.body)).not.toContain('hunter2');
  });
});
