/**
 * The bot connector conformance suite: one set of scenarios, run against every connector of the
 * table (`connectorFor`), each against a fake that speaks its provider's real wire protocol with the
 * real client library: Dialogflow CX and ES over gRPC (servers built from the protos the client
 * packages ship), Lex V2 over HTTP/2 with its SigV4 signature checked, the webhook bot over HTTP.
 *
 * Each harness says the scenarios in its provider's own terms (CX rich content and
 * `liveAgentHandoff`, ES fulfillment messages and intent flags, Lex image cards and session state,
 * Rasa buttons and `custom`), and the suite checks that every connector turns them into the same
 * canonical turn. Audio goes natively to the bots that take it, and through speech-to-text (a Speech
 * gRPC fake) to the one that does not.
 *
 * Connectors hold no storage, so this suite has no engine dimension.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BotConnectorError,
  type BotProvider,
  type BotTurn,
  connectorFor,
} from '../../src/bots/connectors/index.js';
import type { BotSettings, ConnectorDeps } from '../../src/bots/connectors/types.js';
import { createGoogleSpeech, type SpeechToText, withSpeech } from '../../src/bots/speech/index.js';
import { createHttpClient } from '../../src/plugins/http-client.js';
import { type RecordedRequest, startFakeServer } from '../../src/plugins/testing.js';
import type { BotConnector } from '../../src/plugins/types.js';
import { createLogger } from '../../src/shared/logger.js';
import { startLexFake } from '../fakes/aws/lex-v2.js';
import { startDialogflowCxFake } from '../fakes/google/dialogflow-cx.js';
import { startDialogflowEsFake } from '../fakes/google/dialogflow-es.js';
import { failure, fromStruct, toStruct } from '../fakes/google/grpc.js';
import { type SpeechFake, startSpeechFake } from '../fakes/google/speech.js';

/** The canonical scenarios, by what the customer says. */
const HELLO = 'Hello! How can I help?';
const PICK = 'Pick a topic';
const TOPICS = ['Billing', 'Sales'];
const CARD = {
  title: 'Premium plan',
  subtitle: '10 GB for 5 EUR',
  imageUrl: 'https://img.example.com/premium.png',
  buttons: [
    { text: 'Details', payload: 'details' },
    { text: 'Compare', payload: 'compare' },
  ],
};
const HANDOFF_TEXT = 'Let me connect you to a colleague.';
const BYE = 'Goodbye!';

type Scenario = 'hello' | 'options' | 'card' | 'agent' | 'bye' | 'down' | 'forbidden' | 'invalid' | 'slow';

interface Harness {
  provider: BotProvider;
  settings: BotSettings;
  /** The text each request carried, in order (after the provider's own recognition, for audio). */
  texts(): string[];
  /** Whether the last request carried audio (the native path). */
  lastWasAudio(): boolean;
  /** The turn metadata the last request carried, as the provider received it. */
  lastMetadata(): Record<string, unknown> | undefined;
  /** A connector whose credentials the provider refuses. */
  badCredentials(): BotSettings;
  close(): Promise<void>;
}

const log = createLogger({ level: 'silent' });
const deps = (timeoutMs: number): ConnectorDeps => ({ log, http: createHttpClient(), timeoutMs });
const SA = {
  client_email: 'athena@demo-project.iam.gserviceaccount.com',
  private_key: 'test-key',
  project_id: 'demo-project',
};

function scenario(text: string): Scenario | undefined {
  const m: Record<string, Scenario> = {
    hello: 'hello',
    'what can you do': 'options',
    'show plans': 'card',
    'agent please': 'agent',
    bye: 'bye',
    'break down': 'down',
    'break forbidden': 'forbidden',
    'break invalid': 'invalid',
    'break slow': 'slow',
  };
  return m[text];
}

