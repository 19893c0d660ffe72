/**
 * The small interfaces of the plugin kinds, named by role, and the canonical shapes they exchange.
 * Richer content degrades to text in one shared place (`toPlainText`), so a provider needs only `send`.
 */
import type { z } from 'zod';
import type { ChatMessage, ConversationState, ConversationSummary } from '../gateway/chat/events.js';
import type { PluginKind } from './sdk.js';

export type DeliveryState = 'queued' | 'sent' | 'delivered' | 'failed' | 'undelivered';

/** An error a plugin throws: `retryable` decides between a retry with backoff and a dead letter. */
export class PluginError extends Error {
  readonly retryable: boolean;
  readonly status?: number;

  constructor(message: string, opts: { retryable: boolean; status?: number; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = 'PluginError';
    this.retryable = opts.retryable;
    this.status = opts.status;
  }
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  json<T = unknown>(): T;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Milliseconds; the client's default applies otherwise (10 s). */
  timeoutMs?: number;
}

/** An HTTP client with timeouts; it never throws on a status, only on a transport failure or timeout. */
export interface HttpClient {
  request(url: string, opts?: HttpRequestOptions): Promise<HttpResponse>;
}

/** A key-value store private to one plugin (keys are namespaced by the gateway). */
export interface PluginKv {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<boolean>;
}

export interface Attachment {
  url: string;
  mediaType?: string;
  name?: string;
}

export interface OutboundSms {
  /** Our id of the message; providers echo it back where they can. */
  messageId: string;
  /** Sender id (short code, long code, toll-free number). */
  from: string;
  to: string;
  text: string;
  media?: Attachment[];
  conversationId?: string;
  /** The gateway's public URL for this provider's delivery callbacks, when the provider takes one per message. */
  callbackUrl?: string;
}

export interface OutboundEmail {
  messageId: string;
  from: string;
  fromName?: string;
  to: string;
  subject: string;
  text?: string;
  html?: string;
  replyTo?: string;
  conversationId?: string;
}

export interface SendResult {
  /** The provider's id for the message (receipts refer to it). */
  providerMessageId?: string;
  state: DeliveryState;
}

/** What an inbound provider request turns into. */
export type InboundEvent =
  | {
      type: 'message';
      /** The provider's id: retries carry the same one, so it de-duplicates. */
      providerMessageId: string;
      channelId: string;
      from: string;
      text: string;
      media?: Attachment[];
      timestamp?: string;
    }
  | {
      type: 'receipt';
      providerMessageId: string;
      state: DeliveryState;
      error?: string;
      timestamp?: string;
    };

export interface InboundRequest {
  method: string;
  /** The public URL the provider called (signature schemes that sign the URL need it). */
  url: string;
  headers: Record<string, string>;
  rawBody: Buffer;
  body: unknown;
}

export interface SmsProvider {
  send(msg: OutboundSms): Promise<SendResult>;
  /** Verifies (timing-safe) and parses an inbound webhook; throws PluginError(401) when it does not verify. */
  parseInbound?(req: InboundRequest): Promise<InboundEvent[]>;
}

export interface EmailProvider {
  send(msg: OutboundEmail): Promise<SendResult>;
  parseInbound?(req: InboundRequest): Promise<InboundEvent[]>;
}

/** The interaction an `interaction.started` / `interaction.finished` event is about (the webhooks' entity). */
export interface InteractionEntity {
  id: string;
  mediaType: 'chat' | 'email';
  interactionSubtype: string;
  /** `/nexus/v3/interactions/<id>`; the interaction webhooks prefix it with the gateway's public URL. */
  selfUri: string;
}

/** A conversation as events carry it (the widget's custom data included, for plugins). */
export type BusConversation = ConversationSummary & { userData?: Record<string, string> };

/**
 * The bus's event map: each event type and what its `data` holds. Producers may add fields; these
 * are the ones every event of the type carries.
 */
export interface BusEventMap {
  /** A message committed to a conversation. */
  'message.created': { message: ChatMessage };
  /** A conversation opened (a chat session, an inbound SMS, …). */
  'conversation.created': { conversation: BusConversation };
  /** Its state, queue or agent changed; `previous` is what they were. */
  'conversation.state-changed': {
    conversation: BusConversation;
    previous: { state: ConversationState; queue?: string; agentId?: string };
  };
  /**
   * An outbound SMS or email moved to a new delivery state; with the provider's id
   * (`providerMessageId`), ours (`messageId`) and the `error` where known.
   */
  'delivery.receipt': { state: DeliveryState };
  /** The interaction was submitted to a queue (once per conversation): the webhooks' `STARTED`. */
  'interaction.started': { entity: InteractionEntity; conversation: BusConversation };
  /** The interaction is done (once per conversation): the webhooks' `FINISHED`. */
  'interaction.finished': { entity: InteractionEntity; conversation: BusConversation };
}

export type BusEventType = keyof BusEventMap;
export const BUS_EVENT_TYPES: readonly BusEventType[] = [
  'message.created',
  'conversation.created',
  'conversation.state-changed',
  'delivery.receipt',
  'interaction.started',
  'interaction.finished',
];
export type ChannelType = 'chat' | 'sms' | 'email';
export const CHANNEL_TYPES: readonly ChannelType[] = ['chat', 'sms', 'email'];

/** One event of type `T` as it travels on the bus and to webhooks. */
export interface BusEventOf<T extends BusEventType> {
  id: string;
  type: T;
  ccid: string;
  conversationId?: string;
  channelType?: ChannelType;
  timestamp: string;
  data: BusEventMap[T] & Record<string, unknown>;
}

/** Any bus event: `switch (event.type)` narrows `data` to its type's. */
export type BusEvent = { [T in BusEventType]: BusEventOf<T> }[BusEventType];

/**
 * Which bus events a `webhook` plugin receives: those that match every field given (a field left
 * out matches everything). Checked when the plugin loads; a bad one stops the start.
 */
export interface Subscription {
  /** Event types, e.g. `['interaction.started', 'interaction.finished']`. */
  events?: BusEventType[];
  /** Tenants (ccids): the plugin serves only these, even where another tenant provisions it. */
  tenants?: string[];
  /** Channel types; an event without one (a campaign's receipt may have none) matches no list. */
  channelTypes?: ChannelType[];
}

declare module './sdk.js' {
  // Declared here, with the bus's types, so that sdk.ts stays the authors' surface: a plugin's
  // definition may name its subscription (`definePlugin({ …, subscribe: { events: […] } })`).
  interface PluginDefinition<K extends PluginKind = PluginKind, S extends z.ZodTypeAny = z.ZodTypeAny> {
    /** `webhook` plugins only: the events it receives (default: every event of its tenants). */
    readonly subscribe?: Subscription;
  }
}

export interface WebhookTarget {
  deliver(event: BusEvent): Promise<void>;
}

export interface BotTurnInput {
  conversationId: string;
  ccid: string;
  text?: string;
  /** Audio for bots with voice input (or to be transcribed first). */
  audio?: { content: Buffer; encoding: string; sampleRateHertz?: number; languageCode?: string };
  /** Payload of a quick reply or button. */
  event?: { name: string; payload?: unknown };
  languageCode?: string;
  metadata?: Record<string, unknown>;
}

export interface BotReply {
  text?: string;
  quickReplies?: Array<{ text: string; payload?: string }>;
  cards?: Array<{
    title: string;
    subtitle?: string;
    imageUrl?: string;
    buttons?: Array<{ text: string; payload?: string; url?: string }>;
  }>;
  image?: string;
  custom?: Record<string, unknown>;
}

export interface BotTurn {
  replies: BotReply[];
  handoff?: { queue?: string; reason: string };
  endConversation?: boolean;
  /** Agent-assist suggestions (agent-assist mode). */
  suggestions?: Array<{ text: string; confidence?: number }>;
  /** What the customer said when the turn was audio: the bot's own recognition, or speech-to-text's. */
  transcript?: string;
}

export interface BotConnector {
  turn(input: BotTurnInput): Promise<BotTurn>;
}

/** Richer content degrades to text here, once, for channels that carry only text. */
export function toPlainText(
  reply: { text?: string } & Pick<BotReply, 'quickReplies' | 'cards' | 'image'>,
): string {
  const lines: string[] = [];
  if (reply.text) lines.push(reply.text);
  for (const card of reply.cards ?? []) {
    lines.push([card.title, card.subtitle].filter(Boolean).join(' — '));
    for (const b of card.buttons ?? []) lines.push(b.url ? `${b.text}: ${b.url}` : `• ${b.text}`);
  }
  if (reply.image) lines.push(reply.image);
  if (reply.quickReplies?.length)
    lines.push(reply.quickReplies.map((q, i) => `${i + 1}) ${q.text}`).join('  '));
  return lines.join('\n');
}
