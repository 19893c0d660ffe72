/**
 * socket.io namespaces `/consumer` and `/agent` (DESIGN §6), and the fan-out of committed messages.
 * The `/agent` side (its sockets, commands, queue watch) is realtime-agent.ts; what both share is
 * realtime-shared.ts. Both namespaces are typed with the contract's event maps (events.ts), so
 * every emit here is checked against what the clients expect.
 *
 * Rooms: `conv:<id>` and `session:<id>` (consumer sockets), `agent:<ccid>:<agentId>`,
 * `conv-agents:<id>` and `queue:<ccid>:<queue>` (agent sockets). Committed messages reach every
 * node in one server-side event per batch through the socket.io adapter (Redis when configured);
 * each node then hands them to its own sockets through an OrderedDelivery, so that a socket never
 * sees a gap, a duplicate or an out-of-order seq, whichever node committed the message. Volatile
 * events (typing) go straight to the rooms through the adapter.
 */
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace, Server, Socket } from 'socket.io';
import type { NexusConfig } from '../../shared/config.js';
import { AppError } from '../../shared/errors.js';
import type { Queryable } from '../../shared/db/pool.js';
import type { Logger } from '../../shared/logger.js';
import type { SharedState } from '../../shared/state/types.js';
import { OrderedDelivery } from './delivery.js';
import {
  AGENT_NAMESPACE,
  type AgentServerToClient,
  type ChatMessage,
  CONSUMER_NAMESPACE,
  type ConsumerClientToServer,
  type ConsumerServerToClient,
  type Participant,
} from './events.js';
import {
  type AgentCommand,
  type AgentNamespace,
  AgentRealtime,
  type AgentService,
} from './realtime-agent.js';
import {
  endedSessions,
  type RefillTarget,
  refillAssigned,
  refillHeld,
  refillMessages,
  refillQueues,
} from './realtime-refill.js';
import { AdapterResync } from './realtime-resync.js';
import { acked, buckets, connectError, refuseUnknown } from './realtime-shared.js';
import { consumerSendSchema, consumerTypingSchema, parse, resumeSchema } from './schemas.js';
import type { ChatStore } from './store.js';
import type { ChatTokens, ClientTokenClaims } from './tokens.js';
import type { AgentNotifier, ConversationListener } from './types.js';
import type { CommittedMessage } from './writer.js';

export { LocalBucket } from './realtime-shared.js';

/** What the realtime layer needs from the chat service. */
export interface RealtimeService extends AgentService {
  endSession(sessionId: string, reason: string): Promise<boolean>;
  /** The conversation events committed on this node (the queue watch listens). */
  onConversationEvent?(listener: ConversationListener): () => void;
}

export interface RealtimeDeps {
  io: Server;
  config: NexusConfig;
  state: SharedState;
  store: ChatStore;
  /** For the refill's reads beyond messages (realtime-refill.ts); without it only messages are refilled. */
  db?: Queryable;
  tokens: ChatTokens;
  service: RealtimeService;
  log: Logger;
  /** A socket connected (+1) or disconnected (-1), for the sockets gauge. */
  onSocket?: (namespace: 'consumer' | 'agent', delta: number) => void;
}

interface ConsumerData {
  claims: ClientTokenClaims;
  nickname?: string;
  lastSeq: number;
  delivery?: OrderedDelivery;
}

const MESSAGES_EVENT = 'nexus:chat:messages';
/** A node's probe of its own subscriptions (realtime-resync.ts); the other nodes ignore it. */
const PROBE_EVENT = 'nexus:chat:probe';
/** A node's publishes failed: every node refills its sockets from the database (realtime-resync.ts). */
const REFILL_EVENT = 'nexus:chat:refill';

/** Between the nodes of `/consumer` (through the adapter). */
interface ConsumerServerSide {
  [MESSAGES_EVENT]: (messages: ChatMessage[]) => void;
  [PROBE_EVENT]: (token: string) => void;
  [REFILL_EVENT]: () => void;
}