async function dialogflowCx(): Promise<Harness> {
  const fake = await startDialogflowCxFake((q) => {
    const text = (t: string) => ({ text: { text: [t] } });
    const payload = (p: Record<string, unknown>) => ({ payload: toStruct(p) });
    switch (scenario(q.text)) {
      case 'hello':
        return { queryResult: { responseMessages: [text(HELLO)] } };
      case 'options':
        return {
          queryResult: {
            responseMessages: [
              text(PICK),
              payload({ richContent: [[{ type: 'chips', options: TOPICS.map((t) => ({ text: t })) }]] }),
            ],
          },
        };
      case 'card':
        return {
          queryResult: {
            responseMessages: [
              payload({
                richContent: [
                  [
                    {
                      type: 'info',
                      title: CARD.title,
                      subtitle: CARD.subtitle,
                      image: { src: { rawUrl: CARD.imageUrl } },
                    },
                    ...CARD.buttons.map((b) => ({
                      type: 'button',
                      text: b.text,
                      event: { event: b.payload },
                    })),
                  ],
                ],
              }),
            ],
          },
        };
      case 'agent':
        return {
          queryResult: {
            responseMessages: [
              text(HANDOFF_TEXT),
              {
                liveAgentHandoff: {
                  metadata: toStruct({ queue: 'billing', reason: 'the customer asked for an agent' }),
                },
              },
            ],
          },
        };
      case 'bye':
        return {
          queryResult: {
            responseMessages: [text(BYE), { endInteraction: {} }],
            currentPage: {
              name: 'projects/p/locations/global/agents/a/flows/f/pages/END_SESSION',
              displayName: 'End Session',
            },
          },
        };
      case 'down':
        return failure(grpc.status.UNAVAILABLE, 'The service is currently unavailable.');
      case 'forbidden':
        return failure(
          grpc.status.PERMISSION_DENIED,
          "Permission 'dialogflow.sessions.detectIntent' denied on resource",
        );
      case 'invalid':
        return failure(grpc.status.INVALID_ARGUMENT, 'Invalid query input.');
      case 'slow':
        return 'hang';
      default:
        return { queryResult: { responseMessages: [text(`I did not get "${q.text}"`)] } };
    }
  });
  const settings: BotSettings = {
    name: 'cx',
    ccid: 'tenant-a',
    provider: 'DialogflowCX',
    version: '1',
    data: {
      agentId: 'agent-1',
      location: 'global',
      apiEndpoint: `${fake.host}:${fake.port}`,
      plaintext: true,
    },
    secret: SA,
  };
  const texts = () =>
    fake.requests.map((r) => {
      const qi = r.queryInput;
      return qi.input === 'audio'
        ? Buffer.from(qi.audio.audio).toString('utf8')
        : (qi.text?.text ?? qi.event?.event);
    });
  return {
    provider: 'DialogflowCX',
    settings,
    texts,
    lastWasAudio: () => fake.requests.at(-1)?.queryInput?.input === 'audio',
    lastMetadata: () => fromStruct(fake.requests.at(-1)?.queryParams?.payload),
    // With plaintext gRPC no OAuth token travels, so a fake cannot refuse a key: the wrong key is a setting error.
    badCredentials: () => ({ ...settings, secret: { client_email: 'x@y' } }),
    close: () => fake.close(),
  };
}

async function dialogflowEs(): Promise<Harness> {
  const fake = await startDialogflowEsFake((q) => {
    const text = (t: string) => ({ text: { text: [t] } });
    switch (scenario(q.text)) {
      case 'hello':
        return { queryResult: { fulfillmentText: HELLO, fulfillmentMessages: [text(HELLO)] } };
      case 'options':
        return {
          queryResult: {
            fulfillmentMessages: [
              { quickReplies: { title: PICK, quickReplies: TOPICS } },
              // The same answer for another platform, which a chat must not show twice.
              { platform: 'FACEBOOK', text: { text: [PICK] } },
            ],
          },
        };
      case 'card':
        return {
          queryResult: {
            fulfillmentMessages: [
              {
                card: {
                  title: CARD.title,
                  subtitle: CARD.subtitle,
                  imageUri: CARD.imageUrl,
                  buttons: CARD.buttons.map((b) => ({ text: b.text, postback: b.payload })),
                },
              },
            ],
          },
        };
      case 'agent':
        return {
          queryResult: {
            fulfillmentMessages: [text(HANDOFF_TEXT)],
            intent: { displayName: 'talk.to.agent', liveAgentHandoff: true },
            parameters: toStruct({ handoffQueue: 'billing' }),
          },
        };
      case 'bye':
        return {
          queryResult: {
            fulfillmentMessages: [text(BYE)],
            intent: { displayName: 'goodbye', endInteraction: true },
          },
        };
      case 'down':
        return failure(grpc.status.UNAVAILABLE, 'The service is currently unavailable.');
      case 'forbidden':
        return failure(grpc.status.PERMISSION_DENIED, 'IAM permission denied');
      case 'invalid':
        return failure(grpc.status.INVALID_ARGUMENT, 'Invalid query input.');
      case 'slow':
        return 'hang';
      default:
        return { queryResult: { fulfillmentText: `I did not get "${q.text}"` } };
    }
  });
  const settings: BotSettings = {
    name: 'es',
    ccid: 'tenant-a',
    provider: 'DialogflowES',
    version: '1',
    data: { apiEndpoint: fake.host, port: fake.port, plaintext: true, languageCode: 'en-US' },
    // The key as a JSON text, as a form would store it.
    secret: { serviceAccount: JSON.stringify(SA) },
  };
  return {
    provider: 'DialogflowES',
    settings,
    texts: () =>
      fake.requests.map((r) =>
        r.inputAudio
          ? Buffer.from(r.inputAudio).toString('utf8')
          : (r.queryInput.text?.text ?? r.queryInput.event?.name),
      ),
    lastWasAudio: () => !!fake.requests.at(-1)?.inputAudio,
    lastMetadata: () => fromStruct(fake.requests.at(-1)?.queryParams?.payload),
    badCredentials: () => ({ ...settings, secret: { serviceAccount: '{not json' } }),
    close: () => fake.close(),
  };
}

