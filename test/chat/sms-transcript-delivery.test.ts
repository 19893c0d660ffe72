/**
 * SMS delivery states in every transcript an agent gets, not only in the live `message.updated`:
 * an agent that (re)joins a conversation (a console reload; an undelivered one is still listed and
 * opened), an agent given it by a transfer, an agent reading it as a contact's earlier
 * conversation, and the interactions API's transcript all carry each reply's current delivery
 * state, in message.updated's shape. A customer texts in
 * through the Twilio fake (its signed webhooks), agents on real sockets, both engines.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { phone, type SmsHarness, twilioHarness } from '../sms/providers.js';
import { putAgent, putEndpoint, TestAgent } from './routing-helpers.js';

type Delivery = NonNullable<ChatMessage['delivery']>;
interface Updated {
  conversationId: string;
  messageId: string;
  seq: number;
  delivery: Delivery;
}

/** What an agent socket is sent besides assignments (messages, delivery updates), with a waiter. */
function record(s: Socket) {
  const messages: ChatMessage[] = [];
  const updates: Updated[] = [];
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  s.on('message', (m: ChatMessage) => {
    messages.push(m);
    wake();
  });
  s.on('message.updated', (u: Updated) => {
    updates.push(u);
    wake();
  });
  /** Resolves when `test()` holds, re-checked on every message or update. */
  const until = <T>(test: () => T | undefined, what: string, ms = 20_000): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
      const check = () => {
        const v = test();
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else waiters.push(check);
      };
      check();
    });
  return { messages, updates, until };
}

