/**
 * The `/agent` namespace (DESIGN §6): an agent's sockets, the commands that subscribe them to a
 * conversation or let it go (sent to every node), agents' typing, and the queue watch of the
 * console's queues panel.
 *
 * Rooms: `agent:<ccid>:<agentId>` (every socket of an agent), `conv-agents:<id>` (the sockets
 * subscribed to a conversation), `queue:<ccid>:<queue>` (sockets that listed `queued` and whose
 * agent is a member of the queue: they get `queue.updated`).
 */
import type { Namespace, Socket } from 'socket.io';
import type { NexusConfig } from '../../shared/config.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { OrderedDelivery } from './delivery.js';
import type { AgentClientToServer, AgentServerToClient, ChatMessage, Participant } from './events.js';
import { AgentView } from './realtime-refill.js';
import { acked, buckets, connectError, refuseUnknown } from './realtime-shared.js';
import {
  agentSendSchema,
  agentStateSchema,
  agentTypingSchema,
  conversationIdSchema,
  feedbackSchema,
  historySchema,
  joinSchema,
  listSchema,
  parse,
  transferSchema,
} from './schemas.js';
import type { ChatStore } from './store.js';
import type { ChatTokens } from './tokens.js';
import type {
  AgentActions,
  AgentIdentity,
  AgentNotifier,
  AppendResult,
  Conversation,
  ConversationEvent,
  NewMessage,
} from './types.js';

export interface AgentData {
  agent: AgentIdentity;
  deliveries: Map<string, OrderedDelivery>;
  /** Conversations this socket may write to, with when that was checked. */
  access: Map<string, number>;
  /** The queues whose rooms this socket is in (from its last list of `queued`). */
  queues: Set<string>;
  /** What the socket was told of its conversations and queues (for the refill: realtime-refill.ts). */
  view: AgentView;
}

export type AgentCommand =
  | {
      kind: 'assigned';
      ccid: string;
      agentId: string;
      payload: Parameters<AgentServerToClient['conversation.assigned']>[0];
    }
  | { kind: 'remove'; ccid: string; agentId: string; conversationId: string }
  /** `conversation.updated`, to the sockets holding the conversation. */
  | { kind: 'updated'; payload: Parameters<AgentServerToClient['conversation.updated']>[0] }
  /** `queue.updated`, to the sockets watching the queue. */
  | { kind: 'queue'; ccid: string; payload: Parameters<AgentServerToClient['queue.updated']>[0] };

export const AGENT_COMMAND_EVENT = 'nexus:chat:agent';

/** Between the nodes of `/agent` (through the adapter). */
export interface AgentServerSide {
  [AGENT_COMMAND_EVENT]: (cmd: AgentCommand) => void;
}

export type AgentNamespace = Namespace<AgentClientToServer, AgentServerToClient, AgentServerSide, AgentData>;
type AgentSocket = Socket<AgentClientToServer, AgentServerToClient, AgentServerSide, AgentData>;

/** What the agent side needs from the chat service. */
export interface AgentService {
  append(conversationId: string, message: NewMessage, opts?: { ccid?: string }): Promise<AppendResult>;
  readonly agentActions: AgentActions | undefined;
}

export interface AgentRealtimeDeps {
  nsp: AgentNamespace;
  config: NexusConfig;
  store: ChatStore;
  tokens: ChatTokens;
  service: AgentService;
  log: Logger;
  /** Whether commands must also reach the other nodes (a Redis adapter is in place). */
  clustered: () => boolean;
  /** Agent typing, to the conversation's customers. */
  typingToCustomers: (conversationId: string, from: Participant, typing: boolean) => void;
  onSocket?: (delta: number) => void;
}

const ACCESS_TTL_MS = 5000;
const AGENT_EVENTS: ReadonlySet<string> = new Set<keyof AgentClientToServer>([
  'agent.state',
  'message.send',
  'typing',
  'conversation.join',
  'conversation.transfer',
  'conversation.done',
  'conversation.list',
  'contact.history',
  'suggestion.feedback',
]);

export const convAgentsRoom = (id: string) => `conv-agents:${id}`;
const agentRoom = (ccid: string, agentId: string) => `agent:${ccid}:${agentId}`;
const queueRoom = (ccid: string, queue: string) => `queue:${ccid}:${queue}`;

export class AgentRealtime implements AgentNotifier {
  private readonly nsp: AgentNamespace;
  private readonly log: Logger;

