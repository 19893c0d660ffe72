/**
 * A voice message over a minute is streamed to StreamingRecognize paced near real time, as Google
 * requires ("the audio must be sent at a rate that approximates real time"; a stream that runs
 * ahead is stopped with OUT_OF_RANGE "Audio data is being streamed too fast"). The real
 * `@google-cloud/speech` client against the Speech gRPC fake, which enforces that bound.
 *
 * Most cases share a virtual clock between the client's pacing and the fake: minutes of audio are
 * paced in virtual time, and arrivals at the fake are measured on it, with no waiting. One case
 * runs on real timers at a high pace, measuring arrival times at the fake against the audio's
 * length. No storage is involved, so no engine dimension.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BotConnectorError, type BotTurnInput } from '../../src/bots/connectors/types.js';
import {
  type Clock,
  createGoogleSpeech,
  type SpeechToText,
  transcribe,
  withSpeech,
} from '../../src/bots/speech/index.js';
import { type SpeechFake, startSpeechFake } from '../fakes/google/speech.js';

const KEY = 'AIzaSy-speech-pacing-key';

/**
 * Time that passes only when pacing sleeps, and only once the fake has received every request sent
 * before the sleep: the fake's clock then reads, at each arrival, the time it was sent at.
 */
function virtualClock() {
  const c = {
    t: 0,
    fake: undefined as SpeechFake | undefined,
    stream: 0,
    sleeps: 0,
    /** The next transcription is the fake's next stream. */
    next() {
      c.stream = c.fake!.streams.length;
      c.sleeps = 0;
    },
    now: () => c.t,
    async sleep(ms: number) {
      c.sleeps += 1;
      await c.fake!.whenArrived(c.stream, c.sleeps);
      c.t += ms;
    },
  };
  return c;
}

async function refusal(p: Promise<unknown>): Promise<BotConnectorError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BotConnectorError);
  return err as BotConnectorError;
}

/** `secs` seconds of 8 kHz µ-law: the words, then silence (zero bytes, which the fake hears as none). */
function mulaw(words: string, secs: number) {
  const content = Buffer.alloc(8000 * secs);
  content.write(words);
  return { content, encoding: 'MULAW', sampleRateHertz: 8000 };
}

const clients: SpeechToText[] = [];
const fakes: SpeechFake[] = [];

afterAll(async () => {
  for (const c of clients) await c.close();
  for (const f of fakes) await f.close();
});

async function setUp(o: { clock?: Clock & { fake?: SpeechFake }; realtimeFactor?: number } = {}) {
  const fake = await startSpeechFake(KEY, {
    ...(o.clock ? { now: () => o.clock!.now() } : {}),
    ...(o.realtimeFactor ? { realtimeFactor: o.realtimeFactor } : {}),
  });
  fakes.push(fake);
  if (o.clock) o.clock.fake = fake;
  const connect = (streamPace?: number, timeoutMs = 10_000) => {
    const s = createGoogleSpeech({
      apiKey: KEY,
      apiEndpoint: `${fake.host}:${fake.port}`,
      plaintext: true,
      timeoutMs,
      ...(streamPace ? { streamPace } : {}),
      ...(o.clock ? { clock: o.clock } : {}),
    });
    clients.push(s);
    return s;
  };
  return { fake, connect };
}

