/** SQL of the SMS tables (migrations/0021_sms.sql): inbound de-duplication, threads, outbound states. */
import type { Queryable } from '../../shared/db/pool.js';
import type { DeliveryState } from '../types.js';
import { STATE_RANK } from './states.js';

export interface Thread {
  ccid: string;
  channelKey: string;
  customer: string;
  conversationId: string;
  participantId: string;
  channelId: string;
  service: string;
  maxAttempts: number;
}

interface ThreadRow {
  ccid: string;
  channel_key: string;
  customer: string;
  conversation_id: string;
  participant_id: string;
  channel_id: string;
  service: string;
  max_attempts: number;
}

const toThread = (r: ThreadRow): Thread => ({
  ccid: r.ccid,
  channelKey: r.channel_key,
  customer: r.customer,
  conversationId: r.conversation_id,
  participantId: r.participant_id,
  channelId: r.channel_id,
  service: r.service,
  maxAttempts: r.max_attempts,
});

export interface OutboundRow {
  messageId: string;
  ccid: string;
  conversationId: string;
  seq: number;
  service: string;
  providerMessageId: string | null;
  state: DeliveryState;
  error: string | null;
}

const toOutbound = (r: any): OutboundRow => ({
  messageId: r.message_id,
  ccid: r.ccid,
  conversationId: r.conversation_id,
  seq: Number(r.seq),
  service: r.service,
  providerMessageId: r.provider_message_id,
  state: r.state,
  error: r.error,
});

/** A CASE that moves `state` only forward (see STATE_RANK). */
const RANK_SQL = `CASE state ${Object.entries(STATE_RANK)
  .map(([s, r]) => `WHEN '${s}' THEN ${r}`)
  .join(' ')} END`;
const rankOf = (param: string) =>
  `CASE ${param}::text ${Object.entries(STATE_RANK)
    .map(([s, r]) => `WHEN '${s}' THEN ${r}`)
    .join(' ')} END`;

/** How long a receipt that matched no send is kept for the send's answer to come: 7 days. */
export const EARLY_RECEIPT_MAX_AGE_MS = 7 * 24 * 3600_000;
/** Expired early receipts deleted by one keep, at most. */
const EXPIRE_BATCH = 20;

export class SmsStore {
  constructor(private readonly db: Queryable) {}

  async inboundSeen(
    ccid: string,
    service: string,
    providerMessageId: string,
  ): Promise<{ conversationId: string | null; messageId: string | null } | undefined> {
    const r = await this.db.query(
      'SELECT conversation_id, message_id FROM sms_inbound WHERE ccid = $1 AND service = $2 AND provider_message_id = $3',
      [ccid, service, providerMessageId],
    );
    return r.rows[0]
      ? { conversationId: r.rows[0].conversation_id, messageId: r.rows[0].message_id }
      : undefined;
  }