  constructor(private readonly deps: AgentRealtimeDeps) {
    this.nsp = deps.nsp;
    this.log = deps.log;
    this.nsp.use((socket, next) => {
      this.auth(socket).then(
        () => next(),
        (err) => next(connectError(err)),
      );
    });
    this.nsp.on('connection', (socket) => this.onConnection(socket));
  }

  /** Listens to the other nodes' commands (after the adapter is in place: it re-creates it). */
  listen(): void {
    this.nsp.on(AGENT_COMMAND_EVENT, (cmd) => this.runCommand(cmd));
  }

  // ---- AgentNotifier ----

  async notifyAgent<E extends keyof AgentServerToClient>(
    ccid: string,
    agentId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void> {
    if (event === 'conversation.assigned') {
      const p = payload as Parameters<AgentServerToClient['conversation.assigned']>[0];
      this.command({ kind: 'assigned', ccid, agentId, payload: p });
      return;
    }
    this.safely(() => this.nsp.to(agentRoom(ccid, agentId)).emit(event, ...args(payload)));
  }

  async notifyConversation<E extends keyof AgentServerToClient>(
    conversationId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void> {
    // A node runs it on its sockets, so that each socket's view records it (see AgentView).
    if (event === 'conversation.updated') {
      const p = payload as Parameters<AgentServerToClient['conversation.updated']>[0];
      if (p.conversation.id === conversationId) return this.command({ kind: 'updated', payload: p });
    }
    this.safely(() => this.nsp.to(convAgentsRoom(conversationId)).emit(event, ...args(payload)));
  }

  async removeAgent(ccid: string, agentId: string, conversationId: string): Promise<void> {
    this.command({ kind: 'remove', ccid, agentId, conversationId });
  }

  // ---- from the rest of realtime ----

  /** Committed messages, to this node's agent sockets subscribed to their conversations. */
  deliverLocal(m: ChatMessage): void {
    for (const s of this.localSockets(convAgentsRoom(m.conversationId))) {
      let d = s.data.deliveries.get(m.conversationId);
      if (!d) d = this.delivery(s, m.conversationId, m.seq - 1);
      d.push(m);
    }
  }

  /** A customer's typing, to the conversation's agents (any node). */
  typingFromCustomer(conversationId: string, from: Participant, typing: boolean): void {
    this.safely(() =>
      this.nsp.to(convAgentsRoom(conversationId)).volatile.emit('typing', { conversationId, from, typing }),
    );
  }

  /** The node is going away: its agent sockets reconnect elsewhere. */
  drain(reason: string): void {
    this.safely(() => this.nsp.local.emit('reconnect', { reason }));
  }

  /**
   * A conversation event committed on this node: one that enters or leaves a queue goes, as
   * `queue.updated` with the summary only, to the sockets watching that queue, on every node.
   */
  conversationEvent(e: ConversationEvent): void {
    const queues = new Set<string>();
    let c: Conversation;
    if (e.type === 'conversation.created') {
      c = e.conversation;
      if (c.state === 'queued' && c.queue) queues.add(c.queue);
    } else if (e.type === 'conversation.state-changed') {
      c = e.conversation;
      if (c.state === 'queued' && c.queue) queues.add(c.queue);
      if (e.previous.state === 'queued' && e.previous.queue) queues.add(e.previous.queue);
    } else return;
    if (!queues.size) return;
    const { userData: _userData, ...conversation } = c;
    for (const queue of queues)
      this.command({ kind: 'queue', ccid: c.ccid, payload: { queue, conversation } });
  }

  // ---- internals ----

  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.log.warn({ err }, 'socket fan-out failed');
    }
  }

  private localSockets(room: string): AgentSocket[] {
    const ids = this.nsp.adapter.rooms.get(room);
    if (!ids) return [];
    const out: AgentSocket[] = [];
    for (const id of ids) {
      const s = this.nsp.sockets.get(id);
      if (s) out.push(s);
    }
    return out;
  }

  private command(cmd: AgentCommand): void {
    this.runCommand(cmd);
    if (this.deps.clustered()) this.safely(() => this.nsp.serverSideEmit(AGENT_COMMAND_EVENT, cmd));
  }

