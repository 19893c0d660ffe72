/**
 * What athena does with one customer message, in the conversation's mode:
 *
 * - **bot**: if a bot still owns the conversation (asked of the gateway now, not trusted from the
 *   webhook), the bot takes a turn; its replies go back as the Bot participant; a handoff (the
 *   bot's own, a bot error, a timeout, a bot that is not provisioned) posts the reason as a notice
 *   agents see and moves the conversation to a queue. Once an agent owns it, nothing is sent.
 * - **assist**: while an agent owns the conversation, the bot's answer becomes suggestions for the
 *   agent console only. A failing bot costs the agent a suggestion, never the conversation.
 *
 * A voice message (a `File` message with an audio attachment, see `voice.ts`) is fetched and goes
 * to the bot as audio: bots with voice input recognise it themselves, the others get it through
 * speech-to-text (`speech/`). What was recognised is posted as a `transcript:` notice for the
 * agents before the bot's replies. A voice message that cannot be fetched or read hands off (a
 * person can listen to it).
 *
 * Every post carries a clientMessageId derived from the customer message, so a webhook delivered
 * twice (the outbox delivers at least once) shows each reply once.
 */
import type { ChatMessage } from '../gateway/chat/events.js';
import type { HttpClient } from '../plugins/types.js';
import type { Logger } from '../shared/logger.js';
import {
  BotConnectorError,
  type BotReply,
  type BotSettings,
  type BotTurn,
  type BotTurnInput,
  connectorFor,
  toPlainText,
} from './connectors/index.js';
import { ConnectorCache } from './connector-cache.js';
import { type NexusClient, NexusError } from './nexus-client.js';
import type { TenantSettings } from './settings.js';
import { type SpeechToText, withSpeech } from './speech/index.js';
import { audioOf, type VoiceFetcher, VoiceMessageError, voiceAttachment } from './voice.js';

/** The body the gateway's AI connector target sends (see src/plugins/webhooks/transport-target.ts). */
export interface AssistEvent {
  id: string;
  type: string;
  ccid: string;
  conversationId: string;
  data: {
    mode: 'bot' | 'assist';
    bot: string | null;
    conversation: {
      id: string;
      state: string;
      endpoint: string;
      queue: string | null;
      agentId: string | null;
      channel: string;
    };
    message: ChatMessage;
  };
}

export type Outcome = 'replied' | 'handed-off' | 'ended' | 'suggested' | 'ignored';

export interface TurnsOptions {
  nexus: NexusClient;
  settings: TenantSettings;
  log: Logger;
  http: HttpClient;
  /** A bot's turn may take this long unless its service sets `data.timeoutMs`. */
  defaultTimeoutMs?: number;
  /** Where voice messages are fetched from; without it a voice message hands off. */
  voice?: VoiceFetcher;
  /** Speech-to-text for bots without voice input (`athena.google.speechApiKey`). */
  speech?: SpeechToText;
  /** How many bots' connectors stay open (least recently used closed first; default 1000). */
  maxConnectors?: number;
}

const MAX_TEXT = 10_000;
/** The gateway's queue names (src/gateway/routing/validate.ts). */
const QUEUE_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

export class ConversationTurns {
  private readonly connectors: ConnectorCache;
  private readonly defaultTimeoutMs: number;

  constructor(private readonly opts: TurnsOptions) {
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 8000;
    this.connectors = new ConnectorCache(opts.log, opts.maxConnectors);
  }

  /** Closes every bot connector (athena stopping). */
  close(): Promise<void> {
    return this.connectors.close();
  }

  async handle(ev: AssistEvent): Promise<Outcome> {
    return ev.data.mode === 'assist' ? this.assist(ev) : this.botTurn(ev);
  }

