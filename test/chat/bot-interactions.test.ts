/**
 * A bot's conversation is an agent interaction only once it reaches a queue. It is created with its
 * bot (state `bot`, never `queued` first, so no queue watcher ever sees it), and its interaction
 * lifecycle (the bus's `interaction.started` / `interaction.finished`, the STARTED / FINISHED
 * interaction webhooks) begins at the handoff: a conversation the bot answers and ends itself
 * sends neither; one it hands off sends STARTED once, in the transaction of the handoff, and
 * FINISHED when it is done. End to end through the real parts (customer socket, gateway, athena,
 * a Rasa-REST fake bot, agents on sockets), both engines.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import type { ChatMessage, ConversationSummary } from '../../src/gateway/chat/events.js';
import type { EventBus } from '../../src/plugins/bus.js';
import { type FakeServer, startFakeServer } from '../../src/plugins/testing.js';
import type { BusEvent } from '../../src/plugins/types.js';
import { botTenant, cmid, eventWhere, FakeRasa, provision, startAthena } from '../athena/helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { emitAck, newSession, seen, socketFor, type TestSession } from './helpers.js';
import { putAgent, TestAgent } from './routing-helpers.js';

type QueueUpdate = { queue: string; conversation: ConversationSummary };

/** One bus event as the test compares it: its type and, for a state change, from → to. */
function step(e: BusEvent): string {
  if (e.type === 'conversation.created') return `created ${e.data.conversation.state}`;
  if (e.type === 'conversation.state-changed')
    return `${e.data.previous.state} -> ${e.data.conversation.state}`;
  return e.type;
}

/** Everything after a commit fails, as if the node died right there (the outbox rows are committed). */
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

