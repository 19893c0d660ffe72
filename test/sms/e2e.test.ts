/**
 * Each SMS provider end to end against its fake, on both engines, with a real socket.io agent:
 * inbound SMS → conversation → the agent is given it → the agent replies → the fake receives the
 * SMS → a receipt comes back → the agent sees `delivered`. A provider that is down: retries, dead
 * letter, the conversation `undelivered`, re-drive once the fake recovers. A gateway restart in the
 * middle of retries loses nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage, ConversationSummary } from '../../src/gateway/chat/events.js';
import { putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { HARNESSES, phone, type SmsHarness } from './providers.js';
import { eventually } from './wait.js';

interface Updated {
  conversationId: string;
  messageId: string;
  seq: number;
  delivery: { state: string; at: string };
}

/** An agent that also records its `message` and `message.updated` events, with waiters on them. */
async function smsAgent(t: TestNexus, tenant: TestTenant, agentId: string) {
  await putAgent(t, tenant, agentId, { name: `Agent ${agentId}`, queues: ['sms'], capacity: 3 });
  const a = await TestAgent.connect(t, tenant, agentId);
  const messages: ChatMessage[] = [];
  const updates: Updated[] = [];
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  for (const e of ['message', 'message.updated', 'conversation.assigned', 'conversation.updated']) {
    a.socket.on(e, (p: unknown) => {
      if (e === 'message') messages.push(p as ChatMessage);
      if (e === 'message.updated') updates.push(p as Updated);
      // After TestAgent's own listener has recorded it.
      queueMicrotask(wake);
    });
  }
  /** Resolves when `test()` holds, re-checked on every event the agent receives. */
  const until = <T>(test: () => T | undefined | false, what: string, ms = 20_000): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${agentId}: no ${what} within ${ms} ms`)), ms);
      const check = () => {
        const v = test();
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else waiters.push(check);
      };
      check();
    });
  await a.ready();
  return { a, messages, updates, until };
}

describe.each(engines())('SMS end to end on %s engines', (engine) => {
  // One gateway for every provider (the restart test replaces it with its successor).
  let t: TestNexus;
  beforeAll(async () => {
    t = await startNexus({ engine, onDisk: true, nexus: { routing: { sweepMs: 300 } } });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  describe.each(HARNESSES.map((make) => [make().name, make] as const))('%s', (_name, make) => {
    let h: SmsHarness;
    const agents: TestAgent[] = [];

    beforeAll(async () => {
      h = make();
      await h.start();
    });
    afterEach(() => {
      for (const a of agents.splice(0)) a.close();
      h.server.recover();
    });
    afterAll(async () => {
      await h?.close();
    });

    async function setup(maxAttempts?: number) {
      const tenant = await createTenant(t);
      await putEndpoint(t, tenant, 'sms', { queue: 'sms' });
      const channelId = phone();
      await h.provision(t, tenant, channelId, { maxAttempts });
      const agent = await smsAgent(t, tenant, 'ann');
      agents.push(agent.a);
      return { tenant, channelId, ...agent };
    }

    /** The customer texts in; the agent is given the conversation and sees the text. */
    async function customerTexts(
      s: Awaited<ReturnType<typeof setup>>,
      text: string,
    ): Promise<{ conversation: ConversationSummary; from: string }> {
      const from = phone();
      const r = await h.inbound(t, s.tenant, s.channelId, { id: `mo-${randomUUID()}`, from, text });
      expect(r.status).toBe(200);
      const assigned = await s.until(
        () => s.a.assigned.find((x) => x.conversation.channel === 'sms'),
        'an SMS conversation',
      );
      await s.until(
        () =>
          assigned.transcript.some((m) => m.text === text) ||
          s.messages.some((m) => m.conversationId === assigned.conversation.id && m.text === text),
        'the customer text',
      );
      return { conversation: assigned.conversation, from };
    }

    async function reply(s: Awaited<ReturnType<typeof setup>>, conversationId: string, text: string) {
      const ack = await s.a.ack('message.send', { conversationId, clientMessageId: randomUUID(), text });
      expect(ack.ok).toBe(true);
      return ack as { id: string; seq: number };
    }

    const deliveryOf = (s: Awaited<ReturnType<typeof setup>>, messageId: string, state: string) =>
      s.until(
        () => s.updates.find((u) => u.messageId === messageId && u.delivery.state === state),
        `delivery ${state}`,
      );

    it('inbound SMS reaches the agent, the reply reaches the provider, the receipt shows delivered', async () => {
      const s = await setup();
      const { conversation, from } = await customerTexts(s, 'Is my order shipped?');
      expect(conversation).toMatchObject({ channel: 'sms', endpoint: 'sms', state: 'assigned' });
      const before = h.accepted().length;
      const sent = await reply(s, conversation.id, 'Yes, it left today.');
      const [rec] = (await h.server.until((r) => h.accepted().includes(r), before + 1)).slice(-1);
      const got = h.read(rec);
      expect(got.text).toBe('Yes, it left today.');
      expect(got.to.replace(/\D/g, '')).toBe(from);
      // Providers that take a per-message callback are given this gateway's own URL for the tenant.
      if (h.name === 'Twilio') expect(got.callback).toBe(`${t.url}/nexus/v3/sms/twilio/${s.tenant.ccid}`);
      if (h.name === 'mGage') expect(got.callback).toBe(`${t.url}/nexus/v3/sms/kaleyra/${s.tenant.ccid}`);
      const u = await deliveryOf(s, sent.id, 'sent');
      expect(u).toMatchObject({ conversationId: conversation.id, seq: sent.seq });
      expect((await h.receipt(t, s.tenant, s.channelId, got.providerId, 'delivered')).status).toBe(200);
      await deliveryOf(s, sent.id, 'delivered');

      // The customer's next text lands in the same conversation.
      expect(
        (await h.inbound(t, s.tenant, s.channelId, { id: `mo-${randomUUID()}`, from, text: 'Thanks!' }))
          .status,
      ).toBe(200);
      await s.until(
        () => s.messages.find((m) => m.conversationId === conversation.id && m.text === 'Thanks!'),
        'second text',
      );
    });

    it('a provider that is down: retries, dead letter, undelivered, re-drive after it recovers', async () => {
      const s = await setup(2);
      const { conversation } = await customerTexts(s, 'hello?');
      h.server.goDown(503);
      const attempts = h.server.requests.length;
      const sent = await reply(s, conversation.id, 'Sorry for the wait');
      await deliveryOf(s, sent.id, 'failed');
      expect(h.server.requests.length - attempts).toBeGreaterThanOrEqual(2);
      await s.until(
        () => s.a.updated.find((c) => c.id === conversation.id && c.state === 'undelivered'),
        'undelivered',
      );

      const dead = await api(t.url, 'GET', `/nexus/v3/outbox/${s.tenant.ccid}?state=dead`, {
        headers: { 'x-api-key': s.tenant.apiKey },
      });
      expect(dead.status).toBe(200);
      const entry = dead.body.data.entries.find((e: { kind: string }) => e.kind === 'sms');
      expect(entry).toBeDefined();

      h.server.recover();
      const before = h.accepted().length;
      const r = await api(t.url, 'POST', `/nexus/v3/outbox/${s.tenant.ccid}/${entry.id}/redrive`, {
        headers: { 'x-api-key': s.tenant.apiKey },
      });
      expect(r.status).toBe(200);
      const [rec] = (await h.server.until((x) => h.accepted().includes(x), before + 1)).slice(-1);
      expect(h.read(rec).text).toBe('Sorry for the wait');
      await deliveryOf(s, sent.id, 'sent');
      await s.until(
        () => s.a.updated.find((c) => c.id === conversation.id && c.state === 'assigned'),
        'assigned again',
      );
    });

    it('a gateway restart during retries loses nothing', async () => {
      const s = await setup();
      const { conversation } = await customerTexts(s, 'are you there?');
      h.server.goDown(503);
      const attempts = h.server.requests.length;
      const sent = await reply(s, conversation.id, 'Back in a moment');
      await h.server.until(() => h.server.requests.length > attempts);
      s.a.close();
      t = await t.restart();
      h.server.recover();
      const before = h.accepted().length;
      const [rec] = (await h.server.until((x) => h.accepted().includes(x), before + 1, 30_000)).slice(-1);
      expect(h.read(rec).text).toBe('Back in a moment');
      await eventually(async () => {
        const rows = (
          await t.nexus.db.query('SELECT state FROM sms_outbound WHERE ccid = $1 AND message_id = $2', [
            s.tenant.ccid,
            sent.id,
          ])
        ).rows;
        expect(rows[0]?.state).toBe('sent');
      });
      // Sent exactly once after the recovery.
      expect(
        h
          .accepted()
          .slice(before)
          .filter((x) => h.read(x).text === 'Back in a moment'),
      ).toHaveLength(1);
    });
  });
});
