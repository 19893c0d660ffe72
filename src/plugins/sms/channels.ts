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
 *
 * A state change commits in one transaction with what hangs on it: its `delivery.receipt` bus event's
 * outbox rows and the conversation's `undelivered` mark (or its lifting). A receipt's transaction is
 * the receipt's own (a failure answers an error, and the provider's retry finds nothing applied); an
 * outcome's is the outbox's, which records the delivery done or dead. Agents and live subscribers
 * hear of it after the commit.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { channelKey } from '../../gateway/channels/schema.js';
import type { ChannelProvider, ChannelRecord } from '../../gateway/channels/types.js';
import type { ChatMessage, ConversationState } from '../../gateway/chat/events.js';
import type { ChatService } from '../../gateway/chat/service.js';
import { toConversation } from '../../gateway/chat/store.js';
import type { Conversation } from '../../gateway/chat/types.js';
import type { ServiceReader } from '../../gateway/services/types.js';
import type { Database, Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { KeyValueStore } from '../../shared/state/types.js';
import type { AfterCommit, OutboxRow } from '../outbox/outbox.js';
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
    rt.onOutcome.push((row, outcome, result, q) =>
      row.kind === SMS_KIND ? this.outcome(row, outcome, result, q) : undefined,
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
      // The customer is there after all: a conversation marked undelivered is live again. Before the
      // message is recorded as seen, so that a provider's retry after a failure here lifts it still.
      await this.liftUndelivered(thread.conversationId, ccid);
      await this.store.recordInbound({
        ...record,
        conversationId: thread.conversationId,
        messageId: appended.id,
      });
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
    const maxAttempts = await this.maxAttempts(ccid);
    let next!: Thread;
    // The thread is saved in the conversation's transaction: a crash (or a failing statement) cannot
    // leave a routed conversation without its thread, which the provider's retry would not find and
    // would open a second conversation beside.
    await this.deps.chat.createSession(
      {
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
      },
      async (q, created) => {
        next = {
          ccid,
          channelKey: key,
          customer: channelKey(customer),
          conversationId: created.conversationId,
          participantId: created.participantId,
          channelId: channel.channelId,
          service,
          maxAttempts,
        };
        await this.store.saveThread(next, q);
      },
    );
    return next;
  }

  /** The tenant's `SMS` service may set `data.maxAttempts` (1-50) for its SMS deliveries. */
  private async maxAttempts(ccid: string): Promise<number> {
    const sms = await this.deps.services.get(ccid, 'SMS').catch(() => undefined);
    const n = Number(sms?.data?.maxAttempts);
    return Number.isInteger(n) && n >= 1 && n <= 50 ? n : DEFAULT_MAX_ATTEMPTS;
  }

  /**
   * A delivery receipt from a provider (verified, for this tenant). The state change, its bus
   * event's deliveries and the `undelivered` mark commit together or not at all (then the error
   * reaches the provider, whose retry applies the receipt afresh).
   */
  async receiveReceipt(
    ccid: string,
    service: string,
    ev: { providerMessageId: string; state: DeliveryState; error?: string },
  ): Promise<{ matched: boolean; state?: DeliveryState }> {
    const { db, plugins } = this.deps;
    const r = await db.tx(async (q) => {
      await SmsStore.lockProviderId(q, ccid, service, ev.providerMessageId);
      const store = new SmsStore(q);
      const applied = await store.applyReceipt(ccid, service, ev.providerMessageId, ev.state, ev.error);
      if (applied) {
        const after = applied.changed ? await this.changedIn(q, applied.row) : undefined;
        return { matched: true, state: applied.row.state, after };
      }
      // Faster than the send's answer, or a message someone else sent: kept, and told once (a retry
      // of it, or a state no further than the one kept, changes nothing). A campaign SMS already
      // answered applies it from the bus in this transaction and deletes the row (a retry is then
      // told again but moves the campaign's state once); a send's recording takes one that overtook
      // its answer; one that nobody takes expires after EARLY_RECEIPT_MAX_AGE_MS.
      if (!(await store.keepEarlyReceipt(ccid, service, ev.providerMessageId, ev.state, ev.error)))
        return { matched: false };
      const event = receiptEvent(ccid, service, ev.providerMessageId, ev.state, undefined, ev.error);
      const n = await plugins.bus.publishInTx(q, [event]);
      return { matched: false, after: () => plugins.bus.published([event], n) };
    });
    await this.afterCommit(r.after, ccid);
    return r.matched ? { matched: true, state: r.state } : { matched: false };
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

  /**
   * In the outbox's transaction that records the delivery done or dead: the SMS's state, what hangs
   * on it, and the lifting of an `undelivered` mark when a re-driven SMS got through.
   */
  private async outcome(
    row: OutboxRow,
    outcome: 'done' | 'dead',
    result: unknown,
    q: Queryable,
  ): Promise<AfterCommit | undefined> {
    const p = row.payload as SmsOutboxPayload;
    const store = new SmsStore(q);
    if (outcome === 'dead') {
      const out = await store.recordSent(
        row.ccid,
        p.messageId,
        undefined,
        'failed',
        row.lastError ?? 'dead letter',
      );
      return out ? this.changedIn(q, out) : undefined;
    }
    const r = (result ?? {}) as Partial<SendResult>;
    if (r.providerMessageId) await SmsStore.lockProviderId(q, row.ccid, row.target, r.providerMessageId);
    let out = await store.recordSent(row.ccid, p.messageId, r.providerMessageId, r.state ?? 'sent');
    if (!out) return undefined;
    if (r.providerMessageId) {
      const early = await store.takeEarlyReceipt(row.ccid, row.target, r.providerMessageId);
      if (early) {
        const applied = await store.applyReceipt(
          row.ccid,
          row.target,
          r.providerMessageId,
          early.state,
          early.error ?? undefined,
        );
        if (applied) out = applied.row;
      }
    }
    const changed = await this.changedIn(q, out);
    // A re-driven SMS got through: the conversation is no longer undelivered.
    const lifted = isFinalFailure(out.state)
      ? undefined
      : await this.liftUndeliveredIn(q, out.conversationId);
    return async () => {
      await changed();
      if (lifted) await this.announce(lifted);
    };
  }

  /** An `undelivered` conversation goes back to its agent (or its queue). */
  private async liftUndelivered(conversationId: string, ccid: string): Promise<void> {
    const change = await this.deps.db.tx((q) => this.liftUndeliveredIn(q, conversationId));
    await this.afterCommit(change && (() => this.announce(change)), ccid);
  }

  private liftUndeliveredIn(q: Queryable, conversationId: string) {
    return this.setStateIn(q, conversationId, ['undelivered'], (c) => (c.agentId ? 'assigned' : 'queued'));
  }

  /**
   * Inside the transaction of a delivery-state change: its `delivery.receipt` event's outbox rows
   * and, for a final failure, the conversation's `undelivered` mark. Returns the live part: the
   * agents' `message.updated`, the bus's live subscribers, the conversation's change.
   */
  private async changedIn(q: Queryable, row: OutboundRow): Promise<AfterCommit> {
    const { bus } = this.deps.plugins;
    const event = receiptEvent(
      row.ccid,
      row.service,
      row.providerMessageId,
      row.state,
      row,
      row.error ?? undefined,
    );
    const n = await bus.publishInTx(q, [event]);
    const marked = isFinalFailure(row.state)
      ? await this.setStateIn(q, row.conversationId, OPEN, () => 'undelivered')
      : undefined;
    return async () => {
      await this.deps.chat.notifier.notifyConversation(row.conversationId, 'message.updated', {
        conversationId: row.conversationId,
        messageId: row.messageId,
        seq: row.seq,
        delivery: { state: row.state, at: new Date().toISOString() },
      });
      bus.published([event], n);
      if (marked) await this.announce(marked);
    };
  }

  /**
   * A conversation's state change in the caller's transaction (compare-and-set on `ifState`),
   * recorded with chat so that its own transaction hooks (the bus's planners) run in it too.
   */
  private async setStateIn(
    q: Queryable,
    conversationId: string,
    ifState: ConversationState[],
    to: (c: Conversation) => ConversationState,
  ): Promise<{ before: Conversation; after: Conversation } | undefined> {
    const cur = await q.query('SELECT * FROM conversations WHERE id = $1 FOR UPDATE', [conversationId]);
    if (!cur.rows[0]) return undefined;
    const before = toConversation(cur.rows[0]);
    if (!ifState.includes(before.state)) return undefined;
    const u = await q.query(
      'UPDATE conversations SET state = $2, updated_at = now() WHERE id = $1 RETURNING *',
      [conversationId, to(before)],
    );
    const after = toConversation(u.rows[0]);
    await this.deps.chat.recordStateChange(q, before, after);
    return { before, after };
  }

  /** After the commit of `setStateIn`: the listeners (routing, the bus) and the agents hear of it. */
  private async announce(change: { before: Conversation; after: Conversation }): Promise<void> {
    this.deps.chat.announceStateChange(change.before, change.after);
    await this.deps.chat.notifier.notifyConversation(change.after.id, 'conversation.updated', {
      conversation: change.after,
    });
  }

  /** The live part of a committed change: its failure is logged, the change stands. */
  private async afterCommit(after: AfterCommit | undefined, ccid: string): Promise<void> {
    if (!after) return;
    try {
      await after();
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, ccid }, 'notifying a delivery state change failed');
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

/** The bus event of a delivery state (of a known SMS when `row` is given). */
function receiptEvent(
  ccid: string,
  service: string,
  providerMessageId: string | null,
  state: DeliveryState,
  row?: OutboundRow,
  error?: string,
): BusEvent {
  return {
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
}