describe.each(engines())('a bot conversation and its interaction lifecycle (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let clusterKey: string;
  let rasa: FakeRasa;
  let hook: FakeServer;
  let tenant: TestTenant;
  let alice: TestAgent;
  let watcher: TestAgent;
  const updates: QueueUpdate[] = [];
  const bus: BusEvent[] = [];
  let offBus: (() => void) | undefined;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine });
    rasa = await FakeRasa.start();
    hook = await startFakeServer(() => ({ status: 200, body: {} }));
    ({ athena, apiKey: clusterKey } = await startAthena(t, engine));
    // Endpoint `web` names the bot; its queue is `support`, where alice (ready) takes handoffs.
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: { rasa: { url: rasa.url, data: { provider: 'Webhook', timeoutMs: 2000, nickname: 'Rasa' } } },
      capacity: 10,
    }));
    await provision(t, tenant, 'InteractionWebhook-crm', {
      url: `${hook.url}/interactions`,
      secret: { signingKey: 'bot-lifecycle-key-51f0' },
      data: {},
    });
    // A queue watcher who takes nothing: the console's queues panel of `support`.
    await putAgent(t, tenant, 'watcher', { name: 'Watcher', queues: ['support'], capacity: 1 });
    watcher = await TestAgent.connect(t, tenant, 'watcher');
    watcher.socket.on('queue.updated', (u: QueueUpdate) => updates.push(u));
    const listed = await watcher.ack('conversation.list', { states: ['queued'] });
    expect(listed.ok, JSON.stringify(listed)).toBe(true);
    offBus = t.nexus.plugins.bus.subscribe(
      'test-bot-lifecycle',
      { ccid: tenant.ccid },
      (e) => void bus.push(e),
    );
  }, 60_000);

  afterAll(async () => {
    offBus?.();
    for (const s of sockets) s.close();
    alice?.close();
    watcher?.close();
    await athena?.close();
    await rasa?.close();
    await hook?.close();
    await t?.cleanup();
  });

  const customer = async (): Promise<{ session: TestSession; s: Socket }> => {
    const session = await newSession(t, tenant);
    const s = await socketFor(t.url, '/consumer', { clientToken: session.clientToken });
    sockets.push(s);
    seen(s);
    return { session, s };
  };
  const say = async (s: Socket, text: string) => {
    const a = await emitAck(s, 'message.send', { clientMessageId: cmid(), text });
    expect(a.ok, JSON.stringify(a)).toBe(true);
  };
  const botSays = (s: Socket, text: string) =>
    eventWhere<ChatMessage>(
      s,
      'message',
      (m) => m.from.type === 'Bot' && m.text === text,
      10_000,
      seen(s).messages,
    );
  const lifecycle = (id: string) =>
    bus
      .filter((e) => e.conversationId === id && e.type !== 'message.created' && e.type !== 'delivery.receipt')
      .map(step);
  const webhookEvents = (id: string) =>
    hook.requests
      .map((r) => r.json().data.entities[0])
      .filter((e: any) => e.entity.id === id)
      .map((e: any) => e.event as string);
  const marks = async (id: string) =>
    (
      await t.nexus.db.query<{ event: string }>(
        'SELECT event FROM interaction_events WHERE conversation_id = $1 ORDER BY created_at, event',
        [id],
      )
    ).rows.map((r) => r.event);
  const webhookRows = async (id: string) =>
    (await t.nexus.plugins.outbox.list(tenant.ccid, undefined, 1000)).filter(
      (r) => r.kind === 'interaction-webhook' && r.orderingKey.endsWith(`:${id}`),
    );
  const stateOf = async (id: string) =>
    (
      await api(t.url, 'GET', `/nexus/v3/interactions/${id}`, {
        headers: keyHeaders(clusterKey, tenant.ccid),
      })
    ).body.data.state as string;

  it('a conversation the bot answers and ends itself is never queued, and neither STARTED nor FINISHED', async () => {
    const { session, s } = await customer();
    const id = session.conversationId;
    // Created with its bot: the session's answer already says so.
    expect((session as TestSession & { state: string }).state).toBe('bot');
    rasa.script = (call) =>
      call.message === 'bye'
        ? { body: [{ text: 'Glad I could help. Bye!' }, { custom: { end: true } }] }
        : { body: [{ text: 'Hello, how can I help?' }] };
    await say(s, 'hi');
    await botSays(s, 'Hello, how can I help?');
    await say(s, 'bye');
    await botSays(s, 'Glad I could help. Bye!');
    await vi.waitFor(() => expect(lifecycle(id)).toContain('bot -> done'), { timeout: 10_000 });

    // The interaction events would have been published with the change that caused them (one
    // batch, in the same transaction): the change to done is here, and nothing came with it.
    expect(lifecycle(id)).toEqual(['created bot', 'bot -> done']);
    expect(await marks(id)).toEqual([]);
    expect(await webhookRows(id)).toEqual([]);
    expect(webhookEvents(id)).toEqual([]);
    expect(updates.filter((u) => u.conversation.id === id)).toEqual([]);
    expect(alice.assigned.some((a) => a.conversation.id === id)).toBe(false);
  });

  it('a handed-off conversation is STARTED once, at the handoff, and FINISHED when its agent is done', async () => {
    const { session, s } = await customer();
    const id = session.conversationId;
    expect((session as TestSession & { state: string }).state).toBe('bot');
    rasa.script = (call) =>
      call.message === 'a person please'
        ? { body: [{ custom: { handoff: { reason: 'customer asked for a person' } } }] }
        : { body: [{ text: 'I am the bot.' }] };
    await say(s, 'hi');
    await botSays(s, 'I am the bot.');
    // The bot has it and answers: not an agent interaction yet.
    expect(lifecycle(id)).toEqual(['created bot']);
    expect(await marks(id)).toEqual([]);
    expect(await webhookRows(id)).toEqual([]);

    await say(s, 'a person please');
    const got = await alice.until(() => alice.assigned.find((a) => a.conversation.id === id), 'the handoff');
    expect(got.conversation.state).toBe('assigned');
    // STARTED right with the handoff to the queue (the same batch as that change), and only then.
    await vi.waitFor(() => expect(lifecycle(id)).toContain('queued -> assigned'));
    expect(lifecycle(id)).toEqual([
      'created bot',
      'bot -> queued',
      'interaction.started',
      'queued -> assigned',
    ]);
    const started = bus.find((e) => e.conversationId === id && e.type === 'interaction.started');
    if (started?.type !== 'interaction.started') throw new Error('no interaction.started');
    expect(started.data.conversation.state).toBe('queued');
    expect(started.data.entity).toEqual({
      id,
      mediaType: 'chat',
      interactionSubtype: 'InboundNew',
      selfUri: `/nexus/v3/interactions/${id}`,
    });
    await vi.waitFor(() => expect(webhookEvents(id)).toEqual(['STARTED']), { timeout: 10_000 });

    const done = await alice.ack('conversation.done', { conversationId: id });
    expect(done.ok, JSON.stringify(done)).toBe(true);
    await vi.waitFor(() => expect(webhookEvents(id)).toEqual(['STARTED', 'FINISHED']), { timeout: 10_000 });
    expect(lifecycle(id)).toEqual([
      'created bot',
      'bot -> queued',
      'interaction.started',
      'queued -> assigned',
      'assigned -> done',
      'interaction.finished',
    ]);
    expect(await marks(id)).toEqual(['started', 'finished']);

    // The queue watcher saw it enter the queue at the handoff and leave it to alice; never the bot's.
    const seenByWatcher = updates.filter((u) => u.conversation.id === id);
    expect(seenByWatcher.map((u) => [u.queue, u.conversation.state])).toEqual([
      ['support', 'queued'],
      ['support', 'assigned'],
    ]);
  });

  it('no queue.updated ever lists a conversation a bot owns', () => {
    // Every update this tenant's queue watcher received over the tests above.
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.filter((u) => u.conversation.state === 'bot')).toEqual([]);
  });

  it("a handoff's STARTED reaches the webhook exactly once when the publish path after its commit fails", async () => {
    const session = await newSession(t, tenant);
    const id = session.conversationId;
    expect(await stateOf(id)).toBe('bot');
    // A bot's conversation: nothing started at its creation.
    expect(await marks(id)).toEqual([]);
    expect(await webhookRows(id)).toEqual([]);
    const restore = breakPublishPath(t.nexus.plugins.bus);
    try {
      // The AI connector's handoff call, as athena makes it.
      const r = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/route`, {
        headers: keyHeaders(clusterKey, tenant.ccid),
        json: { queue: 'support' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await vi.waitFor(() => expect(webhookEvents(id)).toEqual(['STARTED']), { timeout: 15_000 });
      await vi.waitFor(async () => {
        const rows = await webhookRows(id);
        expect(rows.map((x) => [x.state, x.attempts])).toEqual([['done', 1]]);
      });
      expect(await marks(id)).toEqual(['started']);
    } finally {
      restore();
    }
  });
});
