/**
 * socket.io namespaces `/consumer` and `/agent` (DESIGN §6), and the fan-out of committed messages.
 *
 * Rooms: `conv:<id>` and `session:<id>` (consumer sockets), `agent:<ccid>:<agentId>` and
 * `conv-agents:<id>` (agent sockets). Committed messages reach every node in one server-side
 * event per batch through the socket.io adapter (Redis when configured); each node then hands them
 * to its own sockets through an OrderedDelivery, so that a socket never sees a gap, a duplicate or
 * an out-of-order seq, whichever node committed the message. Volatile events (typing) go straight
 * to the rooms through the adapter.
 */
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace, Server, Socket } from 'socket.io';
import type { NexusConfig } from '../../shared/config.js';
import { AppError, toAppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { SharedState } from '../../shared/state/types.js';
import { OrderedDelivery } from './delivery.js';
import {
  AGENT_NAMESPACE,
  type AgentServerToClient,
  type ChatMessage,
  CONSUMER_NAMESPACE,
  type ErrorBody,
  type Participant,
} from './events.js';
import {
  agentSendSchema,
  agentStateSchema,
  agentTypingSchema,
  consumerSendSchema,
  consumerTypingSchema,
  conversationIdSchema,
  feedbackSchema,
  joinSchema,
  listSchema,
  parse,
  resumeSchema,
  transferSchema,
} from './schemas.js';
import type { ChatStore } from './store.js';
import type { ChatTokens, ClientTokenClaims } from './tokens.js';
import type {
  AgentActions,
  AgentIdentity,
  AgentNotifier,
  AppendResult,
  Conversation,
  NewMessage,
} from './types.js';
import type { CommittedMessage } from './writer.js';

/** What the realtime layer needs from the chat service. */
export interface RealtimeService {
  append(conversationId: string, message: NewMessage, opts?: { ccid?: string }): Promise<AppendResult>;
  endSession(sessionId: string, reason: string): Promise<boolean>;
  readonly agentActions: AgentActions | undefined;
}

export interface RealtimeDeps {
  io: Server;
  config: NexusConfig;
  state: SharedState;
  store: ChatStore;
  tokens: ChatTokens;
  service: RealtimeService;
  log: Logger;
  /** A socket connected (+1) or disconnected (-1), for the sockets gauge. */
  onSocket?: (namespace: 'consumer' | 'agent', delta: number) => void;
}

/** A token bucket for one socket (sockets live on one node, so local state is exact). */
export class LocalBucket {
  private tokens: number;
  private at = performance.now();
  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
  ) {
    this.tokens = capacity;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface ConsumerData {
  claims: ClientTokenClaims;
  nickname?: string;
  lastSeq: number;
  delivery?: OrderedDelivery;
}

interface AgentData {
  agent: AgentIdentity;
  deliveries: Map<string, OrderedDelivery>;
  /** Conversations this socket may write to, with when that was checked. */
  access: Map<string, number>;
}

type AgentCommand =
  | {
      kind: 'assigned';
      ccid: string;
      agentId: string;
      payload: Parameters<AgentServerToClient['conversation.assigned']>[0];
    }
  | { kind: 'remove'; ccid: string; agentId: string; conversationId: string };

const ACCESS_TTL_MS = 5000;
const MESSAGES_EVENT = 'nexus:chat:messages';
const AGENT_COMMAND_EVENT = 'nexus:chat:agent';
const CONSUMER_EVENTS = new Set(['message.send', 'typing', 'session.end', 'resume']);
const AGENT_EVENTS = new Set([
  'agent.state',
  'message.send',
  'typing',
  'conversation.join',
  'conversation.transfer',
  'conversation.done',
  'conversation.list',
  'suggestion.feedback',
]);

const errorBody = (err: AppError): ErrorBody => ({
  code: err.code,
  name: err.errorName,
  message: err.message,
  retryable: err.retryable,
});

function connectError(err: unknown): Error {
  const e = toAppError(err);
  const out = new Error(e.message) as Error & { data: ErrorBody };
  out.data = errorBody(e);
  return out;
}

const UNAWAITED = new Set([
  'publish',
  'spublish',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
]);

/**
 * socket.io's Redis adapters publish and (un)subscribe without handling the returned promise. In a
 * Redis outage ioredis rejects queued commands after a few reconnect attempts, and an unhandled
 * rejection ends the process. The adapter gets the client through this proxy, which marks those
 * promises handled (and logs) and changes nothing else; a gap in cross-node delivery is filled from
 * the database when traffic resumes.
 */
function adapterClient<T extends object>(client: T, log: Logger): T {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof prop !== 'string' || !UNAWAITED.has(prop) || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out = value.apply(target, args);
        (out as Promise<unknown> | undefined)?.catch?.((err: Error) =>
          log.debug({ command: prop, err: err.message }, 'socket.io adapter command failed'),
        );
        return out;
      };
    },
  });
}

