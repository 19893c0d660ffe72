/**
 * SMS channels to conversations, both ways.
 *
 * Inbound: a verified provider message on a sender id becomes a customer message in the
 * conversation the customer's number writes into on that sender id (its thread), which is opened
 * (and routed like a chat, on the channel's endpoint) when there is none or the last one is Done.
 * A held conversation re-opens because routing hears the customer's message. `cxcOnly` channels
 * only record the message, for the campaign API. Retries (same provider id) are stored once.
 *
 * Outbound: a durable bus planner turns an Agent's or Bot's visible message in an SMS conversation
 * into an outbox delivery (kind `sms`) through the thread's provider, in the message's own
 * transaction. The outcome and the provider's receipts move the SMS's delivery state forward; each
 * change reaches the conversation's agents as `message.updated`, and a final failure marks the
 * conversation `undelivered` (a re-driven delivery that then succeeds puts it back).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { channelKey } from '../../gateway/channels/schema.js';
import type { ChannelProvider, ChannelRecord } from '../../gateway/channels/types.js';
import type { ChatMessage } from '../../gateway/chat/events.js';
import type { ChatService } from '../../gateway/chat/service.js';
import type { ServiceReader } from '../../gateway/services/types.js';
import type { Database, Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { KeyValueStore } from '../../shared/state/types.js';
import type { OutboxRow } from '../outbox/outbox.js';
import type { PluginRuntime } from '../runtime.js';
import {
  type Attachment,
  type BusEvent,
  type DeliveryState,
  type SendResult,
  toPlainText,
} from '../types.js';
import { isFinalFailure } from './states.js';
import { type OutboundRow, SmsStore, type Thread } from './store.js';

/** The service that carries each channel provider. */
export const SERVICE_OF: Record<ChannelProvider, string> = {
  mGage: 'mGageSMS',
  Async: 'Async',
  Portico: 'PorticoSMS',
  Twilio: 'TwilioSMS',
};

/** The outbox kind of SMS replies. */
export const SMS_KIND = 'sms';

export interface SmsOutboxPayload {
  messageId: string;
  conversationId: string;
  seq: number;
  from: string;
  to: string;
  text: string;
  media?: Attachment[];
  [key: string]: unknown;
}

export interface SmsChannelsDeps {
  db: Database;
  chat: ChatService;
  plugins: PluginRuntime;
  services: Pick<ServiceReader, 'get'>;
  kv: () => KeyValueStore;
  /** `nexus.fqdn`: the public URL of the gateway (delivery callbacks). */
  fqdn: string;
  redirectProtocol: string;
  log: Logger;
}

const OPEN: Array<'bot' | 'queued' | 'assigned' | 'asynchold'> = ['bot', 'queued', 'assigned', 'asynchold'];
const DEFAULT_MAX_ATTEMPTS = 8;

/** `nexus.fqdn` as a URL base (`digital.example.com` → `http://digital.example.com`). */
export function publicBase(fqdn: string, protocol: string): string | undefined {
  const f = fqdn.trim().replace(/\/+$/, '');
  if (!f) return undefined;
  return /^https?:\/\//i.test(f) ? f : `${protocol || 'http://'}${f}`;
}

export class SmsChannels {
  readonly store: SmsStore;
  /** The base URL the last provider request reached this node at (used when `fqdn` is not set). */
  private seenBase: string | undefined;

  constructor(private readonly deps: SmsChannelsDeps) {
    this.store = new SmsStore(deps.db);
  }

  /** Registers the planner, the delivery handler and the outcome hook (at the plugin runtime's start). */
  register(rt: PluginRuntime): void {
    rt.bus.plan('sms-replies', { types: ['message.created'], channelTypes: ['sms'] }, (e, q) =>
      this.plan(e, q),
    );
    rt.outbox.handle(SMS_KIND, (row) => this.deliver(row));
    rt.onOutcome.push((row, outcome, result) =>
      row.kind === SMS_KIND ? this.outcome(row, outcome, result) : undefined,
    );
  }

  /** Remembers the public base URL a provider reached us at. */
  sawRequest(base: string): void {
    this.seenBase = base;
  }

