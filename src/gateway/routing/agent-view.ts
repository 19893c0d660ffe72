/**
 * What an agent is shown: its console's lists (`conversation.list`: the agent's own conversations
 * by state, and, for `queued`, the conversations waiting in the queues the agent is a member of,
 * first come, first served, as the router serves them), the contact's earlier conversations, and
 * the `conversation.assigned` notice that carries a conversation to its agent. Reads only, kept
 * apart from the router's transitions.
 */
import type { Queryable } from '../../shared/db/pool.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentStore } from '../agents/store.js';
import type { ConversationState, ConversationSummary } from '../chat/events.js';
import { type ConversationRow, toConversation } from '../chat/store.js';
import type { Conversation } from '../chat/types.js';
import type { ChatPort } from './types.js';

/** At most this many conversations per list (each kind). */
const LIST_LIMIT = 500;

/** The summary sent to agents and REST clients (the widget's custom user data stays inside). */
export function summary(c: Conversation): ConversationSummary {
  const { userData: _userData, ...rest } = c;
  return rest;
}

function summaryOf(row: ConversationRow): ConversationSummary {
  return summary(toConversation(row));
}

/**
 * The agent's conversations in `states`. `queued` ones are those waiting in the agent's queues
 * (never another tenant's, never a queue the agent does not serve), oldest first; the others are
 * the agent's own, latest change first.
 */
export async function agentConversations(
  db: Queryable,
  ccid: string,
  agentId: string,
  states: ConversationState[],
): Promise<ConversationSummary[]> {
  const own = states.filter((s) => s !== 'queued');
  const [mine, waiting] = await Promise.all([
    own.length
      ? db.query<ConversationRow>(
          `SELECT * FROM conversations WHERE ccid = $1 AND agent_id = $2 AND state = ANY($3::text[])
           ORDER BY updated_at DESC, id LIMIT ${LIST_LIMIT}`,
          [ccid, agentId, own],
        )
      : undefined,
    states.includes('queued') ? queuedForAgent(db, ccid, agentId) : [],
  ]);
  return [...(mine?.rows.map(summaryOf) ?? []), ...waiting];
}

/** The conversations waiting in the queues `agentId` is a member of, in the order they are served. */
export async function queuedForAgent(
  db: Queryable,
  ccid: string,
  agentId: string,
): Promise<ConversationSummary[]> {
  const r = await db.query<ConversationRow>(
    `SELECT c.* FROM conversations c
     JOIN agents a ON a.ccid = c.ccid AND a.agent_id = $2
     WHERE c.ccid = $1 AND c.state = 'queued' AND c.queue = ANY(a.queues)
     ORDER BY c.queued_at NULLS FIRST, c.created_at, c.id LIMIT ${LIST_LIMIT}`,
    [ccid, agentId],
  );
  return r.rows.map(summaryOf);
}

/** The queues the agent is a member of (empty for an agent nobody provisioned). */
export async function agentQueues(db: Queryable, ccid: string, agentId: string): Promise<string[]> {
  const r = await db.query<{ queues: string[] }>(
    'SELECT queues FROM agents WHERE ccid = $1 AND agent_id = $2',
    [ccid, agentId],
  );
  return r.rows[0]?.queues ?? [];
}

/** The contact's earlier conversations, newest first, at most `limit`. */
export async function contactHistory(
  db: Queryable,
  c: Pick<Conversation, 'ccid' | 'id' | 'contactId'>,
  limit: number,
): Promise<ConversationSummary[]> {
  if (!c.contactId) return [];
  const r = await db.query<ConversationRow>(
    `SELECT * FROM conversations WHERE ccid = $1 AND contact_id = $2 AND id <> $3
     ORDER BY created_at DESC, id LIMIT $4`,
    [c.ccid, c.contactId, c.id, limit],
  );
  return r.rows.map(summaryOf);
}

/**
 * Tells the agent of an assigned conversation (all its sockets, any node), with the transcript and
 * the contact's history; `joined` (the default) first writes the agent's ParticipantJoined. The
 * assignment is committed before: a failed notice is only logged (the agent finds the conversation
 * with conversation.list / join).
 */
export async function announceAssigned(
  deps: {
    port: ChatPort;
    agents: AgentStore;
    history: (c: Conversation) => Promise<ConversationSummary[]>;
    log: Logger;
  },
  after: Conversation,
  opts: { joined?: boolean } = {},
): Promise<void> {
  const { port } = deps;
  const agentId = after.agentId as string;
  try {
    if (opts.joined !== false) {
      const agent = await deps.agents.get(after.ccid, agentId);
      await port.append(after.id, {
        type: 'ParticipantJoined',
        from: { participantId: agentId, type: 'Agent', nickname: agent?.name ?? agentId },
      });
    }
    const [transcript, history] = await Promise.all([port.transcript(after.id), deps.history(after)]);
    const fresh = (await port.get(after.id, after.ccid)) ?? after;
    await port.notifier.notifyAgent(after.ccid, agentId, 'conversation.assigned', {
      conversation: summary(fresh),
      transcript,
      history,
    });
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, conversationId: after.id }, 'assignment notice failed');
  }
}
