/**
 * Long compressed voice messages end to end: a customer on a socket.io client sends a `File`
 * message whose audio is the tenant's file on the gateway → gateway → athena fetches it, reads its
 * length from the container, and streams it, paced, to the Speech v1 gRPC fake → the webhook bot
 * gets the text and its answer reaches the customer. The stream takes longer than the bot's
 * `timeoutMs`, which the turn's deadline makes room for. A long MP3, which Speech v1 does not
 * stream, hands the conversation to an agent with that reason. Both engines.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { SmsStore } from '../../src/plugins/sms/store.js';
import { emitAck, newSession, seen, socketFor } from '../chat/helpers.js';
import type { TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { mp3, oggOpus, type SpeechFake, startSpeechFake, webmOpus } from '../fakes/google/speech.js';
import { botTenant, cmid, eventWhere, FakeRasa, startAthena } from './helpers.js';

const SPEECH_KEY = 'AIzaSy-speech-voice-e2e-key';
/** athena streams at 14× real time, which this fake is told to allow (Google's pace is about 1–2×). */
const PACE = 14;
/** Shorter than the five seconds 70 s of audio takes to stream at that pace. */
const BOT_TIMEOUT_MS = 2500;

describe.each(engines())('long compressed voice messages end to end (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let clusterKey: string;
  let rasa: FakeRasa;
  let speech: SpeechFake;
  let tenant: TestTenant;
  let alice: TestAgent;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine });
    rasa = await FakeRasa.start();
    speech = await startSpeechFake(SPEECH_KEY, { realtimeFactor: PACE + 5 });
    ({ athena, apiKey: clusterKey } = await startAthena(t, engine, {
      speech: { apiKey: SPEECH_KEY, apiEndpoint: `${speech.host}:${speech.port}`, streamPace: PACE },
    }));
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: {
        rasa: {
          url: rasa.url,
          data: { provider: 'Webhook', timeoutMs: BOT_TIMEOUT_MS, nickname: 'Rasa', languageCode: 'en-US' },
        },
      },
      endpoints: { web: 'rasa' },
      capacity: 10,
    }));
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    alice?.close();
    await athena?.close();
    await rasa?.close();
    await speech?.close();
    await t?.cleanup();
  });

  const customer = async () => {
    const session = await newSession(
      t,
      tenant,
      'data[firstName]=Ada&data[nickname]=ada&data[endpoint]=web&data[stream]=live',
    );
    const s = await socketFor(t.url, '/consumer', { clientToken: session.clientToken });
    sockets.push(s);
    return { id: session.conversationId, s };
  };
  const storeMedia = async (content: Buffer, mimetype: string) => {
    const id = randomUUID();
    await new SmsStore(t.nexus.db).storeMedia({
      id,
      ccid: tenant.ccid,
      channelId: 'voice-test',
      filename: 'voice',
      mimetype,
      content,
    });
    return `/nexus/v3/sms/${tenant.ccid}/media/${id}`;
  };
  const sendVoice = async (s: Socket, url: string, mediaType: string) => {
    const a = await emitAck(s, 'message.send', {
      clientMessageId: cmid(),
      type: 'File',
      text: 'voice message',
      content: { attachments: [{ url, mediaType, name: 'voice' }] },
    });
    expect(a.ok, JSON.stringify(a)).toBe(true);
    return a as { id: string };
  };
  const messages = async (id: string) => {
    const r = await api(t.url, 'GET', `/nexus/v3/interactions/${id}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(r.status).toBe(200);
    return r.body.data.messages as ChatMessage[];
  };

  it.each([
    { name: 'WebM Opus (a browser recording)', type: 'audio/webm;codecs=opus', file: webmOpus },
    { name: 'Ogg Opus', type: 'audio/ogg; codecs=opus', file: oggOpus },
  ])('$name over a minute: streamed, paced past the bot timeout, and the bot answers it', async (c) => {
    const { id, s } = await customer();
    rasa.script = (call) => ({ body: [{ text: `You said: ${call.message}` }] });
    const words = `Please send the invoice again ${randomUUID().slice(0, 8)}`;
    const url = await storeMedia(c.file(words, 70), c.type);
    const [recognized, streams] = [speech.recognizeRequests.length, speech.streams.length];
    const started = performance.now();
    const sent = await sendVoice(s, url, c.type);

    const reply = await eventWhere<ChatMessage>(
      s,
      'message',
      (m) => m.from.type === 'Bot' && m.text === `You said: ${words}`,
      20_000,
      seen(s).messages,
    );
    // 70 s of audio at 14×: five seconds, more than the bot's 2.5 s, which did not end the turn.
    expect(performance.now() - started).toBeGreaterThan((70_000 / PACE) * 0.95);
    expect(reply.from).toMatchObject({ type: 'Bot', nickname: 'Rasa' });
    expect(speech.recognizeRequests.length).toBe(recognized);
    expect(speech.streams.length).toBe(streams + 1);
    const arrivals = speech.arrivals.at(-1)!;
    expect(arrivals.at(-1)!.audioMs).toBe(70_000);
    expect(arrivals.at(-1)!.atMs).toBeGreaterThan((70_000 / PACE) * 0.95);
    const notice = (await messages(id)).find((m) => m.type === 'Notice' && m.text?.startsWith('transcript:'));
    expect(notice).toMatchObject({
      text: `transcript: ${words}`,
      visibility: 'agents',
      content: { messageId: sent.id },
    });
  });

  it('an MP3 over a minute hands off to an agent, saying why, and reaches no bot or speech service', async () => {
    const { id, s } = await customer();
    const url = await storeMedia(mp3('cancel my order', 90), 'audio/mpeg');
    const [recognized, streams, asked] = [
      speech.recognizeRequests.length,
      speech.streams.length,
      rasa.calls.length,
    ];
    await sendVoice(s, url, 'audio/mpeg');
    const assigned = await alice.until(
      () => alice.assigned.find((x) => x.conversation.id === id),
      `the handed-off conversation ${id}`,
    );
    const notice = assigned.transcript.find((m) => m.type === 'Notice' && m.text?.startsWith('handoff:'));
    expect(notice?.text).toBe(
      'handoff: the bot rasa failed: the voice message is 90 s of MP3 audio; speech-to-text takes MP3 in one call of up to a minute, and cannot stream it',
    );
    expect(notice?.visibility).toBe('agents');
    expect([speech.recognizeRequests.length, speech.streams.length, rasa.calls.length]).toEqual([
      recognized,
      streams,
      asked,
    ]);
  });
});