  /** Where a provider posts the delivery callbacks of a tenant's SMS (undefined when unknown). */
  callbackUrl(ccid: string, service: string): string | undefined {
    const base = publicBase(this.deps.fqdn, this.deps.redirectProtocol) ?? this.seenBase;
    if (!base) return undefined;
    const c = encodeURIComponent(ccid);
    if (service === 'TwilioSMS') return `${base}/nexus/v3/sms/twilio/${c}`;
    if (service === 'mGageSMS') return `${base}/nexus/v3/sms/kaleyra/${c}`;
    return undefined;
  }

  /** The service that carries a channel: its own provider, else the tenant's `SMS` default, else Portico. */
  async serviceFor(channel: ChannelRecord): Promise<string> {
    if (channel.provider) return SERVICE_OF[channel.provider];
    const sms = await this.deps.services.get(channel.ccid, 'SMS');
    const p = sms?.data?.provider;
    return typeof p === 'string' && p in SERVICE_OF ? SERVICE_OF[p as ChannelProvider] : SERVICE_OF.Portico;
  }

  // ---- inbound --------------------------------------------------------------------------------

  /**
   * An inbound message on a tenant's channel (already verified, the channel already the tenant's).
   * Returns whether it was new and where it went.
   */
  async receiveMessage(
    channel: ChannelRecord,
    service: string,
    ev: { providerMessageId: string; from: string; text: string; media?: Attachment[] },
  ): Promise<{ duplicate: boolean; conversationId?: string; messageId?: string }> {
    const { ccid } = channel;
    const customer = ev.from.trim();
    const key = channelKey(channel.channelId);
    return this.locked(`sms:thread:${ccid}:${key}:${channelKey(customer)}`, async () => {
      const seen = await this.store.inboundSeen(ccid, service, ev.providerMessageId);
      if (seen && (seen.messageId || !seen.conversationId))
        return {
          duplicate: true,
          ...(seen.conversationId ? { conversationId: seen.conversationId } : {}),
          ...(seen.messageId ? { messageId: seen.messageId } : {}),
        };
      const record = {
        ccid,
        service,
        providerMessageId: ev.providerMessageId,
        channelId: channel.channelId,
        from: customer,
        text: ev.text,
        media: ev.media,
      };
      if (channel.cxcOnly) {
        // Campaign traffic: recorded for the campaign API, never a chat.
        const fresh = await this.store.recordInbound(record);
        return { duplicate: !fresh };
      }
      let thread = await this.openThread(channel, service, customer, key);
      const message = {
        type: 'Text' as const,
        from: { participantId: thread.participantId, type: 'Customer' as const, nickname: customer },
        text: ev.text,
        ...(ev.media?.length ? { content: { attachments: ev.media } } : {}),
        // A retry that got past the de-duplication above (a crash in between) folds onto the first.
        clientMessageId: `sms:${service}:${ev.providerMessageId}`.slice(0, 200),
        visibility: 'all' as const,
      };
      let appended: Awaited<ReturnType<ChatService['append']>>;
      try {
        appended = await this.deps.chat.append(thread.conversationId, message, { ccid });
      } catch (err) {
        if (!(err instanceof AppError && err.errorName === 'CONVERSATION_CLOSED')) throw err;
        // Done between the look-up and the append: the customer starts a new conversation.
        thread = await this.openThread(channel, service, customer, key, true);
        appended = await this.deps.chat.append(thread.conversationId, message, { ccid });
      }
      await this.store.recordInbound({
        ...record,
        conversationId: thread.conversationId,
        messageId: appended.id,
      });
      // The customer is there after all: a conversation marked undelivered is live again.
      await this.liftUndelivered(thread.conversationId, ccid);
      return { duplicate: appended.duplicate, conversationId: thread.conversationId, messageId: appended.id };
    });
  }

