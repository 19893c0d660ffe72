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
import type { SpeechToText } from './google-speech.js';

export { createGoogleSpeech, speechEncoding } from './google-speech.js';
export type { AudioFormat, GoogleSpeechOptions, SpeechToText, Transcript } from './google-speech.js';

type Audio = NonNullable<BotTurnInput['audio']>;

/** Whether `provider` takes this audio natively. */
export function acceptsAudio(provider: BotProvider, audio: Audio): boolean {
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
/** Audio per StreamingRecognize request: Google takes at most 25 KB in one. */
export const STREAM_CHUNK_BYTES = 16 * 1024;

/** How long the audio plays, where its encoding says it without decoding: raw PCM and G.711. */
export function durationMs(
  audio: Pick<Audio, 'content' | 'encoding' | 'sampleRateHertz'>,
): number | undefined {
  const rate = audio.sampleRateHertz;
  if (!rate) return undefined;
  const bytesPerSample = audio.encoding === 'LINEAR16' ? 2 : audio.encoding === 'MULAW' ? 1 : undefined;
  return bytesPerSample ? (audio.content.length / (bytesPerSample * rate)) * 1000 : undefined;
}

function* chunksOf(b: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < b.length; at += size) yield b.subarray(at, at + size);
}

/**
 * A voice message as text: one synchronous call for up to a minute of audio; a longer message
 * (a customer who talks for two minutes) is streamed to StreamingRecognize in 16 KB requests, which
 * takes up to five minutes. Past that, or past a minute in an encoding whose length cannot be read
 * here (Google then refuses the synchronous call), the turn fails and the conversation is handed
 * to an agent, who can listen to it.
 */
export async function transcribe(speech: SpeechToText, audio: Audio, languageCode?: string) {
  const format = {
    encoding: audio.encoding,
    ...(audio.sampleRateHertz ? { sampleRateHertz: audio.sampleRateHertz } : {}),
    ...(languageCode ? { languageCode } : {}),
  };
  const ms = durationMs(audio);
  if (ms === undefined || ms <= SYNC_LIMIT_MS) return speech.recognize({ content: audio.content, ...format });
  if (ms > STREAM_LIMIT_MS)
    throw new BotConnectorError(
      `the voice message is ${Math.round(ms / 1000)} s long; speech-to-text takes at most ${STREAM_LIMIT_MS / 60_000} minutes`,
      'rejected',
    );
  return speech.streamingRecognize(chunksOf(audio.content, STREAM_CHUNK_BYTES), format);
}

/**
 * The connector, with audio it cannot take transcribed first. The turn's `transcript` says what
 * was recognised; audio with no speech in it is no turn at all (the bot is not asked).
 */
export function withSpeech(
  connector: BotConnector,
  provider: BotProvider,
  speech: SpeechToText | undefined,
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
      const heard = await transcribe(speech, audio, audio.languageCode ?? input.languageCode);
      if (!heard.text) return { replies: [], transcript: '' };
      const turn = await connector.turn({ ...rest, text: heard.text });
      return { ...turn, transcript: heard.text };
    },
  };
}