  /** Records an inbound message once; false when it was already recorded (a provider retry). */
  async recordInbound(row: {
    ccid: string;
    service: string;
    providerMessageId: string;
    channelId: string;
    from: string;
    text: string;
    media?: unknown;
    conversationId?: string;
    messageId?: string;
  }): Promise<boolean> {
    const r = await this.db.query(
      `INSERT INTO sms_inbound (ccid, service, provider_message_id, channel_id, from_number, text, media, conversation_id, message_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9) ON CONFLICT DO NOTHING`,
      [
        row.ccid,
        row.service,
        row.providerMessageId,
        row.channelId,
        row.from,
        row.text,
        row.media ? JSON.stringify(row.media) : null,
        row.conversationId ?? null,
        row.messageId ?? null,
      ],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async thread(ccid: string, channelKey: string, customer: string): Promise<Thread | undefined> {
    const r = await this.db.query<ThreadRow>(
      'SELECT * FROM sms_threads WHERE ccid = $1 AND channel_key = $2 AND customer = $3',
      [ccid, channelKey, customer],
    );
    return r.rows[0] ? toThread(r.rows[0]) : undefined;
  }

  static async threadOfConversation(q: Queryable, conversationId: string): Promise<Thread | undefined> {
    const r = await q.query<ThreadRow>('SELECT * FROM sms_threads WHERE conversation_id = $1', [
      conversationId,
    ]);
    return r.rows[0] ? toThread(r.rows[0]) : undefined;
  }

  /** The customer's thread now points at `conversationId` (a new conversation after a Done one). */
  async saveThread(t: Thread, q: Queryable = this.db): Promise<void> {
    await q.query(
      `INSERT INTO sms_threads (ccid, channel_key, customer, conversation_id, participant_id, channel_id, service, max_attempts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (ccid, channel_key, customer) DO UPDATE SET conversation_id = EXCLUDED.conversation_id,
         participant_id = EXCLUDED.participant_id, channel_id = EXCLUDED.channel_id, service = EXCLUDED.service,
         max_attempts = EXCLUDED.max_attempts, updated_at = now()`,
      [
        t.ccid,
        t.channelKey,
        t.customer,
        t.conversationId,
        t.participantId,
        t.channelId,
        t.service,
        t.maxAttempts,
      ],
    );
  }

  /** In the message's transaction: the SMS exists, `queued`, exactly when its delivery does. */
  static async insertOutbound(
    q: Queryable,
    row: { messageId: string; ccid: string; conversationId: string; seq: number; service: string },
  ): Promise<void> {
    await q.query(
      `INSERT INTO sms_outbound (message_id, ccid, conversation_id, seq, service) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (message_id) DO NOTHING`,
      [row.messageId, row.ccid, row.conversationId, row.seq, row.service],
    );
  }

  async outbound(ccid: string, messageId: string): Promise<OutboundRow | undefined> {
    const r = await this.db.query('SELECT * FROM sms_outbound WHERE ccid = $1 AND message_id = $2', [
      ccid,
      messageId,
    ]);
    return r.rows[0] ? toOutbound(r.rows[0]) : undefined;
  }

  /** The SMS of a conversation, in seq order. */
  async listOutbound(
    ccid: string,
    conversationId: string,
  ): Promise<Array<OutboundRow & { updated: string }>> {
    const r = await this.db.query(
      'SELECT * FROM sms_outbound WHERE ccid = $1 AND conversation_id = $2 ORDER BY seq LIMIT 1000',
      [ccid, conversationId],
    );
    return r.rows.map((x) => ({ ...toOutbound(x), updated: new Date(x.updated_at).toISOString() }));
  }

  /**
   * The send's outcome: the provider id and the state it reported, never moving the state back
   * (a receipt may have been faster than the send's answer), except over our own dead letter: a
   * `failed` SMS that never reached the provider (no provider id) takes the state of a re-driven
   * send that got through. Returns the row.
   */
  async recordSent(
    ccid: string,
    messageId: string,
    providerMessageId: string | undefined,
    state: DeliveryState,
    error?: string,
  ): Promise<OutboundRow | undefined> {
    // A send that got through (no error) may lift our own dead letter; a failure never lifts anything.
    const lift = error === undefined;
    const r = await this.db.query(
      `UPDATE sms_outbound SET
         state = CASE WHEN ${rankOf('$4')} > ${RANK_SQL}
                        OR ($6 AND state = 'failed' AND provider_message_id IS NULL) THEN $4
                      ELSE state END,
         error = CASE WHEN $6 AND state = 'failed' AND provider_message_id IS NULL THEN NULL ELSE COALESCE($5, error) END,
         provider_message_id = COALESCE($3, provider_message_id), updated_at = now()
       WHERE ccid = $1 AND message_id = $2 RETURNING *`,
      [ccid, messageId, providerMessageId ?? null, state, error ?? null, lift],
    );
    return r.rows[0] ? toOutbound(r.rows[0]) : undefined;
  }

  /**
   * A receipt: moves the state of the SMS with this provider id forward. Undefined when no such SMS
   * is recorded (yet); `changed` false when the state was already there or further.
   */
  async applyReceipt(
    ccid: string,
    service: string,
    providerMessageId: string,
    state: DeliveryState,
    error?: string,
  ): Promise<{ row: OutboundRow; changed: boolean } | undefined> {
    const r = await this.db.query(
      `WITH cur AS (
         SELECT message_id, state AS old FROM sms_outbound
          WHERE ccid = $1 AND service = $2 AND provider_message_id = $3 FOR UPDATE
       )
       UPDATE sms_outbound o SET state = CASE WHEN ${rankOf('$4')} > ${RANK_SQL.replace('state', 'o.state')} THEN $4 ELSE o.state END,
         error = CASE WHEN ${rankOf('$4')} > ${RANK_SQL.replace('state', 'o.state')} THEN $5 ELSE o.error END, updated_at = now()
       FROM cur WHERE o.message_id = cur.message_id RETURNING o.*, cur.old`,
      [ccid, service, providerMessageId, state, error ?? null],
    );
    if (!r.rows[0]) return undefined;
    return { row: toOutbound(r.rows[0]), changed: r.rows[0].old !== r.rows[0].state };
  }

  /**
   * Serialises, until the transaction ends, everything about one provider id: the receipts that
   * name it and the recording of the send that learns it. Otherwise a receipt could look for the
   * SMS while the send's recording is not committed yet, and be kept early after that recording
   * looked for early receipts: lost.
   */
  static async lockProviderId(
    q: Queryable,
    ccid: string,
    service: string,
    providerMessageId: string,
  ): Promise<void> {
    await q.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `sms-provider-id:${ccid}:${service}:${providerMessageId}`,
    ]);
  }