  /**
   * Runs a command on this node's sockets only (the other nodes' commands, and the refill). What
   * a socket is told of a conversation or a queue goes through here (and the acks), so that its
   * view is what it was told; a broadcast to a room would not say which sockets got it.
   */
  runCommand(cmd: AgentCommand): void {
    if (cmd.kind === 'updated') {
      const room = convAgentsRoom(cmd.payload.conversation.id);
      for (const s of this.localSockets(room)) s.data.view.summary(cmd.payload.conversation);
      this.safely(() => this.nsp.local.to(room).emit('conversation.updated', cmd.payload));
      return;
    }
    if (cmd.kind === 'queue') {
      const room = queueRoom(cmd.ccid, cmd.payload.queue);
      for (const s of this.localSockets(room)) s.data.view.queueUpdate(cmd.payload, s.data.queues);
      this.safely(() => this.nsp.local.to(room).emit('queue.updated', cmd.payload));
      return;
    }
    for (const s of this.localSockets(agentRoom(cmd.ccid, cmd.agentId))) {
      const data = s.data;
      if (cmd.kind === 'assigned') {
        const convId = cmd.payload.conversation.id;
        const seqs = cmd.payload.transcript.map((m) => m.seq);
        const cursor = seqs.length ? Math.max(...seqs) : 0;
        data.deliveries.get(convId)?.close();
        data.access.set(convId, Date.now());
        data.view.assigned(cmd.payload.conversation);
        s.emit('conversation.assigned', cmd.payload);
        const d = this.delivery(s, convId, cursor);
        // Anything committed after the transcript was read follows it, from the database.
        void d.fill().catch(() => undefined);
      } else {
        s.leave(convAgentsRoom(cmd.conversationId));
        data.deliveries.get(cmd.conversationId)?.close();
        data.deliveries.delete(cmd.conversationId);
        data.access.delete(cmd.conversationId);
        data.view.forget(cmd.conversationId);
      }
    }
  }

  private delivery(s: AgentSocket, conversationId: string, cursor: number): OrderedDelivery {
    const d = new OrderedDelivery({
      cursor,
      audience: 'agent',
      load: (after, limit) =>
        // With each reply's current delivery state: an agent (re)joining sees where its SMS got.
        this.deps.store.transcript(conversationId, {
          afterSeq: after,
          audience: 'all',
          limit,
          delivery: true,
        }),
      emit: (m) => s.emit('message', m),
      onError: (err) => this.log.warn({ err, conversationId }, 'replay to an agent failed'),
    });
    s.data.deliveries.set(conversationId, d);
    s.join(convAgentsRoom(conversationId));
    return d;
  }

  private async auth(socket: AgentSocket): Promise<void> {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const claims = await this.deps.tokens.verifyAgentToken(auth.token);
    await this.deps.service.agentActions?.authorize?.(claims);
    socket.data = {
      agent: { ...claims, socketId: socket.id },
      deliveries: new Map(),
      access: new Map(),
      queues: new Set(),
      view: new AgentView(),
    };
  }

  private actions(): AgentActions {
    const a = this.deps.service.agentActions;
    if (!a) throw new AppError('ROUTING_UNAVAILABLE');
    return a;
  }

  /** The conversation, when this agent may write to it. */
  private async access(socket: AgentSocket, conversationId: string): Promise<void> {
    const data = socket.data;
    const at = data.access.get(conversationId);
    if (at && Date.now() - at < ACCESS_TTL_MS) return;
    const conv = await this.deps.store.get(conversationId, data.agent.ccid);
    if (!conv) throw new AppError('CONVERSATION_NOT_FOUND');
    const canWrite = this.deps.service.agentActions?.canWrite;
    const ok = canWrite ? await canWrite(data.agent, conv) : conv.agentId === data.agent.agentId;
    if (!ok) throw new AppError('NOT_CONVERSATION_AGENT');
    data.access.set(conversationId, Date.now());
  }

  private async defaultJoin(agent: AgentIdentity, conversationId: string): Promise<Conversation> {
    const conv = await this.deps.store.get(conversationId, agent.ccid);
    if (!conv) throw new AppError('CONVERSATION_NOT_FOUND');
    if (conv.agentId !== agent.agentId) throw new AppError('NOT_CONVERSATION_AGENT');
    return conv;
  }

  /** Puts the socket in the rooms of exactly these queues (its agent's, as routing listed them). */
  private watchQueues(socket: AgentSocket, queues: string[]): void {
    const { ccid } = socket.data.agent;
    const next = new Set(queues);
    for (const q of socket.data.queues) if (!next.has(q)) socket.leave(queueRoom(ccid, q));
    socket.join([...next].map((q) => queueRoom(ccid, q)));
    socket.data.queues = next;
  }

