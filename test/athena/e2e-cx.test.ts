/**
 * A Dialogflow CX bot end to end with text turns, through the real parts: a customer on a
 * socket.io client → gateway (commit, outbox, signed webhook) → athena (signature, the bot's
 * settings from the gateway with its cluster key) → the Dialogflow CX gRPC fake (the real client
 * library on the wire) → the reply back in the customer's socket as the Bot participant. A CX
 * `liveAgentHandoff` hands the conversation to the queue and a ready agent gets it; after that the
 * bot is asked nothing and says nothing, until the conversation is routed back to it. Both engines.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { emitAck, newSession, seen, socketFor } from '../chat/helpers.js';
import type { TestAgent } from '../chat/routing-helpers.js';
import { type DialogflowCxFake, startDialogflowCxFake } from '../fakes/google/dialogflow-cx.js';
import { toStruct } from '../fakes/google/grpc.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { botTenant, cmid, eventWhere, startAthena } from './helpers.js';

const GREETING = 'Hi, this is the CX agent. How can I help?';
const CONNECTING = 'Connecting you to a person.';
const REASON = 'the customer asked for a person';

describe.each(engines())('a Dialogflow CX bot end to end, text turns (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let clusterKey: string;
  let cx: DialogflowCxFake;
  let tenant: TestTenant;
  let alice: TestAgent;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine });
    cx = await startDialogflowCxFake((q) => {
      const text = (s: string) => ({ text: { text: [s] } });
      if (q.text === 'hello') return { queryResult: { responseMessages: [text(GREETING)] } };
      if (q.text === 'a person please')
        return {
          queryResult: {
            responseMessages: [
              text(CONNECTING),
              { liveAgentHandoff: { metadata: toStruct({ reason: REASON }) } },
            ],
          },
        };
      return { queryResult: { responseMessages: [text(`CX heard "${q.text}"`)] } };
    });
    ({ athena, apiKey: clusterKey } = await startAthena(t, engine));
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: {
        cx: {
          data: {
            provider: 'DialogflowCX',
            projectId: 'demo-project',
            agentId: 'agent-1',
            languageCode: 'en-US',
            apiEndpoint: `${cx.host}:${cx.port}`,
            plaintext: true,
            timeoutMs: 5000,
            nickname: 'CX',
          },
          secret: { client_email: 'athena@demo-project.iam.gserviceaccount.com', private_key: 'test-key' },
        },
      },
    }));
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    alice?.close();
    await athena?.close();
    await cx?.close();
    await t?.cleanup();
  });

  const say = async (s: Socket, text: string) => {
    const a = await emitAck(s, 'message.send', { clientMessageId: cmid(), text });
    expect(a.ok, JSON.stringify(a)).toBe(true);
    return a as { id: string; seq: number };
  };
  const botMessage = (s: Socket, text: string) =>
    eventWhere<ChatMessage>(
      s,
      'message',
      (m) => m.from.type === 'Bot' && m.text === text,
      10_000,
      seen(s).messages,
    );
  /** What CX was asked in this conversation's session, in order. */
  const cxTexts = (id: string) =>
    cx.requests
      .filter((r) => r.session.endsWith(`/sessions/${id}`))
      .map((r) => (r.queryInput.input === 'text' ? r.queryInput.text.text : `<${r.queryInput.input}>`));
  const transcript = async (id: string) => {
    const r = await api(t.url, 'GET', `/nexus/v3/interactions/${id}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(r.status).toBe(200);
    return r.body.data.messages as ChatMessage[];
  };

  it('CX gets the text with the session, its reply reaches the customer, its handoff an agent, and the bot is silent after', async () => {
    const session = await newSession(t, tenant);
    const id = session.conversationId;
    const s = await socketFor(t.url, '/consumer', { clientToken: session.clientToken });
    sockets.push(s);

    // customer → gateway → athena → CX → the reply in the customer's socket, as the Bot.
    const sent = await say(s, 'hello');
    const reply = await botMessage(s, GREETING);
    expect(reply.from).toMatchObject({ type: 'Bot', nickname: 'CX' });
    const asked = cx.requests.find((r) => r.session.endsWith(`/sessions/${id}`));
    expect(asked.session).toBe(`projects/demo-project/locations/global/agents/agent-1/sessions/${id}`);
    expect(asked.queryInput).toMatchObject({ input: 'text', text: { text: 'hello' }, languageCode: 'en-US' });
    const transcriptNow = await transcript(id);
    expect(transcriptNow.find((m) => m.id === reply.id)!.seq).toBeGreaterThan(sent.seq);

    // The CX agent hands off: the conversation goes to the queue and the ready agent gets it.
    await say(s, 'a person please');
    const assigned = await alice.until(
      () => alice.assigned.find((x) => x.conversation.id === id),
      'the handed-off conversation',
    );
    expect(assigned.conversation).toMatchObject({ state: 'assigned', queue: 'support', agentId: 'alice' });
    const notice = assigned.transcript.find((m) => m.type === 'Notice' && m.text?.startsWith('handoff:'));
    expect(notice).toMatchObject({ text: `handoff: ${REASON}`, visibility: 'agents' });
    await botMessage(s, CONNECTING);
    expect(cxTexts(id)).toEqual(['hello', 'a person please']);

    // The customer talks on: the agent hears it, the bot is not asked and says nothing.
    const later = await say(s, 'are you still there?');
    const heard = await eventWhere<ChatMessage>(alice.socket, 'message', (m) => m.id === later.id);
    expect(heard.text).toBe('are you still there?');

    // Back to the bot: deliveries leave in order per conversation, so once CX answers this turn,
    // a delivery of the message above (had there been one) would already have reached it.
    const back = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/route`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
      json: { bot: 'cx' },
    });
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    const backSeq = (await transcript(id)).at(-1)!.seq;
    await say(s, 'back again');
    await botMessage(s, 'CX heard "back again"');
    expect(cxTexts(id)).toEqual(['hello', 'a person please', 'back again']);
    const whileAgent = (await transcript(id)).filter(
      (m) => m.seq > (notice?.seq ?? Number.POSITIVE_INFINITY) && m.seq <= backSeq,
    );
    expect(whileAgent.map((m) => m.text)).toContain('are you still there?');
    expect(whileAgent.filter((m) => m.from.type === 'Bot')).toEqual([]);
    expect(
      seen(s)
        .messages.filter((m) => m.from.type === 'Bot')
        .map((m) => m.text),
    ).toEqual([GREETING, CONNECTING, 'CX heard "back again"']);
  });
});
