/**
 * Audio turns. A bot with voice input (Dialogflow CX and ES take the audio as it is; Lex V2 takes
 * 16-bit PCM) gets the customer's audio and recognises it itself; for any other bot, or audio its
 * provider does not take, speech-to-text turns the audio into text first. `withSpeech` wraps a
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
      const heard = await speech.recognize({
        content: audio.content,
        encoding: audio.encoding,
        ...(audio.sampleRateHertz ? { sampleRateHertz: audio.sampleRateHertz } : {}),
        ...((audio.languageCode ?? input.languageCode)
          ? { languageCode: audio.languageCode ?? input.languageCode }
          : {}),
      });
      if (!heard.text) return { replies: [], transcript: '' };
      const turn = await connector.turn({ ...rest, text: heard.text });
      return { ...turn, transcript: heard.text };
    },
  };
}
