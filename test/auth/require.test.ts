/**
 * `auth.require` as route modules use it: probe routes added to a running gateway's router, with
 * an Auth built over that gateway's own database and shared state, exercise the permission catalog
 * and the tenant scope (route ccid, x-ccid, cluster keys) over real HTTP.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/gateway/auth/auth.js';
import { PERMISSIONS } from '../../src/gateway/auth/permissions.js';
import type { AccessRule } from '../../src/gateway/auth/types.js';
import { createLogger } from '../../src/shared/logger.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders } from '../helpers/tenants.js';

describe.each(engines())('auth.require on %s engines', (engine) => {
  let t: TestNexus;
  let ccid: string;
  let other: string;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    t = await startNexus({ engine });
    const auth = createAuth({
      db: t.nexus.db,
      state: t.nexus.state,
      adminToken: t.adminToken,
      config: t.config,
      log: createLogger({ level: 'silent' }),
      registry: t.nexus.registry,
    });
    const probe = (rule: (p: Record<string, string>) => AccessRule) => async (ctx: any) => {
      const access = await auth.require(ctx, rule(ctx.params));
      return { data: { ccid: access.ccid, kind: access.principal.kind, subject: access.principal.subject } };
    };
    const r = t.nexus.router;
    r.get(
      '/probe/consumer',
      probe(() => ({ permission: PERMISSIONS.consumerChat })),
    );
    r.get(
      '/probe/designer',
      probe(() => ({ permission: PERMISSIONS.designerChat })),
    );
    r.get(
      '/probe/interactions/:ccid',
      probe((p) => ({ permission: PERMISSIONS.interactionsRead, ccid: p.ccid })),
    );
    r.get(
      '/probe/outbound',
      probe(() => ({ permission: PERMISSIONS.outboundSend })),
    );
    r.get(
      '/probe/ai',
      probe(() => ({ permission: PERMISSIONS.aiMessages })),
    );
    r.get(
      '/probe/keys-only',
      probe(() => ({ permission: PERMISSIONS.consumerChat, admin: false })),
    );
    // A route that asks twice (a broad permission, then a fallback) within one request.
    r.get('/probe/twice', async (ctx) => {
      await auth.require(ctx, { permission: PERMISSIONS.consumerChat });
      await auth.require(ctx, { permission: PERMISSIONS.consumerChat });
      return { data: {} };
    });

    ({ ccid, apiKey: keys.tenant } = await createTenant(t));
    ({ ccid: other, apiKey: keys.other } = await createTenant(t));
    keys.consumer = (await createApiKey(t, { tenant: ccid, permissions: [PERMISSIONS.consumerChat] })).apiKey;
    keys.designer = (await createApiKey(t, { tenant: ccid, permissions: [PERMISSIONS.designerChat] })).apiKey;
    keys.cluster = (await createApiKey(t, { tenant: '*', permissions: ['nexus:cluster:*'] })).apiKey;
    keys.clusterRead = (
      await createApiKey(t, { tenant: '*', permissions: ['nexus:cluster:interactions:read'] })
    ).apiKey;
    keys.ai = (await createApiKey(t, { tenant: ccid, permissions: ['nexus:ai:*'] })).apiKey;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const get = (path: string, headers: Record<string, string> = {}) => api(t.url, 'GET', path, { headers });

  it('grants each permission of the catalog only to keys that hold it', async () => {
    const ok = async (path: string, key: string) => {
      const r = await get(path, keyHeaders(key));
      expect(r.status, `${path} ${key}`).toBe(200);
      expect(r.body.data).toMatchObject({ ccid, kind: 'apikey' });
    };
    const forbidden = async (path: string, key: string) => {
      const r = await get(path, keyHeaders(key));
      expect(r.status, path).toBe(403);
      expect(r.body.status.code).toBe(2003);
    };
    await ok('/probe/consumer', keys.consumer);
    await forbidden('/probe/designer', keys.consumer);
    await ok('/probe/designer', keys.designer);
    await forbidden('/probe/consumer', keys.designer);
    await ok('/probe/ai', keys.ai);
    await forbidden('/probe/outbound', keys.ai);
    // The tenant's own key (nexus:*) may do everything for its tenant.
    for (const path of [
      '/probe/consumer',
      '/probe/designer',
      '/probe/outbound',
      '/probe/ai',
      `/probe/interactions/${ccid}`,
    ]) {
      await ok(path, keys.tenant);
    }
  });

  it('scopes a tenant key to its tenant: another ccid in the route or x-ccid is 403 code 2004', async () => {
    const own = await get(`/probe/interactions/${ccid}`, keyHeaders(keys.tenant, ccid));
    expect(own.status).toBe(200);
    for (const [path, headers] of [
      [`/probe/interactions/${other}`, keyHeaders(keys.tenant)],
      ['/probe/consumer', keyHeaders(keys.tenant, other)],
      [`/probe/interactions/${ccid}`, keyHeaders(keys.tenant, other)],
    ] as const) {
      const r = await get(path, headers);
      expect(r.status, path).toBe(403);
      expect(r.body.status.code).toBe(2004);
    }
  });

  it('makes a cluster key name the tenant: x-ccid or the route ccid, else 400 code 2005', async () => {
    const missing = await get('/probe/consumer', keyHeaders(keys.cluster));
    expect(missing.status).toBe(400);
    expect(missing.body.status.code).toBe(2005);
    for (const target of [ccid, other]) {
      const viaHeader = await get('/probe/consumer', keyHeaders(keys.cluster, target));
      expect(viaHeader.status).toBe(200);
      expect(viaHeader.body.data.ccid).toBe(target);
      const viaRoute = await get(`/probe/interactions/${target}`, keyHeaders(keys.cluster));
      expect(viaRoute.body.data.ccid).toBe(target);
    }
    // A narrower cluster grant covers only its permission, on any tenant.
    expect((await get(`/probe/interactions/${other}`, keyHeaders(keys.clusterRead))).status).toBe(200);
    expect((await get('/probe/consumer', keyHeaders(keys.clusterRead, other))).status).toBe(403);
    const badCcid = await get('/probe/consumer', keyHeaders(keys.cluster, 'not a ccid!'));
    expect(badCcid.status).toBe(400);
    expect(badCcid.body.status.code).toBe(1004);
  });

  it('charges the rate limit once per request, however often the route checks', async () => {
    const k = await createApiKey(t, { tenant: ccid, permissions: [PERMISSIONS.consumerChat], capacity: 2 });
    const first = await get('/probe/twice', keyHeaders(k.apiKey));
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-remaining')).toBe('1');
    expect((await get('/probe/twice', keyHeaders(k.apiKey))).headers.get('ratelimit-remaining')).toBe('0');
    expect((await get('/probe/twice', keyHeaders(k.apiKey))).status).toBe(429);
  });

  it('lets an admin credential act on any tenant it names', async () => {
    const r = await get('/probe/consumer', { authorization: t.adminToken, 'x-ccid': other });
    expect(r.body.data).toMatchObject({ ccid: other, kind: 'admin', subject: 'admin' });
    const route = await get(`/probe/interactions/${ccid}`, { authorization: `Bearer ${t.adminToken}` });
    expect(route.body.data.ccid).toBe(ccid);
  });

  it('lets the key decide when both headers are sent, and refuses admin tokens on key-only routes', async () => {
    const both = await get('/probe/designer', { authorization: t.adminToken, 'x-api-key': keys.consumer });
    expect(both.status).toBe(403);
    const adminOnly = await get('/probe/keys-only', { authorization: t.adminToken });
    expect(adminOnly.status).toBe(401);
    expect(adminOnly.body.status.code).toBe(2000);
    const none = await get('/probe/consumer');
    expect(none.status).toBe(401);
    expect(none.body.status.code).toBe(2000);
    const unknown = await get('/probe/consumer', keyHeaders(randomUUID()));
    expect(unknown.status).toBe(401);
    expect(unknown.body.status.code).toBe(2001);
  });
});
