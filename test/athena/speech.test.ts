/**
 * Speech-to-text against a Speech v1 gRPC fake built from `@google-cloud/speech`'s own protos, with
 * the real client: recognize and streaming recognize, the API key, failures mapped, and
 * `withSpeech` deciding between a bot's own voice input and a transcript.
 *
 * No storage is involved, so this suite has no engine dimension.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lexV2Connector } from '../../src/bots/connectors/lex-v2.js';
import { BotConnectorError, type BotSettings } from '../../src/bots/connectors/types.js';
import {
  acceptsAudio,
  createGoogleSpeech,
  type SpeechToText,
  withSpeech,
} from '../../src/bots/speech/index.js';
import { createHttpClient } from '../../src/plugins/http-client.js';
import type { BotConnector, BotTurnInput } from '../../src/plugins/types.js';
import { createLogger } from '../../src/shared/logger.js';
import { type LexFake, startLexFake } from '../fakes/aws/lex-v2.js';
import { type SpeechFake, startSpeechFake } from '../fakes/google/speech.js';

const KEY = 'AIzaSy-speech-test-key';
let fake: SpeechFake;
let speech: SpeechToText;
const clients: SpeechToText[] = [];

const connect = (apiKey = KEY) => {
  const s = createGoogleSpeech({
    apiKey,
    apiEndpoint: `${fake.host}:${fake.port}`,
    plaintext: true,
    languageCode: 'en-GB',
    timeoutMs: 10_000,
  });
  clients.push(s);
  return s;
};

async function refusal(p: Promise<unknown>): Promise<BotConnectorError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BotConnectorError);
  return err as BotConnectorError;
}

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

beforeAll(async () => {
  fake = await startSpeechFake(KEY);
  speech = connect();
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await fake?.close();
});

describe('recognize (a voice message)', () => {
  it('transcribes, sending the API key and the audio format', async () => {
    const heard = await speech.recognize({
      content: Buffer.from('where is my order'),
      encoding: 'LINEAR16',
      sampleRateHertz: 8000,
    });
    expect(heard.text).toBe('where is my order');
    expect(heard.confidence).toBeGreaterThan(0);
    expect(fake.apiKeys.at(-1)).toBe(KEY);
    const req = fake.recognizeRequests.at(-1);
    expect(req.config).toMatchObject({ encoding: 'LINEAR16', sampleRateHertz: 8000, languageCode: 'en-GB' });
  });

  it('takes the encoding names of the other providers, and the audio language over the default', async () => {
    const heard = await speech.recognize({
      content: Buffer.from('bonjour'),
      encoding: 'AUDIO_ENCODING_OGG_OPUS',
      sampleRateHertz: 48_000,
      languageCode: 'fr-FR',
    });
    expect(heard.text).toBe('bonjour');
    expect(fake.recognizeRequests.at(-1).config).toMatchObject({
      encoding: 'OGG_OPUS',
      languageCode: 'fr-FR',
    });
  });

  it('audio without speech is an empty transcript', async () => {
    expect((await speech.recognize({ content: Buffer.from('silence'), encoding: 'WEBM_OPUS' })).text).toBe(
      '',
    );
  });

  it('an encoding Speech does not take is refused before any call', async () => {
    const before = fake.recognizeRequests.length;
    const err = await refusal(speech.recognize({ content: Buffer.from('x'), encoding: 'AAC' }));
    expect(err.kind).toBe('rejected');
    expect(fake.recognizeRequests.length).toBe(before);
  });

  it('a wrong API key is refused, not retryable, and the key is not in the message', async () => {
    const err = await refusal(
      connect('AIzaSy-wrong').recognize({
        content: Buffer.from('hi'),
        encoding: 'LINEAR16',
        sampleRateHertz: 16_000,
      }),
    );
    expect(err.kind).toBe('rejected');
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain('AIzaSy-wrong');
  });

  it('Speech unavailable fails retryable', async () => {
    fake.failAll(grpc.status.UNAVAILABLE, 'The service is currently unavailable.');
    try {
      const err = await refusal(speech.recognize({ content: Buffer.from('hi'), encoding: 'FLAC' }));
      expect(err.kind).toBe('unavailable');
      expect(err.retryable).toBe(true);
    } finally {
      fake.recover();
    }
  });

  it('needs an API key', () => {
    expect(() => createGoogleSpeech({ apiKey: '', timeoutMs: 1000 })).toThrow(/speechApiKey/);
  });
});

describe('streamingRecognize (an audio stream)', () => {
  it('streams the config then the audio, reports interim results, resolves with the final transcript', async () => {
    const interim: string[] = [];
    const heard = await speech.streamingRecognize(
      chunks('I would ', 'like to ', 'pay my bill'),
      { encoding: 'LINEAR16', sampleRateHertz: 16_000 },
      (t) => interim.push(t),
    );
    expect(heard.text).toBe('I would like to pay my bill');
    expect(interim).toEqual(['I would', 'I would like to', 'I would like to pay my bill']);
    const messages = fake.streams.at(-1) ?? [];
    expect(messages[0].streamingRequest).toBe('streamingConfig');
    expect(messages[0].streamingConfig).toMatchObject({
      interimResults: true,
      config: { encoding: 'LINEAR16', sampleRateHertz: 16_000, languageCode: 'en-GB' },
    });
    expect(messages.slice(1).map((m) => Buffer.from(m.audioContent).toString('utf8'))).toEqual([
      'I would ',
      'like to ',
      'pay my bill',
    ]);
    expect(fake.apiKeys.at(-1)).toBe(KEY);
  });

  it('a wrong API key fails the stream, not retryable', async () => {
    const err = await refusal(
      connect('AIzaSy-other').streamingRecognize(chunks('hello'), {
        encoding: 'LINEAR16',
        sampleRateHertz: 16_000,
      }),
    );
    expect(err.kind).toBe('rejected');
    expect(err.retryable).toBe(false);
  });

  it('a stream in an encoding Speech does not take is refused before any call', async () => {
    const before = fake.streams.length;
    const err = await refusal(speech.streamingRecognize(chunks('x'), { encoding: 'AAC' }));
    expect(err.kind).toBe('rejected');
    expect(fake.streams.length).toBe(before);
  });

  it('a stream with no audio is an empty transcript', async () => {
    async function* none(): AsyncGenerator<Buffer> {}
    expect(
      await speech.streamingRecognize(none(), { encoding: 'LINEAR16', sampleRateHertz: 16_000 }),
    ).toEqual({ text: '' });
  });

  it('a stream that stalls ends at the deadline, as a retryable timeout', async () => {
    const impatient = createGoogleSpeech({
      apiKey: KEY,
      apiEndpoint: `${fake.host}:${fake.port}`,
      plaintext: true,
      timeoutMs: 800,
    });
    clients.push(impatient);
    async function* stalled(): AsyncGenerator<Buffer> {
      yield Buffer.from('and then');
      await new Promise(() => {});
    }
    const err = await refusal(
      impatient.streamingRecognize(stalled(), { encoding: 'LINEAR16', sampleRateHertz: 16_000 }),
    );
    expect(err.kind).toBe('timeout');
    expect(err.retryable).toBe(true);
  });

  it('an audio source that breaks mid-stream fails the transcription, and nothing else', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from('first part ');
      throw new Error('the microphone went away');
    }
    const err = await refusal(
      speech.streamingRecognize(broken(), { encoding: 'LINEAR16', sampleRateHertz: 16_000 }),
    );
    expect(err.kind).toBe('rejected');
    // The client is still usable afterwards.
    expect((await speech.recognize({ content: Buffer.from('still here'), encoding: 'FLAC' })).text).toBe(
      'still here',
    );
  });
});

describe('withSpeech', () => {
  const keys = { accessKeyId: 'AKIAATHENASPEECH0001', secretAccessKey: 'lex-secret-for-speech-tests' };
  const bot = { botId: 'BOT0000002', botAliasId: 'TSTALIASID', localeId: 'en_US' };
  let lex: LexFake;
  let connector: BotConnector & { close(): Promise<void> };

  beforeAll(async () => {
    lex = await startLexFake({
      keys,
      region: 'us-east-1',
      bot,
      script: (q) => ({ messages: [{ contentType: 'PlainText', content: `You said: ${q.text}` }] }),
    });
    const settings: BotSettings = {
      name: 'lex',
      ccid: 'tenant-s',
      provider: 'LexV2',
      version: '1',
      data: { ...bot, region: 'us-east-1', endpoint: lex.url },
      secret: keys,
    };
    connector = lexV2Connector(settings, {
      log: createLogger({ level: 'silent' }),
      http: createHttpClient(),
      timeoutMs: 10_000,
    }) as BotConnector & { close(): Promise<void> };
  });

  afterAll(async () => {
    await connector?.close();
    await lex?.close();
  });

  const voice = (text: string, encoding: string, sampleRateHertz?: number): BotTurnInput => ({
    conversationId: 'conv-voice',
    ccid: 'tenant-s',
    audio: { content: Buffer.from(text), encoding, ...(sampleRateHertz ? { sampleRateHertz } : {}) },
  });

  it('passes audio the bot takes straight to it', async () => {
    const recognizeBefore = fake.recognizeRequests.length;
    const turn = await withSpeech(connector, 'LexV2', speech).turn(
      voice('opening hours', 'LINEAR16', 16_000),
    );
    expect(turn.replies).toEqual([{ text: 'You said: opening hours' }]);
    expect(turn.transcript).toBe('opening hours');
    expect(lex.requests.at(-1)?.query).toMatchObject({
      kind: 'audio',
      contentType: 'audio/l16; rate=16000; channels=1',
    });
    expect(fake.recognizeRequests.length).toBe(recognizeBefore);
  });

  it('transcribes audio the bot does not take, and sends the bot the text', async () => {
    const turn = await withSpeech(connector, 'LexV2', speech).turn(
      voice('opening hours', 'OGG_OPUS', 48_000),
    );
    expect(turn.replies).toEqual([{ text: 'You said: opening hours' }]);
    expect(turn.transcript).toBe('opening hours');
    expect(lex.requests.at(-1)?.query).toMatchObject({ kind: 'text', text: 'opening hours' });
    expect(fake.recognizeRequests.at(-1).config.encoding).toBe('OGG_OPUS');
  });

  /** `secs` seconds of 8 kHz µ-law: the words, then silence (zero bytes, which the fake hears as none). */
  const longMessage = (words: string, secs: number): BotTurnInput => {
    const content = Buffer.alloc(8000 * secs);
    content.write(words);
    return {
      conversationId: 'conv-long',
      ccid: 'tenant-s',
      audio: { content, encoding: 'MULAW', sampleRateHertz: 8000 },
    };
  };

  it('a minute or less is one synchronous call; more than five minutes is refused before any call', async () => {
    const streams = fake.streams.length;
    const turn = await withSpeech(connector, 'LexV2', speech).turn(longMessage('just in time', 60));
    expect(turn.transcript).toBe('just in time');
    expect(fake.recognizeRequests.at(-1).config).toMatchObject({ encoding: 'MULAW' });
    expect(fake.streams.length).toBe(streams);

    const recognized = fake.recognizeRequests.length;
    const asked = lex.requests.length;
    const err = await refusal(withSpeech(connector, 'LexV2', speech).turn(longMessage('a long story', 301)));
    expect(err.kind).toBe('rejected');
    expect(err.message).toBe('the voice message is 301 s long; speech-to-text takes at most 5 minutes');
    expect([fake.recognizeRequests.length, fake.streams.length, lex.requests.length]).toEqual([
      recognized,
      streams,
      asked,
    ]);
  });

  it('does not ask the bot when the audio holds no speech', async () => {
    const before = lex.requests.length;
    const turn = await withSpeech(connector, 'LexV2', speech).turn(voice('silence', 'OGG_OPUS', 48_000));
    expect(turn).toEqual({ replies: [], transcript: '' });
    expect(lex.requests.length).toBe(before);
  });

  it('says so when audio needs speech-to-text and none is configured', async () => {
    const err = await refusal(withSpeech(connector, 'LexV2', undefined).turn(voice('hi', 'WEBM_OPUS')));
    expect(err.kind).toBe('config');
    expect(err.message).toMatch(/speechApiKey/);
  });

  it('knows which audio each provider takes', () => {
    const a = (encoding: string, sampleRateHertz?: number) => ({
      content: Buffer.alloc(0),
      encoding,
      sampleRateHertz,
    });
    expect(acceptsAudio('DialogflowCX', a('OGG_OPUS'))).toBe(true);
    expect(acceptsAudio('DialogflowCX', a('WEBM_OPUS'))).toBe(false);
    expect(acceptsAudio('DialogflowES', a('LINEAR16'))).toBe(false);
    expect(acceptsAudio('DialogflowES', a('LINEAR16', 8000))).toBe(true);
    expect(acceptsAudio('LexV2', a('LINEAR16'))).toBe(true);
    expect(acceptsAudio('LexV2', a('OGG_OPUS', 48_000))).toBe(false);
    expect(acceptsAudio('Webhook', a('LINEAR16', 16_000))).toBe(false);
  });
});