describe('pacing on a virtual clock', () => {
  const clock = virtualClock();
  let fake: SpeechFake;
  let connect: Awaited<ReturnType<typeof setUp>>['connect'];

  /** A client at the default pace. */
  let byDefault: SpeechToText;

  beforeAll(async () => {
    ({ fake, connect } = await setUp({ clock }));
    byDefault = connect();
  });

  it('streams a long message at twice real time by default: no faster, and no slower', async () => {
    const speech = byDefault;
    expect(speech.streamPace).toBe(2);
    const audio = mulaw('I would like to cancel my subscription', 240);
    // What one synchronous call cannot take: Google refuses more than a minute of audio in it.
    const sync = await refusal(speech.recognize(audio));
    expect(sync.message).toMatch(/Sync input too long/);
    const recognized = fake.recognizeRequests.length;
    const start = clock.now();
    clock.next();
    const heard = await transcribe(speech, audio);
    expect(heard.text).toBe('I would like to cancel my subscription');
    // Four minutes of audio took two minutes: the last request went half a second of audio early.
    expect(clock.now() - start).toBeGreaterThanOrEqual(119_000);
    expect(clock.now() - start).toBeLessThanOrEqual(120_000);

    expect(fake.recognizeRequests.length).toBe(recognized);
    const [first, ...rest] = fake.streams.at(-1)!;
    expect(first.streamingConfig.config).toMatchObject({ encoding: 'MULAW', sampleRateHertz: 8000 });
    expect(Buffer.concat(rest.map((m) => Buffer.from(m.audioContent))).equals(audio.content)).toBe(true);
    // About half a second of audio a request, well under Google's 25 KB.
    expect(Math.max(...rest.map((m) => m.audioContent.length))).toBe(4000);
    // At the fake, each request arrived when twice the time the stream had been open was the audio
    // before it: never more audio than that and one request, never less.
    const arrivals = fake.arrivals.at(-1)!;
    expect(arrivals).toHaveLength(480);
    for (const a of arrivals) expect(a.audioMs - 2 * a.atMs).toBe(500);
    expect(arrivals.at(-1)!.atMs).toBeGreaterThanOrEqual(119_000);
  });

  it('the fake stops a stream that runs ahead of real time, as Google does', async () => {
    const before = clock.now();
    clock.next();
    const err = await refusal(transcribe(connect(100), mulaw('too quick', 90)));
    expect(err.kind).toBe('rejected');
    expect(err.message).toMatch(/OUT_OF_RANGE: Audio data is being streamed too fast/);
    // Refused on the way: the stream stopped a few seconds (of virtual time) in.
    expect(clock.now() - before).toBeLessThan(5000);
  });

  it('a faster pace, within what the service takes, is honoured', async () => {
    const start = clock.now();
    clock.next();
    const heard = await transcribe(connect(3), mulaw('three times', 150));
    expect(heard.text).toBe('three times');
    expect(clock.now() - start).toBeGreaterThanOrEqual(49_000);
    expect(clock.now() - start).toBeLessThanOrEqual(50_000);
  });

  it('a stream that would stay open past five minutes is refused before any call', async () => {
    const streams = fake.streams.length;
    // At real time, 290 s of audio would keep the stream open past Google's five minutes with its result.
    const err = await refusal(transcribe(connect(1), mulaw('a long story', 290)));
    expect(err.message).toBe('the voice message is 290 s long; speech-to-text takes at most 285 s');
    expect(fake.streams.length).toBe(streams);
    // Past five minutes of audio, whatever the pace.
    const long = await refusal(transcribe(byDefault, mulaw('a longer story', 301)));
    expect(long.message).toBe('the voice message is 301 s long; speech-to-text takes at most 5 minutes');
    expect(fake.streams.length).toBe(streams);
  });

  it('withSpeech says how long the stream will take, before it starts, so the turn can wait for it', async () => {
    const told: number[] = [];
    let streamsAtNotice = -1;
    const bot = {
      turn: async (input: BotTurnInput) => ({ replies: [{ text: `You said: ${input.text}` }] }),
    };
    clock.next();
    const turn = await withSpeech(bot, 'Webhook', byDefault, {
      onStream: (ms) => {
        told.push(ms);
        streamsAtNotice = fake.streams.length;
      },
    }).turn({ conversationId: 'c-1', ccid: 't-1', audio: mulaw('where is my parcel', 100) });
    expect(turn).toEqual({
      replies: [{ text: 'You said: where is my parcel' }],
      transcript: 'where is my parcel',
    });
    expect(told).toEqual([50_000]);
    expect(fake.streams.length).toBe(streamsAtNotice + 1);

    // A message of a minute or less is one synchronous call: nothing to wait for.
    told.length = 0;
    await withSpeech(bot, 'Webhook', byDefault, { onStream: (ms) => told.push(ms) }).turn({
      conversationId: 'c-1',
      ccid: 't-1',
      audio: mulaw('short', 60),
    });
    expect(told).toEqual([]);
  });

  it('a pace under real time is refused when the client is made', () => {
    expect(() => createGoogleSpeech({ apiKey: KEY, timeoutMs: 1000, streamPace: 0.5 })).toThrow(
      /stream pace must be at least 1/,
    );
  });
});

describe('pacing on real timers', () => {
  it('arrivals at the fake follow the audio at the pace, and the deadline makes room for the stream', async () => {
    // 70 s of audio at 35× real time: two seconds. The call deadline alone (1 s) is shorter.
    const { fake, connect } = await setUp({ realtimeFactor: 40 });
    const audio = mulaw('paced for real', 70);
    const started = performance.now();
    const heard = await transcribe(connect(35, 1000), audio);
    const took = performance.now() - started;
    expect(heard.text).toBe('paced for real');
    expect(took).toBeGreaterThanOrEqual(1950);
    const arrivals = fake.arrivals.at(-1)!;
    expect(arrivals).toHaveLength(140);
    // No request arrived more than 150 ms (a busy machine's event loop) before 35× puts it; sent
    // unpaced, all 70 s would be there within a few ms.
    for (const a of arrivals) expect(a.audioMs).toBeLessThanOrEqual(35 * (a.atMs + 150) + 500);
    expect(arrivals.at(-1)!.atMs).toBeGreaterThanOrEqual(1950);

    // Past what this fake takes (40×), the stream is stopped.
    const err = await refusal(transcribe(connect(100, 1000), mulaw('too quick', 70)));
    expect(err.message).toMatch(/streamed too fast/);
  });
});
