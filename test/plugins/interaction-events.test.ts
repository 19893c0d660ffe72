/**
 * The interaction lifecycle on the plugin bus, on both engines: `interaction.started` and
 * `interaction.finished` are bus events, once per conversation, and their deliveries (the
 * interaction webhooks) are written in the transaction of the change that causes them. So when
 * everything after the commit fails (the publish path throws, or the node is gone before it runs),
 * STARTED and FINISHED still reach the webhook, each exactly once.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventBus } from '../../src/plugins/bus.js';
import { type FakeServer, startFakeServer } from '../../src/plugins/testing.js';
import type { BusEvent } from '../../src/plugins/types.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';

const SIGNING_KEY = 'lifecycle-signing-key-7c1d';

/** Everything a node does with the bus after a commit fails, as if the node died right there. */
function breakPublishPath(bus: EventBus): () => void {
  const { publish, published } = bus;
  bus.publish = async () => {
    throw new Error('node gone after the commit');
  };
  bus.published = () => {
    throw new Error('node gone after the commit');
  };
  return () => {
    bus.publish = publish;
    bus.published = published;
  };
}

async function provisionWebhook(t: TestNexus, tenant: TestTenant, url: string): Promise<void> {
  const r = await api(
    t.url,
    'POST',
    `/nexus/v3/provisioning/services/${tenant.ccid}/InteractionWebhook-crm`,
    {
      headers: { authorization: `Bearer ${t.adminToken}` },
      json: { url, secret: { signingKey: SIGNING_KEY }, data: {} },
    },
  );
  expect(r.status).toBeLessThan(300);
}

async function openChat(t: TestNexus, tenant: TestTenant): Promise<string> {
  const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
    headers: keyHeaders(tenant.apiKey),
    json: { data: { nickname: 'Ada' } },
  });
  expect(s.status).toBe(200);
  return s.body.data.conversationId;
}

async function finish(t: TestNexus, tenant: TestTenant, id: string): Promise<void> {
  const done = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/done`, {
    headers: keyHeaders(tenant.apiKey),
  });
  expect(done.status).toBe(200);
}

const eventsOf = (hook: FakeServer, id: string) =>
  hook.requests
    .map((r) => r.json().data.entities[0])
    .filter((e: any) => e.entity.id === id)
    .map((e: any) => e.event);

describe.each(engines())('the interaction lifecycle on the bus (%s)', (engine) => {
  let t: TestNexus;
  let hook: FakeServer;

  beforeAll(async () => {
    t = await startNexus({ engine, onDisk: true, nexus: { fqdn: 'digital.example.com' } });
    hook = await startFakeServer(() => ({ status: 200, body: {} }));
  });
  afterAll(async () => {
    await t?.cleanup();
    await hook?.close();
  });

  it('publishes interaction.started and interaction.finished once each, typed, to live subscribers', async () => {
    const tenant = await createTenant(t);
    const seen: BusEvent[] = [];
    const off = t.nexus.plugins.bus.subscribe(
      'test-lifecycle',
      { ccid: tenant.ccid, types: ['interaction.started', 'interaction.finished'] },
      (e) => void seen.push(e),
    );
    try {
      const id = await openChat(t, tenant);
      await vi.waitFor(() => expect(seen.map((e) => e.type)).toEqual(['interaction.started']), {
        timeout: 10_000,
      });
      const started = seen[0];
      if (started.type !== 'interaction.started') throw new Error('narrowed above');
      expect(started.data.entity).toEqual({
        id,
        mediaType: 'chat',
        interactionSubtype: 'InboundNew',
        selfUri: `/nexus/v3/interactions/${id}`,
      });
      expect(started.data.conversation.id).toBe(id);
      expect([started.ccid, started.conversationId, started.channelType]).toEqual([tenant.ccid, id, 'chat']);

      // To a bot and back to a queue: submitted again, but the interaction started only once.
      const admin = { authorization: `Bearer ${t.adminToken}` };
      const bot = await api(t.url, 'POST', `/nexus/v3/provisioning/services/${tenant.ccid}/Bot-helper`, {
        headers: admin,
        json: { url: 'http://127.0.0.1:9', data: { provider: 'Webhook' }, secret: { token: 'bot-token' } },
      });
      expect(bot.status).toBeLessThan(300);
      for (const body of [{ bot: 'helper' }, { queue: 'support' }]) {
        const r = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/route`, {
          headers: keyHeaders(tenant.apiKey),
          json: body,
        });
        expect(r.status).toBe(200);
      }
      await finish(t, tenant, id);
      await vi.waitFor(
        () => expect(seen.map((e) => e.type)).toEqual(['interaction.started', 'interaction.finished']),
        { timeout: 10_000 },
      );
      const marks = await t.nexus.db.query(
        'SELECT event FROM interaction_events WHERE conversation_id = $1 ORDER BY event',
        [id],
      );
      expect(marks.rows.map((r) => r.event)).toEqual(['finished', 'started']);
    } finally {
      off();
    }
  });

  it('STARTED and FINISHED reach the webhook exactly once when the publish path after the commit fails', async () => {
    const tenant = await createTenant(t);
    await provisionWebhook(t, tenant, `${hook.url}/failing-path`);
    const restore = breakPublishPath(t.nexus.plugins.bus);
    try {
      const id = await openChat(t, tenant);
      await vi.waitFor(() => expect(eventsOf(hook, id)).toEqual(['STARTED']), { timeout: 10_000 });
      await finish(t, tenant, id);
      await vi.waitFor(() => expect(eventsOf(hook, id)).toEqual(['STARTED', 'FINISHED']), {
        timeout: 10_000,
      });
      // Nothing else is on its way: both rows are done (recorded right after the 200) after one attempt.
      await vi.waitFor(
        async () => {
          const rows = await t.nexus.plugins.outbox.list(tenant.ccid, undefined);
          expect(rows.map((r) => [r.kind, r.state, r.attempts])).toEqual([
            ['interaction-webhook', 'done', 1],
            ['interaction-webhook', 'done', 1],
          ]);
        },
        { timeout: 10_000 },
      );
      expect(eventsOf(hook, id)).toEqual(['STARTED', 'FINISHED']);
    } finally {
      restore();
    }
  });

  it('a node gone between the commit and the publish: after a restart, STARTED and FINISHED once each', async () => {
    const tenant = await createTenant(t);
    await provisionWebhook(t, tenant, `${hook.url}/restart`);
    // The node delivers nothing and runs nothing after its commits: as if it died after each one.
    await t.nexus.plugins.outbox.close();
    breakPublishPath(t.nexus.plugins.bus);
    const id = await openChat(t, tenant);
    await finish(t, tenant, id);
    expect(eventsOf(hook, id)).toEqual([]);

    t = await t.restart();
    await vi.waitFor(() => expect(eventsOf(hook, id)).toEqual(['STARTED', 'FINISHED']), { timeout: 10_000 });
    await vi.waitFor(
      async () => {
        const rows = await t.nexus.plugins.outbox.list(tenant.ccid, undefined);
        expect(rows.map((r) => [r.target, r.state, r.attempts])).toEqual([
          ['InteractionWebhook-crm', 'done', 1],
          ['InteractionWebhook-crm', 'done', 1],
        ]);
      },
      { timeout: 10_000 },
    );
    expect(hook.requests.filter((r) => r.path === '/restart')).toHaveLength(2);
  });
});
