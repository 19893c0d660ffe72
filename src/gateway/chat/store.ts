/** SQL of conversations, chat sessions and transcripts (the append path is in writer.ts). */
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
}

export const MESSAGE_COLUMNS =
  'conversation_id, seq, id, type, from_participant_id, from_type, from_nickname, text, content, client_message_id, visibility, created_at';

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
  };
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

  async createConversation(c: NewConversation): Promise<Conversation> {
    try {
      const r = await this.db.query<ConversationRow>(
        `INSERT INTO conversations (id, ccid, channel, endpoint, state, queue, customer, user_data, contact_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
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
    } catch (err) {
      if ((err as { code?: string }).code === '23503')
        throw new AppError('TENANT_NOT_FOUND', undefined, undefined, { cause: err });
      throw err;
    }
  }

  /** A consumer chat session and its conversation, in one transaction. */
  async createSession(c: NewConversation): Promise<{ conversation: Conversation; session: SessionRow }> {
    try {
      return await this.db.tx(async (q) => {
        const conv = await q.query<ConversationRow>(
          `INSERT INTO conversations (id, ccid, channel, endpoint, state, queue, customer, user_data, contact_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
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
        const conversation = toConversation(conv.rows[0]);
        const s = await q.query<SessionRow>(
          `INSERT INTO chat_sessions (id, conversation_id, ccid, participant_id, transport_id, nickname)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [randomUUID(), conversation.id, c.ccid, randomUUID(), randomUUID(), c.customer?.nickname ?? null],
        );
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

  /** Messages with seq > afterSeq in order; `agents` notes only for the agent audience. */
  async transcript(
    conversationId: string,
    opts: { afterSeq?: number; audience: 'customer' | 'agent' | 'all'; limit?: number },
  ): Promise<ChatMessage[]> {
    if (!isUuid(conversationId)) return [];
    const params: unknown[] = [conversationId, Math.max(0, Math.floor(opts.afterSeq ?? 0))];
    let sql = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2`;
    if (opts.audience === 'customer') sql += ` AND visibility = 'all'`;
    sql += ' ORDER BY seq';
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
      return { before, after: toConversation(r.rows[0]) };
    });
  }
}
