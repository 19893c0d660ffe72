/**
 * Amazon Lex V2, through `@aws-sdk/client-lex-runtime-v2`: `RecognizeText` for text and
 * `RecognizeUtterance` for audio (16-bit PCM, which is what Lex takes; other audio is transcribed
 * before it gets here, see `src/bots/speech`).
 *
 * Settings (`data`): `botId`, `botAliasId`, `localeId` (default `en_US`), `region`, optional
 * `endpoint` (a VPC endpoint, a test fake), `handoffIntents` and `endIntents` (intent names that,
 * once closed or fulfilled, mean "an agent, please" / "goodbye"), `handoffQueue`. `secret`:
 * `accessKeyId`, `secretAccessKey`, optional `sessionToken`.
 *
 * One conversation is one Lex session; the turn's metadata goes as request attributes (a Lambda
 * reads them). Answers map to the canonical turn: `PlainText` and `SSML`
 * → text; `ImageResponseCard` → a card with buttons (a button's `value` is what Lex gets back);
 * `CustomPayload` (JSON) as in `custom-payload.ts`. Session attributes `handoff` (`"true"`),
 * `handoffQueue`, `handoffReason` and `endConversation` (`"true"`) let a Lambda say the same.
 */
import { gunzipSync } from 'node:zlib';
import {
  LexRuntimeV2Client,
  RecognizeTextCommand,
  type RecognizeTextCommandOutput,
  RecognizeUtteranceCommand,
} from '@aws-sdk/client-lex-runtime-v2';
import { DEFAULT_HANDOFF_REASON, mergeInto, names, readCustomPayload } from './custom-payload.js';
import {
  BotConnectorError,
  type BotConnector,
  type BotReply,
  type BotTurn,
  type BotTurnInput,
  type ConnectorFactory,
} from './types.js';

type Obj = Record<string, unknown>;
type Card = NonNullable<BotReply['cards']>[number];

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Obj | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;

/** The answer of either call, decoded. */
export interface LexAnswer {
  messages?: unknown[];
  sessionState?: unknown;
  inputTranscript?: string;
}

/** Maps a Lex answer to the canonical turn. */
export function lexAnswerToTurn(
  answer: LexAnswer,
  opts: { handoffIntents?: Set<string>; endIntents?: Set<string>; handoffQueue?: string } = {},
): BotTurn {
  const turn: BotTurn = { replies: [] };
  for (const raw of answer.messages ?? []) {
    const m = obj(raw);
    if (!m) continue;
    const content = str(m.content);
    switch (m.contentType) {
      case 'PlainText':
        if (content) turn.replies.push({ text: content });
        break;
      case 'SSML': {
        const text = content
          ?.replace(/<[^>]*>/g, '')
          .replace(/\s+/g, ' ')
          .trim();
        if (text) turn.replies.push({ text });
        break;
      }
      case 'CustomPayload': {
        if (!content) break;
        let parsed: unknown;
        try {
          parsed = JSON.parse(content);
        } catch {
          // A custom payload that is not JSON is only text to show.
          turn.replies.push({ text: content });
          break;
        }
        mergeInto(turn, readCustomPayload(parsed));
        break;
      }
      case 'ImageResponseCard': {
        const c = obj(m.imageResponseCard);
        const title = str(c?.title);
        if (!title) break;
        const card: Card = { title };
        const subtitle = str(c?.subtitle);
        const imageUrl = str(c?.imageUrl);
        if (subtitle) card.subtitle = subtitle;
        if (imageUrl) card.imageUrl = imageUrl;
        const buttons = ((c?.buttons as unknown[]) ?? [])
          .map(obj)
          .map((b) => ({ text: str(b?.text), value: str(b?.value) }))
          .filter((b): b is { text: string; value: string | undefined } => !!b.text)
          .map((b) => (b.value ? { text: b.text, payload: b.value } : { text: b.text }));
        if (buttons.length) card.buttons = buttons;
        turn.replies.push({ cards: [card] });
        break;
      }
      default:
        break;
    }
  }
  const state = obj(answer.sessionState) ?? {};
  const attrs = obj(state.sessionAttributes) ?? {};
  const intent = obj(state.intent);
  const intentName = str(intent?.name);
  // An intent "says" something once it is done: closed by the bot, or fulfilled.
  const done =
    obj(state.dialogAction)?.type === 'Close' ||
    intent?.state === 'Fulfilled' ||
    intent?.state === 'ReadyForFulfillment';
  if (!turn.handoff) {
    const byAttr = attrs.handoff === 'true' || !!str(attrs.handoffQueue);
    const byIntent = done && !!intentName && !!opts.handoffIntents?.has(intentName);
    if (byAttr || byIntent) {
      const queue = str(attrs.handoffQueue) ?? opts.handoffQueue;
      turn.handoff = {
        ...(queue ? { queue } : {}),
        reason:
          str(attrs.handoffReason) ??
          (byIntent ? `${DEFAULT_HANDOFF_REASON} (intent "${intentName}")` : DEFAULT_HANDOFF_REASON),
      };
    }
  }
  if (attrs.endConversation === 'true' || (done && !!intentName && !!opts.endIntents?.has(intentName)))
    turn.endConversation = true;
  if (answer.inputTranscript) turn.transcript = answer.inputTranscript;
  return turn;
}

