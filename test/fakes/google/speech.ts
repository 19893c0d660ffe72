/**
 * A Speech-to-Text v1 fake: `google.cloud.speech.v1.Speech/Recognize` and `/StreamingRecognize`
 * served over gRPC from `@google-cloud/speech`'s own protos. It checks the API key the client sends
 * (`x-goog-api-key` metadata) and the recognition config, and records every request.
 *
 * Its "recognition" reads the audio bytes as UTF-8 text, so a test says what was spoken by what it
 * sends. Streaming answers an interim result after each audio chunk (when `interimResults` is set)
 * and one final result when the client half-closes. Audio whose text is `silence` recognises
 * nothing (no results), as Google answers for audio without speech; zero bytes are silence, so a
 * long message of a few words is the words and zeros. It keeps Google's limits where the config
 * says how long the audio plays (LINEAR16, MULAW): a minute per Recognize ("Sync input too
 * long"), 25 KB per stream request, about five minutes per stream.
 */
import * as grpc from '@grpc/grpc-js';
import { type GrpcFake, loadService, startGrpcServer } from './grpc.js';

export interface SpeechFake extends GrpcFake {
  /** Recognize requests and, for streams, the list of messages of each stream. */
  readonly recognizeRequests: any[];
  readonly streams: any[][];
  /** The API key each call carried (undefined when none). */
  readonly apiKeys: Array<string | undefined>;
  /** Answers every call with this gRPC failure until `recover()`. */
  failAll(code: grpc.status, details: string): void;
  recover(): void;
}

function checkConfig(config: any): string | undefined {
  if (!config) return 'config is required';
  if (!config.languageCode) return 'config.language_code is required';
  if (config.encoding === 'LINEAR16' && !config.sampleRateHertz)
    return 'sample_rate_hertz is required for LINEAR16';
  return undefined;
}

/** Seconds of audio, where the config says how long it plays (raw PCM, µ-law), as Google reckons. */
function seconds(config: any, bytes: number): number | undefined {
  const rate = config?.sampleRateHertz;
  const width = config?.encoding === 'LINEAR16' ? 2 : config?.encoding === 'MULAW' ? 1 : undefined;
  return rate && width ? bytes / (width * rate) : undefined;
}

/** Google's limits: a minute of audio in one Recognize, 25 KB per stream request, ~5 minutes a stream. */
const SYNC_SECONDS = 60;
const STREAM_REQUEST_BYTES = 25 * 1024;
const STREAM_SECONDS = 305;

function recognise(audio: Buffer): any[] {
  // Zero bytes are digital silence (how a test makes a long message of a few words).
  const text = Buffer.from(audio.filter((b) => b !== 0)).toString('utf8');
  if (!text || text === 'silence') return [];
  return [{ alternatives: [{ transcript: text, confidence: 0.92 }], languageCode: 'en-us' }];
}

export async function startSpeechFake(apiKey: string): Promise<SpeechFake> {
  const service = loadService(
    '@google-cloud/speech',
    'google/cloud/speech/v1/cloud_speech.proto',
    'google.cloud.speech.v1.Speech',
  );
  const recognizeRequests: any[] = [];
  const streams: any[][] = [];
  const apiKeys: Array<string | undefined> = [];
  let failing: { code: grpc.status; details: string } | undefined;

  /** The key check Google does before anything else. */
  const refuse = (md: grpc.Metadata): { code: grpc.status; details: string } | undefined => {
    const key = md.get('x-goog-api-key')[0]?.toString();
    apiKeys.push(key);
    if (failing) return failing;
    if (!key)
      return { code: grpc.status.PERMISSION_DENIED, details: 'The request is missing a valid API key.' };
    if (key !== apiKey)
      return {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'API key not valid. Please pass a valid API key.',
      };
    return undefined;
  };

  const server = await startGrpcServer(service, {
    Recognize(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      recognizeRequests.push(call.request);
      const denied = refuse(call.metadata);
      if (denied) return cb(denied);
      const bad = checkConfig(call.request.config);
      if (bad) return cb({ code: grpc.status.INVALID_ARGUMENT, details: bad });
      if (call.request.audio?.audioSource !== 'content')
        return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'audio.content is required' });
      if ((seconds(call.request.config, call.request.audio.content.length) ?? 0) > SYNC_SECONDS)
        return cb({
          code: grpc.status.INVALID_ARGUMENT,
          details:
            "Sync input too long. For audio longer than 1 min use LongRunningRecognize with a 'uri' parameter.",
        });
      cb(null, {
        results: recognise(Buffer.from(call.request.audio.content)),
        totalBilledTime: { seconds: '1' },
      });
    },
    StreamingRecognize(call: grpc.ServerDuplexStream<any, any>) {
      const messages: any[] = [];
      streams.push(messages);
      const denied = refuse(call.metadata);
      if (denied) {
        call.emit('error', denied);
        return;
      }
      let config: any;
      const chunks: Buffer[] = [];
      let failed = false;
      call.on('data', (msg: any) => {
        messages.push(msg);
        if (failed) return;
        if (!config) {
          const bad =
            msg.streamingRequest !== 'streamingConfig'
              ? 'the first message must carry streaming_config'
              : checkConfig(msg.streamingConfig?.config);
          if (bad) {
            failed = true;
            call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: bad });
            return;
          }
          config = msg.streamingConfig;
          return;
        }
        if (msg.streamingRequest !== 'audioContent') {
          failed = true;
          call.emit('error', {
            code: grpc.status.INVALID_ARGUMENT,
            details: 'streaming_config may only be sent first',
          });
          return;
        }
        const chunk = Buffer.from(msg.audioContent);
        chunks.push(chunk);
        const total = chunks.reduce((n, c) => n + c.length, 0);
        const refusal =
          chunk.length > STREAM_REQUEST_BYTES
            ? { code: grpc.status.INVALID_ARGUMENT, details: 'Request audio can be a maximum of 25 KB.' }
            : (seconds(config.config, total) ?? 0) > STREAM_SECONDS
              ? {
                  code: grpc.status.OUT_OF_RANGE,
                  details: `Exceeded maximum allowed stream duration of ${STREAM_SECONDS} seconds.`,
                }
              : undefined;
        if (refusal) {
          failed = true;
          call.emit('error', refusal);
          return;
        }
        if (config.interimResults) {
          const soFar = recognise(Buffer.concat(chunks));
          if (soFar.length)
            call.write({ results: soFar.map((r) => ({ ...r, isFinal: false, stability: 0.5 })) });
        }
      });
      call.on('end', () => {
        if (failed) return;
        const results = recognise(Buffer.concat(chunks));
        call.write({
          results: results.map((r) => ({ ...r, isFinal: true })),
          ...(config?.singleUtterance ? { speechEventType: 'END_OF_SINGLE_UTTERANCE' } : {}),
        });
        call.end();
      });
    },
  });
  return {
    ...server,
    recognizeRequests,
    streams,
    apiKeys,
    failAll(code, details) {
      failing = { code, details };
    },
    recover() {
      failing = undefined;
    },
  };
}