  private onConnection(socket: AgentSocket): void {
    const data = socket.data;
    const { agent } = data;
    const from: Participant = {
      participantId: agent.agentId,
      type: 'Agent',
      ...(agent.name ? { nickname: agent.name } : {}),
    };
    socket.join(agentRoom(agent.ccid, agent.agentId));
    const actions = this.deps.service.agentActions;
    actions?.connected?.(agent).catch((err) => this.log.warn({ err }, 'agent presence (connect) failed'));
    this.deps.onSocket?.(1);
    socket.on('disconnect', () => {
      this.deps.onSocket?.(-1);
      for (const d of data.deliveries.values()) d.close();
      data.deliveries.clear();
      this.deps.service.agentActions
        ?.disconnected?.(agent)
        .catch((err) => this.log.warn({ err }, 'agent presence (disconnect) failed'));
    });

    const b = buckets(this.deps.config.chat);
    refuseUnknown(socket, AGENT_EVENTS, b.other);
    const on = acked<AgentClientToServer>(socket, this.log);
    on('message.send', b.messages, async (payload) => {
      const p = parse(agentSendSchema, payload);
      await this.access(socket, p.conversationId);
      const r = await this.deps.service.append(
        p.conversationId,
        {
          type: p.type,
          from,
          text: p.text,
          content: p.content,
          clientMessageId: p.clientMessageId,
          visibility: p.visibility,
        },
        { ccid: agent.ccid },
      );
      return { id: r.id, seq: r.seq, ...(r.duplicate ? { duplicate: true } : {}) };
    });
    socket.on('typing', (payload: unknown) => {
      const r = agentTypingSchema.safeParse(payload);
      if (!r.success || !b.typing.take()) return;
      const { conversationId, typing } = r.data;
      this.access(socket, conversationId).then(
        () => {
          this.deps.typingToCustomers(conversationId, from, typing);
          socket.to(convAgentsRoom(conversationId)).volatile.emit('typing', { conversationId, from, typing });
        },
        () => undefined,
      );
    });
    on('conversation.join', b.other, async (payload) => {
      const p = parse(joinSchema, payload);
      const a = this.deps.service.agentActions;
      const conversation = a
        ? await a.join(agent, p.conversationId)
        : await this.defaultJoin(agent, p.conversationId);
      if (conversation.ccid !== agent.ccid) throw new AppError('CONVERSATION_NOT_FOUND');
      data.access.set(conversation.id, Date.now());
      data.view.summary(conversation);
      const existing = data.deliveries.get(conversation.id);
      const from = Math.min(p.lastSeq ?? 0, conversation.lastSeq);
      const replayed = existing
        ? await existing.resume(from)
        : await this.delivery(socket, conversation.id, from).fill();
      return { conversation, replayed };
    });
    on('agent.state', b.other, async (payload) =>
      this.actions().setState(agent, parse(agentStateSchema, payload)),
    );
    on('conversation.transfer', b.other, async (payload) => {
      const r = await this.actions().transfer(agent, parse(transferSchema, payload));
      data.view.summary(r.conversation);
      return r;
    });
    on('conversation.done', b.other, async (payload) => {
      await this.actions().done(agent, parse(conversationIdSchema, payload));
      return undefined;
    });
    on('conversation.list', b.other, async (payload) => {
      const r = await this.actions().list(agent, parse(listSchema, payload ?? {}));
      // Listing `queued` (routing names the agent's queues then) subscribes to those queues.
      if (r.queues) {
        this.watchQueues(socket, r.queues);
        data.view.listed(r.conversations, data.queues);
      } else for (const c of r.conversations) data.view.summary(c);
      return r;
    });
    on('contact.history', b.other, async (payload) =>
      this.actions().history(agent, parse(historySchema, payload)),
    );
    on('suggestion.feedback', b.other, async (payload) => {
      await this.actions().suggestionFeedback(agent, parse(feedbackSchema, payload));
      return undefined;
    });
  }
}

/** One event's arguments: every server-to-client event of the contract takes one payload. */
function args<E extends keyof AgentServerToClient>(
  payload: Parameters<AgentServerToClient[E]>[0],
): Parameters<AgentServerToClient[E]> {
  return [payload] as Parameters<AgentServerToClient[E]>;
}
