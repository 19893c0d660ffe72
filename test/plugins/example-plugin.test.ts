/**
 * The plugin tutorial (docs/plugins.md), step by step, against the example plugin in `examples/`:
 * (1) test it alone with the helpers the package exports, (2) load it into a gateway by config,
 * (3) provision it for a tenant as `Plugin-conversation-notifier`, (4) see a chat reach it, and a
 * failing receiver retried through the outbox. The imports are the package's own exports, as a
 * plugin author's project would write them.
 */
import { join } from 'node:path';
import { hubSignature, runPlugin, startFakeServer } from 'nexus-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import notifier from '../../examples/conversation-notifier/conversation-notifier.mjs';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders } from '../helpers/tenants.js';

const PLUGIN_FILE = join(
  import.meta.dirname,
  '../../examples/conversation-notifier/conversation-notifier.mjs',
);

const created = (id: string, over: Record<string, unknown> = {}) => ({
  id,
  type: 'conversation.created',
  ccid: 'test-tenant',
  conversationId: 'c-1',
  channelType: 'chat',
  timestamp: new Date().toISOString(),
  data: {
    conversation: {
      id: 'c-1',
      channel: 'chat',
      state: 'queued',
      queue: 'care',
      customer: { nickname: 'Ada' },
      ...over,
    },
  },
});

describe('step 2: the plugin alone, with nexus-gateway/testing', () => {
  it('posts a new conversation once, with its token, and ignores other events', async () => {
    const chat = await startFakeServer(() => ({ status: 200, body: { ok: true } }));
    try {
      const { instance, kv } = await runPlugin(notifier, {
        url: `${chat.url}/hooks/abc`,
        data: { channel: '#care' },
        secret: { token: 'tok-1' },
      });
      await instance.deliver(created('e-1') as any);
      await instance.deliver(created('e-1') as any); // a redelivery of the same event
      await instance.deliver({ ...created('e-2'), type: 'message.created' } as any);
      expect(chat.requests).toHaveLength(1);
      expect(chat.requests[0].headers.authorization).toBe('Bearer tok-1');
      expect(chat.requests[0].json()).toEqual({
        text: 'New chat conversation with Ada (queued, queue care) c-1',
        channel: '#care',
      });
      expect(await kv.get('posted:e-1')).toBe('1');
    } finally {
      await chat.close();
    }
  });

  it('a 5xx is retryable, a 4xx is not, and a bad config is refused', async () => {
    const chat = await startFakeServer(() => ({ status: 200 }));
    try {
      const { instance } = await runPlugin(notifier, { url: chat.url, secret: { token: 't' } });
      chat.failNext(1, { status: 503 });
      await expect(instance.deliver(created('e-3') as any)).rejects.toMatchObject({
        retryable: true,
        status: 503,
      });
      chat.failNext(1, { status: 403 });
      await expect(instance.deliver(created('e-4') as any)).rejects.toMatchObject({ retryable: false });
      await expect(runPlugin(notifier, { url: 'not a url', secret: { token: 't' } })).rejects.toThrow(/url/);
      // The package's signature helper, for plugins that verify X-Hub-Signature.
      expect(hubSignature('k', 'body')).toMatch(/^sha1=[0-9a-f]{40}$/);
    } finally {
      await chat.close();
    }
  });
});

describe.each(engines())('steps 3-5: loaded by config, provisioned, reached by a chat (%s)', (engine) => {
  let t: TestNexus;
  let chat: Awaited<ReturnType<typeof startFakeServer>>;
  beforeAll(async () => {
    chat = await startFakeServer(() => ({ status: 200, body: { ok: true } }));
    // NEXUS_PLUGINS_MODULES=./examples/conversation-notifier/conversation-notifier.mjs
    t = await startNexus({ engine, nexus: { plugins: { modules: PLUGIN_FILE } } });
  });
  afterAll(async () => {
    await t?.cleanup();
    await chat?.close();
  });

  it('a new chat is posted to the team chat; a failing receiver is retried through the outbox', async () => {
    const tenant = await createTenant(t);
    const provision = await api(
      t.url,
      'PUT',
      `/nexus/v3/provisioning/services/${tenant.ccid}/Plugin-conversation-notifier`,
      {
        headers: keyHeaders(tenant.apiKey),
        json: { url: `${chat.url}/hooks/abc`, data: { channel: '#care' }, secret: { token: 'tok-9' } },
      },
    );
    expect(provision.status).toBe(201);
    expect(JSON.stringify(provision.body)).not.toContain('tok-9');

    chat.failNext(1, { status: 502 });
    const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: keyHeaders(tenant.apiKey),
      form: 'data[nickname]=Grace&data[endpoint]=web',
    });
    expect(s.status).toBe(200);
    const requests = await chat.waitForRequests(2, 15_000);
    expect(requests[0].body).toBe(requests[1].body);
    // Routing places the conversation before it is created: its queue is in the created event.
    expect(s.body.data.state).toBe('queued');
    expect(requests[1].json().text).toBe(
      `New chat conversation with Grace (queued, queue web) ${s.body.data.conversationId}`,
    );
    expect(requests[1].headers.authorization).toBe('Bearer tok-9');

    const outbox = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}`, {
      headers: keyHeaders(tenant.apiKey),
    });
    expect(outbox.body.data.entries.some((e: any) => e.target === 'Plugin-conversation-notifier')).toBe(true);
  });
});
