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
 * And what a console shows of its conversations and queues: `conversation.updated` (to the
 * sockets that hold a conversation) and `queue.updated` (to the sockets watching a queue) go once,
 * through the adapter, too. Each agent socket keeps an AgentView of what it was told (the newest
 * summary of each conversation, what it was told waits in its queues); after the refill every
 * socket is told what the database holds that is newer than that: the current summary of each
 * conversation it holds (and it lets go of those no longer its agent's, as the router's `remove`
 * would have made it), and for its queues each conversation that came, changed or left. One query
 * per kind for all sockets (two for queues: those waiting now, and those the sockets were told of
 * that no longer are).
 */
import type { Queryable } from '../../shared/db/pool.js';
import { contactHistory, summary } from '../routing/agent-view.js';
import type { OrderedDelivery } from './delivery.js';
import type { ChatMessage, ConversationSummary } from './events.js';
import type { AgentCommand, AgentNamespace } from './realtime-agent.js';
import {
  type ChatStore,
  type ConversationRow,
  MESSAGE_COLUMNS,
  type MessageRow,
  toConversation,
  toMessage,
} from './store.js';
import type { Conversation } from './types.js';

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

/**
 * What one agent socket was told of conversations and queues (AgentRealtime records each
 * `conversation.assigned`, `conversation.updated` and `queue.updated` it sends the socket, and the
 * summaries of its acks), so that a refill sends only what changed, and never a summary older than
 * one the socket already got: the console takes a `conversation.updated` as it comes.
 */
export class AgentView {
  /** The `updatedAt` of the newest summary of each conversation the socket was told of. */
  private readonly told = new Map<string, string>();
  /** What the socket was told waits in its queues: conversation id → queue and `updatedAt`. */
  readonly waiting = new Map<string, { queue: string; updatedAt: string }>();

  /** A `queue.updated` sent to the socket; `queues`: the queues it watches. */
  queueUpdate(u: { queue: string; conversation: ConversationSummary }, queues: ReadonlySet<string>): void {
    const c = u.conversation;
    const had = this.waiting.get(c.id);
    if (had && had.updatedAt > c.updatedAt) return;
    if (c.state === 'queued' && c.queue && queues.has(c.queue))
      this.waiting.set(c.id, { queue: c.queue, updatedAt: c.updatedAt });
    else this.waiting.delete(c.id);
  }

  /** A `conversation.assigned` sent to the socket: the console takes it off its queue list. */
  assigned(c: ConversationSummary): void {
    this.summary(c);
    this.waiting.delete(c.id);
  }

  /** A summary the socket got (in an event or an ack). */
  summary(c: Pick<ConversationSummary, 'id' | 'updatedAt'>): void {
    const had = this.told.get(c.id);
    if (!had || had < c.updatedAt) this.told.set(c.id, c.updatedAt);
  }

  /** A list answer: what it names as waiting is what the console shows waiting now. */
  listed(conversations: ConversationSummary[], queues: ReadonlySet<string>): void {
    this.waiting.clear();
    for (const c of conversations) {
      if (c.state === 'queued' && c.queue && queues.has(c.queue))
        this.waiting.set(c.id, { queue: c.queue, updatedAt: c.updatedAt });
      else this.summary(c);
    }
  }

  /** The socket no longer holds the conversation. */
  forget(conversationId: string): void {
    this.told.delete(conversationId);
  }

  /** Whether `c` is newer than anything the socket was told of it. */
  isNews(c: Pick<ConversationSummary, 'id' | 'updatedAt'>): boolean {
    const had = this.told.get(c.id);
    return !had || had < c.updatedAt;
  }
}

export interface HeldRefillDeps {
  db: Queryable;
  nsp: AgentNamespace;
  /** Runs an agent command on this node's sockets only (AgentRealtime.runCommand). */
  run: (cmd: Extract<AgentCommand, { kind: 'remove' }>) => void;
}

/** Current rows of these conversations, by id (one query). */
async function conversationsById(db: Queryable, ids: Iterable<string>): Promise<Map<string, Conversation>> {
  const list = [...new Set(ids)];
  if (!list.length) return new Map();
  const r = await db.query<ConversationRow>('SELECT * FROM conversations WHERE id = ANY($1::uuid[])', [list]);
  return new Map(r.rows.map((row) => [row.id, toConversation(row)]));
}

