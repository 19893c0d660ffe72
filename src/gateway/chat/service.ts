/**
 * The chat service: the conversation and message store, the group-commit write path and the
 * realtime layer behind one object. It is what routing, the interactions API, provider channels
 * and the plugin bus use (`deps.chat`); routing plugs its logic in through hooks
 * (`setConversationRouter`, `setAgentActions`, `setCustomerSeen`) and reaches agents through `notifier`.
 */
import type { Server } from 'socket.io';
import type { NexusConfig } from '../../shared/config.js';
import type { Database, Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { counter, gauge, histogram, type Registry } from '../../shared/metrics.js';
import type { SharedState } from '../../shared/state/types.js';
import type { ChatMessage, Participant } from './events.js';
import { Realtime } from './realtime.js';
import { ChatStore, type SessionRow } from './store.js';
import { ChatTokens } from './tokens.js';
import type {
  AgentActions,
  AgentNotifier,
  AppendResult,
  Conversation,
  ConversationEvent,
  ConversationListener,
  ConversationRouter,
  NewConversation,
  NewMessage,
  StateChange,
} from './types.js';
import { type CommittedMessage, GroupCommitWriter, type TxHook } from './writer.js';

export type * from './types.js';

/**
 * Runs inside the transaction that creates a conversation or changes its state, with the events
 * the listeners hear after the commit (the very same objects): the plugin bus writes the outbox
 * rows of deliveries that must not be lost there, so they exist exactly when their cause does.
 */
export type ConversationTxHook = (q: Queryable, events: ConversationEvent[]) => Promise<void>;

type StateChanged = Extract<ConversationEvent, { type: 'conversation.state-changed' }>;

const stateChangedEvent = (before: Conversation, after: Conversation): StateChanged => ({
  type: 'conversation.state-changed',
  conversation: after,
  previous: { state: before.state, queue: before.queue, agentId: before.agentId },
});
export { ChatTokens } from './tokens.js';

export interface ChatServiceDeps {
  config: NexusConfig;
  db: Database;
  state: SharedState;
  io: Server;
  log: Logger;
  registry?: Registry;
}

export interface ChatSession {
  sessionId: string;
  participantId: string;
  transportId: string;
  conversation: Conversation;
  clientToken: string;
  selfUri: string;
}

export const selfUri = (sessionId: string) => `/nexus/v3/chat/sessions/${sessionId}`;

export class ChatService {
  readonly name = 'chat';
  readonly tokens: ChatTokens;
  readonly store: ChatStore;
  /** Delivers agent-side events (conversation.assigned, conversation.updated, suggestion). */
  readonly notifier: AgentNotifier;
  private readonly writer: GroupCommitWriter;
  private readonly realtime: Realtime;
  private readonly listeners = new Set<ConversationListener>();
  private readonly conversationHooks: ConversationTxHook[] = [];
  /** State changes recorded in someone else's transaction, by their `after`, until announced. */
  private readonly recorded = new WeakMap<Conversation, StateChanged>();
  private router: ConversationRouter | undefined;
  private actions: AgentActions | undefined;
  private customerSeenHook: ((conversationId: string) => void) | undefined;
  private readonly log: Logger;
  private readonly messagesTotal;

  constructor(deps: ChatServiceDeps) {
    this.log = deps.log;
    this.tokens = ChatTokens.fromConfig(deps.config);
    this.store = new ChatStore(deps.db);
    const reg = deps.registry;
    this.messagesTotal = reg
      ? counter(reg, 'nexus_chat_messages_total', 'Chat messages committed.', ['from'])
      : undefined;
    const batchSize = reg
      ? histogram(
          reg,
          'nexus_chat_commit_batch_size',
          'Messages per group-commit transaction.',
          [],
          [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
        )
      : undefined;
    const commitMs = reg
      ? histogram(
          reg,
          'nexus_chat_commit_duration_milliseconds',
          'Duration of a group-commit transaction.',
          ['result'],
          [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000],
        )
      : undefined;
    const sockets = reg
      ? gauge(reg, 'nexus_chat_sockets', 'Connected chat sockets on this node.', ['namespace'])
      : undefined;
    this.writer = new GroupCommitWriter(deps.db, {
      windowMs: deps.config.chat.commitWindowMs,
      maxBatch: deps.config.chat.commitMaxBatch,
      // Never more than the pool holds, and one on PGlite (a single connection).
      maxInflight: deps.db.embedded
        ? 1
        : Math.min(deps.config.chat.maxInflightCommits, deps.config.db.poolSize),
      log: deps.log,
      onCommitted: (c) => this.committed(c),
      onBatch: (size, ms, ok) => {
        batchSize?.observe(size);
        commitMs?.observe({ result: ok ? 'committed' : 'failed' }, ms);
      },
    });
    this.realtime = new Realtime({
      io: deps.io,
      config: deps.config,
      state: deps.state,
      store: this.store,
      db: deps.db,
      tokens: this.tokens,
      service: this,
      log: deps.log,
      onSocket: (namespace, delta) => sockets?.inc({ namespace }, delta),
    });
    this.notifier = this.realtime;
  }

  async start(): Promise<void> {
    this.realtime.start();
  }

  /** This node is going away: its sockets are told to reconnect (to any node) with their last seq. */
  drain(reason: string): void {
    this.realtime.drain(reason);
  }

  /** Commits what is pending; later appends fail with SHUTTING_DOWN. */
  async close(): Promise<void> {
    await this.writer.close();
  }

  // ---- hooks ----

  /** Routing's hook for new consumer conversations; without one they stay `queued`. */
  setConversationRouter(router: ConversationRouter | undefined): void {
    this.router = router;
  }

  /** Routing's logic behind agent.state, conversation.join/transfer/done/list, suggestion.feedback. */
  setAgentActions(actions: AgentActions | undefined): void {
    this.actions = actions;
  }

  /** Routing's note that a REST request of a session came in: its customer is here. */
  setCustomerSeen(hook: ((conversationId: string) => void) | undefined): void {
    this.customerSeenHook = hook;
  }

  /** A REST request of a session of this conversation (the customer holds no socket here). */
  customerSeen(conversationId: string): void {
    this.customerSeenHook?.(conversationId);
  }

  get agentActions(): AgentActions | undefined {
    return this.actions;
  }

  /** Subscribes to conversation events of this node; returns the unsubscribe function. */
  onConversationEvent(listener: ConversationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs inside each message batch's transaction (e.g. a durable outbox). */
  addTxHook(hook: TxHook): () => void {
    return this.writer.addTxHook(hook);
  }

  /** Runs inside every transaction that creates a conversation or changes its state. */
  addConversationTxHook(hook: ConversationTxHook): () => void {
    this.conversationHooks.push(hook);
    return () => {
      const i = this.conversationHooks.indexOf(hook);
      if (i >= 0) this.conversationHooks.splice(i, 1);
    };
  }

  private async inTx(q: Queryable, events: ConversationEvent[]): Promise<void> {
    for (const hook of this.conversationHooks) await hook(q, events);
  }

  // ---- conversations ----

  async createConversation(input: NewConversation): Promise<Conversation> {
    let event!: ConversationEvent;
    const conversation = await this.store.createConversation(input, (q, conversation) => {
      event = { type: 'conversation.created', conversation };
      return this.inTx(q, [event]);
    });
    this.emit(event);
    return conversation;
  }

  /**
   * A Chat v3 session: a new conversation, its customer participant and a client token. The
   * conversation is created where routing places it (`placeNew`); a placement that fails creates
   * nothing.
   */
  /**
   * A customer's session and its conversation. `within` runs in their transaction (a channel's own
   * record of the conversation, e.g. the SMS thread), so neither exists without the other.
   */
  async createSession(
    input: NewConversation,
    within?: (q: Queryable, created: { conversationId: string; participantId: string }) => Promise<void>,
  ): Promise<ChatSession> {
    const placed = await this.placeNew(input);
    let event!: ConversationEvent;
    const { conversation, session } = await this.store.createSession(placed, async (q, conversation, s) => {
      event = { type: 'conversation.created', conversation };
      await this.inTx(q, [event]);
      await within?.(q, { conversationId: conversation.id, participantId: s.participant_id });
    });
    const clientToken = await this.tokens.signClientToken({
      sessionId: session.id,
      participantId: session.participant_id,
      transportId: session.transport_id,
      conversationId: conversation.id,
      ccid: conversation.ccid,
    });
    this.emit(event);
    if (this.router) {
      // Created and placed: a failure to serve it now is picked up by routing's sweep.
      await this.router
        .onNewConversation(conversation)
        .catch((err) =>
          this.log.error({ err, conversationId: conversation.id }, 'routing a new conversation failed'),
        );
    }
    return {
      sessionId: session.id,
      participantId: session.participant_id,
      transportId: session.transport_id,
      conversation,
      clientToken,
      selfUri: selfUri(session.id),
    };
  }

  get(conversationId: string, ccid?: string): Promise<Conversation | undefined> {
    return this.store.get(conversationId, ccid);
  }

  private async placeNew(input: NewConversation): Promise<NewConversation> {
    if (!this.router?.placeNew) return input;
    try {
      return await this.router.placeNew(input);
    } catch (err) {
      // The contact's tenant is gone (its key was still cached): as the insert would say.
      if ((err as { code?: string }).code === '23503')
        throw new AppError('TENANT_NOT_FOUND', undefined, undefined, { cause: err });
      throw err;
    }
  }

  session(sessionId: string): Promise<SessionRow | undefined> {
    return this.store.session(sessionId);
  }

  /**
   * Appends a message: committed with the next seq by the group-commit writer, then fanned out.
   * With `ccid`, a conversation of another tenant is CONVERSATION_NOT_FOUND.
   */
  append(conversationId: string, message: NewMessage, opts: { ccid?: string } = {}): Promise<AppendResult> {
    return this.writer.append(conversationId, message, opts.ccid);
  }

  /**
   * Messages after `afterSeq`, in order; the customer audience never sees `agents` notes, the
   * agent audience sees each reply's current delivery state (SMS).
   */
  transcript(
    conversationId: string,
    opts: { afterSeq?: number; audience: 'customer' | 'agent'; limit?: number },
  ): Promise<ChatMessage[]> {
    return this.store.transcript(conversationId, { ...opts, delivery: opts.audience === 'agent' });
  }

  /**
   * Changes state, queue, agent or contact (compare-and-set with `ifState`). Emits
   * `conversation.state-changed` and sends `conversation.updated` to the conversation's agents.
   * Returns undefined when the conversation does not exist or `ifState` did not match.
   */
  async setState(conversationId: string, change: StateChange): Promise<Conversation | undefined> {
    let event!: StateChanged;
    const r = await this.store.setState(conversationId, change, (q, before, after) => {
      event = stateChangedEvent(before, after);
      return this.inTx(q, [event]);
    });
    if (!r) return undefined;
    const { after } = r;
    this.emit(event);
    await this.realtime.notifyConversation(after.id, 'conversation.updated', { conversation: after });
    return after;
  }

  /**
   * For a state change committed by someone else's SQL (routing's capacity-safe assignment): call
   * inside that transaction, before its commit. The conversation tx hooks run with the event that
   * `announceStateChange(before, after)` emits after the commit (found by `after`).
   */
  async recordStateChange(q: Queryable, before: Conversation, after: Conversation): Promise<void> {
    const event = stateChangedEvent(before, after);
    await this.inTx(q, [event]);
    this.recorded.set(after, event);
  }

  /**
   * After the commit of a state change made by someone else's SQL: emits its
   * `conversation.state-changed` to the listeners (the one `recordStateChange` recorded, if it
   * did). Sending `conversation.updated` to the agents is the caller's choice
   * (`notifier.notifyConversation`).
   */
  announceStateChange(before: Conversation, after: Conversation): void {
    const event = this.recorded.get(after) ?? stateChangedEvent(before, after);
    this.recorded.delete(after);
    this.emit(event);
  }

  /**
   * Ends a customer's session: a ParticipantLeft message, `session.ended` to its sockets (which are
   * then disconnected), and a `session.ended` event (routing puts the conversation on async hold).
   * False when it had already ended.
   */
  async endSession(sessionId: string, reason: string): Promise<boolean> {
    const session = await this.store.session(sessionId);
    if (!session) throw new AppError('SESSION_NOT_FOUND');
    if (!(await this.store.endSession(sessionId))) return false;
    const from: Participant = {
      participantId: session.participant_id,
      type: 'Customer',
      ...(session.nickname ? { nickname: session.nickname } : {}),
    };
    await this.append(session.conversation_id, { type: 'ParticipantLeft', from, visibility: 'all' }).catch(
      (err) => {
        // A conversation already done takes no message; the session is ended all the same.
        if (!(err instanceof AppError && err.errorName === 'CONVERSATION_CLOSED')) throw err;
      },
    );
    this.realtime.sessionEnded(sessionId, session.conversation_id, reason);
    this.emit({
      type: 'session.ended',
      ccid: session.ccid,
      conversationId: session.conversation_id,
      sessionId,
      reason,
    });
    return true;
  }

  /** Typing from a REST client: volatile, to the conversation's agents. */
  typingFromCustomer(conversationId: string, from: Participant, typing: boolean): void {
    this.realtime.typingFromCustomer(conversationId, from, typing);
  }

  // ---- internals ----

  private committed(committed: CommittedMessage[]): void {
    this.realtime.fanOut(committed);
    for (const c of committed) {
      this.messagesTotal?.inc({ from: c.message.from.type });
      this.emit({
        type: 'message.created',
        ccid: c.ccid,
        conversationId: c.message.conversationId,
        message: c.message,
        ...(c.state ? { conversationState: c.state } : {}),
      });
    }
  }

  private emit(event: ConversationEvent): void {
    for (const l of this.listeners) {
      try {
        const r = l(event);
        if (r && typeof (r as Promise<void>).catch === 'function') {
          (r as Promise<void>).catch((err) =>
            this.log.error({ err, event: event.type }, 'conversation listener failed'),
          );
        }
      } catch (err) {
        this.log.error({ err, event: event.type }, 'conversation listener failed');
      }
    }
  }
}