type ConsumerNamespace = Namespace<
  ConsumerClientToServer,
  ConsumerServerToClient,
  ConsumerServerSide,
  ConsumerData
>;
type ConsumerSocket = Socket<
  ConsumerClientToServer,
  ConsumerServerToClient,
  ConsumerServerSide,
  ConsumerData
>;

const CONSUMER_EVENTS: ReadonlySet<string> = new Set<keyof ConsumerClientToServer>([
  'message.send',
  'typing',
  'session.end',
  'resume',
]);

const PUBLISH = new Set(['publish', 'spublish']);
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
 * promises handled (and logs) and changes nothing else but telling `onPublishFailed`; what the
 * other nodes missed meanwhile they read from the database (realtime-resync.ts).
 */
function adapterClient<T extends object>(client: T, log: Logger, onPublishFailed?: () => void): T {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof prop !== 'string' || !UNAWAITED.has(prop) || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const out = value.apply(target, args);
        (out as Promise<unknown> | undefined)?.catch?.((err: Error) => {
          log.debug({ command: prop, err: err.message }, 'socket.io adapter command failed');
          if (PUBLISH.has(prop)) onPublishFailed?.();
        });
        return out;
      };
    },
  });
}

/** Sockets refilled one by one at once when the batched read fails (each is one query). */
const REFILL_CONCURRENCY = 4;

const convRoom = (id: string) => `conv:${id}`;
const sessionRoom = (id: string) => `session:${id}`;

export class Realtime implements AgentNotifier {
  readonly consumer: ConsumerNamespace;
  readonly agent: AgentNamespace;
  private readonly agents: AgentRealtime;
  private clustered = false;
  private readonly log: Logger;

  constructor(private readonly deps: RealtimeDeps) {
    this.log = deps.log;
    // The server is untyped (both namespaces share it); each namespace gets its own event maps.
    this.consumer = deps.io.of(CONSUMER_NAMESPACE) as unknown as ConsumerNamespace;
    this.agent = deps.io.of(AGENT_NAMESPACE) as unknown as AgentNamespace;
    this.consumer.use((socket, next) => {
      this.authConsumer(socket).then(
        () => next(),
        (err) => next(connectError(err)),
      );
    });
    this.consumer.on('connection', (socket) => this.onConsumer(socket));
    this.agents = new AgentRealtime({
      nsp: this.agent,
      config: deps.config,
      store: deps.store,
      tokens: deps.tokens,
      service: deps.service,
      log: deps.log,
      clustered: () => this.clustered,
      typingToCustomers: (conversationId, from, typing) =>
        this.safely(() =>
          this.consumer.to(convRoom(conversationId)).volatile.emit('typing', { from, typing }),
        ),
      onSocket: (delta) => deps.onSocket?.('agent', delta),
    });
  }