async function lexV2(): Promise<Harness> {
  const keys = {
    accessKeyId: 'AKIAATHENATEST000001',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  };
  const bot = { botId: 'BOT0000001', botAliasId: 'TSTALIASID', localeId: 'en_GB' };
  const fake = await startLexFake({
    keys,
    region: 'eu-west-2',
    bot,
    script: (q) => {
      const text = (t: string) => ({ contentType: 'PlainText', content: t });
      switch (scenario(q.text)) {
        case 'hello':
          return { messages: [text(HELLO)] };
        case 'options':
          return {
            messages: [
              text(PICK),
              { contentType: 'CustomPayload', content: JSON.stringify({ quickReplies: TOPICS }) },
            ],
          };
        case 'card':
          return {
            messages: [
              {
                contentType: 'ImageResponseCard',
                imageResponseCard: {
                  title: CARD.title,
                  subtitle: CARD.subtitle,
                  imageUrl: CARD.imageUrl,
                  buttons: CARD.buttons.map((b) => ({ text: b.text, value: b.payload })),
                },
              },
            ],
          };
        case 'agent':
          return {
            messages: [text(HANDOFF_TEXT)],
            sessionState: {
              dialogAction: { type: 'Close' },
              intent: { name: 'TalkToAgent', state: 'Fulfilled' },
              sessionAttributes: {
                handoffQueue: 'billing',
                handoffReason: 'the customer asked for an agent',
              },
            },
          };
        case 'bye':
          return {
            messages: [text(BYE)],
            sessionState: {
              dialogAction: { type: 'Close' },
              intent: { name: 'Goodbye', state: 'Fulfilled' },
            },
          };
        case 'down':
          return { error: { status: 502, type: 'BadGatewayException', message: 'Bad gateway' } };
        case 'forbidden':
          return { error: { status: 403, type: 'AccessDeniedException', message: 'User is not authorized' } };
        case 'invalid':
          return { error: { status: 400, type: 'ValidationException', message: 'Invalid input' } };
        case 'slow':
          return { hang: true };
        default:
          return { messages: [text(`I did not get "${q.text}"`)] };
      }
    },
  });
  const settings: BotSettings = {
    name: 'lex',
    ccid: 'tenant-a',
    provider: 'LexV2',
    version: '1',
    data: {
      ...bot,
      region: 'eu-west-2',
      endpoint: fake.url,
      handoffIntents: ['TalkToAgent'],
      endIntents: 'Goodbye',
    },
    secret: keys,
  };
  return {
    provider: 'LexV2',
    settings,
    texts: () => fake.requests.filter((r) => r.query).map((r) => r.query?.text ?? ''),
    lastWasAudio: () => fake.requests.at(-1)?.query?.kind === 'audio',
    lastMetadata: () => fake.requests.at(-1)?.query?.requestAttributes,
    badCredentials: () => ({ ...settings, secret: { ...keys, secretAccessKey: 'not-the-secret' } }),
    close: () => fake.close(),
  };
}

