/**
 * Voice messages end to end: a customer on a socket.io client sends a `File` message with an audio
 * attachment → gateway (commit, outbox, signed webhook) → athena fetches the audio (a data URL, or
 * the tenant's file on the gateway with athena's cluster key) →
 * - a webhook (Rasa) bot, which has no voice input: the audio goes through the Speech v1 gRPC fake
 *   and the bot gets the transcript as text;
 * - a Dialogflow CX bot: the audio goes to the CX gRPC fake as `queryInput.audio`, speech-to-text
 *   not involved;
 * and the bot's reply reaches the customer, the transcript reaches the agents only (a notice).
 * Audio that cannot be fetched, or another tenant's file, hands the conversation to an agent. Both
 * engines.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import type { ChatMessage, Suggestion } from '../../src/gateway/chat/events.js';
import { SmsStore } from '../../src/plugins/sms/store.js';
import { emitAck, newSession, seen, socketFor } from '../chat/helpers.js';
import type { TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { type DialogflowCxFake, startDialogflowCxFake } from '../fakes/google/dialogflow-cx.js';
import { type SpeechFake, startSpeechFake } from '../fakes/google/speech.js';
import { botTenant, cmid, eventWhere, FakeRasa, startAthena } from './helpers.js';

const SPEECH_KEY = 'AIzaSy-audio-e2e-key';

/** A mono 16-bit PCM WAV; the fakes "recognise" the samples' bytes as UTF-8 text. */
function wav(spoken: string, rate = 16_000): Buffer {
  const data = Buffer.from(spoken);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

describe.each(engines())('voice messages end to end (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let clusterKey: string;
  let rasa: FakeRasa;
  let speech: SpeechFake;
  let cx: DialogflowCxFake;
  let tenant: TestTenant;
  let other: TestTenant;
  let alice: TestAgent;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine });
    rasa = await FakeRasa.start();
    // Streams at 50× real time, which this fake is told to allow (Google wants about real time:
    // speech-pacing.test.ts holds the default pace to the fake's default bound).
    speech = await startSpeechFake(SPEECH_KEY, { realtimeFactor: 60 });
    cx = await startDialogflowCxFake((q) => ({
      queryResult: { responseMessages: [{ text: { text: [`CX heard "${q.text.trim()}"`] } }] },
    }));
    ({ athena, apiKey: clusterKey } = await startAthena(t, engine, {
      speech: { apiKey: SPEECH_KEY, apiEndpoint: `${speech.host}:${speech.port}`, streamPace: 50 },
    }));
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: {
        rasa: {
          url: rasa.url,
          data: {
            provider: 'Webhook',
            timeoutMs: 5000,
            nickname: 'Rasa',
            languageCode: 'en-US',
            agentAssist: true,
          },
        },
        cx: {
          data: {
            provider: 'DialogflowCX',
            projectId: 'demo-project',
            agentId: 'agent-1',
            apiEndpoint: `${cx.host}:${cx.port}`,
            plaintext: true,
            timeoutMs: 5000,
          },
          secret: { client_email: 'athena@demo-project.iam.gserviceaccount.com', private_key: 'test-key' },
        },
      },
      endpoints: { web: 'rasa', voice: 'cx' },
      capacity: 10,
    }));
    other = await createTenant(t);
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    alice?.close();
    await athena?.close();
    await rasa?.close();
    await speech?.close();
    await cx?.close();
    await t?.cleanup();
  });

  const customer = async (endpoint: string) => {
    const session = await newSession(
      t,
      tenant,
      `data[firstName]=Ada&data[nickname]=ada&data[endpoint]=${endpoint}&data[stream]=live`,
    );
    const s = await socketFor(t.url, '/consumer', { clientToken: session.clientToken });
    sockets.push(s);
    return { id: session.conversationId, s };
  };
  const sendVoice = async (s: Socket, attachment: { url: string; mediaType: string }) => {
    const a = await emitAck(s, 'message.send', {
      clientMessageId: cmid(),
      type: 'File',
      text: 'voice-message.wav',
      content: { attachments: [{ ...attachment, name: 'voice-message.wav' }] },
    });
    expect(a.ok, JSON.stringify(a)).toBe(true);
    return a as { id: string };
  };
  const botMessage = (s: Socket, text: string) =>
    eventWhere<ChatMessage>(
      s,
      'message',
      (m) => m.from.type === 'Bot' && m.text === text,
      10_000,
      seen(s).messages,
    );
  /** The conversation as agents see it (notices for agents included). */
  const messages = async (id: string) => {
    const r = await api(t.url, 'GET', `/nexus/v3/interactions/${id}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(r.status).toBe(200);
    return r.body.data.messages as ChatMessage[];
  };
  const storeMedia = async (owner: TestTenant, content: Buffer, mimetype: string) => {
    const id = randomUUID();
    await new SmsStore(t.nexus.db).storeMedia({
      id,
      ccid: owner.ccid,
      channelId: 'voice-test',
      filename: 'voice.raw',
      mimetype,
      content,
    });
    return `/nexus/v3/sms/${owner.ccid}/media/${id}`;
  };
  const state = async (id: string) =>
    (
      await api(t.url, 'GET', `/nexus/v3/interactions/${id}`, {
        headers: keyHeaders(clusterKey, tenant.ccid),
      })
    ).body.data.state as string;

  it('a webhook bot gets the transcript of a voice message; its reply reaches the customer, the transcript the agents only', async () => {
    const { id, s } = await customer('web');
    rasa.script = (c) => ({ body: [{ text: `You said: ${c.message}` }] });
    const recognised = speech.recognizeRequests.length;
    const sent = await sendVoice(s, {
      url: `data:audio/wav;base64,${wav('where is my order').toString('base64')}`,
      mediaType: 'audio/wav',
    });

    const reply = await botMessage(s, 'You said: where is my order');
    expect(reply.from).toMatchObject({ type: 'Bot', nickname: 'Rasa' });
    const call = rasa.calls.find((c) => c.sender === id)!;
    expect(call.message).toBe('where is my order');
    expect(call.metadata).toMatchObject({ mode: 'bot', endpoint: 'web', messageId: sent.id });

    // Speech-to-text got the samples without the WAV header, in the format the header gave.
    const req = speech.recognizeRequests.slice(recognised).at(-1);
    expect(req.config).toMatchObject({
      encoding: 'LINEAR16',
      sampleRateHertz: 16_000,
      languageCode: 'en-US',
    });
    expect(Buffer.from(req.audio.content).toString('utf8')).toBe('where is my order');
    expect(speech.apiKeys.at(-1)).toBe(SPEECH_KEY);

    // The agents see what the customer said, before the bot's answer; the customer does not.
    const all = await messages(id);
    const notice = all.find((m) => m.type === 'Notice' && m.text?.startsWith('transcript:'));
    expect(notice).toMatchObject({
      text: 'transcript: where is my order',
      visibility: 'agents',
      content: { notice: 'transcript', messageId: sent.id, transcript: 'where is my order', bot: 'rasa' },
    });
    expect(notice!.seq).toBeLessThan(all.find((m) => m.id === reply.id)!.seq);
    expect(seen(s).messages.some((m) => m.text?.startsWith('transcript:'))).toBe(false);
    expect(await state(id)).toBe('bot');
  });

  it('a Dialogflow CX bot gets the audio itself, fetched from the gateway with the cluster key', async () => {
    const { id, s } = await customer('voice');
    const url = await storeMedia(tenant, Buffer.from('i lost my card'), 'audio/l16; rate=8000');
    const recognised = speech.recognizeRequests.length;
    const before = cx.requests.length;
    await sendVoice(s, { url, mediaType: 'audio/l16; rate=8000' });

    await botMessage(s, 'CX heard "i lost my card"');
    const req = cx.requests.slice(before).find((r) => r.session.endsWith(`/sessions/${id}`));
    expect(req.queryInput.input).toBe('audio');
    expect(req.queryInput.audio.config).toMatchObject({
      audioEncoding: 'AUDIO_ENCODING_LINEAR_16',
      sampleRateHertz: 8000,
    });
    expect(Buffer.from(req.queryInput.audio.audio).toString('utf8')).toBe('i lost my card');
    // Dialogflow recognised it: speech-to-text was not asked.
    expect(speech.recognizeRequests.length).toBe(recognised);
    // CX's own transcript is what the agents see.
    const notice = (await messages(id)).find((m) => m.type === 'Notice' && m.text?.startsWith('transcript:'));
    expect(notice?.text).toBe('transcript: i lost my card');
  });

  it('a voice message longer than a minute is transcribed by streaming, and the bot answers it', async () => {
    const { id, s } = await customer('web');
    rasa.script = (c) => ({ body: [{ text: `You said: ${c.message}` }] });
    // Two minutes of 8 kHz speech (the words, then silence): past what one Recognize takes.
    const samples = Buffer.alloc(2 * 60 * 8000 * 2);
    samples.write('I want to change the delivery address of my order');
    const file = wav('', 8000);
    file.writeUInt32LE(36 + samples.length, 4);
    file.writeUInt32LE(samples.length, 40);
    const url = await storeMedia(tenant, Buffer.concat([file, samples]), 'audio/wav');
    const recognised = speech.recognizeRequests.length;
    const streams = speech.streams.length;
    const sent = await sendVoice(s, { url, mediaType: 'audio/wav' });

    await botMessage(s, 'You said: I want to change the delivery address of my order');
    expect(rasa.calls.find((c) => c.sender === id)?.message).toBe(
      'I want to change the delivery address of my order',
    );
    // One stream carried it all, the samples without the WAV header; no synchronous call was made.
    expect(speech.recognizeRequests.length).toBe(recognised);
    expect(speech.streams.length).toBe(streams + 1);
    const [config, ...audio] = speech.streams.at(-1)!;
    expect(config.streamingConfig.config).toMatchObject({
      encoding: 'LINEAR16',
      sampleRateHertz: 8000,
      languageCode: 'en-US',
    });
    expect(Buffer.concat(audio.map((m) => Buffer.from(m.audioContent))).equals(samples)).toBe(true);
    const notice = (await messages(id)).find((m) => m.type === 'Notice' && m.text?.startsWith('transcript:'));
    expect(notice).toMatchObject({
      text: 'transcript: I want to change the delivery address of my order',
      visibility: 'agents',
      content: { messageId: sent.id },
    });
    expect(await state(id)).toBe('bot');
  });

  it("audio that cannot be fetched, or another tenant's file, hands off with a reason and reaches no bot", async () => {
    const cases = [
      {
        url: await storeMedia(other, Buffer.from('the other tenant secret'), 'audio/l16'),
        reason:
          "handoff: the customer's voice message could not be heard: the voice message is not one of this tenant's files on the gateway",
      },
      {
        url: `/nexus/v3/sms/${tenant.ccid}/media/${randomUUID()}`,
        reason: "handoff: the customer's voice message could not be heard: fetching the voice message from",
      },
      {
        // A name that resolves to a private address is refused on the address connected to.
        url: 'http://localhost:9/voice.wav',
        reason:
          "handoff: the customer's voice message could not be heard: fetching the voice message from localhost:9 failed: localhost is not a public address",
      },
      {
        url: 'http://127.0.0.1:9/voice.wav',
        reason:
          "handoff: the customer's voice message could not be heard: fetching the voice message from 127.0.0.1:9 failed: 127.0.0.1 is not a public address",
      },
    ];
    const cxBefore = cx.requests.length;
    const rasaBefore = rasa.calls.length;
    for (const c of cases) {
      const { id, s } = await customer('voice');
      await sendVoice(s, { url: c.url, mediaType: 'audio/l16' });
      // The agent gets the conversation, the reason on top of its transcript.
      const assigned = await alice.until(
        () => alice.assigned.find((x) => x.conversation.id === id),
        `the handed-off conversation ${id}`,
      );
      const notice = assigned.transcript.find((m) => m.type === 'Notice' && m.text?.startsWith('handoff:'));
      expect(notice?.text?.startsWith(c.reason), notice?.text).toBe(true);
      expect(notice?.visibility).toBe('agents');
    }
    expect(cx.requests.length).toBe(cxBefore);
    expect(rasa.calls.length).toBe(rasaBefore);
  });

  it('in agent assist, a voice message becomes suggestions from its transcript, and the agent sees the transcript', async () => {
    const { id, s } = await customer('web');
    rasa.script = (c) =>
      c.metadata.mode === 'assist'
        ? { body: [{ text: `Suggested answer to: ${c.message}` }] }
        : { body: [{ custom: { handoff: { reason: 'wants a person' } } }] };
    await emitAck(s, 'message.send', { clientMessageId: cmid(), text: 'a person please' });
    await alice.until(
      () => alice.assigned.find((x) => x.conversation.id === id),
      'the handed-off conversation',
    );

    const sent = await sendVoice(s, {
      url: `data:audio/wav;base64,${wav('cancel my subscription').toString('base64')}`,
      mediaType: 'audio/wav',
    });
    const suggestion = await eventWhere<Suggestion>(
      alice.socket,
      'suggestion',
      (x) => x.conversationId === id,
    );
    expect(suggestion.text).toBe('Suggested answer to: cancel my subscription');
    const notice = (await messages(id)).find((m) => m.type === 'Notice' && m.text?.startsWith('transcript:'));
    expect(notice).toMatchObject({
      text: 'transcript: cancel my subscription',
      visibility: 'agents',
      content: { messageId: sent.id },
    });
    expect(seen(s).messages.some((m) => m.text?.startsWith('transcript:') || m.from.type === 'Bot')).toBe(
      false,
    );
  });

  it('audio with no speech in it does not reach the bot and leaves the conversation with it', async () => {
    const { id, s } = await customer('web');
    const rasaBefore = rasa.calls.length;
    const recognised = speech.recognizeRequests.length;
    await sendVoice(s, {
      url: `data:audio/wav;base64,${wav('silence').toString('base64')}`,
      mediaType: 'audio/wav',
    });
    // The same conversation's next message is delivered only after this one was handled.
    rasa.script = (c) => ({ body: [{ text: `You said: ${c.message}` }] });
    await emitAck(s, 'message.send', { clientMessageId: cmid(), text: 'hello?' });
    await botMessage(s, 'You said: hello?');
    expect(speech.recognizeRequests.length).toBe(recognised + 1);
    expect(rasa.calls.slice(rasaBefore).map((c) => c.message)).toEqual(['hello?']);
    expect((await messages(id)).some((m) => m.text?.startsWith('transcript:'))).toBe(false);
    expect(await state(id)).toBe('bot');
  });
});
