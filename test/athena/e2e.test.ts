/**
 * End to end through the real parts: a customer on a socket.io client → gateway (commit, outbox,
 * signed webhook) → athena (signature, settings from the gateway with its cluster key) → a fake
 * Rasa-REST bot → the reply back in the customer's socket; handoff to an agent on a real socket;
 * the bot silent after; agent-assist suggestions to the agent only; back to the bot and handed off
 * again; a bot that fails or hangs hands off with a reason. Both engines.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import type { ChatMessage, Suggestion } from '../../src/gateway/chat/events.js';
import { emitAck, newSession, seen, socketFor } from '../chat/helpers.js';
import { putAgent, TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { botTenant, cmid, eventWhere, FakeRasa, startAthena } from './helpers.js';

describe.each(engines())('bot mode and agent assist end to end (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let clusterKey: string;
  let rasa: FakeRasa;
  let tenant: TestTenant;
  let alice: TestAgent;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine });
    rasa = await FakeRasa.start();
    ({ athena, apiKey: clusterKey } = await startAthena(t, engine));
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: {
        rasa: {
          url: rasa.url,
          data: { provider: 'Webhook', timeoutMs: 1000, agentAssist: true, nickname: 'Rasa' },
        },
      },
      // Every test's conversation stays with alice.
      capacity: 10,
    }));
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    alice?.close();
    await athena?.close();
    await rasa?.close();
    await t?.cleanup();
  });

  const customer = async () => {
    const session = await newSession(t, tenant);
    const s = await socketFor(t.url, '/consumer', { clientToken: session.clientToken });
    sockets.push(s);
    const suggestions: unknown[] = [];
    s.on('suggestion', (p) => suggestions.push(p));
    return { session, s, suggestions };
  };
  const say = async (s: Socket, text: string) => {
    const a = await emitAck(s, 'message.send', { clientMessageId: cmid(), text });
    expect(a.ok, JSON.stringify(a)).toBe(true);
    return a as { id: string; seq: number };
  };
  const botMessage = (s: Socket, test: (m: ChatMessage) => boolean) =>
    eventWhere<ChatMessage>(s, 'message', (m) => m.from.type === 'Bot' && test(m), 10_000, seen(s).messages);
  const transcript = async (id: string) => {
    const r = await api(t.url, 'GET', `/nexus/v3/interactions/${id}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(r.status).toBe(200);
    return r.body.data.messages as ChatMessage[];
  };

  it('the bot answers the customer, hands off to an agent, is silent after, and suggests to the agent only', async () => {
    const { session, s, suggestions } = await customer();
    const id = session.conversationId;

    rasa.script = (c) =>
      c.message === 'hello'
        ? {
            body: [
              { text: 'Hi! How can I help?', buttons: [{ title: 'Talk to a person', payload: '/agent' }] },
            ],
          }
        : c.message === '/agent'
          ? {
              body: [
                { text: 'Connecting you.' },
                { custom: { handoff: { reason: 'customer asked for a person' } } },
              ],
            }
          : { body: [{ text: `Suggested answer to: ${c.message}` }] };

    await say(s, 'hello');
    const reply = await botMessage(s, (m) => m.text === 'Hi! How can I help?');
    expect(reply.from).toMatchObject({ type: 'Bot', nickname: 'Rasa' });
    expect(reply.content?.quickReplies).toEqual([{ text: 'Talk to a person', payload: '/agent' }]);
    const first = rasa.calls.find((c) => c.message === 'hello')!;
    expect(first.sender).toBe(id);
    expect(first.metadata).toMatchObject({ ccid: tenant.ccid, mode: 'bot', endpoint: 'web' });

    // The quick reply's payload goes back to the bot; the bot hands off.
    const a = await emitAck(s, 'message.send', {
      clientMessageId: cmid(),
      text: 'Talk to a person',
      content: { payload: '/agent' },
    });
    expect(a.ok).toBe(true);
    const assigned = await alice.until(
      () => alice.assigned.find((x) => x.conversation.id === id),
      'the handed-off conversation',
    );
    expect(assigned.conversation.state).toBe('assigned');
    const notice = assigned.transcript.find((m) => m.type === 'Notice' && m.text?.startsWith('handoff:'));
    expect(notice?.text).toBe('handoff: customer asked for a person');
    expect(notice?.visibility).toBe('agents');
    await botMessage(s, (m) => m.text === 'Connecting you.');

    // Agent assist: the next customer turn becomes a suggestion in the agent's socket only.
    const before = rasa.calls.length;
    await say(s, 'where is my parcel?');
    const suggestion = await eventWhere<Suggestion>(
      alice.socket,
      'suggestion',
      (x) => x.conversationId === id,
    );
    expect(suggestion.text).toBe('Suggested answer to: where is my parcel?');
    expect(suggestion.source).toBe('rasa');
    const assistCall = rasa.calls.slice(before).find((c) => c.message === 'where is my parcel?');
    expect(assistCall?.metadata.mode).toBe('assist');

    // Nothing of it reached the customer, by any path: socket, REST transcript of the session.
    expect(suggestions).toEqual([]);
    const afterHandoff = (await transcript(id)).filter((m) => m.seq > (notice?.seq ?? 0));
    expect(afterHandoff.filter((m) => m.from.type === 'Bot')).toEqual([]);
    const rest = await api(t.url, 'GET', `${session.selfUri}/messages?from=0`, {
      headers: { 'x-nexus-client-key': session.clientToken },
    });
    expect(JSON.stringify(rest.body)).not.toContain('Suggested answer');
    expect(seen(s).messages.some((m) => m.text?.includes('Suggested answer'))).toBe(false);

    // The gateway refuses a bot reply into a conversation an agent owns.
    const refused = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
      json: { text: 'I am still here', bot: 'rasa' },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.status.name).toBe('BOT_NOT_IN_CONTROL');

    // The agent uses the suggestion; the feedback is recorded.
    const fb = await alice.ack('suggestion.feedback', { suggestionId: suggestion.id, action: 'used' });
    expect(fb.ok, JSON.stringify(fb)).toBe(true);
    const row = await t.nexus.db.query(
      'SELECT action, agent_id FROM suggestion_feedback WHERE ccid = $1 AND suggestion_id = $2',
      [tenant.ccid, suggestion.id],
    );
    expect(row.rows).toEqual([{ action: 'used', agent_id: 'alice' }]);

    // Only the customer's messages go to the bot: never the agent's, never an internal note.
    const callsBefore = rasa.calls.length;
    for (const m of [{ text: 'note: VIP customer', visibility: 'agents' }, { text: 'Hello, Alice here' }]) {
      const ack = await alice.ack('message.send', { conversationId: id, clientMessageId: cmid(), ...m });
      expect(ack.ok, JSON.stringify(ack)).toBe(true);
    }
    await say(s, 'thanks');
    // Deliveries leave in order per conversation: once this one is answered, none is pending before it.
    await eventWhere<Suggestion>(alice.socket, 'suggestion', (x) => x.text === 'Suggested answer to: thanks');
    expect(rasa.calls.slice(callsBefore).map((c) => c.message)).toEqual(['thanks']);

    // Back to the bot: it answers the customer again, then hands off again.
    const back = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/route`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
      json: { bot: 'rasa' },
    });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect(back.body.data.state).toBe('bot');
    await say(s, 'hello');
    const replies = () =>
      seen(s).messages.filter((m) => m.from.type === 'Bot' && m.text === 'Hi! How can I help?');
    await eventWhere<ChatMessage>(s, 'message', () => replies().length === 2, 10_000, seen(s).messages);
    const n = alice.assigned.filter((x) => x.conversation.id === id).length;
    await emitAck(s, 'message.send', {
      clientMessageId: cmid(),
      text: 'agent',
      content: { payload: '/agent' },
    });
    await alice.until(
      () => alice.assigned.filter((x) => x.conversation.id === id).length > n,
      'the second handoff',
    );
  });

  it('records used, edited and dismissed on the suggestions an agent was offered, and refuses any other id', async () => {
    const { session, s } = await customer();
    const id = session.conversationId;
    rasa.script = () => ({ body: [{ custom: { handoff: { reason: 'straight to a person' } } }] });
    await say(s, 'I need a person');
    await alice.until(() => alice.assigned.find((x) => x.conversation.id === id), 'the conversation');

    // Another service suggests three replies; each reaches alice's console.
    const offered: Suggestion[] = [];
    const onSuggestion = (x: Suggestion) => {
      if (x.conversationId === id) offered.push(x);
    };
    alice.socket.on('suggestion', onSuggestion);
    const posted = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/suggestions`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
      json: {
        suggestions: [{ text: 'Use me' }, { text: 'Edit me', confidence: 0.4 }, { text: 'Dismiss me' }],
        source: 'crm',
      },
    });
    expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    const ids = (posted.body.data.suggestions as Suggestion[]).map((x) => x.id);
    await eventWhere<Suggestion>(alice.socket, 'suggestion', () => offered.length === 3, 10_000, offered);
    alice.socket.off('suggestion', onSuggestion);
    expect(offered.map((x) => x.id)).toEqual(ids);
    const [used, edited, dismissed] = ids;

    const rows = async () =>
      (
        await t.nexus.db.query(
          `SELECT suggestion_id, agent_id, action, text FROM suggestion_feedback
            WHERE suggestion_id = ANY($1::text[]) OR ccid <> $2 ORDER BY created_at, action`,
          [ids, tenant.ccid],
        )
      ).rows;
    const all = async () =>
      (await t.nexus.db.query('SELECT count(*)::int AS n FROM suggestion_feedback')).rows[0].n as number;
    const before = await all();

    // Refused, each with its stable code, and nothing stored: an id never offered (well-formed or
    // not), an edit without its text, and another agent's or another tenant's feedback on alice's.
    const refused = async (agent: TestAgent, payload: Record<string, unknown>, name: string) => {
      const a = await agent.ack('suggestion.feedback', payload);
      expect(a, JSON.stringify(payload)).toMatchObject({ ok: false, error: { name } });
    };
    await refused(alice, { suggestionId: randomUUID(), action: 'used' }, 'SUGGESTION_NOT_FOUND');
    await refused(alice, { suggestionId: 's-1', action: 'dismissed' }, 'SUGGESTION_NOT_FOUND');
    await refused(alice, { suggestionId: edited, action: 'edited' }, 'VALIDATION_FAILED');
    await putAgent(t, tenant, 'bob', { name: 'Bob', queues: ['elsewhere'], capacity: 1 });
    const bob = await TestAgent.connect(t, tenant, 'bob');
    const other = await createTenant(t);
    await putAgent(t, other, 'alice', { name: 'Alice too', queues: ['support'], capacity: 1 });
    const otherAlice = await TestAgent.connect(t, other, 'alice');
    try {
      await refused(bob, { suggestionId: used, action: 'used' }, 'SUGGESTION_NOT_FOUND');
      await refused(otherAlice, { suggestionId: used, action: 'used' }, 'SUGGESTION_NOT_FOUND');
    } finally {
      bob.close();
      otherAlice.close();
    }
    expect(await all()).toBe(before);
    expect(await rows()).toEqual([]);

    // alice's feedback on each is recorded, the edit with the text she sent.
    for (const p of [
      { suggestionId: used, action: 'used' },
      { suggestionId: edited, action: 'edited', text: 'Edited: I can help with that' },
      { suggestionId: dismissed, action: 'dismissed' },
    ]) {
      const a = await alice.ack('suggestion.feedback', p);
      expect(a, JSON.stringify(p)).toEqual({ ok: true });
    }
    const recorded = await rows();
    expect(recorded).toHaveLength(3);
    expect(recorded).toEqual(
      expect.arrayContaining([
        { suggestion_id: used, agent_id: 'alice', action: 'used', text: null },
        { suggestion_id: edited, agent_id: 'alice', action: 'edited', text: 'Edited: I can help with that' },
        { suggestion_id: dismissed, agent_id: 'alice', action: 'dismissed', text: null },
      ]),
    );
  });

  it('a bot that ends the conversation says goodbye and the conversation is done, with no agent', async () => {
    const { session, s } = await customer();
    const id = session.conversationId;
    rasa.script = () => ({ body: [{ text: 'Glad I could help. Bye!' }, { custom: { end: true } }] });
    await say(s, 'that is all, thanks');
    await botMessage(s, (m) => m.text === 'Glad I could help. Bye!');
    await expect
      .poll(
        async () =>
          (
            await api(t.url, 'GET', `/nexus/v3/interactions/${id}`, {
              headers: keyHeaders(clusterKey, tenant.ccid),
            })
          ).body.data.state,
        { timeout: 10_000 },
      )
      .toBe('done');
    expect(alice.assigned.some((x) => x.conversation.id === id)).toBe(false);
  });

  it('a bot that errors hands off with a reason', async () => {
    const { session, s } = await customer();
    rasa.script = () => ({ status: 500, body: { error: 'boom' } });
    await say(s, 'help');
    const msgs = await waitForNotice(session.conversationId, 'handoff:');
    expect(msgs.text).toContain('failed');
    expect(msgs.text).toContain('HTTP 500');
    const r = await api(t.url, 'GET', `/nexus/v3/interactions/${session.conversationId}`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(r.body.data.state).toBe('assigned');
    expect(r.body.data.queue).toBe('support');
  });

  it('a bot that does not answer in time hands off with a reason', async () => {
    const { session, s } = await customer();
    rasa.script = () => 'hang';
    await say(s, 'anyone?');
    const notice = await waitForNotice(session.conversationId, 'handoff:');
    expect(notice.text).toBe('handoff: the bot rasa did not answer in time');
  });

  it('bot replies and suggestions are refused without the AI permissions, and across tenants', async () => {
    const { session } = await customer();
    const other = await createTenant(t);
    const r = await api(t.url, 'POST', `/nexus/v3/interactions/${session.conversationId}/messages`, {
      headers: keyHeaders(other.apiKey),
      json: { text: 'hi from elsewhere' },
    });
    expect(r.status).toBe(404);
    const bad = await api(t.url, 'POST', `/nexus/v3/interactions/${session.conversationId}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
      json: { text: '' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.status.name).toBe('VALIDATION_FAILED');
    const sug = await api(t.url, 'POST', `/nexus/v3/interactions/${session.conversationId}/suggestions`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
      json: { suggestions: [{ text: 'x' }] },
    });
    expect(sug.status).toBe(409);
    expect(sug.body.status.name).toBe('NO_AGENT_OWNER');
    // A tenant key reads its bot without the secret; only athena's cluster key gets the signing key.
    const bot = await api(t.url, 'GET', '/nexus/v3/ai/bots/rasa', { headers: keyHeaders(tenant.apiKey) });
    expect(bot.status).toBe(200);
    expect(bot.body.data.secret).toBeUndefined();
    const key = await api(t.url, 'GET', '/nexus/v3/ai/connector', { headers: keyHeaders(tenant.apiKey) });
    expect(key.status).toBe(403);
    expect(key.body.status.name).toBe('CLUSTER_KEY_REQUIRED');
  });

  /** The handoff reaches the ready agent; its transcript carries the reason. */
  async function waitForNotice(id: string, prefix: string): Promise<ChatMessage> {
    const a = await alice.until(
      () => alice.assigned.find((x) => x.conversation.id === id),
      `conversation ${id}`,
    );
    const m = a.transcript.find((x) => x.type === 'Notice' && x.text?.startsWith(prefix));
    if (!m) throw new Error(`no ${prefix} notice in ${JSON.stringify(a.transcript)}`);
    return m as ChatMessage;
  }
});