/**
 * The conversations this node's agent sockets hold, as the database has them now: each socket is
 * sent the current summary (`conversation.updated`) of those that changed since it was last told,
 * and lets go of those that are no longer its agent's or are Done (the router's `remove`, missed
 * too). With `movedOnly`, only those that went to someone else (before their messages are refilled:
 * what the next owner and the customer write is not the former agent's to read). Resolves to the
 * number of summaries sent.
 */
export async function refillHeld(deps: HeldRefillDeps, opts: { movedOnly: boolean }): Promise<number> {
  // The conversations each socket holds now: a refill running beside this one adds some.
  const held = [...deps.nsp.sockets.values()]
    .filter((s) => s.data.agent && s.data.deliveries.size)
    .map((s) => ({ s, ids: [...s.data.deliveries.keys()] }));
  const rows = await conversationsById(
    deps.db,
    held.flatMap((h) => h.ids),
  );
  const removals = new Map<string, Extract<AgentCommand, { kind: 'remove' }>>();
  let sent = 0;
  for (const { s, ids } of held) {
    const { agent, view } = s.data;
    for (const id of ids) {
      const c = rows.get(id);
      // Gone (its tenant was deleted): nothing to tell, nothing more to deliver.
      const moved = !c || (c.agentId !== agent.agentId && c.state !== 'done');
      if (opts.movedOnly && !moved) continue;
      if (c && s.connected && s.data.deliveries.has(id) && view.isNews(c)) {
        const conversation = summary(c);
        view.summary(conversation);
        s.emit('conversation.updated', { conversation });
        sent++;
      }
      if (moved || c.state === 'done')
        removals.set(`${agent.ccid}\u0000${agent.agentId}\u0000${id}`, {
          kind: 'remove',
          ccid: agent.ccid,
          agentId: agent.agentId,
          conversationId: id,
        });
    }
  }
  for (const cmd of removals.values()) deps.run(cmd);
  return sent;
}

/** As many waiting conversations per queue as the console's list shows. */
const QUEUE_LIMIT = 500;

/**
 * The queues this node's agent sockets watch, as the database has them now: each socket is sent
 * `queue.updated` for every conversation waiting there that it was not told of (or of an older
 * version), and for every conversation it was told waits there that no longer does (with its
 * current summary: the console drops it). Resolves to the number of updates sent.
 */
export async function refillQueues(db: Queryable, nsp: AgentNamespace): Promise<number> {
  const sockets = [...nsp.sockets.values()].filter((s) => s.data.agent && s.data.queues.size);
  if (!sockets.length) return 0;
  const pairs = new Map<string, { ccid: string; queue: string }>();
  for (const s of sockets)
    for (const queue of s.data.queues)
      pairs.set(`${s.data.agent.ccid}\u0000${queue}`, { ccid: s.data.agent.ccid, queue });
  const watched = [...pairs.values()];
  const r = await db.query<ConversationRow>(
    `SELECT c.* FROM unnest($1::text[], $2::text[]) AS w(ccid, queue)
     CROSS JOIN LATERAL (
       SELECT * FROM conversations c
        WHERE c.ccid = w.ccid AND c.queue = w.queue AND c.state = 'queued'
        ORDER BY c.queued_at NULLS FIRST, c.created_at, c.id LIMIT ${QUEUE_LIMIT}
     ) c`,
    [watched.map((w) => w.ccid), watched.map((w) => w.queue)],
  );
  const waiting = new Map<string, Conversation[]>();
  for (const row of r.rows) {
    const c = toConversation(row);
    const key = `${c.ccid}\u0000${c.queue}`;
    const list = waiting.get(key);
    if (list) list.push(c);
    else waiting.set(key, [c]);
  }
  // What the sockets were told waits that does not now: read as it is (one query for all).
  const now = new Set(r.rows.map((row) => row.id));
  const left = await conversationsById(
    db,
    sockets.flatMap((s) => [...s.data.view.waiting.keys()].filter((id) => !now.has(id))),
  );
  let sent = 0;
  for (const s of sockets) {
    const { agent, view } = s.data;
    const updates: Array<{ queue: string; conversation: ConversationSummary }> = [];
    for (const queue of s.data.queues)
      for (const c of waiting.get(`${agent.ccid}\u0000${queue}`) ?? []) {
        const had = view.waiting.get(c.id);
        if (!had || had.updatedAt < c.updatedAt) updates.push({ queue, conversation: summary(c) });
      }
    for (const [id, had] of view.waiting) {
      const c = left.get(id);
      if (c && had.updatedAt < c.updatedAt) updates.push({ queue: had.queue, conversation: summary(c) });
    }
    if (!s.connected) continue;
    for (const u of updates) {
      view.queueUpdate(u, s.data.queues);
      s.emit('queue.updated', u);
    }
    sent += updates.length;
  }
  return sent;
}