const convRoom = (id: string) => `conv:${id}`;
const convAgentsRoom = (id: string) => `conv-agents:${id}`;
const sessionRoom = (id: string) => `session:${id}`;
const agentRoom = (ccid: string, agentId: string) => `agent:${ccid}:${agentId}`;

export class Realtime implements AgentNotifier {
  readonly consumer: Namespace;
  readonly agent: Namespace;
  private clustered = false;
  private readonly log: Logger;

  constructor(private readonly deps: RealtimeDeps) {
    this.log = deps.log;
    this.consumer = deps.io.of(CONSUMER_NAMESPACE);
    this.agent = deps.io.of(AGENT_NAMESPACE);
    this.consumer.use((socket, next) => {
      this.authConsumer(socket).then(
        () => next(),
        (err) => next(connectError(err)),
      );
    });
    this.consumer.on('connection', (socket) => this.onConsumer(socket));
    this.agent.use((socket, next) => {
      this.authAgent(socket).then(
        () => next(),
        (err) => next(connectError(err)),
      );
    });
    this.agent.on('connection', (socket) => this.onAgent(socket));
  }

  /** Puts the Redis adapter in place when the shared state is Redis (several nodes). */
  start(): void {
    const clients = (this.deps.state as { redisClients?: { pub: unknown; sub: unknown } }).redisClients;
    if (this.deps.state.kind === 'redis' && clients) {
      const key = `${this.deps.config.redis.keyPrefix}socket.io`;
      const pub = adapterClient(clients.pub as object, this.log);
      const sub = adapterClient(clients.sub as object, this.log);
      this.deps.io.adapter(
        // A cluster broadcasts classic PUBLISH to every master; sharded pub/sub (Redis 7) keeps
        // each channel on the master that owns its slot.
        this.deps.config.redis.useCluster
          ? createShardedAdapter(pub as never, sub as never, { channelPrefix: key })
          : createAdapter(pub as never, sub as never, { key }),
      );
      this.clustered = true;
    } else if (this.deps.state.kind === 'redis') {
      this.log.warn('the shared state exposes no Redis clients: socket.io fans out on this node only');
    }
    // Registered after the adapter is in place: io.adapter() re-creates the namespaces' adapters.
    this.consumer.on(
      MESSAGES_EVENT as never,
      ((messages: ChatMessage[]) => this.deliverLocal(messages)) as never,
    );
    this.agent.on(AGENT_COMMAND_EVENT as never, ((cmd: AgentCommand) => this.runAgentCommand(cmd)) as never);
  }

  /** Hands committed messages to every subscribed socket, on every node. */
  fanOut(committed: CommittedMessage[]): void {
    const messages = committed.map((c) => c.message);
    this.deliverLocal(messages);
    if (this.clustered)
      this.safely(() => this.consumer.serverSideEmit(MESSAGES_EVENT as never, messages as never));
  }

  /** Tells a session's sockets (on every node) that it ended, then disconnects them. */
  sessionEnded(sessionId: string, conversationId: string, reason: string): void {
    this.safely(() => {
      this.consumer.to(sessionRoom(sessionId)).emit('session.ended', { conversationId, reason });
    });
    // On the next turn: the `session.end` that ended it is acked (in this turn's microtasks)
    // before its socket is disconnected, instead of the ack being lost.
    setImmediate(() => this.safely(() => this.consumer.in(sessionRoom(sessionId)).disconnectSockets(false)));
  }

  /** Tells this node's sockets (only) to reconnect elsewhere. */
  drain(reason: string): void {
    this.safely(() => {
      this.consumer.local.emit('reconnect', { reason });
      this.agent.local.emit('reconnect', { reason });
    });
  }

  /** Typing from a REST session: to the conversation's agents only. */
  typingFromCustomer(conversationId: string, from: Participant, typing: boolean): void {
    this.safely(() =>
      this.agent.to(convAgentsRoom(conversationId)).volatile.emit('typing', { conversationId, from, typing }),
    );
  }

