/**
 * What an agent's console lists (`conversation.list`): the agent's own conversations by state, and,
 * for `queued`, the conversations waiting in the queues the agent is a member of (first come,
 * first served, as the router serves them). Read-only queries, kept apart from the router's
 * transitions.
 */
import type { Queryable } from '../../shared/db/pool.js';
import type { ConversationState, ConversationSummary } from '../chat/events.js';
import { type ConversationRow, toConversation } from '../chat/store.js';

/** At most this many conversations per list (each kind). */
const LIST_LIMIT = 500;

/** The summary an agent is shown (the widget's custom user data stays inside). */
function summaryOf(row: ConversationRow): ConversationSummary {
  const { userData: _userData, ...rest } = toConversation(row);
  return rest;
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
