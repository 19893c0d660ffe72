import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './helpers/engines.js';
import { collectLogs } from './helpers/logs.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders } from './helpers/tenants.js';

const TENANTS = '/nexus/v3/provisioning/tenants';

describe.each(engines())('tenants on %s engines', (engine) => {
  let t: TestNexus;
  const logs = collectLogs();
  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });
  const count = async (table: string) =>
    Number((await t.nexus.db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  beforeAll(async () => {
    t = await startNexus({ engine, logDestination: logs.stream });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('provisions a tenant with the guide request and answers data.xapikey in the envelope', async () => {
    const ccId = randomUUID();
    const tenantUserPassword = `pw-${randomUUID()}`;
    // As written in the guide: "Provision the tenant in Digital Channels".
    const r = await api(t.url, 'POST', TENANTS, {
      headers: { Authorization: `Bearer ${t.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        id: ccId,
        name: 'premise_tenant',
        type: 'PureEngage',
        backendurl: 'https://gws.mydomain.com',
        username: 'nexus',
        token: tenantUserPassword,
        genesysenantid: 1,
      }),
    });
    expect(r.status).toBe(201);
    expect(r.body.status).toEqual({ code: 0 });
    expect(r.body.operationId).toMatch(/^[0-9a-f-]{36}$/);
    const nexusApiKey = r.body.data.xapikey;
    expect(nexusApiKey).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(JSON.stringify(r.body)).not.toContain(tenantUserPassword);

    // The tenant's key reads its own tenant; the guide's fields are kept, the token is not shown.
    const got = await api(t.url, 'GET', `${TENANTS}/${ccId}`, { headers: { 'x-api-key': nexusApiKey } });
    expect(got.status).toBe(200);
    expect(got.body.data).toMatchObject({
      id: ccId,
      name: 'premise_tenant',
      type: 'PureEngage',
      backendurl: 'https://gws.mydomain.com',
      username: 'nexus',
      genesysenantid: 1,
      tokenSet: true,
    });
    expect(JSON.stringify(got.body)).not.toContain(tenantUserPassword);

    // The token is stored sealed, never in clear.
    const row = await t.nexus.db.query('SELECT data::text AS d FROM tenants WHERE ccid = $1', [ccId]);
    expect(row.rows[0].d).not.toContain(tenantUserPassword);
    expect(logs.text()).toContain('tenant created');
    expect(logs.text()).not.toContain(tenantUserPassword);
    expect(logs.text()).not.toContain(nexusApiKey);

    // The tenant key holds nexus:* for its tenant, stored hashed.
    const keyRow = await t.nexus.db.query('SELECT * FROM api_keys WHERE tenant = $1', [ccId]);
    expect(keyRow.rows).toHaveLength(1);
    expect(keyRow.rows[0].permissions).toEqual(['nexus:*']);
    expect(JSON.stringify(keyRow.rows[0])).not.toContain(nexusApiKey);
  });

  it('answers the guide PlatformUCS call made with the tenant key and x-ccid', async () => {
    const { ccid, apiKey } = await createTenant(t);
    // As written in the guide: "Provision the Universal Contact Service connection".
    const r = await api(t.url, 'POST', `/nexus/v3/provisioning/services/${ccid}/PlatformUCS`, {
      headers: { 'Content-Type': 'application/json', 'x-api-key': apiKey, 'x-ccid': ccid },
      body: JSON.stringify({ url: 'https://ucs.mydomain.com', secret: {}, data: {} }),
    });
    expect(r.status).toBeLessThan(300);
    expect(r.body.status.code).toBe(0);
  });

  it('refuses a duplicate id with 409 code 3003 and keeps one tenant and one key', async () => {
    const { ccid } = await createTenant(t);
    const before = await count('api_keys');
    const r = await api(t.url, 'POST', TENANTS, { headers: admin(), json: { id: ccid, name: 'again' } });
    expect(r.status).toBe(409);
    expect(r.body.status.code).toBe(3003);
    expect(await count('api_keys')).toBe(before);
    const n = await t.nexus.db.query('SELECT name FROM tenants WHERE ccid = $1', [ccid]);
    expect(n.rows).toEqual([{ name: `tenant ${ccid}` }]);
  });

  it('answers 404 code 3000 for an unknown tenant (admin)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await api(t.url, method, `${TENANTS}/${randomUUID()}`, { headers: admin() });
      expect(r.status).toBe(404);
      expect(r.body.status.code).toBe(3000);
    }
    const r = await api(t.url, 'PUT', `${TENANTS}/${randomUUID()}`, {
      headers: admin(),
      json: { name: 'x' },
    });
    expect(r.status).toBe(404);
    expect(r.body.status.code).toBe(3000);
  });

  it('refuses bad bodies with 400 code 1004 naming the field, storing nothing', async () => {
    const before = [await count('tenants'), await count('api_keys')];
    const cases: Array<[unknown, string]> = [
      [{ id: randomUUID(), name: 'x', colour: 'red' }, 'colour'],
      [{ name: 'no id' }, 'id'],
      [{ id: 'bad id with spaces', name: 'x' }, 'id'],
      [{ id: randomUUID(), name: '' }, 'name'],
      [{ id: randomUUID(), name: 'x', backendurl: 'not a url' }, 'backendurl'],
      [{ id: randomUUID(), name: 'x', token: 12 }, 'token'],
      [[1, 2], 'body'],
    ];
    for (const [json, field] of cases) {
      const r = await api(t.url, 'POST', TENANTS, { headers: admin(), json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.status.code).toBe(1004);
      expect(r.body.status.details.field).toBe(field);
    }
    const bad = await api(t.url, 'POST', TENANTS, {
      headers: { ...admin(), 'content-type': 'application/json' },
      body: '{"id":',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.status.code).toBe(1001);
    expect([await count('tenants'), await count('api_keys')]).toEqual(before);
  });

  it('refuses tenant creation without an admin credential, storing nothing', async () => {
    const { apiKey } = await createTenant(t);
    const before = [await count('tenants'), await count('api_keys')];
    const body = { id: randomUUID(), name: 'x' };
    const none = await api(t.url, 'POST', TENANTS, { json: body });
    expect(none.status).toBe(401);
    expect(none.body.status.code).toBe(2000);
    const wrong = await api(t.url, 'POST', TENANTS, {
      headers: { authorization: 'Bearer nope' },
      json: body,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.status.code).toBe(2002);
    const keyed = await api(t.url, 'POST', TENANTS, { headers: { 'x-api-key': apiKey }, json: body });
    expect(keyed.status).toBe(403);
    expect(keyed.body.status.code).toBe(2003);
    expect([await count('tenants'), await count('api_keys')]).toEqual(before);
  });

  it('updates a tenant with PUT, keeping the token when none is sent', async () => {
    const { ccid, apiKey } = await createTenant(t, undefined, { token: 'first-secret' });
    const r = await api(t.url, 'PUT', `${TENANTS}/${ccid}`, {
      headers: { 'x-api-key': apiKey },
      json: { id: ccid, name: 'renamed', type: 'PureEngage', username: 'u2' },
    });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ id: ccid, name: 'renamed', username: 'u2', tokenSet: true });
    const renamed = await api(t.url, 'PUT', `${TENANTS}/${ccid}`, {
      headers: admin(),
      json: { id: randomUUID(), name: 'x' },
    });
    expect(renamed.status).toBe(400);
    expect(renamed.body.status.details.field).toBe('id');
    expect((await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: admin() })).body.data.name).toBe(
      'renamed',
    );
  });

  it("keeps tenants apart: a tenant's key cannot read, change or delete another tenant", async () => {
    const a = await createTenant(t);
    const b = await createTenant(t);
    for (const [method, json] of [
      ['GET', undefined],
      ['PUT', { name: 'hijacked' }],
      ['DELETE', undefined],
    ] as const) {
      const r = await api(t.url, method, `${TENANTS}/${b.ccid}`, {
        headers: { 'x-api-key': a.apiKey },
        json,
      });
      expect(r.status).toBe(403);
      expect(r.body.status.code).toBe(2004);
    }
    // Naming the other tenant in x-ccid on its own path is refused as well.
    const viaHeader = await api(t.url, 'GET', `${TENANTS}/${a.ccid}`, {
      headers: keyHeaders(a.apiKey, b.ccid),
    });
    expect(viaHeader.status).toBe(403);
    expect(viaHeader.body.status.code).toBe(2004);
    const still = await api(t.url, 'GET', `${TENANTS}/${b.ccid}`, { headers: { 'x-api-key': b.apiKey } });
    expect(still.body.data.name).toBe(`tenant ${b.ccid}`);
  });

  it('lets a key without nexus:provisioning:* do nothing with the tenant', async () => {
    const { ccid } = await createTenant(t);
    const consumer = await createApiKey(t, { tenant: ccid, permissions: ['nexus:consumer:chat'] });
    const r = await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': consumer.apiKey } });
    expect(r.status).toBe(403);
    expect(r.body.status.code).toBe(2003);
    const scoped = await createApiKey(t, { tenant: ccid, permissions: ['nexus:provisioning:*'] });
    const ok = await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': scoped.apiKey } });
    expect(ok.status).toBe(200);
  });

  it('deletes a tenant and revokes all its keys', async () => {
    const { ccid, apiKey } = await createTenant(t);
    const other = await createApiKey(t, { tenant: ccid, permissions: ['nexus:provisioning:*'] });
    const del = await api(t.url, 'DELETE', `${TENANTS}/${ccid}`, { headers: admin() });
    expect(del.status).toBe(200);
    expect(del.body.data).toEqual({ id: ccid, deleted: true, revokedKeys: 2 });
    for (const key of [apiKey, other.apiKey]) {
      const r = await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': key } });
      expect(r.status).toBe(401);
      expect(r.body.status.code).toBe(2001);
    }
    expect((await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: admin() })).status).toBe(404);
    // The id is free again.
    const again = await createTenant(t, ccid);
    expect(again.apiKey).not.toBe(apiKey);
  });

  it('lists tenants for admins only', async () => {
    const { ccid, apiKey } = await createTenant(t);
    const r = await api(t.url, 'GET', TENANTS, { headers: admin() });
    expect(r.status).toBe(200);
    expect(r.body.data.tenants.map((x: { id: string }) => x.id)).toContain(ccid);
    expect((await api(t.url, 'GET', TENANTS, { headers: { 'x-api-key': apiKey } })).status).toBe(403);
  });
});