  // ---- AgentNotifier ----

  async notifyAgent<E extends keyof AgentServerToClient>(
    ccid: string,
    agentId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void> {
    if (event === 'conversation.assigned') {
      this.agentCommand({ kind: 'assigned', ccid, agentId, payload: payload as AgentCommand & never });
      return;
    }
    this.safely(() => (this.agent.to(agentRoom(ccid, agentId)) as any).emit(event, payload));
  }

  async notifyConversation<E extends keyof AgentServerToClient>(
    conversationId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void> {
    this.safely(() => (this.agent.to(convAgentsRoom(conversationId)) as any).emit(event, payload));
  }

  async removeAgent(ccid: string, agentId: string, conversationId: string): Promise<void> {
    this.agentCommand({ kind: 'remove', ccid, agentId, conversationId });
  }

  // ---- internals ----

  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.log.warn({ err }, 'socket fan-out failed');
    }
  }

  private localSockets(nsp: Namespace, room: string): Socket[] {
    const ids = nsp.adapter.rooms.get(room);
    if (!ids) return [];
    const out: Socket[] = [];
    for (const id of ids) {
      const s = nsp.sockets.get(id);
      if (s) out.push(s);
    }
    return out;
  }

  private deliverLocal(messages: ChatMessage[]): void {
    if (!Array.isArray(messages)) return;
    for (const m of messages) {
      for (const s of this.localSockets(this.consumer, convRoom(m.conversationId))) {
        (s.data as ConsumerData).delivery?.push(m);
      }
      for (const s of this.localSockets(this.agent, convAgentsRoom(m.conversationId))) {
        const data = s.data as AgentData;
        let d = data.deliveries.get(m.conversationId);
        if (!d) d = this.agentDelivery(s, m.conversationId, m.seq - 1);
        d.push(m);
      }
    }
  }

  private agentCommand(cmd: AgentCommand): void {
    this.runAgentCommand(cmd);
    if (this.clustered)
      this.safely(() => this.agent.serverSideEmit(AGENT_COMMAND_EVENT as never, cmd as never));
  }

  private runAgentCommand(cmd: AgentCommand): void {
    for (const s of this.localSockets(this.agent, agentRoom(cmd.ccid, cmd.agentId))) {
      const data = s.data as AgentData;
      if (cmd.kind === 'assigned') {
        const convId = cmd.payload.conversation.id;
        const seqs = cmd.payload.transcript.map((m) => m.seq);
        const cursor = seqs.length ? Math.max(...seqs) : 0;
        data.deliveries.get(convId)?.close();
        data.access.set(convId, Date.now());
        s.emit('conversation.assigned', cmd.payload);
        const d = this.agentDelivery(s, convId, cursor);
        // Anything committed after the transcript was read follows it, from the database.
        void d.fill().catch(() => undefined);
      } else {
        s.leave(convAgentsRoom(cmd.conversationId));
        data.deliveries.get(cmd.conversationId)?.close();
        data.deliveries.delete(cmd.conversationId);
        data.access.delete(cmd.conversationId);
      }
    }
  }

  private agentDelivery(s: Socket, conversationId: string, cursor: number): OrderedDelivery {
    const data = s.data as AgentData;
    const d = new OrderedDelivery({
      cursor,
      audience: 'agent',
      load: (after, limit) =>
        this.deps.store.transcript(conversationId, { afterSeq: after, audience: 'all', limit }),
      emit: (m) => s.emit('message', m),
      onError: (err) => this.log.warn({ err, conversationId }, 'replay to an agent failed'),
    });
    data.deliveries.set(conversationId, d);
    s.join(convAgentsRoom(conversationId));
    return d;
  }

