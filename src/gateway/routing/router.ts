/**
 * The embedded router. Every decision that gives an agent a conversation is made in ONE PostgreSQL
 * transaction that holds the agent's row lock while it counts the agent's `assigned`
 * conversations, so no agent ever holds more than its capacity, whatever the number of nodes:
 * a second node deciding for the same agent either skips it (SKIP LOCKED) or waits for the lock
 * and then counts the first node's committed assignment.
 *
 * Fairness: queued conversations are served first come, first served (`queued_at`); the agent
 * chosen is the longest-idle ready, connected agent of the queue with room, where "idle since" is
 * the later of the moment it became ready and the moment it was last given a conversation.
 *
 * Assignment runs when a conversation is queued, when an agent becomes ready or finishes a
 * conversation, and on a periodic sweep (so that work a crashed node left is picked up).
 */
import type { Database, Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { counter, histogram, type Registry } from '../../shared/metrics.js';
import type { AgentStore } from '../agents/store.js';
import type { ContactStore } from '../contacts/store.js';
import type { EndpointStore } from '../endpoints/store.js';
import type { ConversationState, ConversationSummary } from '../chat/events.js';
import { type ConversationRow, isUuid, toConversation } from '../chat/store.js';
import type { Conversation, NewConversation } from '../chat/types.js';
import { agentConversations, announceAssigned, contactHistory } from './agent-view.js';
import { giveTo, hasRoom, LIVE, lockAgentWithRoom } from './capacity.js';
import { customerUnseen, PresenceSweep } from './presence.js';
import type { Change, ChatPort } from './types.js';

export interface RoutingOptions {
  db: Database;
  agents: AgentStore;
  endpoints: EndpointStore;
  contacts: ContactStore;
  log: Logger;
  registry?: Registry;
  /** How often the sweep re-runs assignment and refreshes this node's agent sockets. */
  sweepMs?: number;
  /** How long an agent socket counts as connected without a heartbeat (a crashed node's). */
  presenceTtlMs?: number;
  /** How many earlier conversations of the contact an agent is shown. */
  historyLimit?: number;
  /**
   * Durable customer presence (presence.ts): with it, the sweep marks the conversations whose
   * customer this node sees (`customersHere`) every presenceTtlMs / 3, and puts those no node has
   * seen for customerGraceMs + presenceTtlMs on hold (or ends them: `customerLeft`).
   */
  customerGraceMs?: number;
  /** The conversations whose customer this node sees now or saw since the last call. */
  customersHere?: () => string[];
}

/** Queue of a conversation that names neither an endpoint nor a queue. */
export const DEFAULT_QUEUE = 'default';

const SYSTEM = { participantId: 'system', type: 'System' as const, nickname: 'System' };

/** `bot`: back to a bot (the AI connector answers again; a System notice names the bot). */
type Placement = { queue: string } | { agentId: string } | { bot: string };

export class Routing {
  /** This node's agent sockets and customers, kept alive by the periodic sweep (presence.ts). */
  readonly presence: PresenceSweep;
  private chat: ChatPort | undefined;
  private readonly db: Database;
  private readonly log: Logger;
  private readonly historyLimit: number;
  /** Per tenant: a run in progress, and whether another was asked for meanwhile. */
  private readonly runs = new Map<string, { again: boolean; done: Promise<void> }>();
  private closed = false;
  private readonly metrics;

  constructor(private readonly opts: RoutingOptions) {
    const reg = opts.registry;
    this.metrics = reg
      ? {
          transitions: counter(
            reg,
            'nexus_routing_transitions_total',
            'Conversation state changes made by the router.',
            ['to'],
          ),
          queueWait: histogram(
            reg,
            'nexus_routing_queue_wait_seconds',
            'Time a conversation waited in its queue before an agent was assigned.',
            [],
            [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600],
          ),
        }
      : undefined;
    this.db = opts.db;
    this.log = opts.log;
    this.historyLimit = opts.historyLimit ?? 20;
    this.presence = new PresenceSweep({
      db: opts.db,
      agents: opts.agents,
      log: opts.log,
      sweepMs: opts.sweepMs ?? 2000,
      presenceTtlMs: opts.presenceTtlMs ?? 30_000,
      customerGraceMs: opts.customerGraceMs,
      customersHere: opts.customersHere,
      left: (ccid, id, unseenForMs) => this.customerLeft(ccid, id, { unseenForMs }),
      serve: () => this.serveQueues(),
    });
  }

  /** Chat's service is built after the modules; it is handed over before start. */
  attach(chat: ChatPort): void {
    this.chat = chat;
  }

  private get port(): ChatPort {
    if (!this.chat) throw new AppError('UNAVAILABLE', 'Routing is not connected to chat yet.');
    return this.chat;
  }

  start(): void {
    if (!this.closed) this.presence.start();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.presence.stop();
    await Promise.all([...this.runs.values()].map((r) => r.done.catch(() => undefined)));
    // This node's agents are no longer connected here; other nodes must not wait for the TTL.
    await this.presence.forgetNode();
  }

  /** The sweep's last step: serve every tenant with a queue (work a crashed node left too). */
  private async serveQueues(): Promise<void> {
    const r = await this.db.query<{ ccid: string }>(
      `SELECT DISTINCT ccid FROM conversations WHERE state = 'queued'`,
    );
    for (const { ccid } of r.rows) if (!this.closed) await this.kick(ccid);
  }

  /**
   * Runs assignment for a tenant until nothing more can be assigned. Calls while a run is in
   * progress fold into one more run after it, so bursts do not pile up transactions. Transitions
   * do not wait for it (`void`): a burst of new chats must not queue behind each other's runs.
   */
  kick(ccid: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const running = this.runs.get(ccid);
    if (running) {
      running.again = true;
      return running.done;
    }
    const entry = { again: false, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          await this.assignAll(ccid);
        } while (entry.again && !this.closed);
      } catch (err) {
        if (!this.closed) this.log.warn({ err: (err as Error).message, ccid }, 'assignment failed');
      } finally {
        this.runs.delete(ccid);
      }
    })();
    this.runs.set(ccid, entry);
    return entry.done;
  }

  private async assignAll(ccid: string): Promise<void> {
    // A queue whose oldest conversation nobody can take is skipped for the rest of this run (its
    // agents only fill up meanwhile; anything that frees room kicks a new run), so one queue
    // without room does not hold up the others nor cost a transaction per waiting conversation.
    const skip: string[] = [];
    while (!this.closed) {
      const r = await this.retrying(() =>
        this.db.tx(async (q) => {
          const one = await this.assignOne(q, ccid, skip);
          if (typeof one === 'object') await this.port.recordStateChange?.(q, one.before, one.after);
          return one;
        }),
      );
      if (r === 'none') return;
      if (typeof r === 'string') skip.push(r);
      else {
        this.metrics?.transitions.inc({ to: 'assigned' });
        if (r.waitedMs !== undefined) this.metrics?.queueWait.observe(r.waitedMs / 1000);
        await this.port.stateChanged(r.before, r.after);
        await this.announceAssigned(r.after);
      }
    }
  }

  /**
   * The oldest queued conversation that some agent could take, given to the longest-idle one.
   * Returns the conversation's queue when no agent of it has room.
   */
  private async assignOne(
    q: Queryable,
    ccid: string,
    skipQueues: string[],
  ): Promise<(Change & { waitedMs?: number }) | 'none' | string> {
    const c = await q.query<ConversationRow>(
      `SELECT c.* FROM conversations c
       WHERE c.ccid = $1 AND c.state = 'queued' AND NOT (c.queue = ANY($2::text[]))
         AND EXISTS (SELECT 1 FROM agents a WHERE a.ccid = c.ccid AND a.state = 'ready' AND a.capacity > 0
                     AND c.queue = ANY(a.queues) AND ${LIVE})
       ORDER BY c.queued_at NULLS FIRST, c.created_at, c.id
       FOR NO KEY UPDATE OF c SKIP LOCKED LIMIT 1`,
      [ccid, skipQueues],
    );
    const row = c.rows[0];
    if (!row) return 'none';
    const before = toConversation(row);
    const tried: string[] = [];
    for (;;) {
      const a = await q.query<{ agent_id: string; capacity: number }>(
        `SELECT a.agent_id, a.capacity FROM agents a
         WHERE a.ccid = $1 AND a.state = 'ready' AND a.capacity > 0 AND $2 = ANY(a.queues)
           AND NOT (a.agent_id = ANY($3::text[])) AND ${LIVE}
         ORDER BY a.idle_since, a.agent_id
         FOR NO KEY UPDATE OF a SKIP LOCKED LIMIT 1`,
        [ccid, row.queue, tried],
      );
      const agent = a.rows[0];
      if (!agent) return row.queue as string;
      if (await hasRoom(q, ccid, agent.agent_id, agent.capacity)) {
        const after = await giveTo(q, row.id, ccid, agent.agent_id);
        const queuedAt = (row as ConversationRow & { queued_at?: Date | null }).queued_at;
        return {
          before,
          after,
          ...(queuedAt ? { waitedMs: Date.now() - new Date(queuedAt).getTime() } : {}),
        };
      }
      tried.push(agent.agent_id);
    }
  }

  private async lockConversation(q: Queryable, ccid: string, id: string): Promise<ConversationRow> {
    if (!isUuid(id)) throw new AppError('INTERACTION_NOT_FOUND');
    const r = await q.query<ConversationRow>(
      'SELECT * FROM conversations WHERE id = $1 AND ccid = $2 FOR NO KEY UPDATE',
      [id, ccid],
    );
    if (!r.rows[0]) throw new AppError('INTERACTION_NOT_FOUND');
    return r.rows[0];
  }

  /** Deadlocks and serialization failures between nodes are retried a few times. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt >= 4 || (code !== '40P01' && code !== '40001')) throw err;
      }
    }
  }

  /** A change made in `q`'s transaction, recorded there for the plugin bus (its durable deliveries). */
  private async recorded<T extends Change>(q: Queryable, change: T): Promise<T> {
    await this.port.recordStateChange?.(q, change.before, change.after);
    return change;
  }

  // ---- transitions -------------------------------------------------------------------------

  /**
   * Where a new consumer conversation starts, decided BEFORE chat creates it (in its creating
   * transaction it is already there): matched to its contact, then owned by its endpoint's bot
   * (state `bot`) or waiting on its endpoint's queue. A bot's conversation is never queued first,
   * not even for an instant: no agent or queue watcher sees it, and it is submitted to a queue (the
   * interaction STARTED) only when the bot hands it over.
   */
  async placeNew(input: NewConversation): Promise<NewConversation> {
    const { ccid } = input;
    const contact = await this.opts.contacts.match(ccid, input.customer ?? {});
    const endpoint = input.endpoint ? await this.opts.endpoints.get(ccid, input.endpoint) : undefined;
    // An endpoint nobody provisioned queues on a queue of its own name, so nothing is lost.
    const queue = endpoint?.queue ?? input.queue ?? (input.endpoint || DEFAULT_QUEUE);
    return { ...input, contactId: contact.id, queue, state: endpoint?.bot ? 'bot' : 'queued' };
  }

  /** A new consumer conversation, committed where `placeNew` put it: a queued one is served. */
  async onNewConversation(conversation: Conversation): Promise<void> {
    this.metrics?.transitions.inc({ to: conversation.state });
    if (conversation.state === 'queued') await this.queued(conversation);
  }

  private async queued(c: Conversation): Promise<void> {
    await this.port.append(c.id, {
      type: 'Notice',
      from: SYSTEM,
      text: 'queued',
      content: { notice: 'queued', queue: c.queue },
    });
    void this.kick(c.ccid);
  }

  /**
   * The customer left (session ended, or disconnected past the grace period, or no node has seen
   * them for `unseenForMs`: re-checked under the conversation's lock, so a customer back meanwhile
   * keeps it). On an endpoint with `asyncHold: false` the conversation is Done. Otherwise an
   * assigned conversation goes on async hold with its agent (who may still return to it and
   * write), and a queued or bot conversation stays where it is: whoever takes it answers
   * asynchronously. Idempotent: several nodes may call it for one conversation at once.
   */
  async customerLeft(ccid: string, id: string, opts: { unseenForMs?: number } = {}): Promise<void> {
    const cur = await this.port.get(id, ccid);
    if (!cur || cur.state === 'done' || cur.state === 'asynchold') return;
    const endpoint = cur.endpoint ? await this.opts.endpoints.get(ccid, cur.endpoint) : undefined;
    if (endpoint && !endpoint.asyncHold) {
      await this.finish(ccid, id, { reason: 'customer left', unseenForMs: opts.unseenForMs }).catch((err) => {
        // Finished meanwhile by someone else: nothing left to do.
        if (!(err instanceof AppError && err.errorName === 'INTERACTION_DONE')) throw err;
      });
      return;
    }
    if (cur.state !== 'assigned') return;
    const change = await this.db.tx(async (q) => {
      const row = await this.lockConversation(q, ccid, id);
      if (row.state !== 'assigned') return undefined;
      if (opts.unseenForMs !== undefined && !(await customerUnseen(q, id, opts.unseenForMs)))
        return undefined;
      const r = await q.query<ConversationRow>(
        `UPDATE conversations SET state = 'asynchold', updated_at = now() WHERE id = $1 RETURNING *`,
        [id],
      );
      return this.recorded(q, { before: toConversation(row), after: toConversation(r.rows[0]) });
    });
    if (!change) return;
    this.metrics?.transitions.inc({ to: 'asynchold' });
    await this.port.stateChanged(change.before, change.after);
    // The held conversation no longer counts against the agent: others may flow in.
    void this.kick(ccid);
  }

  /**
   * The customer wrote into a conversation on async hold: it re-opens to the SAME agent when that
   * agent is ready, connected and has room, otherwise it goes back to its queue.
   */
  async customerReturned(ccid: string, id: string, stateAtCommit?: ConversationState): Promise<void> {
    // Every customer message comes through here. The writer read the conversation's state under its
    // lock when it committed the message, so only a message written on hold costs a transaction;
    // without that state (another caller), one cheap read first.
    if (stateAtCommit !== undefined) {
      if (stateAtCommit !== 'asynchold') return;
    } else {
      const held = await this.db.query(`SELECT 1 FROM conversations WHERE id = $1 AND state = 'asynchold'`, [
        id,
      ]);
      if (!held.rows.length) return;
    }
    const change = await this.retrying(() =>
      this.db.tx(async (q) => {
        const row = await q.query<ConversationRow>(
          `SELECT * FROM conversations WHERE id = $1 AND ccid = $2 AND state = 'asynchold' FOR NO KEY UPDATE`,
          [id, ccid],
        );
        const cur = row.rows[0];
        if (!cur) return undefined;
        const before = toConversation(cur);
        if (cur.agent_id) {
          try {
            await lockAgentWithRoom(q, ccid, cur.agent_id, true);
            // Seen now: a sweep must not hold it again before this node's next mark.
            const r = await q.query<ConversationRow>(
              `UPDATE conversations SET state = 'assigned', customer_seen_at = now(), updated_at = now()
               WHERE id = $1 RETURNING *`,
              [id],
            );
            return this.recorded(q, { before, after: toConversation(r.rows[0]), same: true });
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
          }
        }
        return this.recorded(q, {
          before,
          after: await this.requeue(q, id, cur.queue ?? DEFAULT_QUEUE, { customerSeen: true }),
          same: false,
        });
      }),
    );
    if (!change) return;
    this.metrics?.transitions.inc({ to: change.after.state });
    await this.port.stateChanged(change.before, change.after);
    if (change.same) {
      // Re-sent as an assignment so that sockets the agent opened since the hold are subscribed too.
      await this.announceAssigned(change.after, { joined: false });
    } else {
      if (change.before.agentId) await this.port.notifier.removeAgent(ccid, change.before.agentId, id);
      await this.queued(change.after);
    }
  }

  private async requeue(
    q: Queryable,
    id: string,
    queue: string,
    opts: { customerSeen?: boolean } = {},
  ): Promise<Conversation> {
    const r = await q.query<ConversationRow>(
      `UPDATE conversations SET state = 'queued', queue = $2, agent_id = NULL, queued_at = now(), updated_at = now()
         ${opts.customerSeen ? ', customer_seen_at = now()' : ''}
       WHERE id = $1 RETURNING *`,
      [id, queue],
    );
    return toConversation(r.rows[0]);
  }

  /**
   * Places a conversation: on a queue (it waits there for the router) or with one agent (who must
   * have room; `requireReady` for agent-initiated transfers). `fromAgent`: only that agent's
   * assigned conversation may move (an agent's transfer).
   */
  async place(
    ccid: string,
    id: string,
    target: Placement,
    opts: { fromAgent?: string; requireReady?: boolean } = {},
  ): Promise<Conversation> {
    const change = await this.retrying(() =>
      this.db.tx(async (q) => {
        const row = await this.lockConversation(q, ccid, id);
        const before = toConversation(row);
        if (row.state === 'done') throw new AppError('INTERACTION_DONE');
        if (opts.fromAgent !== undefined && (row.agent_id !== opts.fromAgent || row.state === 'queued')) {
          throw new AppError('NOT_ASSIGNED_AGENT');
        }
        if ('queue' in target)
          return this.recorded(q, { before, after: await this.requeue(q, id, target.queue) });
        if ('bot' in target) {
          const r = await q.query<ConversationRow>(
            `UPDATE conversations SET state = 'bot', agent_id = NULL, queued_at = NULL, updated_at = now()
             WHERE id = $1 RETURNING *`,
            [id],
          );
          return this.recorded(q, { before, after: toConversation(r.rows[0]) });
        }
        if (row.agent_id === target.agentId && row.state === 'assigned') return { before, after: before };
        await lockAgentWithRoom(q, ccid, target.agentId, opts.requireReady ?? true);
        return this.recorded(q, { before, after: await giveTo(q, id, ccid, target.agentId) });
      }),
    );
    const { before, after } = change;
    if (before === after) return after;
    this.metrics?.transitions.inc({ to: after.state });
    await this.port.stateChanged(before, after);
    if (before.agentId && before.agentId !== after.agentId && before.state !== 'queued') {
      await this.port.notifier.removeAgent(ccid, before.agentId, id);
      await this.participantLeft(before);
    }
    if (after.state === 'assigned') await this.announceAssigned(after);
    else if ('bot' in target) {
      // Agents see who has it now; the AI connector's planner reads the bot from this notice.
      await this.port.append(after.id, {
        type: 'Notice',
        from: SYSTEM,
        text: `bot: ${target.bot}`,
        content: { notice: 'bot', bot: target.bot },
        visibility: 'agents',
      });
    } else await this.queued(after);
    // Whoever gave the conversation away has room again.
    void this.kick(ccid);
    return after;
  }

  /** Marks a conversation Done: final; the agent can no longer join and the customer's session ends. */
  async finish(
    ccid: string,
    id: string,
    opts: { byAgent?: string; reason?: string; unseenForMs?: number } = {},
  ): Promise<Conversation> {
    const change = await this.db.tx(async (q) => {
      const row = await this.lockConversation(q, ccid, id);
      if (row.state === 'done') throw new AppError('INTERACTION_DONE');
      // The customer's absence (customerLeft), re-checked under the lock: back meanwhile, it stays.
      if (opts.unseenForMs !== undefined && !(await customerUnseen(q, id, opts.unseenForMs))) {
        return { before: toConversation(row), after: undefined };
      }
      if (opts.byAgent !== undefined && row.agent_id !== opts.byAgent)
        throw new AppError('NOT_ASSIGNED_AGENT');
      const r = await q.query<ConversationRow>(
        `UPDATE conversations SET state = 'done', done_at = now(), updated_at = now() WHERE id = $1 RETURNING *`,
        [id],
      );
      return this.recorded(q, { before: toConversation(row), after: toConversation(r.rows[0]) });
    });
    const { before, after } = change;
    if (!after) return before;
    this.metrics?.transitions.inc({ to: 'done' });
    await this.port.stateChanged(before, after);
    if (before.agentId) await this.port.notifier.removeAgent(ccid, before.agentId, id);
    await this.port.endSessions(id, opts.reason ?? 'done');
    void this.kick(ccid);
    return after;
  }

  /** Deletes an agent; its assigned and held conversations go back to their queues. */
  async removeAgent(ccid: string, agentId: string): Promise<boolean> {
    const r = await this.db.tx(async (q) => {
      // Conversations before the agent row: the same lock order as assignment, so no deadlock.
      const held = await q.query<ConversationRow>(
        `SELECT * FROM conversations WHERE ccid = $1 AND agent_id = $2 AND state IN ('assigned', 'asynchold')
         ORDER BY id FOR NO KEY UPDATE`,
        [ccid, agentId],
      );
      const changes: Change[] = [];
      for (const row of held.rows) {
        changes.push(
          await this.recorded(q, {
            before: toConversation(row),
            after: await this.requeue(q, row.id, row.queue ?? DEFAULT_QUEUE),
          }),
        );
      }
      const deleted = await this.opts.agents.delete(ccid, agentId, q);
      return { deleted, changes };
    });
    for (const c of r.changes) {
      await this.port.stateChanged(c.before, c.after);
      await this.port.notifier.removeAgent(ccid, agentId, c.after.id);
      await this.queued(c.after);
    }
    return r.deleted;
  }

  private async participantLeft(c: Conversation): Promise<void> {
    if (!c.agentId) return;
    await this.port.append(c.id, {
      type: 'ParticipantLeft',
      from: { participantId: c.agentId, type: 'Agent' },
    });
  }

  /** Tells the agent (all its sockets, any node) with the transcript and the contact's history. */
  private announceAssigned(after: Conversation, opts: { joined?: boolean } = {}): Promise<void> {
    const deps = {
      port: this.port,
      agents: this.opts.agents,
      history: (c: Conversation) => this.history(c),
      log: this.log,
    };
    return announceAssigned(deps, after, opts);
  }

  /** The contact's earlier conversations, newest first. */
  history(c: Pick<Conversation, 'ccid' | 'id' | 'contactId'>): Promise<ConversationSummary[]> {
    return contactHistory(this.db, c, this.historyLimit);
  }

  /**
   * The agent's conversations (assigned and on hold by default); `queued`: those waiting in the
   * agent's queues. The queries live in agent-view.ts.
   */
  agentConversations(
    ccid: string,
    agentId: string,
    states: ConversationState[],
  ): Promise<ConversationSummary[]> {
    return agentConversations(this.db, ccid, agentId, states);
  }
}