  /** Puts the Redis adapter in place when the shared state is Redis (several nodes). */
  start(): void {
    const clients = (this.deps.state as { redisClients?: { pub: unknown; sub: unknown } }).redisClients;
    if (this.deps.state.kind === 'redis' && clients) {
      const key = `${this.deps.config.redis.keyPrefix}socket.io`;
      // Lives as long as the Redis clients (it stops once they have ended).
      const resync = new AdapterResync({
        sub: clients.sub as never,
        pub: clients.pub as never,
        probe: (token) => this.consumer.serverSideEmit(PROBE_EVENT, token),
        refill: () => this.refill(),
        requestRefill: () => this.consumer.serverSideEmit(REFILL_EVENT),
        log: this.log,
      });
      const pub = adapterClient(clients.pub as object, this.log, () => resync.publishFailed());
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
    this.consumer.on(MESSAGES_EVENT, (messages) => this.deliverLocal(messages));
    this.consumer.on(REFILL_EVENT, () => void this.refill().catch(() => undefined));
    this.agents.listen();
    this.deps.service.onConversationEvent?.((e) => this.agents.conversationEvent(e));
  }

  /** Hands committed messages to every subscribed socket, on every node. */
  fanOut(committed: CommittedMessage[]): void {
    const messages = committed.map((c) => c.message);
    this.deliverLocal(messages);
    if (this.clustered) this.safely(() => this.consumer.serverSideEmit(MESSAGES_EVENT, messages));
  }

  /**
   * Replays to every socket of this node what was committed after the last message it was handed
   * (the adapter was not subscribed for a while: see realtime-resync.ts). Resolves to the number
   * of messages emitted.
   */
  async refill(): Promise<number> {
    const { db } = this.deps;
    const warned =
      (what: string) =>
      (err: unknown): number => {
        this.log.warn({ err }, what);
        return 0;
      };
    const held = db && { db, nsp: this.agent, run: (cmd: AgentCommand) => this.agents.runCommand(cmd) };
    // Conversations that went to someone else meanwhile are let go of first: what was written
    // in them since is not their former agent's to read.
    const moved = held
      ? await refillHeld(held, { movedOnly: true }).catch(warned('letting go of moved conversations failed'))
      : 0;
    const deliveries: OrderedDelivery[] = [];
    for (const s of this.consumer.sockets.values()) if (s.data.delivery) deliveries.push(s.data.delivery);
    for (const s of this.agent.sockets.values())
      for (const d of s.data.deliveries?.values() ?? []) deliveries.push(d);
    let emitted = 0;
    let failed = 0;
    let next = 0;
    if (db) {
      // One read per conversation, for many conversations at once; one read per socket only
      // when that fails (each of those retries by itself).
      const targets: RefillTarget[] = [];
      for (const s of this.consumer.sockets.values())
        if (s.data.delivery)
          targets.push({
            conversationId: s.data.claims.conversationId,
            delivery: s.data.delivery,
            agent: false,
          });
      for (const s of this.agent.sockets.values())
        for (const [conversationId, delivery] of s.data.deliveries ?? [])
          targets.push({ conversationId, delivery, agent: true });
      const batched = await refillMessages(db, targets).catch((err) => {
        this.log.warn({ err }, 'refilling messages in one read failed: reading them socket by socket');
        return -1;
      });
      if (batched >= 0) {
        emitted = batched;
        next = deliveries.length;
      }
    }
    const worker = async () => {
      while (next < deliveries.length) {
        const d = deliveries[next++];
        // A failed fill retries by itself (OrderedDelivery); it is counted, not fatal.
        emitted += await d.fill().catch(() => {
          failed++;
          return 0;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(REFILL_CONCURRENCY, deliveries.length) }, worker));
    // Assignments announced while this node heard nothing (their transcripts follow by themselves),
    // sessions ended meanwhile, the conversations' summaries and the queues: after their messages,
    // as when they are live.
    const [assigned, ended, updated, queued] =
      db && held
        ? await Promise.all([
            refillAssigned({
              db,
              store: this.deps.store,
              nsp: this.agent,
              run: (cmd) => this.agents.runCommand(cmd),
            }).catch(warned('announcing missed assignments failed')),
            this.refillEnded(db).catch(warned('ending the sockets of sessions ended meanwhile failed')),
            refillHeld(held, { movedOnly: false }).catch(warned('refilling conversation summaries failed')),
            refillQueues(db, this.agent).catch(warned('refilling queues failed')),
          ])
        : [0, 0, 0, 0];
    this.log.info(
      { deliveries: deliveries.length, emitted, failed, assigned, ended, updated: moved + updated, queued },
      'socket.io adapter subscribed: sockets refilled from the database',
    );
    return emitted;
  }

  /**
   * This node's customer sockets whose session ended while it heard nothing get `session.ended`
   * (without a reason: the database keeps none) and are disconnected, as they would have been.
   * Resolves to the number of sockets ended.
   */
  private async refillEnded(db: Queryable): Promise<number> {
    const sockets = [...this.consumer.sockets.values()].filter((s) => s.data.claims);
    const ended = await endedSessions(db, [...new Set(sockets.map((s) => s.data.claims.sessionId))]);
    let n = 0;
    for (const s of sockets) {
      const conversationId = ended.get(s.data.claims.sessionId);
      if (!conversationId || !s.connected) continue;
      this.safely(() => s.emit('session.ended', { conversationId }));
      setImmediate(() => this.safely(() => s.disconnect(false)));
      n++;
    }
    return n;
  }

  /** Tells a session's sockets (on every node) that it ended, then disconnects them. */
  sessionEnded(sessionId: string, conversationId: string, reason: string): void {
    this.safely(() => {
      const room = sessionRoom(sessionId);
      // This node's sockets at once: a sharded (Redis Cluster) adapter emits locally only after
      // its publish is answered, after the disconnect below, and the socket would never hear it.
      this.consumer.local.to(room).emit('session.ended', { conversationId, reason });
      const here = [...(this.consumer.adapter.rooms.get(room) ?? [])];
      this.consumer.to(room).except(here).emit('session.ended', { conversationId, reason });
    });
    // On the next turn: the `session.end` that ended it is acked (in this turn's microtasks)
    // before its socket is disconnected, instead of the ack being lost.
    setImmediate(() => this.safely(() => this.consumer.in(sessionRoom(sessionId)).disconnectSockets(false)));
  }

  /** Tells this node's sockets (only) to reconnect elsewhere. */
  drain(reason: string): void {
    this.safely(() => this.consumer.local.emit('reconnect', { reason }));
    this.agents.drain(reason);
  }

  /** Typing from a REST session: to the conversation's agents only. */
  typingFromCustomer(conversationId: string, from: Participant, typing: boolean): void {
    this.agents.typingFromCustomer(conversationId, from, typing);
  }

  // ---- AgentNotifier (the /agent side) ----

  notifyAgent<E extends keyof AgentServerToClient>(
    ccid: string,
    agentId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void> {
    return this.agents.notifyAgent(ccid, agentId, event, payload);
  }

  notifyConversation<E extends keyof AgentServerToClient>(
    conversationId: string,
    event: E,
    payload: Parameters<AgentServerToClient[E]>[0],
  ): Promise<void> {
    return this.agents.notifyConversation(conversationId, event, payload);
  }

  removeAgent(ccid: string, agentId: string, conversationId: string): Promise<void> {
    return this.agents.removeAgent(ccid, agentId, conversationId);
  }

  // ---- internals ----

  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.log.warn({ err }, 'socket fan-out failed');
    }
  }

  private deliverLocal(messages: ChatMessage[]): void {
    if (!Array.isArray(messages)) return;
    for (const m of messages) {
      const ids = this.consumer.adapter.rooms.get(convRoom(m.conversationId));
      for (const id of ids ?? []) this.consumer.sockets.get(id)?.data.delivery?.push(m);
      this.agents.deliverLocal(m);
    }
  }

  // ---- /consumer ----

  private async clampSeq(conversationId: string, ccid: string, lastSeq: number): Promise<number> {
    if (lastSeq === 0) return 0;
    const conv = await this.deps.store.get(conversationId, ccid);
    if (!conv) throw new AppError('CONVERSATION_NOT_FOUND');
    return Math.min(lastSeq, conv.lastSeq);
  }

  private async authConsumer(socket: ConsumerSocket): Promise<void> {
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
    socket.data = { claims, nickname: session.nickname ?? undefined, lastSeq };
  }

  private onConsumer(socket: ConsumerSocket): void {
    const data = socket.data;
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

    const b = buckets(this.deps.config.chat);
    refuseUnknown(socket, CONSUMER_EVENTS, b.other);
    const on = acked<ConsumerClientToServer>(socket, this.log);
    on('message.send', b.messages, async (payload) => {
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
      this.agents.typingFromCustomer(claims.conversationId, from, r.data.typing);
    });
    on('session.end', b.other, async () => {
      await this.deps.service.endSession(claims.sessionId, 'customer');
      return undefined;
    });
    on('resume', b.other, async (payload) => {
      const p = parse(resumeSchema, payload);
      return {
        replayed: await delivery.resume(await this.clampSeq(claims.conversationId, claims.ccid, p.lastSeq)),
      };
    });
  }
}
