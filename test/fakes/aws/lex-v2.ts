/**
 * An Amazon Lex V2 runtime fake over HTTP/2 (what the SDK's default handler speaks; plaintext h2c
 * here). It serves `RecognizeText` (`POST /bots/{botId}/botAliases/{aliasId}/botLocales/{localeId}/
 * sessions/{sessionId}/text`, JSON) and `RecognizeUtterance` (`…/utterance`, the audio as the body,
 * answers in gzip+base64 `x-amz-lex-*` headers). Every request must carry a valid SigV4 signature
 * for service `lex` (checked by `sigv4.ts` with the secret it was given); a wrong one is refused
 * with AWS's error shape (`x-amzn-ErrorType` and `{ message }`), before anything else is read.
 *
 * Its "speech recognition" reads the audio bytes as UTF-8 text, so a test says what was spoken by
 * what it sends; the transcript comes back in `x-amz-lex-input-transcript`.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { type AwsKeys, checkSigV4 } from './sigv4.js';

export interface LexQuery {
  sessionId: string;
  text: string;
  kind: 'text' | 'audio';
  /** The audio content type, for `audio`. */
  contentType?: string;
  sessionState?: unknown;
  /** `requestAttributes` of RecognizeText. */
  requestAttributes?: Record<string, string>;
}

/** A Lex answer (`messages`, `sessionState`, `interpretations`), an AWS error to answer with, or a hang. */
export type LexAnswer =
  | { messages?: unknown[]; sessionState?: Record<string, unknown>; interpretations?: unknown[] }
  | { error: { status: number; type: string; message: string } }
  /** Never answer (until the fake closes). */
  | { hang: true };

export interface LexRecorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Set once the signature verified. */
  query?: LexQuery;
  refused?: string;
}

export interface LexFake {
  /** `http://127.0.0.1:<port>`: the client's `endpoint`. */
  readonly url: string;
  readonly region: string;
  readonly requests: LexRecorded[];
  close(): Promise<void>;
}

const ROUTE =
  /^\/bots\/([^/]+)\/botAliases\/([^/]+)\/botLocales\/([^/]+)\/sessions\/([^/]+)\/(text|utterance)$/;

/** Lex's encoding of a header value: JSON, gzip, base64. */
export const lexHeader = (v: unknown): string => gzipSync(Buffer.from(JSON.stringify(v))).toString('base64');

export async function startLexFake(opts: {
  keys: AwsKeys;
  region: string;
  bot: { botId: string; botAliasId: string; localeId: string };
  script: (q: LexQuery) => LexAnswer;
}): Promise<LexFake> {
  const requests: LexRecorded[] = [];
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });

  server.on('stream', (stream, rawHeaders) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(rawHeaders)) {
        if ((k.startsWith(':') && k !== ':authority') || v === undefined) continue;
        headers[k] = Array.isArray(v) ? v.join(',') : String(v);
      }
      // HTTP/2 carries the host as :authority.
      headers.host ??= String(rawHeaders[':authority'] ?? '');
      const rec: LexRecorded = {
        method: String(rawHeaders[':method']),
        url: String(rawHeaders[':path']),
        headers,
        body: Buffer.concat(chunks),
      };
      requests.push(rec);
      const fail = (status: number, type: string, message: string) => {
        rec.refused ??= type;
        stream.respond({ ':status': status, 'content-type': 'application/json', 'x-amzn-errortype': type });
        stream.end(JSON.stringify({ message }));
      };
      const refusal = checkSigV4(rec, opts.keys, { region: opts.region, service: 'lex' });
      if (refusal) return fail(refusal.status, refusal.type, refusal.message);
      const m = ROUTE.exec(rec.url);
      if (rec.method !== 'POST' || !m) return fail(404, 'UnknownOperationException', 'Unknown operation');
      const [botId, aliasId, localeId, sessionId, op] = m.slice(1).map(decodeURIComponent);
      if (botId !== opts.bot.botId || aliasId !== opts.bot.botAliasId || localeId !== opts.bot.localeId)
        return fail(
          404,
          'ResourceNotFoundException',
          `Bot ${botId} alias ${aliasId} locale ${localeId} was not found`,
        );
      let query: LexQuery;
      if (op === 'text') {
        let body: any;
        try {
          body = JSON.parse(rec.body.toString('utf8'));
        } catch {
          return fail(400, 'ValidationException', 'The request body is not valid JSON');
        }
        if (typeof body?.text !== 'string' || !body.text)
          return fail(
            400,
            'ValidationException',
            "1 validation error detected: Value at 'text' failed to satisfy constraint",
          );
        query = {
          sessionId,
          text: body.text,
          kind: 'text',
          sessionState: body.sessionState,
          requestAttributes: body.requestAttributes,
        };
      } else {
        const contentType = headers['content-type'] ?? '';
        if (!/^(audio\/(l16|x-l16|lpcm|x-cbr-opus-with-preamble)|text\/plain)/.test(contentType))
          return fail(400, 'ValidationException', `Content type ${contentType} is not supported`);
        if (!rec.body.length) return fail(400, 'BadRequestException', 'The input stream is empty');
        query = {
          sessionId,
          text: rec.body.toString('utf8'),
          kind: contentType.startsWith('text/') ? 'text' : 'audio',
          contentType,
        };
      }
      rec.query = query;
      const answer = opts.script(query);
      if ('hang' in answer) return;
      if ('error' in answer) return fail(answer.error.status, answer.error.type, answer.error.message);
      const sessionState = answer.sessionState ?? { dialogAction: { type: 'ElicitIntent' } };
      if (op === 'text') {
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(
          JSON.stringify({
            messages: answer.messages ?? [],
            sessionState,
            interpretations: answer.interpretations ?? [],
            sessionId,
          }),
        );
        return;
      }
      stream.respond({
        ':status': 200,
        'content-type': headers['response-content-type'] ?? 'text/plain; charset=utf-8',
        'x-amz-lex-session-id': sessionId,
        'x-amz-lex-messages': lexHeader(answer.messages ?? []),
        'x-amz-lex-session-state': lexHeader(sessionState),
        'x-amz-lex-interpretations': lexHeader(answer.interpretations ?? []),
        'x-amz-lex-input-transcript': lexHeader(query.text),
        'x-amz-lex-input-mode': query.kind === 'audio' ? 'Speech' : 'Text',
      });
      stream.end();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    region: opts.region,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
