/**
 * An agent's room, always decided under the agent's row lock (the router's invariant: no agent ever
 * holds more than its capacity, on any number of nodes). Statements run in the caller's
 * transaction.
 */
import type { Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import { type ConversationRow, toConversation } from '../chat/store.js';
import type { Conversation } from '../chat/types.js';

/** A ready agent's sockets are live (some node heartbeats them); `a` is the agents row. */
export const LIVE = `EXISTS (SELECT 1 FROM agent_connections ac
  WHERE ac.ccid = a.ccid AND ac.agent_id = a.agent_id AND ac.expires_at > now())`;

/**
 * Counted AFTER the agent's row lock is held: under READ COMMITTED this statement sees every
 * assignment committed by whoever held the lock before.
 */
export async function hasRoom(
  q: Queryable,
  ccid: string,
  agentId: string,
  capacity: number,
): Promise<boolean> {
  const r = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM conversations WHERE ccid = $1 AND agent_id = $2 AND state = 'assigned'`,
    [ccid, agentId],
  );
  return r.rows[0].n < capacity;
}

/** Caller holds the conversation's and the agent's row locks and has checked the room. */
export async function giveTo(q: Queryable, id: string, ccid: string, agentId: string): Promise<Conversation> {
  const r = await q.query<ConversationRow>(
    `UPDATE conversations SET state = 'assigned', agent_id = $2, last_agent_id = $2, assigned_at = now(),
       updated_at = now() WHERE id = $1 RETURNING *`,
    [id, agentId],
  );
  await q.query('UPDATE agents SET idle_since = clock_timestamp() WHERE ccid = $1 AND agent_id = $2', [
    ccid,
    agentId,
  ]);
  return toConversation(r.rows[0]);
}

/** Locks the agent (waiting, not skipping: the caller asked for this one agent) and checks it. */
export async function lockAgentWithRoom(
  q: Queryable,
  ccid: string,
  agentId: string,
  requireReady: boolean,
): Promise<void> {
  const a = await q.query<{ agent_id: string; capacity: number; state: string; live: boolean }>(
    `SELECT a.agent_id, a.capacity, a.state, ${LIVE} AS live FROM agents a
     WHERE a.ccid = $1 AND a.agent_id = $2 FOR NO KEY UPDATE OF a`,
    [ccid, agentId],
  );
  const agent = a.rows[0];
  if (!agent) throw new AppError('AGENT_NOT_FOUND');
  if (requireReady && (agent.state !== 'ready' || !agent.live)) throw new AppError('AGENT_NOT_AVAILABLE');
  if (!(await hasRoom(q, ccid, agentId, agent.capacity))) throw new AppError('AGENT_AT_CAPACITY');
}
