/**
 * Outbound campaign messages: accept a send (checked against the tenant's channel and provider at
 * once, so a misconfiguration is a 4xx and not a dead letter), write it with its outbox delivery in
 * one transaction, deliver it through the channel's provider plugin, and move its delivery state
 * forward (queued → sent → delivered | failed | undelivered) on the provider's answer, on the dead
 * letter, and on receipts. Every state change is a `delivery.receipt` event on the bus.
 */
import { isUuid } from '../../gateway/chat/store.js';
import { randomUUID } from 'node:crypto';
import type { ChannelRecord, ChannelStore } from '../../gateway/channels/index.js';
import { channelByChannelId, SECTION } from '../../gateway/channels/index.js';
import type { ServiceReader } from '../../gateway/services/index.js';
import type { Database, Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { OutboxRow } from '../outbox/outbox.js';
import { SmsStore } from '../sms/store.js';
import type { PluginRuntime } from '../runtime.js';
import type { BusEvent, DeliveryState, OutboundEmail, OutboundSms } from '../types.js';
import { checkForChannel, type OutboundRequest, requestHash, senderAddress } from './schema.js';

export const OUTBOUND_KIND = 'outbound';
const DEFAULT_MAX_ATTEMPTS = 8;

/** The channel's `provider` (or the tenant's `SMS` / `Email` service's) → the service that carries it. */
const SMS_SERVICES: Record<string, string> = {
  mGage: 'mGageSMS',
  Async: 'Async',
  Portico: 'PorticoSMS',
  Twilio: 'TwilioSMS',
};
const EMAIL_SERVICES: Record<string, string> = {
  SparkPost: 'SparkPostEmail',
  Async: 'Async',
  Portico: 'PorticoEmail',
};

export interface OutboundMessage {
  messageId: string;
  clientMessageId?: string;
  channelType: 'sms' | 'email';
  section: string;
  channelId: string;
  to: string;
  state: DeliveryState;
  providerMessageId?: string;
  error?: string;
  /** Delivery attempts made so far, and when the next one is due while it is retried. */
  attempts: number;
  nextAttemptAt?: string;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  ccid: string;
  client_message_id: string | null;
  request_hash: string;
  channel_type: 'sms' | 'email';
  section: string;
  channel_id: string;
  service: string;
  recipient: string;
  content: Record<string, any>;
  state: DeliveryState;
  provider_message_id: string | null;
  error: string | null;
  outbox_id: string | null;
  created_at: Date;
  updated_at: Date;
  attempts?: number | null;
  outbox_state?: string | null;
  next_attempt_at?: Date | null;
}

function toMessage(r: Row): OutboundMessage {
  return {
    messageId: r.id,
    ...(r.client_message_id ? { clientMessageId: r.client_message_id } : {}),
    channelType: r.channel_type,
    section: r.section,
    channelId: r.channel_id,
    to: r.recipient,
    state: r.state,
    ...(r.provider_message_id ? { providerMessageId: r.provider_message_id } : {}),
    ...(r.error ? { error: r.error } : {}),
    attempts: r.attempts ?? 0,
    ...(r.outbox_state === 'pending' && r.next_attempt_at
      ? { nextAttemptAt: new Date(r.next_attempt_at).toISOString() }
      : {}),
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

/** Which moves a delivery state may make: forward only, except a re-driven failure that is then sent. */
const MOVES: Record<DeliveryState, DeliveryState[]> = {
  queued: ['sent', 'delivered', 'failed', 'undelivered'],
  sent: ['delivered', 'failed', 'undelivered'],
  failed: ['sent', 'delivered'],
  undelivered: ['delivered'],
  delivered: [],
};

export interface OutboundDeps {
  db: Database;
  plugins: PluginRuntime;
  services: ServiceReader;
  channels: ChannelStore;
  log: Logger;
}

export class OutboundMessages {
  constructor(private readonly deps: OutboundDeps) {}

  /** Registers the outbox handler, the dead-letter hook and the receipt listener. */
  attach(rt: PluginRuntime): void {
    rt.outbox.handle(OUTBOUND_KIND, (row) => this.deliver(row));
    // In the dead letter's own transaction: the message is failed exactly when its delivery is dead.
    rt.onOutcome.push(async (row, outcome, _result, q) => {
      if (row.kind !== OUTBOUND_KIND || outcome !== 'dead') return;
      const done = await this.transitionIn(q, row.ccid, String(row.payload.messageId), {
        state: 'failed',
        error: row.lastError ?? 'delivery failed',
      });
      return done ? () => rt.bus.published([done.event], done.n) : undefined;
    });
    // Receipts the providers' inbound routes publish name the provider's id: applied in the
    // receipt's own transaction (a durable subscriber), so a node gone after its commit loses none.
    rt.bus.plan('outbound-receipts', { types: ['delivery.receipt'] }, async (e, q) => {
      const d = e.data as {
        origin?: unknown;
        providerMessageId?: unknown;
        state?: unknown;
        error?: unknown;
        service?: unknown;
      };
      if (d.origin === 'outbound' || typeof d.providerMessageId !== 'string') return [];
      if (typeof d.state !== 'string' || !(d.state in MOVES)) return [];
      await this.applyReceiptIn(
        q,
        e.ccid,
        d.providerMessageId,
        d.state as DeliveryState,
        typeof d.error === 'string' ? d.error : undefined,
        typeof d.service === 'string' ? d.service : undefined,
      );
      return [];
    });
  }

  async send(ccid: string, req: OutboundRequest): Promise<{ message: OutboundMessage; duplicate: boolean }> {
    const hash = requestHash(req);
    // A retry is answered with the first message even if the channel changed since.
    if (req.clientMessageId) {
      const earlier = await this.byClientId(ccid, req.clientMessageId, hash);
      if (earlier) return { message: earlier, duplicate: true };
    }
    const channel = await this.channel(ccid, req);
    checkForChannel(req, channel.channelType, channel.channelId);
    const { name: service, maxAttempts } = await this.service(ccid, channel);
    const id = randomUUID();
    const content =
      channel.channelType === 'sms'
        ? { text: req.text }
        : {
            from: senderAddress(req, channel.channelId),
            ...(req.fromName ? { fromName: req.fromName } : {}),
            ...(req.replyTo ? { replyTo: req.replyTo } : {}),
            subject: req.subject,
            ...(req.text !== undefined ? { text: req.text } : {}),
            ...(req.html !== undefined ? { html: req.html } : {}),
          };
    const { bus, outbox } = this.deps.plugins;
    const result = await this.deps.db.tx(async (q) => {
      const r = await q.query<Row>(
        `INSERT INTO outbound_messages (id, ccid, client_message_id, request_hash, channel_type, section, channel_id,
           service, recipient, content)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
         ON CONFLICT (ccid, client_message_id) WHERE client_message_id IS NOT NULL DO NOTHING RETURNING *`,
        [
          id,
          ccid,
          req.clientMessageId ?? null,
          hash,
          channel.channelType,
          channel.section,
          channel.channelId,
          service,
          // A phone number as digits (and a leading +): providers take no punctuation.
          channel.channelType === 'sms' ? req.to.replace(/[\s().-]/g, '') : req.to,
          JSON.stringify(content),
        ],
      );
      // Lost a race with the same clientMessageId: the other request's message is this one.
      if (!r.rows[0]) return undefined;
      const [outboxId] = await outbox.enqueue(q, [
        {
          ccid,
          orderingKey: `outbound:${id}`,
          kind: OUTBOUND_KIND,
          target: service,
          payload: { messageId: id, channelType: channel.channelType },
          maxAttempts,
        },
      ]);
      await q.query('UPDATE outbound_messages SET outbox_id = $2 WHERE id = $1', [id, outboxId]);
      const event = this.receipt(r.rows[0], undefined);
      const n = await bus.publishInTx(q, [event]);
      return { row: { ...r.rows[0], outbox_id: outboxId }, event, n };
    });
    if (!result) {
      const earlier = await this.byClientId(ccid, req.clientMessageId!, hash);
      if (earlier) return { message: earlier, duplicate: true };
      throw new AppError('INTERNAL', 'The message could not be stored; retry with the same clientMessageId.');
    }
    bus.published([result.event], result.n + 1);
    return { message: toMessage(result.row), duplicate: false };
  }

  async get(ccid: string, messageId: string): Promise<OutboundMessage | undefined> {
    if (!isUuid(messageId)) return undefined;
    const r = await this.deps.db.query<Row>(
      `SELECT m.*, o.attempts, o.state AS outbox_state, o.next_attempt_at
         FROM outbound_messages m LEFT JOIN outbox o ON o.id = m.outbox_id
        WHERE m.ccid = $1 AND m.id = $2`,
      [ccid, messageId],
    );
    return r.rows[0] ? toMessage(r.rows[0]) : undefined;
  }

  /**
   * A provider's receipt for a message it carries (matched by the provider's id, and by the
   * service when the receipt names it: two providers' ids may collide).
   */
  async applyReceipt(
    ccid: string,
    providerMessageId: string,
    state: DeliveryState,
    error?: string,
    service?: string,
  ): Promise<boolean> {
    const done = await this.deps.db.tx((q) =>
      this.applyReceiptIn(q, ccid, providerMessageId, state, error, service),
    );
    if (!done) return false;
    this.deps.plugins.bus.published([done.event], done.n);
    return true;
  }

  /** The receipt inside the caller's transaction; its event is announced after the commit. */
  private async applyReceiptIn(
    q: Queryable,
    ccid: string,
    providerMessageId: string,
    state: DeliveryState,
    error?: string,
    service?: string,
  ): Promise<{ event: BusEvent; n: number } | undefined> {
    const r = await q.query<{ id: string; service: string; channel_type: string }>(
      `SELECT id, service, channel_type FROM outbound_messages
        WHERE ccid = $1 AND provider_message_id = $2 AND ($3::text IS NULL OR service = $3)`,
      [ccid, providerMessageId, service ?? null],
    );
    const m = r.rows[0];
    if (!m) return undefined;
    // The SMS routes kept the receipt early (it matched no conversation SMS): applied, it goes.
    if (m.channel_type === 'sms') await new SmsStore(q).takeEarlyReceipt(ccid, m.service, providerMessageId);
    return this.transitionIn(q, ccid, m.id, { state, ...(error ? { error } : {}) });
  }

  /** The outbox handler: sends through the provider plugin of the message's service. */
  private async deliver(row: OutboxRow): Promise<unknown> {
    const messageId = String(row.payload.messageId);
    const r = await this.deps.db.query<Row>('SELECT * FROM outbound_messages WHERE ccid = $1 AND id = $2', [
      row.ccid,
      messageId,
    ]);
    const m = r.rows[0];
    if (!m) return { skipped: 'the message no longer exists' };
    // At least once: a redelivery after the provider took it must not send it twice.
    if (m.provider_message_id || m.state === 'sent' || m.state === 'delivered') return { alreadySent: true };
    const host = this.deps.plugins.host;
    const c = m.content;
    let sent: { providerMessageId?: string; state: DeliveryState };
    if (m.channel_type === 'sms') {
      const msg: OutboundSms = { messageId, from: m.channel_id, to: m.recipient, text: c.text };
      sent = await (await host.instance(row.ccid, m.service, 'sms')).send(msg);
    } else {
      const msg: OutboundEmail = {
        messageId,
        from: c.from,
        to: m.recipient,
        subject: c.subject,
        ...(c.fromName ? { fromName: c.fromName } : {}),
        ...(c.replyTo ? { replyTo: c.replyTo } : {}),
        ...(c.text !== undefined ? { text: c.text } : {}),
        ...(c.html !== undefined ? { html: c.html } : {}),
      };
      sent = await (await host.instance(row.ccid, m.service, 'email')).send(msg);
    }
    const state: DeliveryState = sent.state === 'queued' ? 'sent' : sent.state;
    const { bus } = this.deps.plugins;
    const changes = await this.deps.db.tx(async (q) => {
      if (m.channel_type === 'sms' && sent.providerMessageId)
        await SmsStore.lockProviderId(q, row.ccid, m.service, sent.providerMessageId);
      const first = await this.transitionIn(q, row.ccid, messageId, {
        state,
        providerMessageId: sent.providerMessageId ?? null,
        error: null,
      });
      const out = first ? [first] : [];
      // A receipt faster than this answer was kept by the SMS routes (it matched nothing then).
      const early =
        m.channel_type === 'sms' && sent.providerMessageId
          ? await new SmsStore(q).takeEarlyReceipt(row.ccid, m.service, sent.providerMessageId)
          : undefined;
      if (early) {
        const next = await this.transitionIn(q, row.ccid, messageId, {
          state: early.state,
          ...(early.error ? { error: early.error } : {}),
        });
        if (next) out.push(next);
      }
      return out;
    });
    for (const c of changes) bus.published([c.event], c.n);
    return { providerMessageId: sent.providerMessageId ?? null, state };
  }

  /** Moves a message's state (when the move is allowed) and publishes the change, atomically. */
  private async transition(
    ccid: string,
    messageId: string,
    change: { state: DeliveryState; providerMessageId?: string | null; error?: string | null },
  ): Promise<boolean> {
    const done = await this.deps.db.tx((q) => this.transitionIn(q, ccid, messageId, change));
    if (!done) return false;
    this.deps.plugins.bus.published([done.event], done.n);
    return true;
  }

  /** The transition inside the caller's transaction; its event is the caller's to announce after the commit. */
  private async transitionIn(
    q: Queryable,
    ccid: string,
    messageId: string,
    change: { state: DeliveryState; providerMessageId?: string | null; error?: string | null },
  ): Promise<{ event: BusEvent; n: number } | undefined> {
    const r = await q.query<Row>('SELECT * FROM outbound_messages WHERE ccid = $1 AND id = $2 FOR UPDATE', [
      ccid,
      messageId,
    ]);
    const before = r.rows[0];
    if (!before || !MOVES[before.state].includes(change.state)) return undefined;
    const u = await q.query<Row>(
      `UPDATE outbound_messages SET state = $3,
         provider_message_id = CASE WHEN $4::boolean THEN $5 ELSE provider_message_id END,
         error = CASE WHEN $6::boolean THEN $7 ELSE error END, updated_at = now()
       WHERE ccid = $1 AND id = $2 RETURNING *`,
      [
        ccid,
        messageId,
        change.state,
        change.providerMessageId !== undefined,
        change.providerMessageId ?? null,
        change.error !== undefined,
        change.error ? change.error.slice(0, 500) : null,
      ],
    );
    const event = this.receipt(u.rows[0], before.state);
    return { event, n: await this.deps.plugins.bus.publishInTx(q, [event]) };
  }

  private receipt(r: Row, previous: DeliveryState | undefined): BusEvent {
    return {
      id: randomUUID(),
      type: 'delivery.receipt',
      ccid: r.ccid,
      channelType: r.channel_type,
      timestamp: new Date().toISOString(),
      data: {
        origin: 'outbound',
        messageId: r.id,
        ...(r.client_message_id ? { clientMessageId: r.client_message_id } : {}),
        state: r.state,
        ...(previous ? { previousState: previous } : {}),
        channelId: r.channel_id,
        to: r.recipient,
        ...(r.provider_message_id ? { providerMessageId: r.provider_message_id } : {}),
        ...(r.error ? { error: r.error } : {}),
      },
    };
  }

  private async byClientId(
    ccid: string,
    clientMessageId: string,
    hash: string,
  ): Promise<OutboundMessage | undefined> {
    const r = await this.deps.db.query<Row>(
      `SELECT m.*, o.attempts, o.state AS outbox_state, o.next_attempt_at
         FROM outbound_messages m LEFT JOIN outbox o ON o.id = m.outbox_id
        WHERE m.ccid = $1 AND m.client_message_id = $2`,
      [ccid, clientMessageId],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    if (row.request_hash !== hash)
      throw new AppError('OUTBOUND_CLIENT_MESSAGE_ID_REUSED', undefined, { field: 'clientMessageId' });
    return toMessage(row);
  }

  private async channel(ccid: string, req: OutboundRequest): Promise<ChannelRecord> {
    const { channels } = this.deps;
    let found: ChannelRecord | undefined;
    if (req.section !== undefined) {
      found = SECTION.test(req.section) ? await channels.get(ccid, req.section) : undefined;
    } else {
      // One indexed lookup (channelIds are unique across tenants); another tenant's is not found.
      const ch = await channelByChannelId(this.deps.db, req.channelId!);
      found = ch?.ccid === ccid ? ch : undefined;
    }
    if (!found)
      throw new AppError('OUTBOUND_CHANNEL_NOT_FOUND', undefined, {
        field: req.section !== undefined ? 'section' : 'channelId',
      });
    return found;
  }

  /**
   * The service that carries the channel's messages, and how many delivery attempts they get (the
   * tenant's `SMS` / `Email` service may set `data.maxAttempts`, 1-50, as for conversation SMS).
   */
  private async service(
    ccid: string,
    channel: ChannelRecord,
  ): Promise<{ name: string; maxAttempts: number }> {
    const kind = channel.channelType;
    const table = kind === 'sms' ? SMS_SERVICES : EMAIL_SERVICES;
    const selector = await this.deps.services.get(ccid, kind === 'sms' ? 'SMS' : 'Email');
    const attempts = Number(selector?.data.maxAttempts);
    const maxAttempts =
      Number.isInteger(attempts) && attempts >= 1 && attempts <= 50 ? attempts : DEFAULT_MAX_ATTEMPTS;
    let provider: string | undefined = channel.provider ?? undefined;
    if (!provider)
      provider = typeof selector?.data.provider === 'string' ? selector.data.provider : undefined;
    const name = provider ? table[provider] : undefined;
    const notConfigured = (why: string) =>
      new AppError('OUTBOUND_PROVIDER_NOT_CONFIGURED', `The ${kind} channel ${channel.section}: ${why}.`, {
        section: channel.section,
      });
    if (!name)
      throw notConfigured(
        provider
          ? `its provider ${provider} does not carry ${kind}`
          : `it names no provider and the tenant's ${kind === 'sms' ? 'SMS' : 'Email'} service selects none`,
      );
    if (!(await this.deps.services.get(ccid, name)))
      throw notConfigured(`the ${name} service is not provisioned`);
    if (this.deps.plugins.host.definitionFor(name, kind)?.kind !== kind)
      throw notConfigured(`no ${kind} plugin serves the ${name} service on this gateway`);
    return { name, maxAttempts };
  }
}
