import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './helpers/engines.js';
import { collectLogs } from './helpers/logs.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders } from './helpers/tenants.js';

const KEYS = '/nexus/v3/apikeys';
const TENANTS = '/nexus/v3/provisioning/tenants';
const GUIDE_FIELDS = [
  'id',
  'tenant',
  'name',
  'permissions',
  'enabled',
  'created',
  'revoked',
  'expires',
  'createdby',
  'capacity',
  'frequency',
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.each(engines())('API keys on %s engines', (engine) => {
  let t: TestNexus;
  const logs = collectLogs();
  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });
  const count = async () => Number((await t.nexus.db.query('SELECT count(*) AS n FROM api_keys')).rows[0].n);
  /** Every key value this suite has seen, to check it never comes back or reaches a log. */
  const seen: string[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine, logDestination: logs.stream });
  });
  afterAll(async () => {
    // The collector did see the gateway's lines (so the check below is not vacuous).
    expect(logs.text()).toContain('API key created');
    expect(logs.text()).toContain('access refused');
    for (const value of seen) expect(logs.text()).not.toContain(value);
    await t?.cleanup();
  });

  describe('the guide chapter "Provision API keys", as written', () => {
    let ccId: string;
    beforeAll(async () => {
      ccId = (await createTenant(t)).ccid;
    });

    it('creates a tenant consumer key with "Authorization: <token>" (no Bearer)', async () => {
      const tenantName = 'premise_tenant';
      const r = await api(t.url, 'POST', KEYS, {
        headers: { Authorization: t.adminToken, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          enabled: true,
          tenant: ccId,
          name: `API key for ${tenantName}`,
          permissions: ['nexus:consumer:chat'],
        }),
      });
      expect(r.status).toBe(201);
      // The guide's clients read the record at the top level; our envelope carries it too.
      for (const record of [r.body, r.body.data]) {
        for (const f of GUIDE_FIELDS) expect(record).toHaveProperty(f);
        expect(record).toMatchObject({
          tenant: ccId,
          name: `API key for ${tenantName}`,
          permissions: ['nexus:consumer:chat'],
          enabled: true,
          revoked: false,
          expires: false,
          createdby: 'admin',
          capacity: 120,
          frequency: 60,
        });
        expect(record.id).toMatch(UUID);
        expect(record.keyId).toMatch(UUID);
        expect(record.keyId).not.toBe(record.id);
        expect(Number.isNaN(Date.parse(record.created))).toBe(false);
      }
      expect(r.body.status).toEqual({ code: 0 });
      expect(r.body.operationId).toMatch(UUID);
      const apikey = r.body.id;
      seen.push(apikey);

      // Stored hashed, with a short prefix only.
      const row = (await t.nexus.db.query('SELECT * FROM api_keys WHERE id = $1', [r.body.keyId])).rows[0];
      expect(JSON.stringify(row)).not.toContain(apikey);
      expect(apikey.startsWith(row.key_prefix)).toBe(true);
      expect(row.key_prefix.length).toBeLessThan(12);
    });

    it('creates a cluster key with "Authorization: <token>"', async () => {
      const r = await api(t.url, 'POST', KEYS, {
        headers: { Authorization: t.adminToken, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          enabled: true,
          tenant: '*',
          name: 'Cluster API key',
          permissions: ['nexus:cluster:*'],
        }),
      });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({
        tenant: '*',
        name: 'Cluster API key',
        permissions: ['nexus:cluster:*'],
        enabled: true,
        revoked: false,
        expires: false,
        capacity: 120,
        frequency: 60,
      });
      seen.push(r.body.id);
      // A cluster key acts on the tenant it names.
      const got = await api(t.url, 'GET', `${TENANTS}/${ccId}`, { headers: keyHeaders(r.body.id, ccId) });
      expect(got.status).toBe(200);
      expect(got.body.data.id).toBe(ccId);
    });

    it('creates the Designer key', async () => {
      const r = await api(t.url, 'POST', KEYS, {
        headers: { Authorization: t.adminToken, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          enabled: true,
          tenant: ccId,
          name: 'Designer API key',
          permissions: ['nexus:designer:chat'],
        }),
      });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({
        tenant: ccId,
        name: 'Designer API key',
        permissions: ['nexus:designer:chat'],
        capacity: 120,
        frequency: 60,
      });
      seen.push(r.body.id);
    });

    it('creates the messaging cluster key of the SMS chapter', async () => {
      const k = await createApiKey(t, {
        tenant: '*',
        name: 'Portico Cluster API Key',
        permissions: ['nexus:cluster:*'],
      });
      expect(k.record).toMatchObject({
        tenant: '*',
        name: 'Portico Cluster API Key',
        permissions: ['nexus:cluster:*'],
      });
      seen.push(k.apiKey);
    });
  });

  it('lists and reads keys without ever returning the key value', async () => {
    const { ccid, apiKey } = await createTenant(t);
    seen.push(apiKey);
    const k = await createApiKey(t, {
      tenant: ccid,
      permissions: ['nexus:consumer:chat'],
      capacity: 5,
      frequency: 10,
    });
    seen.push(k.apiKey);

    const list = await api(t.url, 'GET', `${KEYS}?tenant=${ccid}`, { headers: admin() });
    expect(list.status).toBe(200);
    expect(list.body.data.apikeys).toHaveLength(2);
    expect(list.body.data.apikeys.map((x: { id: string }) => x.id).sort()).toContain(k.keyId);
    const all = await api(t.url, 'GET', KEYS, { headers: admin() });
    expect(all.body.data.apikeys.length).toBeGreaterThan(2);

    const read = await api(t.url, 'GET', `${KEYS}/${k.keyId}`, { headers: admin() });
    expect(read.status).toBe(200);
    expect(read.body.data).toMatchObject({
      id: k.keyId,
      keyId: k.keyId,
      tenant: ccid,
      capacity: 5,
      frequency: 10,
    });
    expect(read.body.id).toBe(k.keyId);

    for (const answer of [list, all, read]) {
      const text = JSON.stringify(answer.body);
      for (const value of seen) expect(text).not.toContain(value);
    }
  });

  it('revokes a key; the revoked key is refused with 401 code 2001', async () => {
    const { ccid } = await createTenant(t);
    const k = await createApiKey(t, { tenant: ccid, permissions: ['nexus:provisioning:*'] });
    seen.push(k.apiKey);
    expect(
      (await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': k.apiKey } })).status,
    ).toBe(200);

    const del = await api(t.url, 'DELETE', `${KEYS}/${k.keyId}`, { headers: admin() });
    expect(del.status).toBe(200);
    expect(del.body.data).toMatchObject({ id: k.keyId, revoked: true });
    expect(JSON.stringify(del.body)).not.toContain(k.apiKey);

    const refused = await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': k.apiKey } });
    expect(refused.status).toBe(401);
    expect(refused.body.status.code).toBe(2001);
    const put = await api(t.url, 'PUT', `${TENANTS}/${ccid}`, {
      headers: { 'x-api-key': k.apiKey },
      json: { name: 'x' },
    });
    expect(put.status).toBe(401);
    expect((await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: admin() })).body.data.name).toBe(
      `tenant ${ccid}`,
    );

    // Revoking again is harmless; unknown or malformed ids are 404 code 3001.
    expect((await api(t.url, 'DELETE', `${KEYS}/${k.keyId}`, { headers: admin() })).status).toBe(200);
    for (const id of [randomUUID(), 'not-a-uuid', "1' OR '1'='1"]) {
      const r = await api(t.url, 'DELETE', `${KEYS}/${encodeURIComponent(id)}`, { headers: admin() });
      expect(r.status).toBe(404);
      expect(r.body.status.code).toBe(3001);
      expect(
        (await api(t.url, 'GET', `${KEYS}/${encodeURIComponent(id)}`, { headers: admin() })).status,
      ).toBe(404);
    }
  });

  it('refuses unknown, disabled and expired keys with 401 code 2001', async () => {
    const { ccid } = await createTenant(t);
    const disabled = await createApiKey(t, { tenant: ccid, permissions: ['nexus:*'], enabled: false });
    const expiring = await createApiKey(t, {
      tenant: ccid,
      permissions: ['nexus:*'],
      expires: new Date(Date.now() + 3_600_000).toISOString(),
    });
    seen.push(disabled.apiKey, expiring.apiKey);
    expect(expiring.record.expires).toMatch(/^\d{4}-/);
    expect(
      (await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': expiring.apiKey } })).status,
    ).toBe(200);
    // Let the key's time run out without waiting for it.
    await t.nexus.db.query("UPDATE api_keys SET expires = now() - interval '1 second' WHERE id = $1", [
      expiring.keyId,
    ]);
    for (const key of [randomUUID(), 'garbage', disabled.apiKey, expiring.apiKey, 'x'.repeat(10_000)]) {
      const r = await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': key } });
      expect(r.status).toBe(401);
      expect(r.body.status.code).toBe(2001);
    }
  });

  it('refuses bad key requests with a 4xx naming the field, storing nothing', async () => {
    const { ccid, apiKey } = await createTenant(t);
    seen.push(apiKey);
    const before = await count();
    const ok = { enabled: true, tenant: ccid, name: 'k', permissions: ['nexus:consumer:chat'] };
    const cases: Array<[unknown, string]> = [
      [{ ...ok, colour: 'red' }, 'colour'],
      [{ ...ok, tenant: undefined }, 'tenant'],
      [{ ...ok, tenant: 'a b' }, 'tenant'],
      [{ ...ok, name: '' }, 'name'],
      [{ ...ok, permissions: [] }, 'permissions'],
      [{ ...ok, permissions: ['nexus::chat'] }, 'permissions.0'],
      [{ ...ok, permissions: 'nexus:consumer:chat' }, 'permissions'],
      [{ ...ok, permissions: ['nexus:consumer:chat', 'nexus:cluster:*'] }, 'permissions.1'],
      [{ ...ok, tenant: '*' }, 'permissions.0'],
      [{ ...ok, capacity: 0 }, 'capacity'],
      [{ ...ok, frequency: 1.5 }, 'frequency'],
      [{ ...ok, enabled: 'yes' }, 'enabled'],
      [{ ...ok, expires: 'tomorrow' }, 'expires'],
      [{ ...ok, expires: '2001-01-01T00:00:00Z' }, 'expires'],
      // ISO-shaped but no time at all (an offset past ±23:59): refused, not sent to PostgreSQL.
      [{ ...ok, expires: '2099-01-01T00:00:00+99:99' }, 'expires'],
      [undefined, 'body'],
    ];
    for (const [json, field] of cases) {
      const r = await api(t.url, 'POST', KEYS, { headers: admin(), json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.status.code).toBe(1004);
      expect(r.body.status.details.field).toBe(field);
    }
    const unknownTenant = await api(t.url, 'POST', KEYS, {
      headers: admin(),
      json: { ...ok, tenant: randomUUID() },
    });
    expect(unknownTenant.status).toBe(404);
    expect(unknownTenant.body.status.code).toBe(3000);
    const form = await api(t.url, 'POST', KEYS, { headers: admin(), form: 'tenant=x' });
    expect(form.status).toBe(415);
    // Keys do not manage keys, whatever their permissions.
    for (const [method, path] of [
      ['POST', KEYS],
      ['GET', KEYS],
      ['GET', `${KEYS}/${randomUUID()}`],
      ['DELETE', `${KEYS}/${randomUUID()}`],
    ]) {
      const r = await api(t.url, method, path, {
        headers: { 'x-api-key': apiKey },
        json: method === 'POST' ? ok : undefined,
      });
      expect(r.status).toBe(403);
      expect(r.body.status.code).toBe(2003);
    }
    const none = await api(t.url, 'POST', KEYS, { json: ok });
    expect(none.status).toBe(401);
    expect(none.body.status.code).toBe(2000);
    expect(await count()).toBe(before);
  });

  it('rate-limits each key: capacity 3 allows 3 requests, the 4th is 429 code 2006 with Retry-After', async () => {
    const { ccid } = await createTenant(t);
    const k = await createApiKey(t, {
      tenant: ccid,
      permissions: ['nexus:provisioning:*'],
      capacity: 3,
      frequency: 60,
    });
    seen.push(k.apiKey);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': k.apiKey } });
      expect(r.status).toBe(200);
      expect(r.headers.get('ratelimit-limit')).toBe('3');
      expect(Number(r.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
      remaining.push(r.headers.get('ratelimit-remaining') ?? '');
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const r = await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': k.apiKey } });
    expect(r.status).toBe(429);
    expect(r.body.status.code).toBe(2006);
    expect(r.headers.get('ratelimit-limit')).toBe('3');
    expect(r.headers.get('ratelimit-remaining')).toBe('0');
    const retryAfter = Number(r.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    // Another key of the same tenant has its own bucket.
    const other = await createApiKey(t, { tenant: ccid, permissions: ['nexus:provisioning:*'], capacity: 3 });
    seen.push(other.apiKey);
    expect(
      (await api(t.url, 'GET', `${TENANTS}/${ccid}`, { headers: { 'x-api-key': other.apiKey } })).status,
    ).toBe(200);
    // A refused answer of a keyed request carries the headers too.
    const forbidden = await api(t.url, 'GET', `${TENANTS}/${randomUUID()}`, {
      headers: { 'x-api-key': other.apiKey },
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('ratelimit-remaining')).toBe('1');
  });

  it('the tenant key may not act on another tenant, even through x-ccid', async () => {
    const a = await createTenant(t);
    const b = await createTenant(t);
    seen.push(a.apiKey, b.apiKey);
    const r = await api(t.url, 'GET', `${TENANTS}/${b.ccid}`, { headers: keyHeaders(a.apiKey, b.ccid) });
    expect(r.status).toBe(403);
    expect(r.body.status.code).toBe(2004);
  });
});

// Two nodes need a shared Redis and database: the in-process engines share nothing by design.
if (engines().includes('real')) {
  describe('the rate limit across two gateways on one Redis', () => {
    let one: TestNexus;
    let two: TestNexus;
    beforeAll(async () => {
      one = await startNexus({ engine: 'real' });
      two = await startNexus({ shareWith: one });
    });
    afterAll(async () => {
      await two?.close();
      await one?.cleanup();
    });

    it('draws every node from the same bucket', async () => {
      const { ccid } = await createTenant(one);
      const k = await createApiKey(one, { tenant: ccid, permissions: ['nexus:provisioning:*'], capacity: 3 });
      const path = `${TENANTS}/${ccid}`;
      const headers = { 'x-api-key': k.apiKey };
      expect((await api(one.url, 'GET', path, { headers })).status).toBe(200);
      expect((await api(two.url, 'GET', path, { headers })).status).toBe(200);
      expect((await api(one.url, 'GET', path, { headers })).headers.get('ratelimit-remaining')).toBe('0');
      const fourth = await api(two.url, 'GET', path, { headers });
      expect(fourth.status).toBe(429);
      expect(fourth.body.status.code).toBe(2006);
      expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    });
  });
}
