/**
 * Tenant isolation, walked generically over the router so that routes added later are covered
 * without touching this file: tenant B's strongest key is sent against every route whose pattern
 * names a `:ccid` (filled with tenant A's id and A's resources: its conversation, its outbound
 * message, its dead-lettered outbox entry, its bot), and against every `/nexus/v3/apikeys`,
 * `/nexus/v3/interactions`, `/nexus/v3/ai` and `/nexus/v3/chat` route, with and without `x-ccid`,
 * and with B's own chat client token against A's chat session. None may answer 2xx about A, none
 * may fail with 5xx, and afterwards every row of A in every table with a `ccid` or `tenant`
 * column, and every admin read of A, is what it was before.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Route } from '../src/shared/http/router.js';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders, type TestTenant } from './helpers/tenants.js';

/** Route families without `:ccid` whose tenant comes from the credential or `x-ccid`. */
const KEYED_FAMILIES = ['/nexus/v3/apikeys', '/nexus/v3/interactions', '/nexus/v3/ai', '/nexus/v3/chat'];

/** A route names one of A's resources by itself: B may get no 2xx from it at all. */
const scopedToA = (pattern: string) => pattern.includes(':ccid') || pattern.includes(':sessionId');

/** Routes whose `:id` is not a conversation: the outbox's `:id` is one of its entries. */
const idOf = (pattern: string) => (pattern.startsWith('/nexus/v3/outbox/') ? 'outboxId' : 'id');

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
  let bClientToken: string | undefined;
  /** Route params filled with A's resources; anything else gets PROBE. */
  const params: Record<string, string> = {};
  /** Bodies that are valid for a route, by `METHOD pattern`, so that a refusal is not just validation. */
  const bodies = new Map<string, unknown>();
  /** Strings that identify A's data: none may appear in an answer to B. */
  const secretsOfA: string[] = [];
  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });

  /** The pattern with A's resources; `ccid` replaces A's id (B's own path naming A's resources). */
  const fill = (pattern: string, ccid?: string) =>
    pattern
      .split('/')
      .map((s) => {
        if (s === '*') return PROBE;
        if (!s.startsWith(':')) return s;
        if (s === ':ccid' && ccid) return encodeURIComponent(ccid);
        const name = s === ':id' ? idOf(pattern) : s.slice(1);
        return encodeURIComponent(params[name] ?? PROBE);
      })
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
          // Refused at once, so that A's outbound message is dead-lettered before the walk.
          url: 'http://127.0.0.1:9',
          data: {},
          secret: { username: 'iso-user', password: `pw-${randomBytes(8).toString('hex')}` },
        },
      },
      {
        method: 'PUT',
        pattern: '/nexus/v3/provisioning/channels/:ccid/:section',
        params: { section: 'chat.Iso' },
        body: { channelId: `1777${randomBytes(3).readUIntBE(0, 3)}`, channelType: 'sms', provider: 'mGage' },
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
      params.conversationId = s.body.data.conversationId;
      params.sessionId = s.body.data.sessionId;
      secretsOfA.push(s.body.data.conversationId, s.body.data.sessionId, s.body.data.clientToken);
      // B's own customer, whose client token is walked against A's session.
      const own = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
        headers: keyHeaders(b.apiKey, b.ccid),
        json: { data: { nickname: 'B Customer' } },
      });
      expect(own.status, JSON.stringify(own.body)).toBeLessThan(300);
      bClientToken = own.body.data.clientToken;
    }
    // A's bot, with a credential that only A (or athena's cluster key) may read.
    const botToken = `bot-${randomBytes(8).toString('hex')}`;
    const bot = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${a.ccid}/Bot-iso`, {
      headers: keyHeaders(a.apiKey, a.ccid),
      json: { url: 'http://127.0.0.1:9', data: { provider: 'Webhook' }, secret: { token: botToken } },
    });
    expect(bot.status, JSON.stringify(bot.body)).toBeLessThan(300);
    params.name = 'iso';
    secretsOfA.push(botToken);
    if (listed('POST', '/nexus/v3/outbound/:ccid/messages')) {
      // A's campaign SMS, dead-lettered after its one attempt: an outbound message and an outbox entry.
      const selector = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${a.ccid}/SMS`, {
        headers: keyHeaders(a.apiKey, a.ccid),
        json: { data: { provider: 'mGage', maxAttempts: 1 } },
      });
      expect(selector.status, JSON.stringify(selector.body)).toBeLessThan(300);
      const sent = await api(t.url, 'POST', `/nexus/v3/outbound/${a.ccid}/messages`, {
        headers: keyHeaders(a.apiKey, a.ccid),
        json: { section: 'chat.Iso', to: '+15550101234', text: 'iso campaign' },
      });
      expect(sent.status, JSON.stringify(sent.body)).toBeLessThan(300);
      params.messageId = sent.body.data.messageId;
      secretsOfA.push(sent.body.data.messageId);
      const dead = await vi.waitFor(
        async () => {
          const r = await api(t.url, 'GET', `/nexus/v3/outbox/${a.ccid}?state=dead`, {
            headers: keyHeaders(a.apiKey, a.ccid),
          });
          expect(r.body?.data?.entries?.length, JSON.stringify(r.body)).toBe(1);
          return r.body.data.entries[0];
        },
        { timeout: 15_000, interval: 50 },
      );
      params.outboxId = String(dead.id);
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
          scopedToA(r.pattern) ||
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
    const headerSets: Record<string, string>[] = [
      { 'x-api-key': bKey },
      keyHeaders(bKey, a.ccid),
      keyHeaders(bKey, b.ccid),
      ...(bClientToken ? [{ 'x-nexus-client-key': bClientToken }] : []),
    ];
    const failures: string[] = [];
    let requests = 0;
    // Each route with A's ccid, and each `:ccid` route also with B's own ccid and A's resource ids
    // (B may act there, on its own tenant only: never on, nor with a word of, A's resources).
    const walks = routes.flatMap((route) => [
      { route, path: fill(route.pattern), scoped: scopedToA(route.pattern) },
      ...(route.pattern.includes(':ccid') &&
      !(route.method === 'DELETE' && route.pattern === '/nexus/v3/provisioning/tenants/:ccid')
        ? [{ route, path: fill(route.pattern, b.ccid), scoped: false }]
        : []),
    ]);
    for (const { route, path, scoped } of walks) {
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
          const what = `${route.method} ${path} [${Object.keys(headers).join('+')}${headers['x-ccid'] === a.ccid ? '=A' : ''}] → ${r.status} ${text.slice(0, 200)}`;
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
