/**
 * Audio turns. A bot with voice input (Dialogflow CX and ES take the audio as it is; Lex V2 takes
 * 16-bit PCM) gets the customer's audio and recognises it itself; for any other bot, or audio its
 * provider does not take, speech-to-text turns the audio into text first (`transcribe`: a
 * synchronous call, or a stream for a message longer than a minute). `withSpeech` wraps a
 * connector from outside to do that, so no connector knows about speech-to-text.
 */
import { dialogflowEncoding } from '../connectors/google.js';
import { lexAudioContentType } from '../connectors/lex-v2.js';
import {
  BotConnectorError,
  type BotConnector,
  type BotProvider,
  type BotTurnInput,
} from '../connectors/types.js';
import { durationMs } from './duration.js';
import { speechEncoding, type SpeechToText } from './google-speech.js';
import { pacedChunks } from './pace.js';

export { durationMs } from './duration.js';
export { createGoogleSpeech, speechEncoding } from './google-speech.js';
export { type Clock, realClock } from './pace.js';
export type { AudioFormat, GoogleSpeechOptions, SpeechToText, Transcript } from './google-speech.js';

type Audio = NonNullable<BotTurnInput['audio']>;

/**
 * The most audio one detect-intent request takes (their protos: CX v3's AudioInput, "up to 2
 * minutes"; ES v2's, "up to 1 minute"): a longer message is transcribed (streamed) instead.
 */
const NATIVE_LIMIT_MS: Partial<Record<BotProvider, number>> = {
  DialogflowCX: 120_000,
  DialogflowES: 60_000,
};

/** Whether `provider` takes this audio natively (its encoding, and its length where that is known). */
export function acceptsAudio(provider: BotProvider, audio: Audio): boolean {
  const limit = NATIVE_LIMIT_MS[provider];
  if (limit !== undefined) {
    const ms = durationMs({ ...audio, encoding: speechEncoding(audio.encoding) ?? audio.encoding });
    if (ms !== undefined && ms > limit) return false;
  }
  switch (provider) {
    case 'DialogflowCX':
      return !!dialogflowEncoding(audio.encoding);
    case 'DialogflowES': {
      // ES needs the sample rate; Opus always decodes at 48 kHz.
      const e = dialogflowEncoding(audio.encoding);
      return !!e && (!!audio.sampleRateHertz || e === 'AUDIO_ENCODING_OGG_OPUS');
    }
    case 'LexV2':
      return !!lexAudioContentType(audio);
    default:
      return false;
  }
}

/** Google's synchronous recognition takes at most a minute of audio; a stream, about five. */
export const SYNC_LIMIT_MS = 60_000;
export const STREAM_LIMIT_MS = 300_000;
/**
 * How long a stream may stay open: Google closes one after five minutes, so a paced stream ends
 * with time to spare for its final result.
 */
export const STREAM_OPEN_MS = 285_000;
/** Audio per StreamingRecognize request: Google takes at most 25 KB in one. */
export const STREAM_CHUNK_BYTES = 16 * 1024;
/** About this much audio per request (Google suggests 100 ms frames; larger ones do as well for a file). */
const CHUNK_MS = 500;
/**
 * What Speech v1's StreamingRecognize takes (its cloud_speech.proto: MP3 is in v1p1beta1 only,
 * so a long MP3 message cannot be streamed here).
 */
const STREAMABLE = new Set([
  'LINEAR16',
  'FLAC',
  'MULAW',
  'AMR',
  'AMR_WB',
  'OGG_OPUS',
  'SPEEX_WITH_HEADER_BYTE',
  'WEBM_OPUS',
]);

const spoken = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} minutes` : `${Math.round(ms / 1000)} s`);

export interface TranscribeOptions {
  /**
   * Told how long a stream will take before it starts (the message's length over the pace), so a
   * deadline around the turn can make room for it.
   */
  onStream?(ms: number): void;
}

/**
 * A voice message as text: one synchronous call for up to a minute of audio; a longer message
 * (a customer who talks for two minutes) is streamed to StreamingRecognize, paced at the speech
 * service's `streamPace` times real time in requests of about half a second, up to five minutes of
 * audio. Its length is read from the container (`duration.ts`): raw PCM, µ-law, Ogg and WebM Opus,
 * FLAC and MP3. Refused before any call, with the reason, and the turn handed to an agent: a
 * message longer than a stream takes, a long MP3 (v1 does not stream it), and a message over a
 * minute whose length could not be read, which Google refuses in one call.
 */
export async function transcribe(
  speech: SpeechToText,
  audio: Audio,
  languageCode?: string,
  opts: TranscribeOptions = {},
) {
  const format = {
    encoding: audio.encoding,
    ...(audio.sampleRateHertz ? { sampleRateHertz: audio.sampleRateHertz } : {}),
    ...(languageCode ? { languageCode } : {}),
  };
  const encoding = speechEncoding(audio.encoding) ?? audio.encoding;
  const ms = durationMs({ ...audio, encoding });
  if (ms === undefined || ms <= SYNC_LIMIT_MS)
    return speech.recognize({ content: audio.content, ...format }).catch((err: unknown) => {
      // Google reads the length we could not: say why no stream was tried.
      if (ms === undefined && err instanceof BotConnectorError && /Sync input too long/i.test(err.message))
        throw new BotConnectorError(
          `the voice message is longer than a minute, and its length cannot be read from its ${encoding} data to stream it`,
          'rejected',
          { cause: err },
        );
      throw err;
    });
  const limit = Math.min(STREAM_LIMIT_MS, STREAM_OPEN_MS * speech.streamPace);
  if (ms > limit)
    throw new BotConnectorError(
      `the voice message is ${Math.round(ms / 1000)} s long; speech-to-text takes at most ${spoken(limit)}`,
      'rejected',
    );
  if (!STREAMABLE.has(encoding))
    throw new BotConnectorError(
      `the voice message is ${Math.round(ms / 1000)} s of ${encoding} audio; speech-to-text takes ${encoding} in one call of up to a minute, and cannot stream it`,
      'rejected',
    );
  const chunkBytes = Math.max(
    1,
    Math.min(STREAM_CHUNK_BYTES, Math.round((audio.content.length / ms) * CHUNK_MS)),
  );
  const expectMs = ms / speech.streamPace;
  opts.onStream?.(expectMs);
  const chunks = pacedChunks(audio.content, {
    chunkBytes,
    durationMs: ms,
    pace: speech.streamPace,
    clock: speech.clock,
  });
  return speech.streamingRecognize(chunks, format, undefined, { expectMs });
}

/**
 * The connector, with audio it cannot take transcribed first. The turn's `transcript` says what
 * was recognised; audio with no speech in it is no turn at all (the bot is not asked).
 */
export function withSpeech(
  connector: BotConnector,
  provider: BotProvider,
  speech: SpeechToText | undefined,
  opts: TranscribeOptions = {},
): BotConnector {
  return {
    async turn(input) {
      if (!input.audio || input.text || acceptsAudio(provider, input.audio)) return connector.turn(input);
      if (!speech)
        throw new BotConnectorError(
          `a ${provider} bot needs speech-to-text for ${input.audio.encoding} audio, and none is configured (athena.google.speechApiKey)`,
          'config',
        );
      const { audio, ...rest } = input;
      const heard = await transcribe(speech, audio, audio.languageCode ?? input.languageCode, opts);
      if (!heard.text) return { replies: [], transcript: '' };
      const turn = await connector.turn({ ...rest, text: heard.text });
      return { ...turn, transcript: heard.text };
    },
  };
}