/** Lex's RecognizeUtterance headers are JSON (or a bare string), gzipped, base64-encoded. */
export function decodeLexHeader(v: string | undefined): unknown {
  if (!v) return undefined;
  const text = gunzipSync(Buffer.from(v, 'base64')).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The content type Lex takes for this audio, or undefined when it takes none. */
export function lexAudioContentType(audio: NonNullable<BotTurnInput['audio']>): string | undefined {
  const e = audio.encoding.toUpperCase().replace(/^AUDIO_ENCODING_/, '');
  if (e === 'LINEAR16' || e === 'LINEAR_16' || e === 'PCM')
    return `audio/l16; rate=${audio.sampleRateHertz ?? 16_000}; channels=1`;
  return undefined;
}

/** The turn's metadata as Lex request attributes (strings; Lex reserves the `x-amz-lex:` prefix). */
export function attributesOf(
  metadata: Record<string, unknown> | undefined,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (v === undefined || v === null || k.startsWith('x-amz-lex:')) continue;
    out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return Object.keys(out).length ? out : undefined;
}

/** Wraps an SDK failure once: throttling, 5xx and transport failures may pass; a 4xx will not. */
export function lexFailure(err: unknown, what: string, timeoutMs: number): BotConnectorError {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError')
    return new BotConnectorError(`${what} did not answer within ${timeoutMs} ms`, 'timeout', { cause: err });
  const status = e?.$metadata?.httpStatusCode;
  const detail = `${e?.name ?? 'Error'}${e?.message ? `: ${e.message}` : ''}`;
  if (!status)
    return new BotConnectorError(`${what} is unreachable (${detail})`, 'unavailable', { cause: err });
  const retryable = status >= 500 || status === 429 || status === 424;
  return new BotConnectorError(
    `${what} answered HTTP ${status} ${detail}`,
    retryable ? 'unavailable' : 'rejected',
    {
      cause: err,
      status,
    },
  );
}

export const lexV2Connector: ConnectorFactory = (settings, deps) => {
  const d = settings.data;
  const botId = str(d.botId);
  const botAliasId = str(d.botAliasId);
  const localeId = str(d.localeId) ?? 'en_US';
  const region = str(d.region);
  if (!botId || !botAliasId || !region)
    throw new BotConnectorError(
      `bot ${settings.name}: a LexV2 bot needs data.botId, data.botAliasId and data.region`,
      'config',
    );
  const accessKeyId = str(settings.secret.accessKeyId);
  const secretAccessKey = str(settings.secret.secretAccessKey);
  const sessionToken = str(settings.secret.sessionToken);
  if (!accessKeyId || !secretAccessKey)
    throw new BotConnectorError(
      `bot ${settings.name}: the secret needs accessKeyId and secretAccessKey`,
      'config',
    );
  const endpoint = str(d.endpoint);
  const mapOpts = {
    handoffIntents: names(d.handoffIntents),
    endIntents: names(d.endIntents),
    handoffQueue: str(d.handoffQueue),
  };
  const client = new LexRuntimeV2Client({
    region,
    ...(endpoint ? { endpoint } : {}),
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    // Retries are athena's decision, made from outside.
    maxAttempts: 1,
  });
  const what = `Lex V2 bot ${botId}`;

  const connector: BotConnector & { close(): Promise<void> } = {
    async turn(input) {
      const ids = { botId, botAliasId, localeId, sessionId: input.conversationId };
      const payload = typeof input.event?.payload === 'string' ? input.event.payload : undefined;
      const text = payload ?? input.text ?? (input.audio ? undefined : input.event?.name);
      const abortSignal = AbortSignal.timeout(deps.timeoutMs);
      try {
        if (text) {
          const requestAttributes = attributesOf(input.metadata);
          const out: RecognizeTextCommandOutput = await client.send(
            new RecognizeTextCommand({ ...ids, text, ...(requestAttributes ? { requestAttributes } : {}) }),
            { abortSignal },
          );
          return lexAnswerToTurn({ messages: out.messages, sessionState: out.sessionState }, mapOpts);
        }
        if (!input.audio)
          throw new BotConnectorError('the turn has no text, audio or event to send', 'rejected');
        const requestContentType = lexAudioContentType(input.audio);
        if (!requestContentType)
          throw new BotConnectorError(`Lex V2 does not take ${input.audio.encoding} audio`, 'rejected');
        const out = await client.send(
          new RecognizeUtteranceCommand({
            ...ids,
            requestContentType,
            responseContentType: 'text/plain; charset=utf-8',
            inputStream: input.audio.content,
          }),
          { abortSignal },
        );
        // The answer is in the headers; the (empty) body is drained so the stream is released.
        await out.audioStream?.transformToByteArray();
        const transcript = decodeLexHeader(out.inputTranscript);
        return lexAnswerToTurn(
          {
            messages: decodeLexHeader(out.messages) as unknown[] | undefined,
            sessionState: decodeLexHeader(out.sessionState),
            ...(typeof transcript === 'string' && transcript ? { inputTranscript: transcript } : {}),
          },
          mapOpts,
        );
      } catch (err) {
        if (err instanceof BotConnectorError) throw err;
        throw lexFailure(err, what, deps.timeoutMs);
      }
    },
    close: async () => client.destroy(),
  };
  return connector;
};
