/**
 * The agent's side of the `/agent` namespace, without UI: conversations held by id, their
 * transcripts by seq (so a replay or an echo never shows a message twice), suggestions, the
 * agent's ready state (re-applied after every reconnect), and sends kept until acked and resent
 * with the same `clientMessageId` after a reconnect.
 */
import { io, type Socket } from 'socket.io-client';
import {
  AGENT_NAMESPACE,
  type AgentClientToServer,
  type AgentServerToClient,
  type ChatMessage,
  type ConversationState,
  type ConversationSummary,
  type ErrorBody,
  type Participant,
  SOCKET_PATH,
  type Suggestion,
  type Visibility,
} from '../../src/gateway/chat/events.js';
import { newId } from '../shared/ids.js';

export interface PendingAgentSend {
  clientMessageId: string;
  conversationId: string;
  text: string;
  visibility: Visibility;
  failed?: ErrorBody;
}

export interface Conversation {
  summary: ConversationSummary;
  messages: ChatMessage[];
  held: Set<number>;
  lastSeq: number;
  suggestions: Suggestion[];
  history: ConversationSummary[];
  typing?: { from: Participant; until: number };
}

export type AgentStatus = 'connecting' | 'live' | 'offline';

export interface AgentEvents {
  /** Something about this conversation changed (or the list, when undefined). */
  change: (conversationId?: string) => void;
  assigned: (c: Conversation) => void;
  status: (s: AgentStatus) => void;
  state: (s: 'ready' | 'notready') => void;
  authError: (e: ErrorBody) => void;
  notice: (text: string) => void;
}

const TIMEOUT = 10_000;
const STATE_KEY = 'nexus.agent.state';

type QueueUpdate = Parameters<AgentServerToClient['queue.updated']>[0];
type Delivery = NonNullable<ChatMessage['delivery']>;

export class AgentClient {
  readonly conversations = new Map<string, Conversation>();
  /** What waits in the agent's queues (summaries only: nobody's conversation yet), by id. */
  readonly queued = new Map<string, ConversationSummary>();
  /** The queues the agent serves, as the gateway listed them. */
  queues: string[] = [];
  /** The newest queue update held per conversation: an older one arriving late changes nothing. */
  private readonly queueSeen = new Map<string, string>();
  /** Queue updates that arrived while a list was in flight: applied over its answer. */
  private queueLog: QueueUpdate[] | undefined;
  readonly pending: PendingAgentSend[] = [];
  private socket: Socket<AgentServerToClient, AgentClientToServer> | undefined;
  /** Delivery states that came before their message, by message id. */
  private readonly earlyDelivery = new Map<string, Delivery>();
  private readonly handlers = new Map<keyof AgentEvents, Set<(...a: any[]) => void>>();
  /** What the agent chose in this tab; undefined until they choose (nothing is sent then). */
  private desired: 'ready' | 'notready' | undefined;
  private _status: AgentStatus = 'connecting';
  private flushing = false;
  /** Conversations this page is showing: re-joined (with the seq held) after a reconnect. */
  private readonly watching = new Set<string>();
  /** Conversations being caught up, or that refused a join (not ours): not asked again. */
  private readonly catchingUp = new Set<string>();
  /** The token the socket connected with; also the bearer for the gateway's media route. */
  private token: string | undefined;

  constructor(
    readonly gateway: string,
    private readonly storage: Storage | null,
  ) {
    const saved = storage?.getItem(STATE_KEY);
    this.desired = saved === 'ready' || saved === 'notready' ? saved : undefined;
  }

  on<K extends keyof AgentEvents>(event: K, fn: AgentEvents[K]): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  private emit<K extends keyof AgentEvents>(event: K, ...args: Parameters<AgentEvents[K]>): void {
    for (const fn of this.handlers.get(event) ?? []) {
      try {
        fn(...args);
      } catch (err) {
        console.error('nexus console: a handler failed', err);
      }
    }
  }

  get status(): AgentStatus {
    return this._status;
  }

  get state(): 'ready' | 'notready' {
    return this.desired ?? 'notready';
  }

