/**
 * Admin credentials confirmed by RFC 7662 introspection, against a fake OAuth2 server started here
 * (node:http on port 0) that checks the gateway's client credentials like the suite's auth service.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { collectLogs } from '../helpers/logs.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';

const CLIENT = { id: 'nexus_client', secret: `s3cret-${randomUUID()}` };

interface FakeAuthServer {
  url: string;
  /** Introspection calls per token. */
  calls: Map<string, number>;
  active: Map<string, Record<string, unknown>>;
  /** Tokens for which the server fails (HTTP 500). */
  failing: Set<string>;
  close(): Promise<void>;
}

async function startAuthServer(): Promise<FakeAuthServer> {
  const calls = new Map<string, number>();
  const active = new Map<string, Record<string, unknown>>();
  const failing = new Set<string>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      const expected = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
      if (req.method !== 'POST' || req.url !== '/auth/v3/oauth/introspect') {
        res.statusCode = 404;
        res.end('{}');
        return;
      }
      // RFC 7662 §2.1: the protected resource authenticates itself; §2.1 form-encoded `token`.
      if (
        req.headers.authorization !== expected ||
        !req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')
      ) {
        res.statusCode = 401;
        res.end('{"error":"invalid_client"}');
        return;
      }
      const token = new URLSearchParams(body).get('token') ?? '';
      calls.set(token, (calls.get(token) ?? 0) + 1);
      if (failing.has(token)) {
        res.statusCode = 500;
        res.end('{}');
        return;
      }
      const info = active.get(token);
      res.end(JSON.stringify(info ? { active: true, ...info } : { active: false }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/v3/oauth/introspect`,
    calls,
    active,
    failing,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.each(engines())('introspected admin credentials on %s engines', (engine) => {
  let auth: FakeAuthServer;
  let t: TestNexus;
  const logs = collectLogs();
  const count = async (table: string) =>
    Number((await t.nexus.db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  /** The cluster admin's token (`$gwsAdminName`, scope `*`). */
  const gwsToken = () => {
    const token = randomUUID();
    auth.active.set(token, {
      sub: 'ops',
      username: 'ops',
      client_id: 'nexus_client',
      scope: '*',
      exp: Math.floor(Date.now() / 1000) + 3600,
    });
    return token;
  };
  /** A tenant user's token (`$ccId\\$tenantUser`, scope ""), as the guide's password grant gives it. */
  const tenantUserToken = (ccid: string, user = 'tenantUser') => {
    const token = randomUUID();
    auth.active.set(token, {
      sub: `${ccid}\\${user}`,
      username: `${ccid}\\${user}`,
      client_id: 'nexus_client',
      scope: '',
      exp: Math.floor(Date.now() / 1000) + 3600,
    });
    return token;
  };

  beforeAll(async () => {
    auth = await startAuthServer();
    t = await startNexus({
      engine,
      logDestination: logs.stream,
      nexus: {
        auth: {
          introspection: {
            url: auth.url,
            clientId: CLIENT.id,
            clientSecret: CLIENT.secret,
            cacheSeconds: 60,
          },
        },
      },
    });
  });
  afterAll(async () => {
    await t?.cleanup();
    await auth?.close();
  });

  it('runs the guide: tenant with "Bearer $outGWSAccessToken", keys with "Authorization: $outGWSAccessToken"', async () => {
    const ccId = randomUUID();
    const outGWSAccessToken = tenantUserToken(ccId);
    const tenant = await api(t.url, 'POST', '/nexus/v3/provisioning/tenants', {
      headers: { Authorization: `Bearer ${outGWSAccessToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        id: ccId,
        name: 'premise_tenant',
        type: 'PureEngage',
        backendurl: 'https://gws.mydomain.com',
        username: 'nexus',
        token: 'nexus_password',
        genesysenantid: 1,
      }),
    });
    expect(tenant.status).toBe(201);
    expect(tenant.body.data.xapikey).toMatch(/^[0-9a-f-]{36}$/);

    const outClusterGWSAccessToken = gwsToken();
    for (const [token, body] of [
      [
        outGWSAccessToken,
        {
          enabled: true,
          tenant: ccId,
          name: 'API key for premise_tenant',
          permissions: ['nexus:consumer:chat'],
        },
      ],
      [
        outClusterGWSAccessToken,
        { enabled: true, tenant: '*', name: 'Cluster API key', permissions: ['nexus:cluster:*'] },
      ],
      [
        outGWSAccessToken,
        { enabled: true, tenant: ccId, name: 'Designer API key', permissions: ['nexus:designer:chat'] },
      ],
    ] as const) {
      const r = await api(t.url, 'POST', '/nexus/v3/apikeys', {
        headers: { Authorization: token, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ ...body, revoked: false, expires: false, capacity: 120, frequency: 60 });
      expect(r.body.createdby).toBe(token === outGWSAccessToken ? `oauth:${ccId}\\tenantUser` : 'oauth:ops');
    }
    // Answers are cached: the server was asked once per token although the first was used three times.
    expect(auth.calls.get(outGWSAccessToken)).toBe(1);
    expect(auth.calls.get(outClusterGWSAccessToken)).toBe(1);
    const text = logs.text();
    expect(text).not.toContain(outGWSAccessToken);
    expect(text).not.toContain(outClusterGWSAccessToken);
    expect(text).not.toContain(CLIENT.secret);
  });

  it("confines a tenant user's token to its tenant: no other tenant, no cluster key, no tenant list", async () => {
    const admin = { Authorization: gwsToken(), 'Content-Type': 'application/json' };
    const [a, b] = [randomUUID(), randomUUID()];
    for (const id of [a, b]) {
      const r = await api(t.url, 'POST', '/nexus/v3/provisioning/tenants', {
        headers: admin,
        body: JSON.stringify({ id, name: `tenant ${id}` }),
      });
      expect(r.status).toBe(201);
    }
    const bKey = await api(t.url, 'POST', '/nexus/v3/apikeys', {
      headers: admin,
      body: JSON.stringify({ tenant: b, name: 'B key', permissions: ['nexus:consumer:chat'] }),
    });
    expect(bKey.status).toBe(201);
    const aUser = { Authorization: tenantUserToken(a), 'Content-Type': 'application/json' };
    const before = { tenants: await count('tenants'), keys: await count('api_keys') };
    const refusals: Array<[string, string, string?, unknown?]> = [
      ['POST', '/nexus/v3/provisioning/tenants', undefined, { id: randomUUID(), name: 'another' }],
      ['GET', '/nexus/v3/provisioning/tenants'],
      ['GET', `/nexus/v3/provisioning/tenants/${b}`],
      ['PUT', `/nexus/v3/provisioning/tenants/${b}`, undefined, { name: 'taken over' }],
      ['DELETE', `/nexus/v3/provisioning/tenants/${b}`],
      ['DELETE', `/nexus/v3/provisioning/tenants/${a}`],
      ['POST', '/nexus/v3/apikeys', undefined, { tenant: b, name: 'x', permissions: ['nexus:*'] }],
      ['POST', '/nexus/v3/apikeys', undefined, { tenant: '*', name: 'x', permissions: ['nexus:cluster:*'] }],
      ['GET', `/nexus/v3/apikeys?tenant=${b}`],
      ['GET', `/nexus/v3/apikeys/${bKey.body.keyId}`],
      ['DELETE', `/nexus/v3/apikeys/${bKey.body.keyId}`],
      ['GET', '/nexus/v3/provisioning/services/' + b],
      ['GET', '/nexus/v3/interactions', b],
    ];
    for (const [method, path, ccid, body] of refusals) {
      const r = await api(t.url, method, path, {
        headers: { ...aUser, ...(ccid ? { 'x-ccid': ccid } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect([403, 404], `${method} ${path}`).toContain(r.status);
      expect(JSON.stringify(r.body), `${method} ${path}`).not.toContain(`tenant ${b}`);
    }
    expect({ tenants: await count('tenants'), keys: await count('api_keys') }).toEqual(before);
    expect(
      (await api(t.url, 'GET', `/nexus/v3/apikeys/${bKey.body.keyId}`, { headers: admin })).body.revoked,
    ).toBe(false);
    // Its own tenant it can read and provision keys for; the list shows its own keys only.
    expect((await api(t.url, 'GET', `/nexus/v3/provisioning/tenants/${a}`, { headers: aUser })).status).toBe(
      200,
    );
    const own = await api(t.url, 'POST', '/nexus/v3/apikeys', {
      headers: aUser,
      body: JSON.stringify({ tenant: a, name: 'A key', permissions: ['nexus:consumer:chat'] }),
    });
    expect(own.status).toBe(201);
    const listed = await api(t.url, 'GET', '/nexus/v3/apikeys', { headers: aUser });
    expect(listed.status).toBe(200);
    expect(listed.body.data.apikeys.length).toBeGreaterThan(0);
    expect(listed.body.data.apikeys.every((k: { tenant: string }) => k.tenant === a)).toBe(true);
  });

  it('refuses an active token that names no tenant and lacks scope *', async () => {
    const token = randomUUID();
    auth.active.set(token, { sub: 'someone', username: 'someone', scope: 'openid profile' });
    const r = await api(t.url, 'GET', '/nexus/v3/provisioning/tenants', {
      headers: { Authorization: token },
    });
    expect(r.status).toBe(403);
    expect(r.body.status.code).toBe(2003);
  });

  it('refuses an inactive or expired token with 401 code 2002, storing nothing, asking once', async () => {
    const before = [await count('tenants'), await count('api_keys')];
    const inactive = randomUUID();
    const expired = randomUUID();
    auth.active.set(expired, { sub: 'ops', exp: Math.floor(Date.now() / 1000) - 10 });
    for (const token of [inactive, inactive, expired]) {
      const r = await api(t.url, 'POST', '/nexus/v3/provisioning/tenants', {
        headers: { authorization: token },
        json: { id: randomUUID(), name: 'x' },
      });
      expect(r.status).toBe(401);
      expect(r.body.status.code).toBe(2002);
    }
    expect(auth.calls.get(inactive)).toBe(1);
    expect([await count('tenants'), await count('api_keys')]).toEqual(before);
  });

  it('answers 503 code 9001 when the server cannot answer, and asks again next time', async () => {
    const token = gwsToken();
    auth.failing.add(token);
    const r = await api(t.url, 'GET', '/nexus/v3/provisioning/tenants', {
      headers: { authorization: token },
    });
    expect(r.status).toBe(503);
    expect(r.body.status.code).toBe(9001);
    auth.failing.delete(token);
    const ok = await api(t.url, 'GET', '/nexus/v3/provisioning/tenants', {
      headers: { authorization: token },
    });
    expect(ok.status).toBe(200);
    expect(auth.calls.get(token)).toBe(2);
  });

  // Only the Redis state is shared between nodes; the in-process one is a single node's by design.
  if (engine === 'real') {
    it('shares cached answers between the nodes of one deployment', async () => {
      const token = gwsToken();
      const second = await startNexus({ shareWith: t });
      try {
        expect(
          (await api(t.url, 'GET', '/nexus/v3/provisioning/tenants', { headers: { authorization: token } }))
            .status,
        ).toBe(200);
        expect(
          (
            await api(second.url, 'GET', '/nexus/v3/provisioning/tenants', {
              headers: { authorization: token },
            })
          ).status,
        ).toBe(200);
        expect(auth.calls.get(token)).toBe(1);
      } finally {
        await second.close();
      }
    });
  }

  it('still takes the configured admin token first, without asking the server', async () => {
    const calls = [...auth.calls.values()].reduce((a, b) => a + b, 0);
    const r = await api(t.url, 'GET', '/nexus/v3/provisioning/tenants', {
      headers: { authorization: t.adminToken },
    });
    expect(r.status).toBe(200);
    expect([...auth.calls.values()].reduce((a, b) => a + b, 0)).toBe(calls);
  });
});