  private async botTurn(ev: AssistEvent): Promise<Outcome> {
    const { ccid, conversationId: id } = ev;
    const current = await this.opts.nexus.interaction(ccid, id);
    if (current.state !== 'bot') return 'ignored';
    const queue = current.queue ?? ev.data.conversation.queue ?? undefined;
    const name = ev.data.bot;
    if (!name) return this.handoff(ev, queue, 'no bot is set for this conversation');
    const settings = await this.opts.settings.bot(ccid, name);
    if (!settings) return this.handoff(ev, queue, `the bot ${name} is not provisioned`);
    let turn: BotTurn;
    try {
      turn = await this.turn(settings, ev, 'bot');
    } catch (err) {
      return this.handoff(ev, queue, this.reasonOf(err, settings));
    }
    if (turn.transcript !== undefined) {
      // Audio with no speech in it: the bot was not asked, and there is nothing to show.
      if (!turn.transcript && !turn.replies.length && !turn.handoff && !turn.endConversation)
        return 'ignored';
      if (!(await this.postTranscript(ev, turn.transcript, name))) return 'ignored';
    }
    const chat = (ev.data.conversation.channel ?? 'chat') === 'chat';
    let n = 0;
    for (const reply of turn.replies) {
      const message = toMessage(reply, chat);
      if (!message) continue;
      try {
        await this.opts.nexus.postMessage(ccid, id, {
          ...message,
          clientMessageId: `${ev.data.message.id}:${n++}`,
          bot: name,
          nickname: (typeof settings.data.nickname === 'string' && settings.data.nickname
            ? settings.data.nickname
            : name
          ).slice(0, 64),
        });
      } catch (err) {
        // An agent took the conversation meanwhile: the bot is silent from now on.
        if (err instanceof NexusError && err.errorName === 'BOT_NOT_IN_CONTROL') return 'ignored';
        throw err;
      }
    }
    if (turn.handoff) {
      // A queue name the gateway would refuse must not leave the conversation with the bot.
      const asked = turn.handoff.queue;
      return this.handoff(ev, asked && QUEUE_RE.test(asked) ? asked : queue, turn.handoff.reason, name);
    }
    if (turn.endConversation) {
      await this.opts.nexus.done(ccid, id);
      return 'ended';
    }
    return 'replied';
  }

  private async assist(ev: AssistEvent): Promise<Outcome> {
    const { ccid, conversationId: id } = ev;
    const name = ev.data.bot;
    if (!name) return 'ignored';
    const current = await this.opts.nexus.interaction(ccid, id);
    if (current.state !== 'assigned') return 'ignored';
    const settings = await this.opts.settings.bot(ccid, name);
    if (!settings) return 'ignored';
    let turn: BotTurn;
    try {
      turn = await this.turn(settings, ev, 'assist');
    } catch (err) {
      this.opts.log.warn(
        { ccid, conversationId: id, bot: name, reason: this.reasonOf(err, settings) },
        'no suggestion: the bot failed',
      );
      return 'ignored';
    }
    // The agent owns the conversation: what the customer said matters to them most.
    if (turn.transcript) await this.postTranscript(ev, turn.transcript, name);
    const suggestions = turn.suggestions?.length
      ? turn.suggestions.map((s) => ({ ...s, text: s.text.slice(0, MAX_TEXT) }))
      : turn.replies.map((r) => ({ text: toPlainText(r).slice(0, MAX_TEXT) })).filter((s) => s.text);
    if (!suggestions.length) return 'ignored';
    try {
      await this.opts.nexus.postSuggestions(ccid, id, {
        suggestions: suggestions.slice(0, 10),
        source: name,
      });
    } catch (err) {
      if (err instanceof NexusError && err.errorName === 'NO_AGENT_OWNER') return 'ignored';
      throw err;
    }
    return 'suggested';
  }

  /** The `transcript:` notice of a voice message; false when the gateway no longer lets the bot in. */
  private async postTranscript(ev: AssistEvent, text: string, bot: string): Promise<boolean> {
    if (!text) return true;
    try {
      await this.opts.nexus.postMessage(ev.ccid, ev.conversationId, {
        clientMessageId: ev.data.message.id,
        transcript: { messageId: ev.data.message.id, text: text.slice(0, MAX_TEXT) },
        bot,
      });
      return true;
    } catch (err) {
      if (err instanceof NexusError && err.errorName === 'BOT_NOT_IN_CONTROL') return false;
      throw err;
    }
  }

  /** Notice for the agents, then the conversation goes to its queue (the route API). */
  private async handoff(
    ev: AssistEvent,
    queue: string | undefined,
    reason: string,
    bot?: string,
  ): Promise<Outcome> {
    const { ccid, conversationId: id } = ev;
    try {
      await this.opts.nexus.postMessage(ccid, id, {
        clientMessageId: ev.data.message.id,
        handoff: { ...(queue ? { queue } : {}), reason: reason.slice(0, 500) },
        ...(bot ? { bot } : {}),
      });
    } catch (err) {
      if (err instanceof NexusError && err.errorName === 'BOT_NOT_IN_CONTROL') return 'ignored';
      throw err;
    }
    await this.opts.nexus.route(ccid, id, { queue: queue ?? 'default' });
    this.opts.log.info({ ccid, conversationId: id, queue, reason }, 'conversation handed off');
    return 'handed-off';
  }

