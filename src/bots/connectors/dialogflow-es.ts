/**
 * Dialogflow ES, through `@google-cloud/dialogflow` `SessionsClient.detectIntent` over gRPC.
 *
 * Settings (`data`): `projectId` (or the key's `project_id`), optional `location` (a regional
 * agent) and `environment`, `languageCode` (default `en`), `handoffIntents` (display names that
 * mean "an agent, please"), `handoffQueue`, and the endpoint overrides of `google.ts`. `secret`:
 * the service-account key.
 *
 * One conversation is one ES session. Answers map to the canonical turn: `fulfillmentMessages` of
 * the default platform (`text`, `image`, `quickReplies`, `card`, `payload` as in
 * `custom-payload.ts`), or `fulfillmentText` when there are none; the matched intent's
 * `liveAgentHandoff` / `endInteraction` flags → handoff / end of conversation.
 */
import { SessionsClient } from '@google-cloud/dialogflow';
import { DEFAULT_HANDOFF_REASON, mergeInto, names, readCustomPayload } from './custom-payload.js';
import {
  callOptions,
  dialogflowEncoding,
  fromStruct,
  googleClientOptions,
  googleFailure,
  obj,
  sessionIdOf,
  str,
  toStruct,
} from './google.js';
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

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Maps an ES `QueryResult` to the canonical turn. */
export function esResultToTurn(
  queryResult: unknown,
  opts: { handoffIntents?: Set<string>; handoffQueue?: string; audio?: boolean } = {},
): BotTurn {
  const qr = obj(queryResult) ?? {};
  const turn: BotTurn = { replies: [] };
  // Dialogflow returns every platform's variant; a chat channel shows the default one.
  const messages = ((qr.fulfillmentMessages as unknown[]) ?? [])
    .map(obj)
    .filter((m): m is Obj => !!m && (!m.platform || m.platform === 'PLATFORM_UNSPECIFIED'));
  for (const m of messages) {
    const kind = str(m.message) ?? ['text', 'image', 'quickReplies', 'card', 'payload'].find((k) => m[k]);
    switch (kind) {
      case 'text': {
        const text = ((obj(m.text)?.text as unknown[]) ?? [])
          .filter((t) => typeof t === 'string' && t)
          .join('\n');
        if (text) turn.replies.push({ text });
        break;
      }
      case 'image': {
        const url = str(obj(m.image)?.imageUri);
        if (url) turn.replies.push({ image: url });
        break;
      }
      case 'quickReplies': {
        const q = obj(m.quickReplies);
        const quick = ((q?.quickReplies as unknown[]) ?? [])
          .filter((t): t is string => typeof t === 'string' && t.length > 0)
          .map((text) => ({ text }));
        const reply: BotReply = {};
        const title = str(q?.title);
        if (title) reply.text = title;
        if (quick.length) reply.quickReplies = quick;
        if (Object.keys(reply).length) turn.replies.push(reply);
        break;
      }
      case 'card': {
        const c = obj(m.card);
        const title = str(c?.title);
        if (!title) break;
        const card: Card = { title };
        const subtitle = str(c?.subtitle);
        const imageUrl = str(c?.imageUri);
        if (subtitle) card.subtitle = subtitle;
        if (imageUrl) card.imageUrl = imageUrl;
        const buttons = ((c?.buttons as unknown[]) ?? [])
          .map(obj)
          .map((b) => ({ text: str(b?.text), postback: str(b?.postback) }))
          .filter((b): b is { text: string; postback: string | undefined } => !!b.text)
          // A postback that is a link opens it; any other is what the bot gets back when chosen.
          .map((b) =>
            b.postback
              ? isUrl(b.postback)
                ? { text: b.text, url: b.postback }
                : { text: b.text, payload: b.postback }
              : { text: b.text },
          );
        if (buttons.length) card.buttons = buttons;
        turn.replies.push({ cards: [card] });
        break;
      }
      case 'payload':
        mergeInto(turn, readCustomPayload(fromStruct(m.payload)));
        break;
      default:
        break;
    }
  }
  if (!messages.length) {
    const text = str(qr.fulfillmentText);
    if (text) turn.replies.push({ text });
  }
  const intent = obj(qr.intent);
  const intentName = str(intent?.displayName);
  if (
    !turn.handoff &&
    (intent?.liveAgentHandoff === true || (intentName && opts.handoffIntents?.has(intentName)))
  ) {
    const params = fromStruct(qr.parameters);
    const queue = str(params.handoffQueue) ?? opts.handoffQueue;
    turn.handoff = {
      ...(queue ? { queue } : {}),
      reason: `${DEFAULT_HANDOFF_REASON} (intent "${intentName ?? 'unnamed'}")`,
    };
  }
  if (intent?.endInteraction === true) turn.endConversation = true;
  if (opts.audio) {
    const transcript = str(qr.queryText);
    if (transcript) turn.transcript = transcript;
  }
  return turn;
}