/** A socket's delivery of one conversation, to refill. */
export interface RefillTarget {
  conversationId: string;
  delivery: OrderedDelivery;
  /** Agents see each reply's delivery state (SMS); customers never do. */
  agent: boolean;
}

/** Messages per conversation per read, and conversations per statement. */
const MESSAGE_PAGE = 500;
const CONVERSATION_CHUNK = 500;

const BATCH_SQL = `SELECT ${MESSAGE_COLUMNS.split(', ')
  .map((c) => `m.${c}`)
  .join(', ')}, o.state AS delivery_state, o.updated_at AS delivery_at
  FROM unnest($1::uuid[], $2::bigint[]) AS w(id, after)
  CROSS JOIN LATERAL (
    SELECT * FROM messages m WHERE m.conversation_id = w.id AND m.seq > w.after ORDER BY m.seq LIMIT ${MESSAGE_PAGE}
  ) m
  LEFT JOIN sms_outbound o ON o.message_id = m.id AND o.conversation_id = m.conversation_id
  ORDER BY m.conversation_id, m.seq`;

/**
 * Refills these deliveries from the database with one statement for many conversations (paged),
 * instead of one read per socket: each conversation is read once from the lowest cursor of its
 * sockets, and every delivery is handed the messages in seq order (OrderedDelivery.push keeps its
 * guarantees: what it holds is skipped, a gap is filled by itself, notes never reach a customer).
 * Resolves to the number of messages handed over past the deliveries' cursors.
 */
export async function refillMessages(db: Queryable, targets: RefillTarget[]): Promise<number> {
  const byConversation = new Map<string, RefillTarget[]>();
  for (const t of targets) {
    const list = byConversation.get(t.conversationId);
    if (list) list.push(t);
    else byConversation.set(t.conversationId, [t]);
  }
  const after = new Map<string, number>();
  for (const [id, list] of byConversation) after.set(id, Math.min(...list.map((t) => t.delivery.cursor)));
  let pending = [...byConversation.keys()];
  let handed = 0;
  while (pending.length) {
    const more: string[] = [];
    for (let i = 0; i < pending.length; i += CONVERSATION_CHUNK) {
      const chunk = pending.slice(i, i + CONVERSATION_CHUNK);
      const r = await db.query<MessageRow>(BATCH_SQL, [chunk, chunk.map((id) => after.get(id) ?? 0)]);
      const read = new Map<string, ChatMessage[]>();
      for (const row of r.rows) {
        const m = toMessage(row);
        const list = read.get(m.conversationId);
        if (list) list.push(m);
        else read.set(m.conversationId, [m]);
      }
      for (const id of chunk) {
        const messages = read.get(id) ?? [];
        if (!messages.length) continue;
        for (const t of byConversation.get(id) ?? []) {
          for (const m of messages) {
            if (m.seq > t.delivery.cursor && (t.agent || m.visibility === 'all')) handed++;
            if (t.agent) t.delivery.push(m);
            else {
              const { delivery: _delivery, ...plain } = m;
              t.delivery.push(plain);
            }
          }
        }
        after.set(id, messages[messages.length - 1].seq);
        if (messages.length === MESSAGE_PAGE) more.push(id);
      }
    }
    pending = more;
  }
  return handed;
}