  /** A file of the gateway's media route (a customer's photo or voice message), with the agent's token. */
  async fetchMedia(path: string): Promise<Blob> {
    if (!this.token) throw new Error('not connected');
    const res = await fetch(this.gateway + path, {
      headers: { authorization: `Bearer ${this.token}` },
      credentials: 'omit',
    });
    if (!res.ok) throw new Error(`media: HTTP ${res.status}`);
    return res.blob();
  }

  connect(token: string): void {
    this.disconnect();
    this.token = token;
    const socket: Socket<AgentServerToClient, AgentClientToServer> = io(this.gateway + AGENT_NAMESPACE, {
      path: SOCKET_PATH,
      auth: { token },
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      withCredentials: false,
    });
    this.socket = socket;
    this.setStatus('connecting');

    socket.on('connect', () => {
      this.setStatus('live');
      void this.afterConnect();
    });
    socket.on('connect_error', (err: Error & { data?: ErrorBody }) => {
      // A refusal by the gateway (not the network): the token is not valid for this console.
      if (err.data && err.data.retryable === false) {
        this.disconnect();
        this.emit('authError', err.data);
        return;
      }
      this.setStatus('offline');
    });
    socket.on('disconnect', (reason) => {
      this.setStatus('offline');
      if (reason === 'io server disconnect')
        setTimeout(() => this.socket === socket && socket.connect(), 300);
    });
    socket.on('reconnect', () => {
      socket.disconnect();
      setTimeout(() => this.socket === socket && socket.connect(), 100);
    });
    socket.on('conversation.assigned', (p) => {
      const c = this.upsert(p.conversation);
      this.queued.delete(c.summary.id);
      for (const m of p.transcript ?? []) this.take(m);
      c.history = p.history ?? [];
      this.watching.add(c.summary.id);
      this.emit('assigned', c);
      this.emit('change', c.summary.id);
      this.emit('change');
    });
    socket.on('conversation.updated', (p) => {
      this.upsert(p.conversation);
      this.emit('change', p.conversation.id);
      this.emit('change');
      this.catchUp(p.conversation.id);
    });
    socket.on('queue.updated', (u) => {
      this.queueLog?.push(u);
      if (this.queueUpdate(u)) this.emit('change');
    });
    socket.on('message', (m) => {
      if (this.take(m)) this.emit('change', m.conversationId);
    });
    socket.on('message.updated', (u) => {
      if (this.setDelivery(u.conversationId, u.messageId, u.delivery)) this.emit('change', u.conversationId);
    });
    socket.on('typing', (p) => {
      const c = this.conversations.get(p.conversationId);
      if (!c || p.from.type === 'Agent') return;
      c.typing = p.typing ? { from: p.from, until: Date.now() + 6000 } : undefined;
      this.emit('change', p.conversationId);
    });
    socket.on('suggestion', (s) => {
      const c = this.conversations.get(s.conversationId);
      if (!c || c.suggestions.some((x) => x.id === s.id)) return;
      c.suggestions.push(s);
      this.emit('change', s.conversationId);
    });
  }

  disconnect(): void {
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
  }

  private setStatus(s: AgentStatus): void {
    if (s === this._status) return;
    this._status = s;
    this.emit('status', s);
  }

  private async afterConnect(): Promise<void> {
    // Re-applies only a choice made in this tab: a conversation tab opened next to the
    // communication tab must not flip the agent's state.
    if (this.desired) await this.applyState();
    await this.refresh();
    for (const id of this.watching) await this.join(id);
    void this.flush();
  }

  private async applyState(): Promise<void> {
    const s = this.socket;
    const state = this.desired;
    if (!s?.connected || !state) return;
    try {
      const ack = await s.timeout(TIMEOUT).emitWithAck('agent.state', { state });
      if (!ack.ok) this.emit('notice', ack.error.message);
    } catch {
      // Re-applied on the next connect.
    }
    this.emit('state', state);
  }

