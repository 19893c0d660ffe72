/**
 * A chosen quick reply over the Chat v3 REST fallback (what the widget sends when it has no
 * socket): `data[text]` is the chip's title, what the customer and the agent read;
 * `data[content][payload]` is what the bot gets. Through the real gateway, outbox, signed webhook
 * and athena to a Rasa REST bot. Anything else under `data[content]` is refused with
 * VALIDATION_FAILED and stores nothing. Both engines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { newSession } from '../chat/helpers.js';
import type { TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import type { TestTenant } from '../helpers/tenants.js';
import { botTenant, FakeRasa, startAthena } from './helpers.js';

describe.each(engines())('a quick reply over REST reaches the bot as its payload (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let rasa: FakeRasa;
  let tenant: TestTenant;
  let alice: TestAgent;

  beforeAll(async () => {
    t = await startNexus({ engine });
    rasa = await FakeRasa.start();
    ({ athena } = await startAthena(t, engine));
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: { rasa: { url: rasa.url, data: { provider: 'Webhook', timeoutMs: 2000 } } },
    }));
    rasa.script = (c) =>
      c.message === '/order_status'
        ? { body: [{ text: 'Order 1001 ships tomorrow.' }] }
        : { body: [{ text: 'Hi!', buttons: [{ title: 'Where is my order?', payload: '/order_status' }] }] };
  }, 60_000);

  afterAll(async () => {
    alice?.close();
    await athena?.close();
    await rasa?.close();
    await t?.cleanup();
  });

  it('stores the title as the text and the payload as content, and the bot gets the payload', async () => {
    const session = await newSession(t, tenant);
    const headers = { 'x-nexus-client-key': session.clientToken };
    const post = (form: string) => api(t.url, 'POST', `${session.selfUri}/messages`, { headers, form });
    const messages = async () => {
      const r = await api(t.url, 'GET', `${session.selfUri}/messages`, { headers });
      expect(r.status).toBe(200);
      return r.body.data.messages as ChatMessage[];
    };

    expect((await post('data[type]=Text&data[text]=hello&data[clientMessageId]=c-1')).status).toBe(200);
    await expect
      .poll(async () => (await messages()).map((m) => m.text), { timeout: 10_000 })
      .toEqual(['hello', 'Hi!']);

    const chosen = await post(
      `data[type]=Text&data[text]=${encodeURIComponent('Where is my order?')}&data[clientMessageId]=c-2` +
        `&data[content][payload]=${encodeURIComponent('/order_status')}`,
    );
    expect(chosen.status, JSON.stringify(chosen.body)).toBe(200);
    expect(chosen.body.data.message).toMatchObject({
      text: 'Where is my order?',
      content: { payload: '/order_status' },
    });
    const call = await rasa.until((c) => c.message === '/order_status', 'the quick reply turn');
    expect(call.sender).toBe(session.conversationId);
    await expect
      .poll(async () => (await messages()).map((m) => m.text), { timeout: 10_000 })
      .toEqual(['hello', 'Hi!', 'Where is my order?', 'Order 1001 ships tomorrow.']);
    expect(rasa.calls.map((c) => c.message)).toEqual(['hello', '/order_status']);
  });

  it.each([
    ['another field under content', 'data[content][quickReplies]=x&data[content][payload]=p'],
    ['an empty payload', 'data[content][payload]='],
    ['a payload longer than 1024 characters', `data[content][payload]=${'p'.repeat(1025)}`],
    ['content that is not an object', 'data[content]=p'],
  ])('refuses %s with VALIDATION_FAILED and stores nothing', async (_what, extra) => {
    const session = await newSession(t, tenant);
    const headers = { 'x-nexus-client-key': session.clientToken };
    const before = await api(t.url, 'GET', `${session.selfUri}/messages`, { headers });
    const r = await api(t.url, 'POST', `${session.selfUri}/messages`, {
      headers,
      form: `data[type]=Text&data[text]=Yes&data[clientMessageId]=c-bad&${extra}`,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.status.name).toBe('VALIDATION_FAILED');
    expect(r.body.status.details.field).toMatch(/^data\.content/);
    const after = await api(t.url, 'GET', `${session.selfUri}/messages`, { headers });
    expect(after.body.data.messages).toEqual(before.body.data.messages);
  });
});