async function webhook(): Promise<Harness> {
  const token = 'webhook-token-1';
  const handle = (req: RecordedRequest) => {
    if (req.headers.authorization !== `Bearer ${token}`)
      return { status: 401, body: { error: 'unauthorized' } };
    const message: string = req.json().message;
    switch (scenario(message)) {
      case 'hello':
        return { body: [{ text: HELLO }] };
      case 'options':
        return { body: [{ text: PICK, buttons: TOPICS.map((t) => ({ title: t, payload: t })) }] };
      case 'agent':
        return {
          body: [
            {
              text: HANDOFF_TEXT,
              custom: { handoff: { queue: 'billing', reason: 'the customer asked for an agent' } },
            },
          ],
        };
      case 'bye':
        return { body: [{ text: BYE, custom: { end: true } }] };
      case 'down':
        return { status: 503, body: { error: 'unavailable' } };
      case 'forbidden':
        return { status: 403, body: { error: 'forbidden' } };
      case 'invalid':
        return { status: 400, body: { error: 'bad request' } };
      case 'slow':
        return { hang: true };
      default:
        return { body: [{ text: `I did not get "${message}"` }] };
    }
  };
  const server = await startFakeServer(handle);
  const settings: BotSettings = {
    name: 'rasa',
    ccid: 'tenant-a',
    provider: 'Webhook',
    version: '1',
    url: `${server.url}/webhooks/rest/webhook`,
    data: {},
    secret: { token },
  };
  return {
    provider: 'Webhook',
    settings,
    texts: () => server.requests.map((r) => r.json().message),
    lastWasAudio: () => false,
    lastMetadata: () => server.requests.at(-1)?.json().metadata,
    badCredentials: () => ({ ...settings, secret: { token: 'wrong' } }),
    close: () => server.close(),
  };
}

/** The flat view the scenarios are checked on: providers split one answer into messages differently. */
function view(turn: BotTurn) {
  return {
    text: turn.replies
      .map((r) => r.text)
      .filter(Boolean)
      .join('\n'),
    quickReplies: turn.replies.flatMap((r) => r.quickReplies ?? []).map((q) => q.text),
    cards: turn.replies.flatMap((r) => r.cards ?? []),
  };
}

const SPEECH_KEY = 'speech-api-key-1';
let speechFake: SpeechFake;
let speech: SpeechToText;

beforeAll(async () => {
  speechFake = await startSpeechFake(SPEECH_KEY);
  speech = createGoogleSpeech({
    apiKey: SPEECH_KEY,
    apiEndpoint: `${speechFake.host}:${speechFake.port}`,
    plaintext: true,
    timeoutMs: 10_000,
  });
});

afterAll(async () => {
  await speech?.close();
  await speechFake?.close();
});