  /** The customer's open conversation on the channel, or a new one, opened and routed like a chat. */
  private async openThread(
    channel: ChannelRecord,
    service: string,
    customer: string,
    key: string,
    forceNew = false,
  ): Promise<Thread> {
    const { ccid } = channel;
    const thread = forceNew ? undefined : await this.store.thread(ccid, key, channelKey(customer));
    if (thread) {
      const conv = await this.deps.chat.get(thread.conversationId, ccid);
      if (conv && conv.state !== 'done') return thread;
    }
    const session = await this.deps.chat.createSession({
      ccid,
      channel: 'sms',
      endpoint: channel.endpoint ?? '',
      customer: { nickname: customer, phone: customer },
      userData: {
        channelId: channel.channelId,
        section: channel.section,
        ...(channel.interactionSubtype ? { interactionSubtype: channel.interactionSubtype } : {}),
        ...(channel.interactionType ? { interactionType: channel.interactionType } : {}),
      },
    });
    const next: Thread = {
      ccid,
      channelKey: key,
      customer: channelKey(customer),
      conversationId: session.conversation.id,
      participantId: session.participantId,
      channelId: channel.channelId,
      service,
      maxAttempts: await this.maxAttempts(ccid),
    };
    await this.store.saveThread(next);
    return next;
  }

  /** The tenant's `SMS` service may set `data.maxAttempts` (1-50) for its SMS deliveries. */
  private async maxAttempts(ccid: string): Promise<number> {
    const sms = await this.deps.services.get(ccid, 'SMS').catch(() => undefined);
    const n = Number(sms?.data?.maxAttempts);
    return Number.isInteger(n) && n >= 1 && n <= 50 ? n : DEFAULT_MAX_ATTEMPTS;
  }

  /** A delivery receipt from a provider (verified, for this tenant). */
  async receiveReceipt(
    ccid: string,
    service: string,
    ev: { providerMessageId: string; state: DeliveryState; error?: string },
  ): Promise<{ matched: boolean; state?: DeliveryState }> {
    const r = await this.store.applyReceipt(ccid, service, ev.providerMessageId, ev.state, ev.error);
    if (!r) {
      // Faster than the send's answer, or a message someone else sent (campaigns): kept, and told.
      await this.store.keepEarlyReceipt(ccid, service, ev.providerMessageId, ev.state, ev.error);
      await this.publishReceipt(ccid, service, ev.providerMessageId, ev.state, undefined, ev.error);
      return { matched: false };
    }
    if (r.changed) await this.changed(r.row);
    return { matched: true, state: r.row.state };
  }

  // ---- outbound -------------------------------------------------------------------------------

  /** In the message's transaction: a visible Agent/Bot message in an SMS thread becomes a delivery. */
  private async plan(e: BusEvent, q: Queryable) {
    const m = e.data.message as ChatMessage | undefined;
    if (!m || m.visibility !== 'all') return [];
    if (m.from.type !== 'Agent' && m.from.type !== 'Bot') return [];
    if (m.type !== 'Text' && m.type !== 'Rich' && m.type !== 'File') return [];
    const thread = await SmsStore.threadOfConversation(q, m.conversationId);
    if (!thread || thread.ccid !== e.ccid) return [];
    const c = m.content;
    const text = toPlainText({ text: m.text, quickReplies: c?.quickReplies, cards: c?.cards });
    const media = (c?.attachments ?? []).map((a) => ({
      url: a.url,
      ...(a.mediaType ? { mediaType: a.mediaType } : {}),
      ...(a.name ? { name: a.name } : {}),
    }));
    if (!text && media.length === 0) return [];
    await SmsStore.insertOutbound(q, {
      messageId: m.id,
      ccid: e.ccid,
      conversationId: m.conversationId,
      seq: m.seq,
      service: thread.service,
    });
    const payload: SmsOutboxPayload = {
      messageId: m.id,
      conversationId: m.conversationId,
      seq: m.seq,
      from: thread.channelId,
      to: thread.customer,
      text,
      ...(media.length ? { media } : {}),
    };
    return [
      {
        ccid: e.ccid,
        // One conversation's SMS leave in order.
        orderingKey: `sms:${m.conversationId}`,
        kind: SMS_KIND,
        target: thread.service,
        payload,
        dedupeKey: `sms:${m.id}`,
        maxAttempts: thread.maxAttempts,
      },
    ];
  }