  async setState(state: 'ready' | 'notready'): Promise<void> {
    this.desired = state;
    try {
      this.storage?.setItem(STATE_KEY, state);
    } catch {
      // not kept across reloads then
    }
    await this.applyState();
  }

  /**
   * Reloads the agent's conversations (assigned, async hold, undelivered: an SMS reply failed for
   * good, still the agent's) and what waits in its queues; listing
   * `queued` also subscribes this socket to `queue.updated` of those queues.
   */
  async refresh(): Promise<void> {
    const s = this.socket;
    if (!s?.connected) return;
    const log: QueueUpdate[] = [];
    this.queueLog = log;
    try {
      const states: ConversationState[] = ['assigned', 'asynchold', 'undelivered', 'queued'];
      const ack = await s.timeout(TIMEOUT).emitWithAck('conversation.list', { states });
      if (!ack.ok) {
        this.emit('notice', ack.error.message);
        return;
      }
      const own = ack.conversations.filter((c: ConversationSummary) => c.state !== 'queued');
      for (const summary of own) this.upsert(summary);
      this.queues = [...(ack.queues ?? [])].sort();
      this.queued.clear();
      for (const c of ack.conversations) {
        if (c.state !== 'queued' || !c.queue) continue;
        const seen = this.queueSeen.get(c.id);
        if (!seen || seen <= c.updatedAt) this.queued.set(c.id, c);
      }
      // What changed while the list was answered wins over it when newer.
      for (const u of log) this.queueUpdate(u);
      this.emit('change');
      for (const summary of own) this.catchUp(summary.id);
    } catch {
      // offline: the next connect refreshes
    } finally {
      if (this.queueLog === log) this.queueLog = undefined;
    }
  }

  /** Applies a queue update unless a newer one is held; true when the waiting list changed. */
  private queueUpdate(u: QueueUpdate): boolean {
    const c = u.conversation;
    if (!c?.id || typeof c.updatedAt !== 'string') return false;
    const seen = this.queueSeen.get(c.id);
    if (seen && seen > c.updatedAt) return false;
    this.queueSeen.set(c.id, c.updatedAt);
    if (c.state === 'queued' && c.queue && this.queues.includes(c.queue)) {
      this.queued.set(c.id, c);
      return true;
    }
    return this.queued.delete(c.id);
  }

  /**
   * A conversation of this agent whose messages this page does not all hold (its assignment notice
   * was missed, or the page was reloaded): join it, which replays from the seq held.
   */
  private catchUp(conversationId: string): void {
    const c = this.conversations.get(conversationId);
    if (!c || this.catchingUp.has(conversationId)) return;
    if (c.summary.state !== 'assigned' && c.summary.state !== 'asynchold') return;
    if (c.lastSeq >= c.summary.lastSeq) return;
    this.catchingUp.add(conversationId);
    void this.join(conversationId).then((err) => {
      // Refused (another agent's): leave it; otherwise it may be caught up again later.
      if (!err || err.retryable) this.catchingUp.delete(conversationId);
    });
  }

  /** Opens a conversation: replays what this page does not hold yet. */
  async join(conversationId: string): Promise<ErrorBody | undefined> {
    this.watching.add(conversationId);
    const s = this.socket;
    if (!s?.connected) return undefined;
    const held = this.conversations.get(conversationId);
    try {
      const ack = await s
        .timeout(TIMEOUT)
        .emitWithAck('conversation.join', { conversationId, lastSeq: held?.lastSeq ?? 0 });
      if (!ack.ok) return ack.error;
      this.upsert(ack.conversation);
      this.emit('change', conversationId);
      this.emit('change');
      return undefined;
    } catch {
      return {
        code: 0,
        name: 'TIMEOUT',
        message: 'The gateway did not answer; retrying when connected.',
        retryable: true,
      };
    }
  }

  send(conversationId: string, text: string, visibility: Visibility): void {
    const t = text.trim();
    if (!t) return;
    this.pending.push({ clientMessageId: newId(), conversationId, text: t.slice(0, 4000), visibility });
    this.emit('change', conversationId);
    void this.flush();
  }

