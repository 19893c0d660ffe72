/**
 * A Speech-to-Text v1 fake: `google.cloud.speech.v1.Speech/Recognize` and `/StreamingRecognize`
 * served over gRPC from `@google-cloud/speech`'s own protos. It checks the API key the client sends
 * (`x-goog-api-key` metadata) and the recognition config, and records every request.
 *
 * Its "recognition" reads the audio bytes as UTF-8 text, so a test says what was spoken by what it
 * sends. Streaming answers an interim result after each audio chunk (when `interimResults` is set)
 * and one final result when the client half-closes. Audio whose text is `silence` recognises
 * nothing (no results), as Google answers for audio without speech.
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

function recognise(audio: Buffer): any[] {
  const text = audio.toString('utf8');
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
        chunks.push(Buffer.from(msg.audioContent));
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
