/** SQL of conversations, chat sessions and transcripts, and the group-commit writer's statement. */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { ChatMessage, ConversationState, MessageType, ParticipantType, Visibility } from './events.js';
import type { Conversation, NewConversation, StateChange } from './types.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids come from clients: anything that is not a UUID cannot name a row (and must not reach a uuid cast). */
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID_RE.test(v);

export interface ConversationRow {
  id: string;
  ccid: string;
  channel: Conversation['channel'];
  endpoint: string;
  state: ConversationState;
  queue: string | null;
  agent_id: string | null;
  customer: Conversation['customer'];
  user_data: Record<string, string>;
  contact_id: string | null;
  last_seq: string | number;
  created_at: Date;
  updated_at: Date;
}

export function toConversation(r: ConversationRow): Conversation {
  return {
    id: r.id,
    ccid: r.ccid,
    state: r.state,
    channel: r.channel,
    endpoint: r.endpoint,
    ...(r.queue != null ? { queue: r.queue } : {}),
    ...(r.agent_id != null ? { agentId: r.agent_id } : {}),
    customer: r.customer ?? {},
    userData: r.user_data ?? {},
    ...(r.contact_id != null ? { contactId: r.contact_id } : {}),
    lastSeq: Number(r.last_seq),
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

export interface MessageRow {
  conversation_id: string;
  seq: string | number;
  id: string;
  type: MessageType;
  from_participant_id: string;
  from_type: ParticipantType;
  from_nickname: string | null;
  text: string | null;
  content: ChatMessage['content'] | null;
  client_message_id: string | null;
  visibility: Visibility;
  created_at: Date;
  /** Only in transcripts read with `delivery` (a message that left through an SMS provider). */
  delivery_state?: NonNullable<ChatMessage['delivery']>['state'] | null;
  delivery_at?: Date | null;
}

export const MESSAGE_COLUMNS =
  'conversation_id, seq, id, type, from_participant_id, from_type, from_nickname, text, content, client_message_id, visibility, created_at';

/**
 * The transcript with each message's current delivery state, in the same statement: the SMS
 * channels keep one `sms_outbound` row per reply that left through a provider (migration 0021,
 * the furthest state reached, moved only forward), keyed by the message's id.
 */
const WITH_DELIVERY = `SELECT ${MESSAGE_COLUMNS.split(', ')
  .map((c) => `m.${c}`)
  .join(', ')}, o.state AS delivery_state, o.updated_at AS delivery_at
  FROM messages m LEFT JOIN sms_outbound o ON o.message_id = m.id AND o.conversation_id = m.conversation_id
  WHERE m.conversation_id = $1 AND m.seq > $2`;

export function toMessage(r: MessageRow): ChatMessage {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    seq: Number(r.seq),
    type: r.type,
    from: {
      participantId: r.from_participant_id,
      type: r.from_type,
      ...(r.from_nickname != null ? { nickname: r.from_nickname } : {}),
    },
    ...(r.text != null ? { text: r.text } : {}),
    ...(r.content != null ? { content: r.content } : {}),
    ...(r.client_message_id != null ? { clientMessageId: r.client_message_id } : {}),
    timestamp: new Date(r.created_at).toISOString(),
    visibility: r.visibility,
    ...(r.delivery_state != null
      ? { delivery: { state: r.delivery_state, at: new Date(r.delivery_at ?? r.created_at).toISOString() } }
      : {}),
  };
}

/**
 * One group-commit batch in ONE statement (the writer's round trip between BEGIN and COMMIT).
 * Parameters are parallel arrays, one entry per append in arrival order: $1 conversation, $2 the
 * tenant it must belong to (NULL: any), $3 the new message id, $4..$11 the message columns, $12 the
 * batch's timestamp.
 *
 * - `lk` locks the batch's conversations in id order (no deadlock with another node's batch) and,
 *   being FOR UPDATE, reads their latest committed state and last_seq even after waiting;
 * - `dups` are earlier messages with the same clientMessageId: a retry folds onto its original and
 *   takes no seq, even in a conversation since closed;
 * - `fresh` numbers the rest from last_seq (1, 2, 3… per conversation, in arrival order), leaving out
 *   other tenants, closed conversations and a clientMessageId repeated within the batch;
 * - `ins` inserts them and `upd` moves last_seq to the highest seq given.
 *
 * Both look-ups are driven by the batch's keys (on a large table the planner probes the unique
 * indexes; on a small one it may scan). Everything is read from the statement's snapshot except
 * the locked rows. A retry that another
 * node committed while this statement waited for the lock is therefore not in `dups`: its insert
 * is skipped (ON CONFLICT) and the writer rolls the transaction back and runs it again.
 */
export const APPEND_SQL = `
WITH inp AS MATERIALIZED (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::jsonb[], $10::text[], $11::text[])
    WITH ORDINALITY AS t(conversation_id, ccid, id, type, from_participant_id, from_type, from_nickname,
                         text, content, client_message_id, visibility, ord)
), lk AS MATERIALIZED (
  SELECT c.id, c.ccid, c.state, c.channel, c.last_seq FROM conversations c
   WHERE c.id = ANY($1::uuid[]) ORDER BY c.id FOR UPDATE
), dups AS MATERIALIZED (
  SELECT m.* FROM (SELECT DISTINCT conversation_id, from_type, from_participant_id, client_message_id FROM inp
                    WHERE client_message_id IS NOT NULL) k
   CROSS JOIN LATERAL (SELECT ${MESSAGE_COLUMNS} FROM messages
                        WHERE conversation_id = k.conversation_id AND from_type = k.from_type
                          AND from_participant_id = k.from_participant_id
                          AND client_message_id = k.client_message_id) m
), eligible AS MATERIALIZED (
  SELECT i.*, lk.last_seq,
         row_number() OVER (PARTITION BY i.conversation_id, i.from_type, i.from_participant_id, i.client_message_id
                            ORDER BY i.ord) AS nth
    FROM inp i JOIN lk ON lk.id = i.conversation_id
   WHERE (i.ccid IS NULL OR i.ccid = lk.ccid) AND lk.state <> 'done'
     AND NOT EXISTS (SELECT 1 FROM dups d WHERE d.conversation_id = i.conversation_id
                                           AND d.from_type = i.from_type
                                           AND d.from_participant_id = i.from_participant_id
                                           AND d.client_message_id = i.client_message_id)
), fresh AS MATERIALIZED (
  SELECT e.*, e.last_seq + row_number() OVER (PARTITION BY e.conversation_id ORDER BY e.ord) AS seq
    FROM eligible e WHERE e.client_message_id IS NULL OR e.nth = 1
), ins AS (
  INSERT INTO messages (conversation_id, seq, id, type, from_participant_id, from_type, from_nickname, text,
                        content, client_message_id, visibility, created_at)
  SELECT conversation_id, seq, id, type, from_participant_id, from_type, from_nickname, text, content,
         client_message_id, visibility, $12::timestamptz
    FROM fresh ORDER BY conversation_id, seq
  ON CONFLICT DO NOTHING
  RETURNING id, seq
), upd AS (
  UPDATE conversations c SET last_seq = f.seq, updated_at = now()
    FROM (SELECT conversation_id, max(seq) AS seq FROM fresh GROUP BY conversation_id) f
   WHERE c.id = f.conversation_id
  RETURNING c.id
)
SELECT (SELECT coalesce(json_agg(json_build_object('id', id, 'ccid', ccid, 'state', state, 'channel', channel)), '[]')
          FROM lk) AS convs,
       (SELECT coalesce(json_agg(dups), '[]') FROM dups) AS dups,
       (SELECT coalesce(json_agg(ins), '[]') FROM ins) AS inserted,
       (SELECT count(*) FROM upd) AS moved`;

/** The one row APPEND_SQL returns. */
export interface AppendOutcome {
  convs: { id: string; ccid: string; state: ConversationState; channel: Conversation['channel'] }[];
  dups: MessageRow[];
  inserted: { id: string; seq: number }[];
  moved: string;
}

/** Runs inside the transaction that creates a conversation. */
export type CreatedHook = (q: Queryable, conversation: Conversation) => Promise<void>;
/** Runs inside the transaction that changes a conversation. */
export type ChangedHook = (q: Queryable, before: Conversation, after: Conversation) => Promise<void>;

async function insertConversation(q: Queryable, c: NewConversation): Promise<Conversation> {
  const r = await q.query<ConversationRow>(
    `INSERT INTO conversations (id, ccid, channel, endpoint, state, queue, customer, user_data, contact_id,
       queued_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $5 = 'queued' THEN now() END) RETURNING *`,
    [
      randomUUID(),
      c.ccid,
      c.channel ?? 'chat',
      c.endpoint ?? '',
      c.state ?? 'queued',
      c.queue ?? null,
      JSON.stringify(c.customer ?? {}),
      JSON.stringify(c.userData ?? {}),
      c.contactId ?? null,
    ],
  );
  return toConversation(r.rows[0]);
}

export interface SessionRow {
  id: string;
  conversation_id: string;
  ccid: string;
  participant_id: string;
  transport_id: string;
  nickname: string | null;
  created_at: Date;
  ended_at: Date | null;
}

export class ChatStore {
  constructor(private readonly db: Queryable & { tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> }) {}

  /** A conversation; `within` runs in its transaction (the bus's durable subscribers). */
  async createConversation(c: NewConversation, within?: CreatedHook): Promise<Conversation> {
    try {
      return await this.db.tx(async (q) => {
        const conversation = await insertConversation(q, c);
        await within?.(q, conversation);
        return conversation;
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23503')
        throw new AppError('TENANT_NOT_FOUND', undefined, undefined, { cause: err });
      throw err;
    }
  }

  /** A consumer chat session and its conversation, in one transaction. */
  async createSession(
    c: NewConversation,
    within?: (q: Queryable, conversation: Conversation, session: SessionRow) => Promise<void>,
  ): Promise<{ conversation: Conversation; session: SessionRow }> {
    try {
      return await this.db.tx(async (q) => {
        const conversation = await insertConversation(q, c);
        const s = await q.query<SessionRow>(
          `INSERT INTO chat_sessions (id, conversation_id, ccid, participant_id, transport_id, nickname)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [randomUUID(), conversation.id, c.ccid, randomUUID(), randomUUID(), c.customer?.nickname ?? null],
        );
        await within?.(q, conversation, s.rows[0]);
        return { conversation, session: s.rows[0] };
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23503')
        throw new AppError('TENANT_NOT_FOUND', undefined, undefined, { cause: err });
      throw err;
    }
  }

  async session(sessionId: string): Promise<SessionRow | undefined> {
    if (!isUuid(sessionId)) return undefined;
    const r = await this.db.query<SessionRow>('SELECT * FROM chat_sessions WHERE id = $1', [sessionId]);
    return r.rows[0];
  }

  /** Ends the session; false when it had already ended. */
  async endSession(sessionId: string): Promise<boolean> {
    const r = await this.db.query(
      'UPDATE chat_sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL',
      [sessionId],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async get(conversationId: string, ccid?: string): Promise<Conversation | undefined> {
    if (!isUuid(conversationId)) return undefined;
    const r = await this.db.query<ConversationRow>(
      ccid
        ? 'SELECT * FROM conversations WHERE id = $1 AND ccid = $2'
        : 'SELECT * FROM conversations WHERE id = $1',
      ccid ? [conversationId, ccid] : [conversationId],
    );
    return r.rows[0] ? toConversation(r.rows[0]) : undefined;
  }

  /**
   * Messages with seq > afterSeq in order; `agents` notes only for the agent audience. `delivery`:
   * each carries its current delivery state (`delivery`, as `message.updated` says it), for agents.
   */
  async transcript(
    conversationId: string,
    opts: { afterSeq?: number; audience: 'customer' | 'agent' | 'all'; limit?: number; delivery?: boolean },
  ): Promise<ChatMessage[]> {
    if (!isUuid(conversationId)) return [];
    const params: unknown[] = [conversationId, Math.max(0, Math.floor(opts.afterSeq ?? 0))];
    let sql = opts.delivery
      ? WITH_DELIVERY
      : `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2`;
    if (opts.audience === 'customer') sql += ` AND m.visibility = 'all'`;
    sql += ' ORDER BY m.seq';
    if (opts.limit) {
      params.push(opts.limit);
      sql += ` LIMIT $${params.length}`;
    }
    const r = await this.db.query<MessageRow>(sql, params);
    return r.rows.map(toMessage);
  }

  /**
   * Applies a state change (compare-and-set with `ifState`); returns the conversation before and
   * after, or undefined when it does not exist or the state did not match.
   */
  async setState(
    conversationId: string,
    change: StateChange,
    within?: ChangedHook,
  ): Promise<{ before: Conversation; after: Conversation } | undefined> {
    if (!isUuid(conversationId)) return undefined;
    return this.db.tx(async (q) => {
      const cur = await q.query<ConversationRow>('SELECT * FROM conversations WHERE id = $1 FOR UPDATE', [
        conversationId,
      ]);
      if (!cur.rows[0]) return undefined;
      const before = toConversation(cur.rows[0]);
      if (change.ifState && !change.ifState.includes(before.state)) return undefined;
      const sets: string[] = ['updated_at = now()'];
      const params: unknown[] = [conversationId];
      const set = (col: string, v: unknown) => {
        params.push(v);
        sets.push(`${col} = $${params.length}`);
      };
      if (change.state !== undefined) set('state', change.state);
      if (change.queue !== undefined) set('queue', change.queue);
      if (change.agentId !== undefined) set('agent_id', change.agentId);
      if (change.contactId !== undefined) set('contact_id', change.contactId);
      const r = await q.query<ConversationRow>(
        `UPDATE conversations SET ${sets.join(', ')} WHERE id = $1 RETURNING *`,
        params,
      );
      const after = toConversation(r.rows[0]);
      await within?.(q, before, after);
      return { before, after };
    });
  }
}
