/**
 * Tenant isolation, walked generically over the router so that routes added later are covered
 * without touching this file: tenant B's strongest key is sent against every route whose pattern
 * names a `:ccid` (filled with tenant A's id and A's resources), and against every
 * `/nexus/v3/apikeys` and `/nexus/v3/interactions` route, with and without `x-ccid`. None may
 * answer 2xx about A, none may fail with 5xx, and afterwards every row of A in every table with a
 * `ccid` or `tenant` column, and every admin read of A, is what it was before.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '../src/shared/http/router.js';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders, type TestTenant } from './helpers/tenants.js';

/** Route families without `:ccid` whose tenant comes from the credential or `x-ccid`. */
const KEYED_FAMILIES = ['/nexus/v3/apikeys', '/nexus/v3/interactions'];

const PROBE = 'iso-probe';

interface Seed {
  method: string;
  pattern: string;
  params: Record<string, string>;
  body: unknown;
}

describe.each(engines())('tenant isolation on %s engines', (engine) => {
  let t: TestNexus;
  let a: TestTenant;
  let b: TestTenant;
  let bKey: string;
  /** Route params filled with A's resources; anything else gets PROBE. */
  const params: Record<string, string> = {};
  /** Bodies that are valid for a route, by `METHOD pattern`, so that a refusal is not just validation. */
  const bodies = new Map<string, unknown>();
  /** Strings that identify A's data: none may appear in an answer to B. */
  const secretsOfA: string[] = [];
  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });

  const fill = (pattern: string) =>
    pattern
      .split('/')
      .map((s) =>
        s === '*' ? PROBE : s.startsWith(':') ? encodeURIComponent(params[s.slice(1)] ?? PROBE) : s,
      )
      .join('/');
  const listed = (method: string, pattern: string) =>
    t.nexus.router.list().some((r) => r.method === method && r.pattern === pattern);

  /** A's rows in every table that has a tenant column, and every admin read of A. */
  async function snapshot(): Promise<string> {
    const cols = await t.nexus.db.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND column_name IN ('ccid', 'tenant')
        ORDER BY table_name, column_name`,
    );
    const out: Record<string, unknown> = {};
    for (const c of cols.rows) {
      const r = await t.nexus.db.query(
        `SELECT to_jsonb(x)::text AS row FROM "${c.table_name}" x WHERE "${c.column_name}"::text = $1 ORDER BY 1`,
        [a.ccid],
      );
      out[`${c.table_name}.${c.column_name}`] = r.rows.map((x) => x.row);
    }
    for (const route of t.nexus.router.list()) {
      if (route.method !== 'GET' || !route.pattern.includes(':ccid')) continue;
      const r = await api(t.url, 'GET', fill(route.pattern), { headers: admin() });
      out[`GET ${route.pattern}`] = { status: r.status, data: r.body?.data ?? r.body?.status?.code ?? null };
    }
    return JSON.stringify(out);
  }

  beforeAll(async () => {
    t = await startNexus({ engine });
    a = await createTenant(t);
    b = await createTenant(t);
    // B's strongest tenant credential, with room for the whole walk under its rate limit.
    bKey = (
      await createApiKey(t, { tenant: b.ccid, permissions: ['nexus:*'], capacity: 100_000, name: 'B walker' })
    ).apiKey;
    params.ccid = a.ccid;
    secretsOfA.push(a.ccid, a.apiKey);

    const seeds: Seed[] = [
      {
        method: 'PUT',
        pattern: '/nexus/v3/provisioning/services/:ccid/:serviceName',
        params: { serviceName: 'mGageSMS' },
        body: {
          url: 'https://iso.example',
          data: {},
          secret: { username: 'iso-user', password: `pw-${randomBytes(8).toString('hex')}` },
        },
      },
      {
        method: 'PUT',
        pattern: '/nexus/v3/provisioning/channels/:ccid/:section',
        params: { section: 'chat.Iso' },
        body: { channelId: `1777${randomBytes(3).readUIntBE(0, 3)}`, channelType: 'sms' },
      },
      {
        method: 'PUT',
        pattern: '/nexus/v3/provisioning/endpoints/:ccid/:endpoint',
        params: { endpoint: 'iso-endpoint' },
        body: { queue: 'iso-queue' },
      },
      {
        method: 'PUT',
        pattern: '/nexus/v3/provisioning/agents/:ccid/:agentId',
        params: { agentId: 'iso-agent' },
        body: { name: 'Iso Agent', queues: ['iso-queue'], capacity: 2 },
      },
    ];
    for (const seed of seeds) {
      Object.assign(params, seed.params);
      bodies.set(`${seed.method} ${seed.pattern}`, seed.body);
      if (!listed(seed.method, seed.pattern)) continue;
      const r = await api(t.url, seed.method, fill(seed.pattern), {
        headers: keyHeaders(a.apiKey, a.ccid),
        json: seed.body,
      });
      expect(r.status, `seeding ${seed.pattern}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      const secret = (seed.body as { secret?: { password?: string } }).secret?.password;
      if (secret) secretsOfA.push(secret);
    }
    const key = await createApiKey(t, {
      tenant: a.ccid,
      permissions: ['nexus:consumer:chat'],
      name: 'A widget',
    });
    params.keyId = key.keyId;
    secretsOfA.push(key.keyId, key.apiKey);
    if (listed('POST', '/nexus/v3/chat/sessions')) {
      const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
        headers: keyHeaders(a.apiKey, a.ccid),
        json: { data: { nickname: 'Iso Customer', endpoint: 'iso-endpoint' } },
      });
      expect(s.status, JSON.stringify(s.body)).toBeLessThan(300);
      params.id = s.body.data.conversationId;
      secretsOfA.push(s.body.data.conversationId, s.body.data.sessionId);
    }
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("gives tenant B no 2xx and no change on any of tenant A's routes", async () => {
    const routes = t.nexus.router
      .list()
      .filter(
        (r: Route) =>
          r.pattern.includes(':ccid') ||
          KEYED_FAMILIES.some((f) => r.pattern === f || r.pattern.startsWith(`${f}/`)),
      );
    // Reads first and the tenant's own DELETE last, so that one leak cannot hide the others.
    const order = ['GET', 'POST', 'PUT', 'DELETE'];
    routes.sort(
      (x, y) => order.indexOf(x.method) - order.indexOf(y.method) || y.segments.length - x.segments.length,
    );
    // The walk covers at least this module's own routes, and whatever else the router lists.
    expect(routes.filter((r) => r.pattern.includes(':ccid')).length).toBeGreaterThanOrEqual(9);

    const before = await snapshot();
    const headerSets = [{ 'x-api-key': bKey }, keyHeaders(bKey, a.ccid), keyHeaders(bKey, b.ccid)];
    const failures: string[] = [];
    let requests = 0;
    for (const route of routes) {
      const path = fill(route.pattern);
      const scoped = route.pattern.includes(':ccid');
      const write = route.method === 'POST' || route.method === 'PUT';
      const known = bodies.get(`${route.method} ${route.pattern}`);
      // Valid bodies where known (so that only authorization can refuse), else an empty and a tenant-naming one.
      const candidates: unknown[] = write
        ? known
          ? [known]
          : [{}, { tenant: a.ccid, ccid: a.ccid, name: 'iso' }]
        : [undefined];
      for (const headers of headerSets) {
        for (const json of candidates) {
          const r = await api(t.url, route.method, path, {
            headers,
            ...(json !== undefined ? { json } : {}),
          });
          requests++;
          const text = JSON.stringify(r.body ?? '');
          const what = `${route.method} ${route.pattern} [${Object.keys(headers).join('+')}${headers['x-ccid'] === a.ccid ? '=A' : ''}] → ${r.status} ${text.slice(0, 200)}`;
          if (r.status >= 500 || r.status === 429) failures.push(`unexpected status: ${what}`);
          else if (r.status < 300) {
            // A route scoped by the path's ccid must refuse outright; a keyed route may answer B about B only.
            if (scoped) failures.push(`2xx for A's resource: ${what}`);
            else if (secretsOfA.some((s) => text.includes(s)))
              failures.push(`A's data in the answer: ${what}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(routes.length);
    expect(await snapshot()).toBe(before);
  });

  it('lets A itself read every route it owns that the walk refused to B (the walk is not vacuous)', async () => {
    const seeded = (pattern: string) =>
      pattern
        .split('/')
        .filter((s) => s.startsWith(':'))
        .every((s) => params[s.slice(1)] !== undefined);
    const reads = t.nexus.router
      .list()
      .filter(
        (r) =>
          r.method === 'GET' && r.pattern.includes(':ccid') && !r.pattern.includes('*') && seeded(r.pattern),
      );
    expect(reads.length).toBeGreaterThanOrEqual(4);
    for (const route of reads) {
      const r = await api(t.url, 'GET', fill(route.pattern), { headers: keyHeaders(a.apiKey, a.ccid) });
      expect(r.status, `${route.pattern}: ${JSON.stringify(r.body)}`).toBe(200);
    }
  });
});
