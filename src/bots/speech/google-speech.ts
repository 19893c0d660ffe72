/**
 * Speech-to-text with Google Cloud Speech-to-Text v1 (`@google-cloud/speech`) over gRPC, with API
 * key auth (`athena.google.speechApiKey`): `recognize` for a voice message (synchronous recognition
 * takes up to a minute of audio) and `streamingRecognize` for an audio stream.
 *
 * The key travels as `x-goog-api-key` call metadata, set here rather than by google-auth, so the
 * same code path runs against Google and against a local endpoint without TLS (`plaintext`, which
 * only an emulator or a test fake speaks). Failures are wrapped once, like the bot connectors'.
 */
import { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { SpeechClient } from '@google-cloud/speech';
import { googleFailure } from '../connectors/google.js';
import { BotConnectorError } from '../connectors/types.js';
import { type Clock, realClock } from './pace.js';

export interface AudioFormat {
  /** `LINEAR16`, `OGG_OPUS`, `WEBM_OPUS`, `FLAC`, `MULAW`, `MP3`, … (an `AUDIO_ENCODING_` prefix is accepted). */
  encoding: string;
  sampleRateHertz?: number;
  languageCode?: string;
}

export interface Transcript {
  /** What was said; empty when no speech was recognised. */
  text: string;
  confidence?: number;
}

/** The role athena needs: audio in, text out. */
export interface SpeechToText {
  recognize(audio: { content: Buffer } & AudioFormat): Promise<Transcript>;
  /**
   * Streams `chunks` and resolves with the final transcript; `onInterim` sees the partial ones.
   * `expectMs`: how long the audio takes to send (a paced recording), added to the deadline.
   */
  streamingRecognize(
    chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
    format: AudioFormat,
    onInterim?: (text: string) => void,
    opts?: { expectMs?: number },
  ): Promise<Transcript>;
  /** How many times real time a recorded message is streamed at (`athena.google.speechStreamPace`). */
  readonly streamPace: number;
  /** The clock that paces it. */
  readonly clock: Clock;
  /** Resolves once the client is built (not connected): a service awaits it at start. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface GoogleSpeechOptions {
  apiKey: string;
  /** `host` or `host:port`; default `speech.googleapis.com`. */
  apiEndpoint?: string;
  port?: number;
  /** gRPC without TLS: a local emulator or a test fake only. */
  plaintext?: boolean;
  /** Default language when the audio does not say (BCP-47, e.g. `en-US`). */
  languageCode?: string;
  timeoutMs: number;
  /**
   * How many times real time a recorded message is streamed at, at least 1 (default 2). Google
   * wants streamed audio at about real time and publishes no exact bound.
   */
  streamPace?: number;
  /** Pacing's clock (a test's virtual one); default the process's. */
  clock?: Clock;
}

/** The default of `athena.google.speechStreamPace`. */
export const DEFAULT_STREAM_PACE = 2;

const ENCODINGS = new Set([
  'LINEAR16',
  'FLAC',
  'MULAW',
  'AMR',
  'AMR_WB',
  'OGG_OPUS',
  'SPEEX_WITH_HEADER_BYTE',
  'MP3',
  'WEBM_OPUS',
]);

/** The Speech v1 name of an encoding, or undefined when Speech does not take it. */
export function speechEncoding(encoding: string): string | undefined {
  const e = encoding
    .toUpperCase()
    .replace(/^AUDIO_ENCODING_/, '')
    .replace(/^LINEAR_16$/, 'LINEAR16');
  return ENCODINGS.has(e) ? e : undefined;
}

type Result = { alternatives?: Array<{ transcript?: string | null; confidence?: number | null }> | null };

function transcriptOf(results: Result[] | null | undefined): Transcript {
  const best = (results ?? []).map((r) => r.alternatives?.[0]).filter((a) => !!a?.transcript);
  const text = best
    .map((a) => a?.transcript?.trim())
    .filter(Boolean)
    .join(' ');
  // Only the top alternative of a final result carries a confidence; 0 means "not set".
  const confidence = best[0]?.confidence || undefined;
  return confidence === undefined ? { text } : { text, confidence };
}

export function createGoogleSpeech(opts: GoogleSpeechOptions): SpeechToText {
  if (!opts.apiKey)
    throw new BotConnectorError('speech-to-text needs an API key (athena.google.speechApiKey)', 'config');
  const streamPace = opts.streamPace ?? DEFAULT_STREAM_PACE;
  if (!(streamPace >= 1))
    throw new BotConnectorError(
      `speech-to-text's stream pace must be at least 1, not ${streamPace}`,
      'config',
    );
  const endpoint = opts.apiEndpoint ?? 'speech.googleapis.com';
  const m = /^(.*):(\d+)$/.exec(endpoint);
  const client = new SpeechClient({
    // Given to google-auth too, so it never goes looking for other credentials (a GCE metadata server).
    apiKey: opts.apiKey,
    apiEndpoint: m ? m[1] : endpoint,
    port: opts.port ?? (m ? Number(m[2]) : 443),
    sslCreds: opts.plaintext ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(),
  });
  // Building the client's stub (its protos) takes a second or two of CPU: begun now, and awaited
  // by `ready`, rather than inside the first customer's turn. A failure is the first call's to report.
  const initialized = client.initialize().then(
    () => undefined,
    () => undefined,
  );
  const what = 'Google Speech-to-Text';
  const callOpts = {
    timeout: opts.timeoutMs,
    retry: { retryCodes: [] },
    otherArgs: { headers: { 'x-goog-api-key': opts.apiKey } },
  };

  const config = (f: AudioFormat) => {
    const encoding = speechEncoding(f.encoding);
    if (!encoding)
      throw new BotConnectorError(`speech-to-text does not take ${f.encoding} audio`, 'rejected');
    return {
      encoding,
      ...(f.sampleRateHertz ? { sampleRateHertz: f.sampleRateHertz } : {}),
      languageCode: f.languageCode ?? opts.languageCode ?? 'en-US',
      enableAutomaticPunctuation: true,
    };
  };

  return {
    async recognize(audio) {
      const request = { config: config(audio), audio: { content: audio.content } };
      try {
        const [response] = await client.recognize(request as never, callOpts as never);
        return transcriptOf(response.results as Result[]);
      } catch (err) {
        throw googleFailure(err, what, opts.timeoutMs);
      }
    },

    async streamingRecognize(chunks, format, onInterim, streamOpts) {
      const streamingConfig = { config: config(format), interimResults: !!onInterim };
      const deadlineMs = opts.timeoutMs + Math.ceil(streamOpts?.expectMs ?? 0);
      // A paced recording starts its clock when it starts reading: connected first, so the audio
      // does not pile up while the channel connects and then reach Speech all at once.
      if (streamOpts?.expectMs) {
        try {
          const stub = (await client.initialize()) as unknown as grpc.Client;
          await new Promise<void>((resolve, reject) =>
            stub.waitForReady(Date.now() + opts.timeoutMs, (err) => (err ? reject(err) : resolve())),
          );
        } catch (err) {
          throw googleFailure(err, what, opts.timeoutMs);
        }
      }
      return new Promise<Transcript>((resolve, reject) => {
        const source = Readable.from(chunks, { objectMode: true });
        const finals: Result[] = [];
        let settled = false;
        const fail = (err: unknown) => {
          if (settled) return;
          settled = true;
          reject(err instanceof BotConnectorError ? err : googleFailure(err, what, deadlineMs));
        };
        const recognizer = client.streamingRecognize(
          streamingConfig as never,
          { ...callOpts, timeout: deadlineMs } as never,
        );
        recognizer.on('data', (res: { results?: Array<Result & { isFinal?: boolean }> }) => {
          for (const r of res.results ?? []) {
            if (r.isFinal) finals.push(r);
            else if (onInterim) {
              const t = transcriptOf([r]).text;
              if (t) onInterim(t);
            }
          }
        });
        recognizer.on('error', (err: unknown) => {
          fail(err);
          // Stop reading audio nobody will recognise.
          source.unpipe(recognizer);
          source.destroy();
        });
        recognizer.on('end', () => {
          if (settled) return;
          settled = true;
          resolve(transcriptOf(finals));
        });
        source.on('error', (err) => {
          fail(new BotConnectorError('the audio stream failed', 'rejected', { cause: err }));
          recognizer.destroy();
        });
        source.pipe(recognizer);
      });
    },

    streamPace,
    clock: opts.clock ?? realClock,
    ready: () => initialized,
    close: () => client.close(),
  };
}
