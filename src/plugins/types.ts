/**
 * The small interfaces of the plugin kinds, named by role, and the canonical shapes they exchange.
 * Richer content degrades to text in one shared place (`toPlainText`), so a provider needs only `send`.
 */

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

/** A conversation event as it travels on the bus and to webhooks. */
export interface BusEvent {
  id: string;
  type:
    | 'message.created'
    | 'conversation.created'
    | 'conversation.state-changed'
    | 'delivery.receipt'
    | 'interaction.started'
    | 'interaction.finished';
  ccid: string;
  conversationId?: string;
  channelType?: 'chat' | 'sms' | 'email';
  timestamp: string;
  data: Record<string, unknown>;
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
