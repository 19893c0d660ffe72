/**
 * The webhook bot, in the Rasa REST channel shape: it is POSTed `{ sender, message, metadata }` and
 * answers an array of `{ text?, buttons?, image?, custom? }`. `buttons` become quick replies (their
 * `payload` is what the bot gets back when one is chosen); `custom.handoff` (`{ queue?, reason? }`)
 * hands the conversation to a queue; `custom.end` ends it; `custom.suggestions` (an array of
 * strings or `{ text, confidence? }`) are agent-assist suggestions.
 *
 * Settings: the service's `url`; `secret.token`, when set, is sent as `Authorization: Bearer`.
 */
import { PluginError } from '../../plugins/types.js';
import {
  BotConnectorError,
  type BotReply,
  type BotTurn,
  type BotTurnInput,
  type ConnectorFactory,
} from './types.js';

interface RasaButton {
  title?: unknown;
  payload?: unknown;
}

interface RasaMessage {
  text?: unknown;
  buttons?: unknown;
  image?: unknown;
  custom?: unknown;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Maps the bot's answer to the canonical turn; anything it does not understand is left out. */
export function rasaToTurn(body: unknown): BotTurn {
  if (!Array.isArray(body))
    throw new BotConnectorError('the webhook bot did not answer an array', 'rejected');
  const turn: BotTurn = { replies: [] };
  for (const raw of body as RasaMessage[]) {
    const m = obj(raw);
    if (!m) continue;
    const reply: BotReply = {};
    const text = str(m.text);
    if (text) reply.text = text;
    if (Array.isArray(m.buttons)) {
      const quick = (m.buttons as RasaButton[])
        .map((b) => ({ text: str(obj(b)?.title), payload: str(obj(b)?.payload) }))
        .filter((b): b is { text: string; payload: string | undefined } => !!b.text)
        .map((b) => (b.payload ? { text: b.text, payload: b.payload } : { text: b.text }));
      if (quick.length) reply.quickReplies = quick;
    }
    const image = str(m.image);
    if (image) reply.image = image;
    const custom = obj(m.custom);
    if (custom) {
      const handoff = custom.handoff;
      if (handoff) {
        const h = obj(handoff) ?? {};
        turn.handoff = {
          ...(str(h.queue) ? { queue: str(h.queue) } : {}),
          reason: str(h.reason) ?? 'the bot handed the conversation to an agent',
        };
      }
      if (custom.end === true) turn.endConversation = true;
      if (Array.isArray(custom.suggestions)) {
        for (const s of custom.suggestions) {
          const t = str(s) ?? str(obj(s)?.text);
          const c = obj(s)?.confidence;
          if (!t) continue;
          turn.suggestions = turn.suggestions ?? [];
          turn.suggestions.push(typeof c === 'number' ? { text: t, confidence: c } : { text: t });
        }
      }
      const rest = Object.fromEntries(
        Object.entries(custom).filter(([k]) => !['handoff', 'end', 'suggestions'].includes(k)),
      );
      if (Object.keys(rest).length) reply.custom = rest;
    }
    if (Object.keys(reply).length) turn.replies.push(reply);
  }
  return turn;
}

export const webhookConnector: ConnectorFactory = (settings, deps) => {
  const url = settings.url;
  if (!url) throw new BotConnectorError(`bot ${settings.name}: a Webhook bot needs a url`, 'config');
  const token = typeof settings.secret.token === 'string' ? settings.secret.token : undefined;
  return {
    async turn(input: BotTurnInput): Promise<BotTurn> {
      // A chosen quick reply goes back as its payload, as Rasa's own channels do.
      const message =
        (typeof input.event?.payload === 'string' ? input.event.payload : undefined) ?? input.text ?? '';
      const body = JSON.stringify({
        sender: input.conversationId,
        message,
        metadata: {
          ccid: input.ccid,
          ...(input.languageCode ? { languageCode: input.languageCode } : {}),
          ...input.metadata,
        },
      });
      let res: Awaited<ReturnType<typeof deps.http.request>>;
      try {
        res = await deps.http.request(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body,
          timeoutMs: deps.timeoutMs,
        });
      } catch (err) {
        const timedOut = err instanceof PluginError && /timed out/.test(err.message);
        throw new BotConnectorError(
          timedOut
            ? `the webhook bot did not answer within ${deps.timeoutMs} ms`
            : 'the webhook bot is unreachable',
          timedOut ? 'timeout' : 'unavailable',
          { cause: err },
        );
      }
      if (res.status < 200 || res.status >= 300) {
        throw new BotConnectorError(
          `the webhook bot answered HTTP ${res.status}`,
          res.status >= 500 ? 'unavailable' : 'rejected',
        );
      }
      let parsed: unknown;
      try {
        parsed = res.text ? JSON.parse(res.text) : [];
      } catch (err) {
        throw new BotConnectorError('the webhook bot answered something that is not JSON', 'rejected', {
          cause: err,
        });
      }
      return rasaToTurn(parsed);
    },
  };
};