  /**
   * Keeps a receipt that matched nothing (yet); the furthest state wins. False when it changed
   * nothing (a retried receipt, or one no further than the state kept).
   *
   * A receipt kept longer than EARLY_RECEIPT_MAX_AGE_MS names a send nobody recorded (another
   * system's message, a send lost before its answer): each keep deletes up to EXPIRE_BATCH of those,
   * oldest first by the `created_at` index, skipping rows another transaction holds, so they never
   * outgrow the receipts that are kept.
   */
  async keepEarlyReceipt(
    ccid: string,
    service: string,
    providerMessageId: string,
    state: DeliveryState,
    error?: string,
  ): Promise<boolean> {
    await this.db.query(
      `DELETE FROM sms_early_receipts WHERE (ccid, service, provider_message_id) IN (
         SELECT ccid, service, provider_message_id FROM sms_early_receipts
          WHERE created_at < now() - $1::bigint * interval '1 millisecond'
          ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [EARLY_RECEIPT_MAX_AGE_MS, EXPIRE_BATCH],
    );
    const r = await this.db.query(
      `INSERT INTO sms_early_receipts (ccid, service, provider_message_id, state, error) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (ccid, service, provider_message_id) DO UPDATE SET state = EXCLUDED.state, error = EXCLUDED.error
       WHERE ${rankOf('EXCLUDED.state')} > ${RANK_SQL.replace('state', 'sms_early_receipts.state')}`,
      [ccid, service, providerMessageId, state, error ?? null],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** Takes (deletes) the early receipt of a provider id, if one came: in the transaction that applies it. */
  async takeEarlyReceipt(
    ccid: string,
    service: string,
    providerMessageId: string,
  ): Promise<{ state: DeliveryState; error: string | null } | undefined> {
    const r = await this.db.query(
      `DELETE FROM sms_early_receipts WHERE ccid = $1 AND service = $2 AND provider_message_id = $3 RETURNING state, error`,
      [ccid, service, providerMessageId],
    );
    return r.rows[0];
  }

  async media(
    ccid: string,
    id: string,
  ): Promise<{ filename: string; mimetype: string; content: Buffer } | undefined> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
    const r = await this.db.query(
      'SELECT filename, mimetype, content FROM sms_media WHERE ccid = $1 AND id = $2',
      [ccid, id],
    );
    return r.rows[0];
  }

  async storeMedia(m: {
    id: string;
    ccid: string;
    channelId: string;
    filename: string;
    mimetype: string;
    content: Buffer;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO sms_media (id, ccid, channel_id, filename, mimetype, length, content) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [m.id, m.ccid, m.channelId, m.filename, m.mimetype, m.content.length, m.content],
    );
  }
}
