/**
 * What a node's agent sockets may have missed while its socket.io adapter was not subscribed
 * (realtime-resync.ts), besides messages: `conversation.assigned`. The router announces an
 * assignment once, through the adapter, to every socket of the agent on every node; a node that
 * was not subscribed then never tells its sockets, and its agent never sees the conversation while
 * the customer waits. After the adapter is back, the conversations assigned to each local agent
 * that a socket of theirs does not hold are announced again, the way the router announces them
 * (summary, transcript, the contact's history), to that agent's sockets on this node only.
 *
 * One query finds them for every local agent at once; only a conversation that was missed costs
 * more (its transcript and history, as the router reads them).
 *
 * Likewise `session.ended`: one query finds which of this node's customer sockets belong to a
 * session that ended meanwhile (Realtime.refillEnded tells and disconnects them).
 *
 * Not refilled yet: `queue.updated` and `conversation.updated` (a console catches up on its next
 * conversation.list or join).
 */
import type { Queryable } from '../../shared/db/pool.js';
import { contactHistory, summary } from '../routing/agent-view.js';
import type { AgentCommand, AgentNamespace } from './realtime-agent.js';
import { type ConversationRow, type ChatStore, toConversation } from './store.js';

/** As many earlier conversations of the contact as the router sends with an assignment. */
const HISTORY_LIMIT = 20;

export interface AgentRefillDeps {
  db: Queryable;
  store: ChatStore;
  nsp: AgentNamespace;
  /** Runs an agent command on this node's sockets only (AgentRealtime.runCommand). */
  run: (cmd: Extract<AgentCommand, { kind: 'assigned' }>) => void;
}

/**
 * Announces to this node's agent sockets the assigned conversations they were not told of.
 * Resolves to the number of conversations announced.
 */
export async function refillAssigned(deps: AgentRefillDeps): Promise<number> {
  // Every local agent, with the conversations each of its sockets holds.
  const held = new Map<string, { ccid: string; agentId: string; sockets: Set<string>[] }>();
  for (const s of deps.nsp.sockets.values()) {
    const agent = s.data.agent;
    if (!agent) continue;
    const key = `${agent.ccid}\u0000${agent.agentId}`;
    let entry = held.get(key);
    if (!entry) {
      entry = { ccid: agent.ccid, agentId: agent.agentId, sockets: [] };
      held.set(key, entry);
    }
    entry.sockets.push(new Set(s.data.deliveries.keys()));
  }
  if (!held.size) return 0;
  const agents = [...held.values()];
  const r = await deps.db.query<ConversationRow>(
    `SELECT c.* FROM conversations c
     JOIN unnest($1::text[], $2::text[]) AS a(ccid, agent_id) ON c.ccid = a.ccid AND c.agent_id = a.agent_id
     WHERE c.state = 'assigned'
     ORDER BY c.updated_at, c.id`,
    [agents.map((a) => a.ccid), agents.map((a) => a.agentId)],
  );
  let announced = 0;
  for (const row of r.rows) {
    const conv = toConversation(row);
    const entry = held.get(`${conv.ccid}\u0000${conv.agentId}`);
    // Every socket of the agent here holds it: it was told.
    if (!entry || entry.sockets.every((ids) => ids.has(conv.id))) continue;
    const [transcript, history] = await Promise.all([
      deps.store.transcript(conv.id, { audience: 'agent' }),
      contactHistory(deps.db, conv, HISTORY_LIMIT),
    ]);
    // The conversation as it is now (a message may have moved it since the list was read).
    const fresh = (await deps.store.get(conv.id, conv.ccid)) ?? conv;
    if (fresh.state !== 'assigned' || fresh.agentId !== conv.agentId) continue;
    deps.run({
      kind: 'assigned',
      ccid: conv.ccid,
      agentId: conv.agentId as string,
      payload: { conversation: summary(fresh), transcript, history },
    });
    announced++;
  }
  return announced;
}

/**
 * Of these sessions (this node's customer sockets), those that have ended, with their
 * conversation: their `session.ended` went through the adapter while this node heard nothing, so
 * their sockets were neither told nor closed. One query for all of them.
 */
export async function endedSessions(db: Queryable, sessionIds: string[]): Promise<Map<string, string>> {
  if (!sessionIds.length) return new Map();
  const r = await db.query<{ id: string; conversation_id: string }>(
    'SELECT id, conversation_id FROM chat_sessions WHERE id = ANY($1::uuid[]) AND ended_at IS NOT NULL',
    [sessionIds],
  );
  return new Map(r.rows.map((row) => [row.id, row.conversation_id]));
}