describe.each([
  ['DialogflowCX', dialogflowCx, { cards: true }],
  ['DialogflowES', dialogflowEs, { cards: true }],
  ['LexV2', lexV2, { cards: true }],
  // The Rasa REST channel shape has no cards.
  ['Webhook', webhook, { cards: false }],
] as const)('bot connector %s', (_name, start, can) => {
  let h: Harness;
  let bot: BotConnector;
  let conversation = 0;
  const open: Array<{ close?: () => Promise<void> }> = [];

  const build = (settings: BotSettings, timeoutMs = 10_000) => {
    const c = connectorFor(settings.provider)(settings, deps(timeoutMs));
    open.push(c as { close?: () => Promise<void> });
    return withSpeech(c, settings.provider, speech);
  };
  const say = (text: string, c: BotConnector = bot) =>
    c.turn({ conversationId: `conv-${++conversation}`, ccid: 'tenant-a', text });
  const failureOf = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BotConnectorError);
    return err as BotConnectorError;
  };

  beforeAll(async () => {
    h = await start();
    bot = build(h.settings);
  });

  afterAll(async () => {
    for (const c of open) await c.close?.();
    await h?.close();
  });

  it('text in, replies out', async () => {
    const turn = await say('hello');
    expect(view(turn)).toEqual({ text: HELLO, quickReplies: [], cards: [] });
    expect(turn.handoff).toBeUndefined();
    expect(turn.endConversation).toBeFalsy();
    expect(h.texts().at(-1)).toBe('hello');
  });

  it("the turn's metadata reaches the bot", async () => {
    await bot.turn({
      conversationId: 'conv-md',
      ccid: 'tenant-a',
      text: 'hello',
      metadata: { mode: 'bot', endpoint: 'web', messageId: 'm-1' },
    });
    expect(h.lastMetadata()).toMatchObject({ mode: 'bot', endpoint: 'web', messageId: 'm-1' });
  });

  it('quick replies, and a chosen one goes back as what the bot asked for', async () => {
    const turn = await say('what can you do');
    expect(view(turn)).toEqual({ text: PICK, quickReplies: TOPICS, cards: [] });
    // Choosing a quick reply sends its payload (here the topic itself) back to the bot.
    await bot.turn({
      conversationId: 'conv-qr',
      ccid: 'tenant-a',
      event: { name: 'quick-reply', payload: 'hello' },
    });
    expect(h.texts().at(-1)).toBe('hello');
  });

  if (can.cards)
    it('cards with buttons', async () => {
      const turn = await say('show plans');
      expect(view(turn).cards).toEqual([CARD]);
    });

  it('handoff with a queue and a reason', async () => {
    const turn = await say('agent please');
    expect(view(turn).text).toBe(HANDOFF_TEXT);
    expect(turn.handoff?.queue).toBe('billing');
    expect(turn.handoff?.reason).toMatch(/\S/);
    expect(turn.endConversation).toBeFalsy();
  });

  it('end of conversation', async () => {
    const turn = await say('bye');
    expect(view(turn).text).toBe(BYE);
    expect(turn.endConversation).toBe(true);
    expect(turn.handoff).toBeUndefined();
  });

  it('a provider that is down fails retryable, once (no retries inside the connector)', async () => {
    const before = h.texts().length;
    const err = await failureOf(say('break down'));
    expect(err.kind).toBe('unavailable');
    expect(err.retryable).toBe(true);
    // Wrapped once: what it wraps (if anything) is the provider's own error.
    expect(err.cause).not.toBeInstanceOf(BotConnectorError);
    expect(h.texts().length).toBe(before + 1);
  });

  it('permission denied and invalid requests fail not retryable', async () => {
    for (const text of ['break forbidden', 'break invalid']) {
      const err = await failureOf(say(text));
      expect(err.kind).toBe('rejected');
      expect(err.retryable).toBe(false);
    }
  });

  it('credentials the provider refuses fail not retryable, and are never in the message', async () => {
    let err: BotConnectorError;
    try {
      err = await failureOf(say('hello', build(h.badCredentials())));
    } catch (e) {
      // Credentials that cannot even be read are refused when the connector is built.
      expect(e).toBeInstanceOf(BotConnectorError);
      err = e as BotConnectorError;
    }
    expect(['rejected', 'config']).toContain(err.kind);
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain('not-the-secret');
    expect(err.message).not.toContain('wrong');
  });

  it('a provider that does not answer in time fails as a retryable timeout', async () => {
    const impatient = build(h.settings, 600);
    const err = await failureOf(say('break slow', impatient));
    expect(err.kind).toBe('timeout');
    expect(err.retryable).toBe(true);
  });

  it('audio in: recognised by the bot itself, or transcribed first for a bot without voice input', async () => {
    const recognizeBefore = speechFake.recognizeRequests.length;
    const turn = await bot.turn({
      conversationId: 'conv-audio',
      ccid: 'tenant-a',
      audio: {
        content: Buffer.from('hello'),
        encoding: 'LINEAR16',
        sampleRateHertz: 16_000,
        languageCode: 'en-US',
      },
    });
    expect(view(turn).text).toBe(HELLO);
    expect(turn.transcript).toBe('hello');
    expect(h.texts().at(-1)).toBe('hello');
    const native = h.provider !== 'Webhook';
    expect(h.lastWasAudio()).toBe(native);
    expect(speechFake.recognizeRequests.length - recognizeBefore).toBe(native ? 0 : 1);
  });

  it('settings that do not fit are refused when the connector is built', () => {
    const bare: BotSettings = { ...h.settings, url: undefined, data: {}, secret: {} };
    expect(() => connectorFor(h.provider)(bare, deps(1000))).toThrow(BotConnectorError);
    try {
      connectorFor(h.provider)(bare, deps(1000));
    } catch (e) {
      expect((e as BotConnectorError).kind).toBe('config');
    }
  });
});

it('an unknown provider has no connector', () => {
  expect(() => connectorFor('Watson')).toThrow(/Watson/);
});