  private async deliver(row: OutboxRow): Promise<SendResult> {
    const p = row.payload as SmsOutboxPayload;
    const provider = await this.deps.plugins.host.instance(row.ccid, row.target, 'sms');
    const callbackUrl = this.callbackUrl(row.ccid, row.target);
    return provider.send({
      messageId: p.messageId,
      from: p.from,
      to: p.to,
      text: p.text,
      ...(p.media?.length ? { media: p.media } : {}),
      conversationId: p.conversationId,
      ...(callbackUrl ? { callbackUrl } : {}),
    });
  }

  private async outcome(row: OutboxRow, outcome: 'done' | 'dead', result: unknown): Promise<void> {
    const p = row.payload as SmsOutboxPayload;
    if (outcome === 'dead') {
      const out = await this.store.recordSent(
        row.ccid,
        p.messageId,
        undefined,
        'failed',
        row.lastError ?? 'dead letter',
      );
      if (out) await this.changed(out);
      return;
    }
    const r = (result ?? {}) as Partial<SendResult>;
    let out = await this.store.recordSent(row.ccid, p.messageId, r.providerMessageId, r.state ?? 'sent');
    if (!out) return;
    if (r.providerMessageId) {
      const early = await this.store.takeEarlyReceipt(row.ccid, row.target, r.providerMessageId);
      if (early) {
        const applied = await this.store.applyReceipt(
          row.ccid,
          row.target,
          r.providerMessageId,
          early.state,
          early.error ?? undefined,
        );
        if (applied) out = applied.row;
      }
    }
    await this.changed(out);
    // A re-driven SMS got through: the conversation is no longer undelivered.
    if (!isFinalFailure(out.state)) await this.liftUndelivered(out.conversationId, out.ccid);
  }

  /** An `undelivered` conversation goes back to its agent (or its queue). */
  private async liftUndelivered(conversationId: string, ccid: string): Promise<void> {
    const conv = await this.deps.chat.get(conversationId, ccid);
    if (conv?.state !== 'undelivered') return;
    await this.deps.chat.setState(conversationId, {
      state: conv.agentId ? 'assigned' : 'queued',
      ifState: ['undelivered'],
    });
  }

  /** A delivery state changed: the agents see it, the bus hears it, a final failure marks the conversation. */
  private async changed(row: OutboundRow): Promise<void> {
    const at = new Date().toISOString();
    await this.deps.chat.notifier.notifyConversation(row.conversationId, 'message.updated', {
      conversationId: row.conversationId,
      messageId: row.messageId,
      seq: row.seq,
      delivery: { state: row.state, at },
    });
    await this.publishReceipt(
      row.ccid,
      row.service,
      row.providerMessageId,
      row.state,
      row,
      row.error ?? undefined,
    );
    if (isFinalFailure(row.state)) {
      await this.deps.chat.setState(row.conversationId, { state: 'undelivered', ifState: OPEN });
    }
  }

  private async publishReceipt(
    ccid: string,
    service: string,
    providerMessageId: string | null,
    state: DeliveryState,
    row?: OutboundRow,
    error?: string,
  ): Promise<void> {
    const event: BusEvent = {
      id: randomUUID(),
      type: 'delivery.receipt',
      ccid,
      ...(row ? { conversationId: row.conversationId } : {}),
      channelType: 'sms',
      timestamp: new Date().toISOString(),
      data: {
        service,
        providerMessageId,
        state,
        ...(row ? { messageId: row.messageId, seq: row.seq } : {}),
        ...(error ? { error } : {}),
      },
    };
    try {
      await this.deps.plugins.bus.publish(this.deps.db, [event]);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, ccid }, 'publishing a delivery receipt failed');
    }
  }

  /**
   * Runs `fn` holding a lock shared by the nodes (the shared state's set-if-absent), so that two
   * messages of one customer arriving at once cannot open two conversations.
   */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const kv = this.deps.kv();
    const token = randomBytes(8).toString('hex');
    const deadline = Date.now() + 10_000;
    let wait = 5;
    while (!(await kv.setIfAbsent(key, token, 15_000))) {
      if (Date.now() > deadline)
        throw new AppError('UNAVAILABLE', 'Another message of this customer is being stored; retry.');
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 100);
    }
    try {
      return await fn();
    } finally {
      if ((await kv.get(key).catch(() => null)) === token) await kv.delete(key).catch(() => false);
    }
  }
}