  /** One turn under the bot's timeout, enforced from outside whatever the connector does. */
  /**
   * One turn under the bot's timeout, enforced from outside whatever the connector does. A voice
   * message's fetch and transcription count against it too: the customer waits for all of it.
   */
  private async turn(settings: BotSettings, ev: AssistEvent, mode: 'bot' | 'assist'): Promise<BotTurn> {
    const timeoutMs = timeoutOf(settings) ?? this.defaultTimeoutMs;
    const m = ev.data.message;
    const voice = voiceAttachment(m);
    const payload = (m.content as { payload?: unknown } | undefined)?.payload;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const lease = this.connectors.acquire(settings, () =>
      connectorFor(settings.provider)(settings, {
        log: this.opts.log.child({ bot: settings.name, provider: settings.provider }),
        http: this.opts.http,
        timeoutMs,
      }),
    );
    const run = async (): Promise<BotTurn> => {
      const input: BotTurnInput = {
        conversationId: ev.conversationId,
        ccid: ev.ccid,
        ...(typeof settings.data.languageCode === 'string'
          ? { languageCode: settings.data.languageCode }
          : {}),
        metadata: {
          mode,
          endpoint: ev.data.conversation.endpoint,
          channel: ev.data.conversation.channel,
          messageId: m.id,
        },
      };
      if (!voice)
        return lease.connector.turn({
          ...input,
          ...(m.text ? { text: m.text } : {}),
          ...(typeof payload === 'string' ? { event: { name: 'quickReply', payload } } : {}),
        });
      // A voice message's text (a file name, a caption) is not what the customer said: only the audio goes.
      if (!this.opts.voice) throw new VoiceMessageError('athena cannot fetch voice messages here');
      const bytes = await this.opts.voice.fetch(ev.ccid, voice.url, abort.signal);
      const audio = audioOf(voice.mediaType, bytes);
      if (!audio) throw new VoiceMessageError(`${voice.mediaType} audio is not understood`);
      const turn = await withSpeech(lease.connector, settings.provider, this.opts.speech, {
        onStream: extend,
      }).turn({ ...input, audio });
      // A bot that took the audio itself but said nothing of what it heard still had a voice turn.
      return { ...turn, transcript: turn.transcript ?? '' };
    };
    let deadline = Date.now() + timeoutMs;
    let expire: (() => void) | undefined;
    // A long voice message is streamed to speech-to-text at a pace near real time: its deadline makes room.
    const extend = (ms: number) => {
      if (!timer || !expire) return;
      clearTimeout(timer);
      deadline += ms;
      timer = setTimeout(expire, deadline - Date.now());
      timer.unref?.();
    };
    try {
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          expire = () => {
            abort.abort();
            reject(new BotConnectorError(`the bot did not answer within ${timeoutMs} ms`, 'timeout'));
          };
          timer = setTimeout(expire, timeoutMs);
          timer.unref?.();
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
      lease.release();
    }
  }

  private reasonOf(err: unknown, settings: BotSettings): string {
    if (err instanceof VoiceMessageError)
      return `the customer's voice message could not be heard: ${err.message}`;
    if (err instanceof BotConnectorError) {
      if (err.kind === 'timeout') return `the bot ${settings.name} did not answer in time`;
      if (err.kind === 'config') return `the bot ${settings.name} is not set up correctly: ${err.message}`;
      return `the bot ${settings.name} failed: ${err.message}`;
    }
    this.opts.log.warn({ err, bot: settings.name }, 'bot connector failed');
    return `the bot ${settings.name} failed`;
  }
}

function timeoutOf(s: BotSettings): number | undefined {
  const t = s.data.timeoutMs;
  return typeof t === 'number' && t > 0 && t <= 60_000 ? t : undefined;
}

/**
 * A reply as a chat message: structured content for chat, one plain text for the other channels.
 * The chat widget draws quick replies as chips, cards with their buttons, and attachments itself,
 * so in chat the text is only the bot's own: the plain-text rendering (`1) Yes  2) No`) is for
 * channels that cannot draw them (SMS).
 */
export function toMessage(
  reply: BotReply,
  chat: boolean,
): { text?: string; content?: Record<string, unknown> } | undefined {
  const plain = toPlainText(reply).slice(0, MAX_TEXT);
  if (!chat) return plain ? { text: plain } : undefined;
  const content: Record<string, unknown> = {};
  if (reply.quickReplies?.length) content.quickReplies = reply.quickReplies;
  if (reply.cards?.length) content.cards = reply.cards;
  if (reply.image) content.attachments = [{ url: reply.image }];
  if (reply.custom && Object.keys(reply.custom).length) content.custom = reply.custom;
  const text = (reply.text ?? '').slice(0, MAX_TEXT);
  if (!text && !Object.keys(content).length) return undefined;
  return { ...(text ? { text } : {}), ...(Object.keys(content).length ? { content } : {}) };
}