  retry(clientMessageId: string): void {
    const p = this.pending.find((x) => x.clientMessageId === clientMessageId);
    if (!p) return;
    p.failed = undefined;
    void this.flush();
  }

  discard(clientMessageId: string): void {
    const i = this.pending.findIndex((x) => x.clientMessageId === clientMessageId);
    if (i < 0) return;
    const [p] = this.pending.splice(i, 1);
    this.emit('change', p.conversationId);
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (const p of [...this.pending]) {
        const s = this.socket;
        if (!s?.connected) return;
        if (p.failed) continue;
        let ack: Awaited<ReturnType<AgentClientToServer['message.send']>> | any;
        try {
          ack = await s.timeout(TIMEOUT).emitWithAck('message.send', {
            conversationId: p.conversationId,
            clientMessageId: p.clientMessageId,
            type: 'Text',
            text: p.text,
            visibility: p.visibility,
          });
        } catch {
          return; // resent with the same id after the reconnect
        }
        const i = this.pending.indexOf(p);
        if (ack.ok) {
          if (i >= 0) this.pending.splice(i, 1);
          this.take(
            {
              id: ack.id,
              conversationId: p.conversationId,
              seq: ack.seq,
              type: 'Text',
              from: { participantId: 'me', type: 'Agent', nickname: 'You' },
              text: p.text,
              clientMessageId: p.clientMessageId,
              timestamp: new Date().toISOString(),
              visibility: p.visibility,
            },
            false,
          );
        } else if (ack.error.retryable) {
          setTimeout(() => void this.flush(), 2000);
          return;
        } else {
          p.failed = ack.error;
        }
        this.emit('change', p.conversationId);
      }
    } finally {
      this.flushing = false;
    }
  }

  typing(conversationId: string, on: boolean): void {
    this.socket?.volatile.emit('typing', { conversationId, typing: on });
  }

  async transfer(
    conversationId: string,
    to: { queue?: string; agentId?: string },
  ): Promise<ErrorBody | undefined> {
    return this.act(
      () => this.socket!.timeout(TIMEOUT).emitWithAck('conversation.transfer', { conversationId, ...to }),
      (a) => {
        if (a.conversation) this.upsert(a.conversation);
      },
    );
  }

  async done(conversationId: string): Promise<ErrorBody | undefined> {
    const err = await this.act(() =>
      this.socket!.timeout(TIMEOUT).emitWithAck('conversation.done', { conversationId }),
    );
    if (!err) {
      const c = this.conversations.get(conversationId);
      if (c) c.summary = { ...c.summary, state: 'done' };
      this.watching.delete(conversationId);
      this.emit('change', conversationId);
      this.emit('change');
    }
    return err;
  }

  /** Takes a suggestion off the list without feedback (the agent is editing it in the composer). */
  setSuggestionAside(conversationId: string, suggestionId: string): void {
    const c = this.conversations.get(conversationId);
    if (c) c.suggestions = c.suggestions.filter((s) => s.id !== suggestionId);
    this.emit('change', conversationId);
  }

  async suggestionFeedback(
    conversationId: string,
    suggestionId: string,
    action: 'used' | 'edited' | 'dismissed',
    text?: string,
  ): Promise<void> {
    const c = this.conversations.get(conversationId);
    if (c) c.suggestions = c.suggestions.filter((s) => s.id !== suggestionId);
    this.emit('change', conversationId);
    await this.act(() =>
      this.socket!.timeout(TIMEOUT).emitWithAck('suggestion.feedback', { suggestionId, action, text }),
    );
  }

  /** One of the contact's earlier conversations, read through a conversation the agent holds. */
  async contactHistory(
    conversationId: string,
    historyId: string,
  ): Promise<{ conversation: ConversationSummary; transcript: ChatMessage[] } | { error: ErrorBody }> {
    let got: { conversation: ConversationSummary; transcript: ChatMessage[] } | undefined;
    const error = await this.act(
      () => this.socket!.timeout(TIMEOUT).emitWithAck('contact.history', { conversationId, historyId }),
      (a) => {
        got = { conversation: a.conversation, transcript: a.transcript };
      },
    );
    return error || !got
      ? { error: error ?? { code: 0, name: 'EMPTY', message: 'No answer', retryable: true } }
      : got;
  }

  private async act<T extends { ok: boolean }>(
    run: () => Promise<T>,
    onOk?: (a: any) => void,
  ): Promise<ErrorBody | undefined> {
    if (!this.socket?.connected) {
      return {
        code: 0,
        name: 'OFFLINE',
        message: 'Not connected to the gateway; try again in a moment.',
        retryable: true,
      };
    }
    try {
      const ack: any = await run();
      if (!ack.ok) return ack.error as ErrorBody;
      onOk?.(ack);
      this.emit('change');
      return undefined;
    } catch {
      return { code: 0, name: 'TIMEOUT', message: 'The gateway did not answer in time.', retryable: true };
    }
  }

  private upsert(summary: ConversationSummary): Conversation {
    let c = this.conversations.get(summary.id);
    if (!c) {
      c = { summary, messages: [], held: new Set(), lastSeq: 0, suggestions: [], history: [] };
      this.conversations.set(summary.id, c);
    } else {
      c.summary = { ...c.summary, ...summary };
    }
    return c;
  }

  /** Holds a message once; true when it was new. */
  /**
   * A reply that left through a provider (SMS) changed delivery state: the newest state wins, so a
   * late `sent` never hides `delivered`. A state for a message not here yet waits for it.
   */
  private setDelivery(conversationId: string, messageId: string, delivery: Delivery): boolean {
    const c = this.conversations.get(conversationId);
    const i = c ? c.messages.findIndex((x) => x.id === messageId) : -1;
    if (!c || i < 0) {
      const had = this.earlyDelivery.get(messageId);
      if (!had || had.at <= delivery.at) this.earlyDelivery.set(messageId, delivery);
      return false;
    }
    const had = c.messages[i].delivery;
    if (had && (had.at > delivery.at || (had.at === delivery.at && had.state === delivery.state)))
      return false;
    c.messages[i] = { ...c.messages[i], delivery };
    return true;
  }

  private take(incoming: ChatMessage, ordered = true): boolean {
    if (!incoming || typeof incoming.seq !== 'number') return false;
    let m = incoming;
    let c = this.conversations.get(m.conversationId);
    if (!c) {
      const now = m.timestamp;
      c = this.upsert({
        id: m.conversationId,
        ccid: '',
        state: 'assigned',
        channel: 'chat',
        endpoint: '',
        customer: {},
        lastSeq: 0,
        createdAt: now,
        updatedAt: now,
      });
    }
    if (ordered && m.seq > c.lastSeq) c.lastSeq = m.seq;
    if (m.clientMessageId) {
      const i = this.pending.findIndex((p) => p.clientMessageId === m.clientMessageId);
      if (i >= 0) this.pending.splice(i, 1);
    }
    if (m.from.type !== 'Agent' && c.typing) c.typing = undefined;
    // A message seen again (a replay, a join) may carry a newer delivery state.
    if (c.held.has(m.seq)) return m.delivery ? this.setDelivery(c.summary.id, m.id, m.delivery) : false;
    c.held.add(m.seq);
    const early = this.earlyDelivery.get(m.id);
    if (early) {
      this.earlyDelivery.delete(m.id);
      if (!m.delivery || m.delivery.at <= early.at) m = { ...m, delivery: early };
    }
    let i = c.messages.length;
    while (i > 0 && c.messages[i - 1].seq > m.seq) i--;
    c.messages.splice(i, 0, m);
    if (m.seq > c.summary.lastSeq) c.summary = { ...c.summary, lastSeq: m.seq, updatedAt: m.timestamp };
    return true;
  }
}

export function customerName(s: ConversationSummary): string {
  const c = s.customer ?? {};
  const full = [c.firstName, c.lastName].filter(Boolean).join(' ');
  return full || c.nickname || c.email || c.phone || 'Customer';
}
