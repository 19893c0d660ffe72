/**
 * Long compressed voice messages. Google's Recognize takes a minute of audio whatever its
 * encoding, so a longer message must be streamed, which needs its length (to know it is long, and
 * to pace it): read from the container (`src/bots/speech/duration.ts`). Here, with containers built
 * as their specs lay them out (Ogg pages with their CRC, WebM as a browser's MediaRecorder writes it
 * with no duration and clusters of unknown size, FLAC's STREAMINFO, MP3 frames), against the Speech
 * gRPC fake, which reads the same containers its own way, and the real client on a virtual clock.
 * No storage, so no engine dimension.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BotConnectorError } from '../../src/bots/connectors/types.js';
import {
  acceptsAudio,
  createGoogleSpeech,
  durationMs,
  type SpeechToText,
  transcribe,
  withSpeech,
} from '../../src/bots/speech/index.js';
import { audioOf } from '../../src/bots/voice.js';
import {
  amr,
  flac,
  mp3,
  oggOpus,
  type SpeechFake,
  startSpeechFake,
  webmOpus,
} from '../fakes/google/speech.js';

// ---- lengths ------------------------------------------------------------------------------------

describe('the length of a voice message, read from its container', () => {
  it('reads Ogg Opus, WebM Opus, FLAC and MP3 as audioOf describes them', () => {
    const of = (type: string, bytes: Buffer) => {
      const a = audioOf(type, bytes);
      expect(a, type).toBeDefined();
      return durationMs(a!);
    };
    // The pre-skip is not audio.
    expect(of('audio/ogg; codecs=opus', oggOpus('hi', 125))).toBe(125_000);
    expect(of('audio/webm;codecs=opus', webmOpus('hi', 95))).toBe(95_000);
    expect(of('audio/webm', webmOpus('hi', 95, 97_500))).toBe(97_500);
    expect(of('audio/flac', flac('hi', 70))).toBe(70_000);
    expect(of('audio/mpeg', mp3('hi', 90))).toBeCloseTo(90_000, -2);
    expect(of('audio/amr', amr('hi', 75))).toBe(75_000);
    expect(of('audio/amr-wb', amr('hi', 65, true))).toBe(65_000);
    expect(of('audio/l16; rate=8000', Buffer.alloc(8000 * 2 * 3))).toBe(3000);
    expect(of('audio/basic', Buffer.alloc(8000 * 4))).toBe(4000);
  });

  it('says nothing where the data does not: a FLAC that left its sample count at 0, broken containers', () => {
    expect(durationMs({ content: flac('hi', 70, 0), encoding: 'FLAC' })).toBeUndefined();
    expect(durationMs({ content: Buffer.from('OggS not really'), encoding: 'OGG_OPUS' })).toBeUndefined();
    expect(durationMs({ content: Buffer.from('no webm here'), encoding: 'WEBM_OPUS' })).toBeUndefined();
    expect(durationMs({ content: Buffer.from('no mp3 here'), encoding: 'MP3' })).toBeUndefined();
    expect(durationMs({ content: Buffer.alloc(10), encoding: 'AMR' })).toBeUndefined();
    // Frame type 13 is none AMR has.
    expect(durationMs({ content: Buffer.from('#!AMR\n\x68'), encoding: 'AMR' })).toBeUndefined();
    expect(durationMs({ content: Buffer.alloc(10), encoding: 'LINEAR16' })).toBeUndefined();
  });

  it('a WebM cut short (a recording still being written) counts the blocks it has', () => {
    const whole = webmOpus('hi', 80);
    expect(
      durationMs({ content: whole.subarray(0, Math.floor(whole.length / 2)), encoding: 'WEBM_OPUS' }),
    ).toBeGreaterThan(35_000);
  });
});

// ---- with the fake ------------------------------------------------------------------------------

const KEY = 'AIzaSy-speech-compressed-key';

describe('long compressed voice messages against the Speech fake', () => {
  const clock = {
    t: 0,
    stream: 0,
    sleeps: 0,
    now: () => clock.t,
    async sleep(ms: number) {
      clock.sleeps += 1;
      await fake.whenArrived(clock.stream, clock.sleeps);
      clock.t += ms;
    },
  };
  let fake: SpeechFake;
  let speech: SpeechToText;

  beforeAll(async () => {
    fake = await startSpeechFake(KEY, { now: clock.now });
    speech = createGoogleSpeech({
      apiKey: KEY,
      apiEndpoint: `${fake.host}:${fake.port}`,
      plaintext: true,
      timeoutMs: 10_000,
      clock,
    });
  });

  afterAll(async () => {
    await speech?.close();
    await fake?.close();
  });

  async function refusal(p: Promise<unknown>): Promise<BotConnectorError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BotConnectorError);
    return err as BotConnectorError;
  }

  /** Transcribes a file as athena reads it: audioOf, then transcribe. */
  const hear = (type: string, bytes: Buffer) => {
    clock.stream = fake.streams.length;
    clock.sleeps = 0;
    return transcribe(speech, audioOf(type, bytes)!);
  };

  const cases = [
    {
      name: 'Ogg Opus (WhatsApp, Firefox)',
      type: 'audio/ogg; codecs=opus',
      encoding: 'OGG_OPUS',
      rate: 16_000,
      file: oggOpus('I need to change my flight', 150),
    },
    {
      name: 'WebM Opus (Chrome MediaRecorder)',
      type: 'audio/webm;codecs=opus',
      encoding: 'WEBM_OPUS',
      rate: 48_000,
      file: webmOpus('I need to change my flight', 150),
    },
    {
      name: 'FLAC',
      type: 'audio/flac',
      encoding: 'FLAC',
      rate: 16_000,
      file: flac('I need to change my flight', 150),
    },
    {
      name: 'AMR (a phone recording)',
      type: 'audio/amr',
      encoding: 'AMR',
      rate: 8000,
      file: amr('I need to change my flight', 150),
    },
    {
      name: 'AMR-WB',
      type: 'audio/amr-wb',
      encoding: 'AMR_WB',
      rate: 16_000,
      file: amr('I need to change my flight', 150, true),
    },
  ];

  it.each(cases)(
    '$name: Google refuses it in one call; it is streamed whole, paced, and heard',
    async (c) => {
      // What happened before: one synchronous call, which Google refuses past a minute.
      const sync = await refusal(
        speech.recognize({ content: c.file, encoding: c.encoding, sampleRateHertz: c.rate }),
      );
      expect(sync.message).toMatch(/INVALID_ARGUMENT: Sync input too long/);

      const recognized = fake.recognizeRequests.length;
      const start = clock.now();
      const heard = await hear(c.type, c.file);
      expect(heard.text).toBe('I need to change my flight');
      expect(fake.recognizeRequests.length).toBe(recognized);
      const [first, ...rest] = fake.streams.at(-1)!;
      expect(first.streamingConfig.config).toMatchObject({ encoding: c.encoding, sampleRateHertz: c.rate });
      expect(Buffer.concat(rest.map((m) => Buffer.from(m.audioContent))).equals(c.file)).toBe(true);
      expect(Math.max(...rest.map((m) => m.audioContent.length))).toBeLessThanOrEqual(25 * 1024);
      // 150 s of audio at twice real time, a request of about half a second at a time.
      expect(clock.now() - start).toBeGreaterThan(74_000);
      expect(clock.now() - start).toBeLessThanOrEqual(75_000);
      expect(rest.length).toBeGreaterThan(250);
    },
  );

  it('Ogg, WebM and AMR streams reach the fake no faster than twice real time, by their own timing', async () => {
    for (const c of cases.filter((x) => x.encoding !== 'FLAC')) {
      await hear(c.type, c.file);
      const arrivals = fake.arrivals.at(-1)!;
      for (const a of arrivals) expect(a.audioMs, c.name).toBeLessThanOrEqual(2 * a.atMs + 1000);
      expect(arrivals.at(-1)!.audioMs, c.name).toBe(150_000);
    }
  });

  it('a long MP3 is refused before any call, saying why (v1 streams no MP3); a short one is one call', async () => {
    const [recognized, streams] = [fake.recognizeRequests.length, fake.streams.length];
    const err = await refusal(hear('audio/mpeg', mp3('hello', 90)));
    expect(err.kind).toBe('rejected');
    expect(err.message).toBe(
      'the voice message is 90 s of MP3 audio; speech-to-text takes MP3 in one call of up to a minute, and cannot stream it',
    );
    expect([fake.recognizeRequests.length, fake.streams.length]).toEqual([recognized, streams]);
    expect((await hear('audio/mpeg', mp3('hello', 20))).text).toContain('hello');
    expect(fake.recognizeRequests.length).toBe(recognized + 1);
  });

  it('a Dialogflow bot gets audio it takes in one request; a longer message reaches it as a streamed transcript', async () => {
    const ogg = (secs: number) => audioOf('audio/ogg', oggOpus('I want a refund', secs))!;
    // CX takes two minutes of audio in a request, ES one.
    expect(acceptsAudio('DialogflowCX', ogg(110))).toBe(true);
    expect(acceptsAudio('DialogflowCX', ogg(130))).toBe(false);
    expect(acceptsAudio('DialogflowES', ogg(50))).toBe(true);
    expect(acceptsAudio('DialogflowES', ogg(70))).toBe(false);

    const got: Array<{ text?: string; audio?: boolean }> = [];
    const cx = {
      turn: async (input: { text?: string; audio?: unknown }) => {
        got.push({ ...(input.text ? { text: input.text } : {}), audio: !!input.audio });
        return { replies: [{ text: 'ok' }], transcript: 'as CX heard it' };
      },
    };
    const turn = (secs: number) => {
      clock.stream = fake.streams.length;
      clock.sleeps = 0;
      return withSpeech(cx, 'DialogflowCX', speech).turn({
        conversationId: 'c',
        ccid: 't',
        audio: ogg(secs),
      });
    };
    const streams = fake.streams.length;
    expect((await turn(110)).transcript).toBe('as CX heard it');
    expect(fake.streams.length).toBe(streams);
    expect((await turn(130)).transcript).toBe('I want a refund');
    expect(fake.streams.length).toBe(streams + 1);
    expect(got).toEqual([{ audio: true }, { text: 'I want a refund', audio: false }]);
  });

  it('over five minutes of compressed audio is refused before any call', async () => {
    const [recognized, streams] = [fake.recognizeRequests.length, fake.streams.length];
    const err = await refusal(hear('audio/ogg', oggOpus('a long story', 320)));
    expect(err.message).toBe('the voice message is 320 s long; speech-to-text takes at most 5 minutes');
    expect([fake.recognizeRequests.length, fake.streams.length]).toEqual([recognized, streams]);
  });

  it('a message whose length cannot be read goes in one call; if Google finds it too long, the reason says why', async () => {
    const unknown = flac('no length here', 90, 0);
    fake.failAll(
      grpc.status.INVALID_ARGUMENT,
      "Sync input too long. For audio longer than 1 min use LongRunningRecognize with a 'uri' parameter.",
    );
    try {
      const err = await refusal(hear('audio/flac', unknown));
      expect(err.kind).toBe('rejected');
      expect(err.message).toBe(
        'the voice message is longer than a minute, and its length cannot be read from its FLAC data to stream it',
      );
    } finally {
      fake.recover();
    }
    // Under a minute, the same call hears it.
    expect((await hear('audio/flac', flac('short and unknown', 20, 0))).text).toBe('short and unknown');
  });
});
