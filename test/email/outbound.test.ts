/**
 * The outbound API for campaigns, end to end on both engines: each email provider against its fake
 * (send → the fake got it → the state reads `sent` with the provider's id → a `delivery.receipt`
 * event for each change), idempotent `clientMessageId`, a provider that fails (retried, then
 * dead-lettered as `failed`, then re-driven through the outbox API and sent), receipts from
 * providers, and bad requests refused with their catalog codes and nothing stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAsyncFake } from '../fakes/email/async.js';
import { type PorticoFake, startPorticoFake } from '../fakes/email/portico.js';
import { startSparkPostFake } from '../fakes/email/sparkpost.js';
import type { EmailFake } from '../fakes/email/types.js';
import { engines } from '../helpers/engines.js';
import { collectLogs } from '../helpers/logs.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { outboxOutcome, receipts } from './receipts.js';

const KEY = 'sp-key-7c1d';
const HOOK_SECRET = 'async-hook-secret-19ab';
const IDP_SECRET = 'idp-secret-55e0';

interface Provider {
  name: string;
  start(): Promise<EmailFake>;
  provision(t: TestNexus, ccid: string, fake: EmailFake, domain: string): Promise<void>;
}

const admin = (t: TestNexus) => ({ authorization: `Bearer ${t.adminToken}` });

async function ok(p: Promise<{ status: number; body: any }>): Promise<any> {
  const r = await p;
  if (r.status >= 300) throw new Error(`HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const service = (t: TestNexus, ccid: string, name: string, json: unknown) =>
  ok(api(t.url, 'PUT', `/nexus/v3/provisioning/services/${ccid}/${name}`, { headers: admin(t), json }));
const channel = (t: TestNexus, ccid: string, section: string, json: unknown) =>
  ok(api(t.url, 'PUT', `/nexus/v3/provisioning/channels/${ccid}/${section}`, { headers: admin(t), json }));

const PROVIDERS: Provider[] = [
  {
    name: 'SparkPostEmail',
    start: () => startSparkPostFake(KEY),
    async provision(t, ccid, fake, domain) {
      await service(t, ccid, 'SparkPostEmail', { url: fake.url, secret: { apikey: KEY }, data: {} });
      await service(t, ccid, 'Email', { url: 'N/A', secret: {}, data: { provider: 'SparkPost' } });
      await channel(t, ccid, 'cxc.Corporate_Promotions', { channelId: domain, channelType: 'email' });
    },
  },
  {
    name: 'Async',
    start: () => startAsyncFake(HOOK_SECRET),
    async provision(t, ccid, fake, domain) {
      await service(t, ccid, 'Async', {
        data: { channels: [{ channelId: domain, webhook: { url: `${fake.url}/some/webhook/path` } }] },
        secret: {
          channels: [{ channelId: domain, webhook: { secret: HOOK_SECRET }, api: { secret: 'api-secret' } }],
        },
      });
      await service(t, ccid, 'Email', { url: 'N/A', secret: {}, data: { provider: 'Async' } });
      await channel(t, ccid, 'cxc.Corporate_Promotions', {
        channelId: domain,
        channelType: 'email',
        provider: 'Async',
      });
    },
  },
  {
    name: 'PorticoEmail',
    start: () => startPorticoFake('client-9', IDP_SECRET),
    async provision(t, ccid, fake, domain) {
      await service(t, ccid, 'PurecloudIDP', {
        url: fake.url,
        secret: { clientId: 'client-9', clientSecret: IDP_SECRET },
        data: {},
      });
      await service(t, ccid, 'PorticoEmail', { url: fake.url, secret: {}, data: {} });
      await service(t, ccid, 'Email', { url: 'N/A', secret: {}, data: { provider: 'Portico' } });
      await channel(t, ccid, 'cxc.Corporate_Promotions', { channelId: domain, channelType: 'email' });
    },
  },
];

describe.each(engines())('outbound email campaigns (%s)', (engine) => {
  let t: TestNexus;
  let events: ReturnType<typeof receipts>;
  const logs = collectLogs();
  beforeAll(async () => {
    t = await startNexus({
      engine,
      logDestination: logs.stream,
      nexus: { plugins: { callTimeoutMs: 2000, circuitFailures: 50 } },
    });
    events = receipts(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  describe.each(PROVIDERS)('through $name', (provider) => {
    let fake: EmailFake;
    let tenant: TestTenant;
    const domain = `${provider.name.toLowerCase()}.example.com`;
    beforeAll(async () => {
      fake = await provider.start();
      tenant = await createTenant(t);
      await provider.provision(t, tenant.ccid, fake, domain);
    });
    afterAll(async () => {
      await fake?.close();
    });

    const send = (json: unknown, headers = keyHeaders(tenant.apiKey)) =>
      api(t.url, 'POST', `/nexus/v3/outbound/${tenant.ccid}/messages`, { headers, json });
    const read = (id: string) =>
      api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
        headers: keyHeaders(tenant.apiKey),
      });

    it('sends, the provider gets it, the state reads sent with its id, and each change is an event', async () => {
      const r = await send({
        channelId: domain,
        to: 'customer@example.org',
        subject: 'Spring offer',
        text: 'Twenty percent off.',
        html: '<p>Twenty percent off.</p>',
        from: 'offers',
        fromName: 'ACME Offers',
      });
      expect(r.status).toBe(202);
      expect(r.body.status.code).toBe(0);
      const id = r.body.data.messageId;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.body.data.state).toBe('queued');

      const sent = await events.wait(id, 'sent');
      expect(sent.ccid).toBe(tenant.ccid);
      expect(sent.channelType).toBe('email');
      expect((await events.wait(id, 'queued')).data.to).toBe('customer@example.org');
      expect(fake.accepted).toHaveLength(1);
      expect(fake.accepted[0]).toMatchObject({
        from: `offers@${domain}`,
        to: 'customer@example.org',
        subject: 'Spring offer',
        text: 'Twenty percent off.',
        html: '<p>Twenty percent off.</p>',
      });
      const got = await read(id);
      expect(got.status).toBe(200);
      expect(got.body.data).toMatchObject({
        messageId: id,
        state: 'sent',
        channelType: 'email',
        channelId: domain,
        section: 'cxc.Corporate_Promotions',
        to: 'customer@example.org',
        providerMessageId: fake.accepted[0].providerId,
        attempts: 1,
      });
      expect(sent.data.providerMessageId).toBe(fake.accepted[0].providerId);
    });

    it('a provider receipt naming its id moves the state to delivered', async () => {
      const r = await send({
        section: 'cxc.Corporate_Promotions',
        to: 'b@example.org',
        subject: 'Hi',
        text: 'x',
      });
      const id = r.body.data.messageId;
      const sent = await events.wait(id, 'sent');
      // What an inbound receipt route publishes: the provider's id and the normalised state.
      await t.nexus.plugins.bus.publish(t.nexus.db, [
        {
          id: crypto.randomUUID(),
          type: 'delivery.receipt',
          ccid: tenant.ccid,
          channelType: 'email',
          timestamp: new Date().toISOString(),
          data: { providerMessageId: sent.data.providerMessageId, state: 'delivered' },
        },
      ]);
      const delivered = await events.wait(id, 'delivered');
      expect(delivered.data.previousState).toBe('sent');
      expect((await read(id)).body.data.state).toBe('delivered');
    });
  });

  describe('idempotency, failures, re-drive, bad requests', () => {
    let fake: EmailFake;
    let tenant: TestTenant;
    const domain = 'retry.example.com';
    beforeAll(async () => {
      fake = await startSparkPostFake(KEY);
      tenant = await createTenant(t);
      await PROVIDERS[0].provision(t, tenant.ccid, fake, domain);
    });
    afterAll(async () => {
      await fake?.close();
    });
    const send = (json: unknown, headers = keyHeaders(tenant.apiKey)) =>
      api(t.url, 'POST', `/nexus/v3/outbound/${tenant.ccid}/messages`, { headers, json });
    const base = { channelId: domain, to: 'c@example.org', subject: 'S', text: 'T' };

    it('the same clientMessageId is the same message, sent once; reused for another message it is refused', async () => {
      const before = fake.accepted.length;
      const a = await send({ ...base, clientMessageId: 'campaign-7/contact-1' });
      const b = await send({ ...base, clientMessageId: 'campaign-7/contact-1' });
      expect(a.status).toBe(202);
      expect(b.status).toBe(200);
      expect(b.body.data.messageId).toBe(a.body.data.messageId);
      await events.wait(a.body.data.messageId, 'sent');
      const c = await send({ ...base, text: 'other', clientMessageId: 'campaign-7/contact-1' });
      expect(c.status).toBe(409);
      expect(c.body.status.code).toBe(5103);
      const sameTwice = await Promise.all([
        send({ ...base, clientMessageId: 'campaign-7/contact-2' }),
        send({ ...base, clientMessageId: 'campaign-7/contact-2' }),
      ]);
      expect(new Set(sameTwice.map((r) => r.body.data.messageId)).size).toBe(1);
      await events.wait(sameTwice[0].body.data.messageId, 'sent');
      expect(fake.accepted.length - before).toBe(2);
    });

    it('a provider that fails is retried with backoff until it takes the message', async () => {
      fake.server.failNext(2, { status: 503, body: { errors: [{ message: 'busy' }] } });
      const before = fake.server.requests.length;
      const r = await send(base);
      const id = r.body.data.messageId;
      await events.wait(id, 'sent');
      expect(fake.server.requests.length - before).toBe(3);
      const got = await api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(got.body.data).toMatchObject({ state: 'sent', attempts: 3 });
    });

    it('a delivery the provider refuses is dead-lettered as failed, listed, and re-driven once fixed', async () => {
      fake.server.failAll({ status: 401, body: { errors: [{ message: 'Unauthorized.' }] } });
      const r = await send({ ...base, clientMessageId: 'will-fail' });
      const id = r.body.data.messageId;
      const failed = await events.wait(id, 'failed');
      expect(failed.data.error).toMatch(/401/);
      const got = await api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(got.body.data).toMatchObject({ state: 'failed' });

      const dead = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=dead`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(dead.status).toBe(200);
      const entry = dead.body.data.entries.find((e: any) => e.payload.messageId === id);
      expect(entry).toMatchObject({ kind: 'outbound', target: 'SparkPostEmail', state: 'dead', attempts: 1 });
      expect(JSON.stringify(dead.body)).not.toContain(KEY);

      fake.server.recover();
      const redriven = await api(t.url, 'POST', `/nexus/v3/outbox/${tenant.ccid}/${entry.id}/redrive`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(redriven.status).toBe(200);
      expect(redriven.body.data.state).toBe('pending');
      const done = outboxOutcome(t, entry.id);
      const sent = await events.wait(id, 'sent');
      expect(sent.data.previousState).toBe('failed');
      expect(await done).toBe('done');
      const again = await api(t.url, 'POST', `/nexus/v3/outbox/${tenant.ccid}/${entry.id}/redrive`, {
        headers: keyHeaders(tenant.apiKey),
      });
      // Delivered now: there is nothing to re-drive.
      expect([again.status, again.body.status.code]).toEqual([409, 5111]);
      const missing = await api(t.url, 'POST', `/nexus/v3/outbox/${tenant.ccid}/999999999/redrive`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect([missing.status, missing.body.status.code]).toEqual([404, 5110]);
    });

    it('a provider that stays down is retried up to the Email service maxAttempts, then failed', async () => {
      await service(t, tenant.ccid, 'Email', {
        url: 'N/A',
        secret: {},
        data: { provider: 'SparkPost', maxAttempts: 3 },
      });
      fake.server.failAll({ status: 503, body: { errors: [{ message: 'down' }] } });
      const before = fake.server.requests.length;
      try {
        const r = await send(base);
        const id = r.body.data.messageId;
        const failed = await events.wait(id, 'failed');
        expect(failed.data.error).toMatch(/503/);
        expect(fake.server.requests.length - before).toBe(3);
        const got = await api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
          headers: keyHeaders(tenant.apiKey),
        });
        expect(got.body.data).toMatchObject({ state: 'failed', attempts: 3 });
      } finally {
        fake.server.recover();
        await service(t, tenant.ccid, 'Email', { url: 'N/A', secret: {}, data: { provider: 'SparkPost' } });
      }
    });

    it('SparkPost events (HTTP Basic: the ccid and a key) move campaign email; bad callers change nothing', async () => {
      const campaign = await createApiKey(t, { tenant: tenant.ccid, permissions: ['nexus:outbound:send'] });
      const r = await send(base);
      const id = r.body.data.messageId;
      const sent = await events.wait(id, 'sent');
      const batch = (type: string) => [
        {
          msys: {
            message_event: {
              type,
              transmission_id: sent.data.providerMessageId,
              rcpt_to: 'c@example.org',
              raw_reason: '550 5.1.1 <c@example.org>: Recipient address rejected',
              timestamp: '1700000000',
            },
          },
        },
      ];
      const basic = (user: string, password: string) =>
        `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      const post = (authorization: string | undefined, json: unknown) =>
        api(t.url, 'POST', `/nexus/v3/email/sparkpost/${tenant.ccid}`, {
          headers: authorization ? { authorization } : {},
          json,
        });
      const other = await createTenant(t);
      const refused = [
        await post(undefined, batch('bounce')),
        await post(basic(tenant.ccid, 'not-a-key'), batch('bounce')),
        await post(basic(other.ccid, other.apiKey), batch('bounce')),
        await post(basic(tenant.ccid, other.apiKey), batch('bounce')),
      ];
      expect(refused.map((x) => x.status)).toEqual([401, 401, 403, 403]);
      const bad = await post(basic(tenant.ccid, campaign.apiKey), { not: 'an array' });
      expect([bad.status, bad.body.status.code]).toEqual([400, 1004]);
      const read = () =>
        api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
          headers: keyHeaders(tenant.apiKey),
        });
      expect((await read()).body.data.state).toBe('sent');

      // The test batch SparkPost sends when the webhook is created.
      const test = await post(basic(tenant.ccid, campaign.apiKey), [{ msys: {} }]);
      expect([test.status, test.body.data]).toEqual([200, { received: 0, matched: 0 }]);
      const bounce = await post(basic(tenant.ccid, campaign.apiKey), batch('bounce'));
      expect(bounce.body.data).toEqual({ received: 1, matched: 1 });
      const undelivered = await events.wait(id, 'undelivered');
      expect(undelivered.data.error).toMatch(/550 5\.1\.1/);
      expect((await read()).body.data).toMatchObject({
        state: 'undelivered',
        error: expect.stringMatching(/550/),
      });
      // A repeated event changes nothing.
      const again = await post(basic(tenant.ccid, campaign.apiKey), batch('bounce'));
      expect(again.body.data).toEqual({ received: 1, matched: 0 });
    });

    it('refuses bad requests with their codes and stores nothing', async () => {
      const before = fake.server.requests.length;
      const cases: Array<[unknown, number, number]> = [
        [{ ...base, channelId: 'nowhere.example.com' }, 404, 5101],
        [{ ...base, channelId: undefined, section: 'cxc.Nope' }, 404, 5101],
        [{ ...base, section: 'cxc.Corporate_Promotions' }, 400, 1004],
        [{ ...base, channelId: undefined }, 400, 1004],
        [{ ...base, subject: undefined }, 400, 1004],
        [{ ...base, text: undefined }, 400, 1004],
        [{ ...base, to: 'not-an-address' }, 400, 1004],
        [{ ...base, from: 'someone@other.org' }, 400, 1004],
        [{ ...base, extra: 1 }, 400, 1004],
        [{ ...base, to: 42 }, 400, 1004],
        ['just text', 400, 1004],
      ];
      for (const [json, status, code] of cases) {
        const r = await send(json);
        expect([JSON.stringify(json), r.status, r.body?.status?.code]).toEqual([
          JSON.stringify(json),
          status,
          code,
        ]);
      }
      const list = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=pending`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(list.body.data.entries).toEqual([]);
      expect(fake.server.requests.length).toBe(before);
      const unknown = await api(
        t.url,
        'GET',
        `/nexus/v3/outbound/${tenant.ccid}/messages/${crypto.randomUUID()}`,
        {
          headers: keyHeaders(tenant.apiKey),
        },
      );
      expect([unknown.status, unknown.body.status.code]).toEqual([404, 5100]);
      // Shaped like a UUID but not one: still a 404, never a database error.
      const dashes = await api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${'-'.repeat(36)}`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect([dashes.status, dashes.body.status.code]).toEqual([404, 5100]);
    });

    it('a channel whose provider is not provisioned is a 409, not a dead letter', async () => {
      await channel(t, tenant.ccid, 'cxc.Async_Domain', {
        channelId: 'async-missing.example.com',
        provider: 'Async',
      });
      const r = await send({ ...base, channelId: 'async-missing.example.com' });
      expect([r.status, r.body.status.code]).toEqual([409, 5102]);
    });

    it('takes a key with nexus:outbound:send or a cluster key naming the tenant; refuses others', async () => {
      const campaign = await createApiKey(t, { tenant: tenant.ccid, permissions: ['nexus:outbound:send'] });
      expect((await send(base, keyHeaders(campaign.apiKey))).status).toBe(202);
      const cluster = await createApiKey(t, { tenant: '*', permissions: ['nexus:cluster:*'] });
      expect((await send(base, keyHeaders(cluster.apiKey, tenant.ccid))).status).toBe(202);
      const chatOnly = await createApiKey(t, { tenant: tenant.ccid, permissions: ['nexus:consumer:chat'] });
      expect((await send(base, keyHeaders(chatOnly.apiKey))).status).toBe(403);
      const other = await createTenant(t);
      const cross = await send(base, keyHeaders(other.apiKey));
      expect(cross.status).toBe(403);
      // Nor can another tenant read this tenant's messages or outbox.
      const mine = await send(base);
      const peek = await api(
        t.url,
        'GET',
        `/nexus/v3/outbound/${other.ccid}/messages/${mine.body.data.messageId}`,
        {
          headers: keyHeaders(other.apiKey),
        },
      );
      expect(peek.status).toBe(404);
      const outbox = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}`, {
        headers: keyHeaders(other.apiKey),
      });
      expect(outbox.status).toBe(403);
      const outboxByCampaignKey = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}`, {
        headers: keyHeaders(campaign.apiKey),
      });
      expect(outboxByCampaignKey.status).toBe(403);
    });
  });
  it('never logs a provider secret (debug level, every provider, failures included)', () => {
    const text = logs.text();
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [KEY, HOOK_SECRET, IDP_SECRET, 'api-secret']) expect(text).not.toContain(secret);
  });
});