/** The request fields one turn sets: `queryInput`, and `inputAudio` for audio. */
export function esQuery(input: BotTurnInput, languageCode: string): Obj {
  const payload = typeof input.event?.payload === 'string' ? input.event.payload : undefined;
  const text = payload ?? input.text;
  if (text) return { queryInput: { text: { text, languageCode } } };
  if (input.audio) {
    const audioEncoding = dialogflowEncoding(input.audio.encoding);
    if (!audioEncoding)
      throw new BotConnectorError(`Dialogflow ES does not take ${input.audio.encoding} audio`, 'rejected');
    // Opus always decodes at 48 kHz; for the other encodings the rate must be known.
    const rate =
      input.audio.sampleRateHertz ?? (audioEncoding === 'AUDIO_ENCODING_OGG_OPUS' ? 48_000 : undefined);
    if (!rate) throw new BotConnectorError('Dialogflow ES needs the audio sample rate', 'rejected');
    return {
      queryInput: {
        audioConfig: {
          audioEncoding,
          sampleRateHertz: rate,
          languageCode: input.audio.languageCode ?? languageCode,
        },
      },
      inputAudio: input.audio.content,
    };
  }
  if (input.event?.name) {
    const p = obj(input.event.payload);
    return {
      queryInput: {
        event: { name: input.event.name, languageCode, ...(p ? { parameters: toStruct(p) } : {}) },
      },
    };
  }
  throw new BotConnectorError('the turn has no text, audio or event to send', 'rejected');
}

export const dialogflowEsConnector: ConnectorFactory = (settings, deps) => {
  const d = settings.data;
  const location = str(d.location);
  if (location && !/^[a-z0-9-]+$/.test(location))
    throw new BotConnectorError(`bot ${settings.name}: data.location is not a Google location`, 'config');
  const options = googleClientOptions(
    settings,
    location && location !== 'global' ? `${location}-dialogflow.googleapis.com` : 'dialogflow.googleapis.com',
  );
  const projectId = str(options.projectId);
  if (!projectId)
    throw new BotConnectorError(`bot ${settings.name}: a DialogflowES bot needs data.projectId`, 'config');
  const environment = str(d.environment);
  const languageCode = str(d.languageCode) ?? 'en';
  const mapOpts = { handoffIntents: names(d.handoffIntents), handoffQueue: str(d.handoffQueue) };
  const client = new SessionsClient(options as ConstructorParameters<typeof SessionsClient>[0]);

  const sessionPath = (conversationId: string): string => {
    if (location)
      return environment
        ? client.projectLocationAgentEnvironmentUserSessionPath(
            projectId,
            location,
            environment,
            '-',
            conversationId,
          )
        : client.projectLocationAgentSessionPath(projectId, location, conversationId);
    return environment
      ? client.projectAgentEnvironmentUserSessionPath(projectId, environment, '-', conversationId)
      : client.projectAgentSessionPath(projectId, conversationId);
  };

  const connector: BotConnector & { close(): Promise<void> } = {
    async turn(input) {
      const query = esQuery(input, input.languageCode ?? languageCode);
      const request = {
        session: sessionPath(sessionIdOf(input.conversationId)),
        ...query,
        ...(input.metadata && Object.keys(input.metadata).length
          ? { queryParams: { payload: toStruct(input.metadata) } }
          : {}),
      };
      let response: unknown;
      try {
        [response] = await client.detectIntent(request as never, callOptions(deps.timeoutMs));
      } catch (err) {
        throw googleFailure(err, `Dialogflow ES agent of ${projectId}`, deps.timeoutMs);
      }
      return esResultToTurn(obj(response)?.queryResult, { ...mapOpts, audio: 'inputAudio' in query });
    },
    close: () => client.close(),
  };
  return connector;
};