describe.each(engines())('SMS delivery states in the transcripts agents get (%s)', (engine) => {
  let t: TestNexus;
  let h: SmsHarness;
  let tenant: TestTenant;
  let ann: TestAgent;
  let annSeen: ReturnType<typeof record>;
  const open: TestAgent[] = [];
  const channelId = phone();
  const customer = phone();
  let conversationId: string;
  /** The agent's two replies: delivered, and failed (the provider was down). */
  let delivered: { id: string; seq: number; live: Delivery };
  let failed: { id: string; seq: number; live: Delivery };

  const connect = async (agentId: string) => {
    const a = await TestAgent.connect(t, tenant, agentId);
    open.push(a);
    return a;
  };
  const liveUpdate = (messageId: string, state: string) =>
    annSeen.until(
      () => annSeen.updates.find((u) => u.messageId === messageId && u.delivery.state === state),
      `message.updated ${state}`,
    );
  const reply = async (text: string) => {
    const ack = await ann.ack('message.send', { conversationId, clientMessageId: randomUUID(), text });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    return ack as { id: string; seq: number };
  };
  /** The replies' delivery in a transcript, and that the customer's text carries none. */
  const expectStates = (transcript: ChatMessage[]) => {
    const byId = new Map(transcript.map((m) => [m.id, m]));
    const d = byId.get(delivered.id)?.delivery;
    const f = byId.get(failed.id)?.delivery;
    // message.updated's shape: { state, at } (ISO 8601), the state the agent last saw live.
    expect(d && Object.keys(d).sort()).toEqual(['at', 'state']);
    expect(d?.state).toBe('delivered');
    expect(f?.state).toBe('failed');
    for (const x of [d, f]) expect(new Date(x?.at ?? '').toISOString()).toBe(x?.at);
    expect(transcript.find((m) => m.text === 'Where is my parcel?')?.delivery).toBeUndefined();
  };

  beforeAll(async () => {
    t = await startNexus({ engine });
    h = twilioHarness();
    await h.start();
    tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'sms', { queue: 'sms' });
    // One attempt: a provider that refuses the send fails the reply at once.
    await h.provision(t, tenant, channelId, { endpoint: 'sms', maxAttempts: 1 });
    await putAgent(t, tenant, 'ann', { name: 'Ann', queues: ['sms'], capacity: 3 });
    await putAgent(t, tenant, 'bob', { name: 'Bob', queues: ['sms'], capacity: 3 });
    ann = await connect('ann');
    annSeen = record(ann.socket);
    await ann.ready();

    const r = await h.inbound(t, tenant, channelId, {
      id: `mo-${randomUUID()}`,
      from: customer,
      text: 'Where is my parcel?',
    });
    expect(r.status).toBe(200);
    conversationId = (await ann.nth(1, 20_000)).conversation.id;

    const before = h.accepted().length;
    const first = await reply('It left today.');
    const [rec] = (await h.server.until((x) => h.accepted().includes(x), before + 1)).slice(-1);
    await liveUpdate(first.id, 'sent');
    expect((await h.receipt(t, tenant, channelId, h.read(rec).providerId, 'delivered')).status).toBe(200);
    delivered = { ...first, live: (await liveUpdate(first.id, 'delivered')).delivery };

    h.server.goDown(503);
    try {
      const second = await reply('One more thing.');
      failed = { ...second, live: (await liveUpdate(second.id, 'failed')).delivery };
    } finally {
      h.server.recover();
    }
    // The final failure marked the conversation undelivered (still ann's, until Done).
    await ann.until(
      () => ann.updated.find((c) => c.id === conversationId && c.state === 'undelivered'),
      'undelivered',
    );
  }, 120_000);

  afterAll(async () => {
    for (const a of open) a.close();
    await h?.close();
    await t?.cleanup();
  });

  it('an agent that comes back (a console reload) lists the undelivered conversation and is replayed each reply with its state', async () => {
    const again = await connect('ann');
    const seen = record(again.socket);
    // What the console lists on load: the agent's own conversations, an undelivered one included.
    const list = await again.ack('conversation.list', { states: ['assigned', 'asynchold', 'undelivered'] });
    expect(list.ok, JSON.stringify(list)).toBe(true);
    expect(list.conversations.map((c: { id: string; state: string }) => [c.id, c.state])).toEqual([
      [conversationId, 'undelivered'],
    ]);
    const ack = await again.ack('conversation.join', { conversationId, lastSeq: 0 });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    expect(seen.messages.length).toBe(ack.replayed);
    expectStates(seen.messages);
    // The states message.updated said last.
    expect(seen.messages.find((m) => m.id === delivered.id)?.delivery?.state).toBe(delivered.live.state);
    expect(seen.messages.find((m) => m.id === failed.id)?.delivery?.state).toBe(failed.live.state);
    // Another agent of the tenant may not open it.
    await putAgent(t, tenant, 'cy', { name: 'Cy', queues: ['sms'], capacity: 1 });
    const cy = await connect('cy');
    const refused = await cy.ack('conversation.join', { conversationId, lastSeq: 0 });
    expect(refused.ok).toBe(false);
    expect(refused.error.name).toBe('NOT_ASSIGNED_AGENT');
    again.close();
    cy.close();
  });

  it('the interactions API transcript carries the delivery states', async () => {
    const r = await api(t.url, 'GET', `/nexus/v3/interactions/${conversationId}/messages`, {
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(r.status).toBe(200);
    expectStates(r.body.data.messages);
  });

  it("an agent given the conversation by a transfer gets them in conversation.assigned's transcript", async () => {
    // The customer texting back makes it live again (assigned to ann), so it can be transferred.
    const back = await h.inbound(t, tenant, channelId, {
      id: `mo-${randomUUID()}`,
      from: customer,
      text: 'Still there?',
    });
    expect(back.status).toBe(200);
    await ann.until(
      () => ann.updated.findLast((c) => c.id === conversationId)?.state === 'assigned',
      'assigned again',
    );
    const bob = await connect('bob');
    await bob.ready();
    const moved = await ann.ack('conversation.transfer', { conversationId, agentId: 'bob' });
    expect(moved.ok, JSON.stringify(moved)).toBe(true);
    const got = await bob.until(
      () => bob.assigned.find((a) => a.conversation.id === conversationId),
      'transfer',
    );
    expectStates(got.transcript as ChatMessage[]);

    // Done; the customer texts again: a new conversation of the same contact, whose agent reads the
    // earlier one (contact.history) with its delivery states.
    const done = await bob.ack('conversation.done', { conversationId });
    expect(done.ok, JSON.stringify(done)).toBe(true);
    // Only bob takes the next one.
    expect((await ann.ack('agent.state', { state: 'notready' })).ok).toBe(true);
    const r = await h.inbound(t, tenant, channelId, {
      id: `mo-${randomUUID()}`,
      from: customer,
      text: 'Me again',
    });
    expect(r.status).toBe(200);
    const next = await bob.until(
      () => bob.assigned.find((x) => x.conversation.id !== conversationId),
      'the new conversation',
      20_000,
    );
    const history = await bob.ack('contact.history', {
      conversationId: next.conversation.id,
      historyId: conversationId,
    });
    expect(history.ok, JSON.stringify(history)).toBe(true);
    expectStates(history.transcript);
  });
});
