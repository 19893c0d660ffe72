/**
 * Routing's side of the `/agent` socket events (chat's AgentActions hook): presence, ready/not
 * ready, join, transfer, Done, the agent's list, and feedback on suggestions. Payloads arrive
 * validated by chat; refusals are AppErrors, which chat turns into error acks.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { AgentStore } from '../agents/store.js';
import type { ConversationState } from '../chat/events.js';
import { isUuid } from '../chat/store.js';
import type { AgentActions, AgentIdentity, Conversation } from '../chat/types.js';
import { agentQueues, summary } from './agent-view.js';
import type { Routing } from './router.js';
import type { ChatPort } from './types.js';

const DEFAULT_LIST: ConversationState[] = ['assigned', 'asynchold'];

export function createAgentActions(deps: {
  db: Database;
  agents: AgentStore;
  routing: Routing;
  chat: () => ChatPort;
}): AgentActions {
  const { agents, routing } = deps;
  const { presence } = routing;
  /** The socket's presence row (agent_connections), kept alive by this node's sweep. */
  const connect = (who: AgentIdentity) =>
    agents.connect(who.socketId, who.ccid, who.agentId, presence.nodeId, presence.presenceTtlMs);

  const requireAgent = async (who: AgentIdentity) => {
    const agent = await agents.get(who.ccid, who.agentId);
    // A token outlives a deleted agent: refuse rather than act for nobody.
    if (!agent) throw new AppError('AGENT_NOT_FOUND');
    return agent;
  };

  /**
   * The agent's own conversation, or 404 without saying whether another tenant has one.
   * `undelivered`: one marked undelivered (its SMS reply failed for good) is still the agent's until
   * Done, to open again (a console reload), read and finish, not to transfer.
   */
  const owned = async (
    who: AgentIdentity,
    conversationId: string,
    opts: { undelivered?: boolean } = {},
  ): Promise<Conversation> => {
    const c = await deps.chat().get(conversationId, who.ccid);
    if (!c) throw new AppError('INTERACTION_NOT_FOUND');
    if (c.state === 'done') throw new AppError('INTERACTION_DONE');
    const held =
      c.state === 'assigned' || c.state === 'asynchold' || (opts.undelivered && c.state === 'undelivered');
    if (c.agentId !== who.agentId || !held) throw new AppError('NOT_ASSIGNED_AGENT');
    return c;
  };

  return {
    async authorize(who) {
      if (who.issuedAt === undefined) return;
      const agent = await agents.get(who.ccid, who.agentId);
      // Whole seconds, as the token's iat: an agent (or tenant) deleted and provisioned again under
      // the same ids is someone else, and the tokens of the one before must not act for them.
      if (agent && Math.floor(Date.parse(agent.created) / 1000) > who.issuedAt) {
        throw new AppError(
          'INVALID_AGENT_TOKEN',
          'The agent token was issued before its agent was provisioned again; ask for a new one.',
        );
      }
    },

    async connected(who) {
      presence.agentSockets.set(who.socketId, {
        socketId: who.socketId,
        ccid: who.ccid,
        agentId: who.agentId,
      });
      await requireAgent(who);
      await connect(who);
      // A ready agent who (re)connects may take what waited meanwhile.
      void routing.kick(who.ccid);
    },

    async disconnected(who) {
      presence.agentSockets.delete(who.socketId);
      await agents.disconnect(who.socketId);
    },

    async setState(who, p) {
      await requireAgent(who);
      // The socket's presence row is written on connect without waiting; make sure it is there
      // before the router looks for connected agents (not for a socket already gone).
      if (presence.agentSockets.has(who.socketId)) {
        await connect(who);
      }
      const agent = await agents.setState(who.ccid, who.agentId, p.state);
      if (p.state === 'ready') void routing.kick(who.ccid);
      return { state: agent?.state ?? p.state };
    },

    async join(who, conversationId) {
      return owned(who, conversationId, { undelivered: true });
    },

    async transfer(who, p) {
      await owned(who, p.conversationId);
      const target = p.queue ? { queue: p.queue } : { agentId: p.agentId as string };
      if ('agentId' in target && target.agentId === who.agentId) {
        throw new AppError('VALIDATION_FAILED', 'agentId: the conversation is already yours', {
          field: 'agentId',
        });
      }
      const after = await routing.place(who.ccid, p.conversationId, target, { fromAgent: who.agentId });
      return { conversation: after };
    },

    async done(who, p) {
      await owned(who, p.conversationId, { undelivered: true });
      await routing.finish(who.ccid, p.conversationId, { byAgent: who.agentId });
    },

    async list(who, p) {
      const states = p.states ?? DEFAULT_LIST;
      const [conversations, queues] = await Promise.all([
        routing.agentConversations(who.ccid, who.agentId, states),
        states.includes('queued') ? agentQueues(deps.db, who.ccid, who.agentId) : undefined,
      ]);
      return { conversations, ...(queues ? { queues } : {}) };
    },

    async history(who, p) {
      const current = await owned(who, p.conversationId, { undelivered: true });
      const earlier = p.historyId === current.id ? undefined : await deps.chat().get(p.historyId, who.ccid);
      // Another contact's conversation (or another tenant's) is as good as absent.
      if (!earlier || !current.contactId || earlier.contactId !== current.contactId) {
        throw new AppError('INTERACTION_NOT_FOUND');
      }
      return { conversation: summary(earlier), transcript: await deps.chat().transcript(earlier.id) };
    },

    async suggestionFeedback(who, p) {
      if (p.action === 'edited' && !p.text)
        throw new AppError('VALIDATION_FAILED', 'text: an edited suggestion needs the edited text', {
          field: 'text',
        });
      // Only a suggestion offered to this agent, in its tenant (bot-routes.ts keeps them): checked
      // in the statement that records it, so a refusal stores nothing.
      const r = isUuid(p.suggestionId)
        ? await deps.db.query(
            `INSERT INTO suggestion_feedback (id, ccid, agent_id, suggestion_id, action, text)
             SELECT $1, $2, $3, s.id::text, $5, $6 FROM suggestions s
              WHERE s.id = $4::uuid AND s.ccid = $2 AND s.agent_id = $3`,
            [randomUUID(), who.ccid, who.agentId, p.suggestionId, p.action, p.text ?? null],
          )
        : undefined;
      if (!r?.rowCount)
        throw new AppError('SUGGESTION_NOT_FOUND', undefined, { suggestionId: p.suggestionId });
    },

    async canWrite(who, c) {
      return (
        c.ccid === who.ccid &&
        c.agentId === who.agentId &&
        (c.state === 'assigned' || c.state === 'asynchold')
      );
    },
  };
}