  /**
   * Registers an event handler that validates nothing itself but guarantees the contract: the
   * ack (when the client asked for one) is called exactly once with `{ ok: true, ... }` or
   * `{ ok: false, error }`, and nothing thrown escapes.
   */
  private handle(
    socket: Socket,
    event: string,
    bucket: LocalBucket,
    fn: (payload: unknown) => Promise<object | undefined>,
  ): void {
    socket.on(event, (...args: unknown[]) => {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (a: unknown) => void) : undefined;
      const payload = ack ? (args.length > 1 ? args[0] : undefined) : args[0];
      if (!bucket.take()) {
        ack?.({ ok: false, error: errorBody(new AppError('MESSAGE_RATE_LIMITED')) });
        return;
      }
      fn(payload).then(
        (r) => ack?.({ ok: true, ...(r ?? {}) }),
        (err) => {
          const e = toAppError(err);
          if (e.http >= 500 && e.errorName !== 'UNAVAILABLE')
            this.log.error({ err, event }, 'socket event failed');
          ack?.({ ok: false, error: errorBody(e) });
        },
      );
    });
  }

  /** Unknown events get an error ack; floods of anything are cut by the socket's bucket. */
  private refuseUnknown(socket: Socket, known: Set<string>, bucket: LocalBucket): void {
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === 'string' && known.has(event)) return;
      const last = args[args.length - 1];
      if (!bucket.take()) return;
      if (typeof last === 'function') {
        (last as (a: unknown) => void)({ ok: false, error: errorBody(new AppError('UNKNOWN_EVENT')) });
      }
    });
  }

  private buckets() {
    const c = this.deps.config.chat;
    return {
      messages: new LocalBucket(c.socketMessageBurst, c.socketMessagesPerSecond),
      // Everything else that costs a database round trip shares a second, more generous bucket.
      other: new LocalBucket(c.socketMessageBurst * 2, c.socketMessagesPerSecond * 2),
      typing: new LocalBucket(Math.max(1, Math.ceil(c.typingPerSecond)), c.typingPerSecond),
    };
  }

  // ---- /consumer ----

  private async clampSeq(conversationId: string, ccid: string, lastSeq: number): Promise<number> {
    if (lastSeq === 0) return 0;
    const conv = await this.deps.store.get(conversationId, ccid);
    if (!conv) throw new AppError('CONVERSATION_NOT_FOUND');
    return Math.min(lastSeq, conv.lastSeq);
  }

  private async authConsumer(socket: Socket): Promise<void> {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const claims = await this.deps.tokens.verifyClientToken(auth.clientToken);
    const session = await this.deps.store.session(claims.sessionId);
    if (!session || session.conversation_id !== claims.conversationId)
      throw new AppError('SESSION_NOT_FOUND');
    if (session.ended_at) throw new AppError('SESSION_ENDED');
    let lastSeq = 0;
    if (auth.lastSeq !== undefined && auth.lastSeq !== null) {
      lastSeq = parse(resumeSchema, { lastSeq: auth.lastSeq }, 'auth').lastSeq;
    }
    // A client claiming more than exists would otherwise silently skip the next messages.
    lastSeq = await this.clampSeq(claims.conversationId, claims.ccid, lastSeq);
    const data: ConsumerData = { claims, nickname: session.nickname ?? undefined, lastSeq };
    socket.data = data;
  }

  private onConsumer(socket: Socket): void {
    const data = socket.data as ConsumerData;
    const { claims } = data;
    const from: Participant = {
      participantId: claims.participantId,
      type: 'Customer',
      ...(data.nickname ? { nickname: data.nickname } : {}),
    };
    const delivery = new OrderedDelivery({
      cursor: data.lastSeq,
      audience: 'customer',
      load: (after, limit) =>
        this.deps.store.transcript(claims.conversationId, { afterSeq: after, audience: 'all', limit }),
      emit: (m) => socket.emit('message', m),
      onError: (err) => this.log.warn({ err }, 'replay to a customer failed'),
    });
    data.delivery = delivery;
    // Join before the replay starts, so that live messages are buffered behind it.
    socket.join([convRoom(claims.conversationId), sessionRoom(claims.sessionId)]);
    void delivery.fill().catch(() => undefined);
    this.deps.onSocket?.('consumer', 1);
    socket.on('disconnect', () => {
      delivery.close();
      this.deps.onSocket?.('consumer', -1);
    });

    const b = this.buckets();
    this.refuseUnknown(socket, CONSUMER_EVENTS, b.other);
    this.handle(socket, 'message.send', b.messages, async (payload) => {
      const p = parse(consumerSendSchema, payload);
      const r = await this.deps.service.append(
        claims.conversationId,
        {
          type: p.type,
          from,
          text: p.text,
          content: p.content,
          clientMessageId: p.clientMessageId,
          visibility: 'all',
        },
        { ccid: claims.ccid },
      );
      return { id: r.id, seq: r.seq, ...(r.duplicate ? { duplicate: true } : {}) };
    });
    socket.on('typing', (payload: unknown) => {
      // Volatile: a bad or excess typing event is dropped silently (there is no ack to answer).
      const r = consumerTypingSchema.safeParse(payload);
      if (!r.success || !b.typing.take()) return;
      socket.to(convRoom(claims.conversationId)).volatile.emit('typing', { from, typing: r.data.typing });
      this.agent
        .to(convAgentsRoom(claims.conversationId))
        .volatile.emit('typing', { conversationId: claims.conversationId, from, typing: r.data.typing });
    });
    this.handle(socket, 'session.end', b.other, async () => {
      await this.deps.service.endSession(claims.sessionId, 'customer');
      return undefined;
    });
    this.handle(socket, 'resume', b.other, async (payload) => {
      const p = parse(resumeSchema, payload);
      return {
        replayed: await delivery.resume(await this.clampSeq(claims.conversationId, claims.ccid, p.lastSeq)),
      };
    });
  }

  // ---- /agent ----

  private async authAgent(socket: Socket): Promise<void> {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    const claims = await this.deps.tokens.verifyAgentToken(auth.token);
    await this.deps.service.agentActions?.authorize?.(claims);
    const data: AgentData = {
      agent: { ...claims, socketId: socket.id },
      deliveries: new Map(),
      access: new Map(),
    };
    socket.data = data;
  }

  private actions(): AgentActions {
    const a = this.deps.service.agentActions;
    if (!a) throw new AppError('ROUTING_UNAVAILABLE');
    return a;
  }

  /** The conversation, when this agent may write to it. */
  private async agentAccess(socket: Socket, conversationId: string): Promise<void> {
    const data = socket.data as AgentData;
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

  private onAgent(socket: Socket): void {
    const data = socket.data as AgentData;
    const { agent } = data;
    const from: Participant = {
      participantId: agent.agentId,
      type: 'Agent',
      ...(agent.name ? { nickname: agent.name } : {}),
    };
    socket.join(agentRoom(agent.ccid, agent.agentId));
    const actions = this.deps.service.agentActions;
    actions?.connected?.(agent).catch((err) => this.log.warn({ err }, 'agent presence (connect) failed'));
    this.deps.onSocket?.('agent', 1);
    socket.on('disconnect', () => {
      this.deps.onSocket?.('agent', -1);
      for (const d of data.deliveries.values()) d.close();
      data.deliveries.clear();
      this.deps.service.agentActions
        ?.disconnected?.(agent)
        .catch((err) => this.log.warn({ err }, 'agent presence (disconnect) failed'));
    });

    const b = this.buckets();
    this.refuseUnknown(socket, AGENT_EVENTS, b.other);
    this.handle(socket, 'message.send', b.messages, async (payload) => {
      const p = parse(agentSendSchema, payload);
      await this.agentAccess(socket, p.conversationId);
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
      this.agentAccess(socket, conversationId).then(
        () => {
          this.consumer.to(convRoom(conversationId)).volatile.emit('typing', { from, typing });
          socket.to(convAgentsRoom(conversationId)).volatile.emit('typing', { conversationId, from, typing });
        },
        () => undefined,
      );
    });
    this.handle(socket, 'conversation.join', b.other, async (payload) => {
      const p = parse(joinSchema, payload);
      const a = this.deps.service.agentActions;
      const conversation = a
        ? await a.join(agent, p.conversationId)
        : await this.defaultJoin(agent, p.conversationId);
      if (conversation.ccid !== agent.ccid) throw new AppError('CONVERSATION_NOT_FOUND');
      data.access.set(conversation.id, Date.now());
      const existing = data.deliveries.get(conversation.id);
      const from = Math.min(p.lastSeq ?? 0, conversation.lastSeq);
      const replayed = existing
        ? await existing.resume(from)
        : await this.agentDelivery(socket, conversation.id, from).fill();
      return { conversation, replayed };
    });
    this.handle(socket, 'agent.state', b.other, async (payload) =>
      this.actions().setState(agent, parse(agentStateSchema, payload)),
    );
    this.handle(socket, 'conversation.transfer', b.other, async (payload) =>
      this.actions().transfer(agent, parse(transferSchema, payload)),
    );
    this.handle(socket, 'conversation.done', b.other, async (payload) => {
      await this.actions().done(agent, parse(conversationIdSchema, payload));
      return undefined;
    });
    this.handle(socket, 'conversation.list', b.other, async (payload) =>
      this.actions().list(agent, parse(listSchema, payload ?? {})),
    );
    this.handle(socket, 'suggestion.feedback', b.other, async (payload) => {
      await this.actions().suggestionFeedback(agent, parse(feedbackSchema, payload));
      return undefined;
    });
  }
}
