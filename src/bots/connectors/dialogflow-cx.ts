/**
 * Dialogflow CX, through `@google-cloud/dialogflow-cx` `SessionsClient.detectIntent` over gRPC.
 *
 * Settings (`data`): `projectId` (or the key's `project_id`), `location` (default `global`),
 * `agentId`, optional `environment`, `languageCode` (default `en`), `handoffIntents` /
 * `handoffPages` (display names that mean "an agent, please"), `handoffQueue`, and the endpoint
 * overrides of `google.ts`. `secret`: the service-account key.
 *
 * One conversation is one CX session (the conversation id is the session id). Answers map to the
 * canonical turn: `text` → replies; `payload` → quick replies, cards, images, handoff, end
 * (`custom-payload.ts`); `liveAgentHandoff` → handoff (its metadata may name `queue` and
 * `reason`); `endInteraction` or the `END_SESSION` page → end of conversation.
 */
import { SessionsClient } from '@google-cloud/dialogflow-cx';
import { DEFAULT_HANDOFF_REASON, handoffOf, mergeInto, names, readCustomPayload } from './custom-payload.js';
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
  type BotTurn,
  type BotTurnInput,
  type ConnectorFactory,
} from './types.js';

type Obj = Record<string, unknown>;

/** Maps a CX `QueryResult` to the canonical turn. */
export function cxResultToTurn(
  queryResult: unknown,
  opts: { handoffIntents?: Set<string>; handoffPages?: Set<string>; handoffQueue?: string } = {},
): BotTurn {
  const qr = obj(queryResult) ?? {};
  const turn: BotTurn = { replies: [] };
  for (const raw of (qr.responseMessages as unknown[]) ?? []) {
    const m = obj(raw);
    if (!m) continue;
    const kind =
      str(m.message) ?? ['text', 'payload', 'liveAgentHandoff', 'endInteraction'].find((k) => m[k]);
    switch (kind) {
      case 'text': {
        const text = ((obj(m.text)?.text as unknown[]) ?? [])
          .filter((t) => typeof t === 'string' && t)
          .join('\n');
        if (text) turn.replies.push({ text });
        break;
      }
      case 'payload':
        mergeInto(turn, readCustomPayload(fromStruct(m.payload)));
        break;
      case 'liveAgentHandoff': {
        const md = fromStruct(obj(m.liveAgentHandoff)?.metadata);
        turn.handoff = handoffOf(Object.keys(md).length ? md : true);
        break;
      }
      case 'endInteraction':
        turn.endConversation = true;
        break;
      default:
        // Audio, telephony and knowledge messages have no place in a chat.
        break;
    }
  }
  const intent = str(obj(obj(qr.match)?.intent)?.displayName) ?? str(obj(qr.intent)?.displayName);
  const page = obj(qr.currentPage);
  const pageName = str(page?.displayName);
  if (!turn.handoff) {
    const by =
      intent && opts.handoffIntents?.has(intent)
        ? `intent "${intent}"`
        : pageName && opts.handoffPages?.has(pageName)
          ? `page "${pageName}"`
          : undefined;
    if (by) {
      const params = fromStruct(qr.parameters);
      const queue = str(params.handoffQueue) ?? opts.handoffQueue;
      turn.handoff = { ...(queue ? { queue } : {}), reason: `${DEFAULT_HANDOFF_REASON} (${by})` };
    }
  }
  // The END_SESSION page is where a flow goes to end the session.
  if (str(page?.name)?.endsWith('/pages/END_SESSION')) turn.endConversation = true;
  const transcript = str(qr.transcript);
  if (transcript) turn.transcript = transcript;
  return turn;
}

/** What one turn sends: text, a chosen quick reply's payload, audio, or an event. */
export function cxQueryInput(input: BotTurnInput, languageCode: string): Obj {
  const payload = typeof input.event?.payload === 'string' ? input.event.payload : undefined;
  const text = payload ?? input.text;
  if (text) return { text: { text }, languageCode };
  if (input.audio) {
    const audioEncoding = dialogflowEncoding(input.audio.encoding);
    if (!audioEncoding)
      throw new BotConnectorError(`Dialogflow CX does not take ${input.audio.encoding} audio`, 'rejected');
    return {
      audio: {
        config: {
          audioEncoding,
          ...(input.audio.sampleRateHertz ? { sampleRateHertz: input.audio.sampleRateHertz } : {}),
        },
        audio: input.audio.content,
      },
      languageCode: input.audio.languageCode ?? languageCode,
    };
  }
  if (input.event?.name) return { event: { event: input.event.name }, languageCode };
  throw new BotConnectorError('the turn has no text, audio or event to send', 'rejected');
}

export const dialogflowCxConnector: ConnectorFactory = (settings, deps) => {
  const d = settings.data;
  const agentId = str(d.agentId);
  const location = str(d.location) ?? 'global';
  if (!agentId)
    throw new BotConnectorError(`bot ${settings.name}: a DialogflowCX bot needs data.agentId`, 'config');
  if (!/^[a-z0-9-]+$/.test(location))
    throw new BotConnectorError(`bot ${settings.name}: data.location is not a Google location`, 'config');
  const options = googleClientOptions(
    settings,
    location === 'global' ? 'dialogflow.googleapis.com' : `${location}-dialogflow.googleapis.com`,
  );
  const projectId = str(options.projectId);
  if (!projectId)
    throw new BotConnectorError(`bot ${settings.name}: a DialogflowCX bot needs data.projectId`, 'config');
  const environment = str(d.environment);
  const languageCode = str(d.languageCode) ?? 'en';
  const mapOpts = {
    handoffIntents: names(d.handoffIntents),
    handoffPages: names(d.handoffPages),
    handoffQueue: str(d.handoffQueue),
  };
  const client = new SessionsClient(options as ConstructorParameters<typeof SessionsClient>[0]);

  const connector: BotConnector & { close(): Promise<void> } = {
    async turn(input) {
      const session = environment
        ? client.projectLocationAgentEnvironmentSessionPath(
            projectId,
            location,
            agentId,
            environment,
            sessionIdOf(input.conversationId),
          )
        : client.projectLocationAgentSessionPath(
            projectId,
            location,
            agentId,
            sessionIdOf(input.conversationId),
          );
      const queryInput = cxQueryInput(input, input.languageCode ?? languageCode);
      const request = {
        session,
        queryInput,
        ...(input.metadata && Object.keys(input.metadata).length
          ? // The payload reaches the agent's webhooks without becoming session parameters.
            { queryParams: { payload: toStruct(input.metadata) } }
          : {}),
      };
      let response: unknown;
      try {
        [response] = await client.detectIntent(request as never, callOptions(deps.timeoutMs));
      } catch (err) {
        throw googleFailure(err, `Dialogflow CX agent ${agentId}`, deps.timeoutMs);
      }
      return cxResultToTurn(obj(response)?.queryResult, mapOpts);
    },
    close: () => client.close(),
  };
  return connector;
};
