/**
 * Customer presence. Two paths put a conversation whose customer has left on async hold:
 *
 * - Fast, in this node's memory: when every `/consumer` socket of a conversation has been gone for
 *   the grace period (on every node: the check asks the socket.io adapter), the customer has left.
 *   A reconnect within the grace period, on any node, keeps the conversation as it is.
 * - Durable, in the database (`conversations.customer_seen_at`, migration 0031): every node's
 *   router sweep marks, in one statement every presenceTtlMs / 3, the conversations whose customer
 *   it saw (a live socket on this node, or a REST request of a session since the last mark), and
 *   the sweep of any node puts a conversation no node has seen for customerGraceMs +
 *   presenceTtlMs on hold. This covers what the fast path cannot: a node killed or shut down in a
 *   customer's grace period (its timers die with it), and REST-only customers who just stop
 *   polling. A REST request costs no query: it is noted here and goes out with the next mark.
 */
import { randomUUID } from 'node:crypto';
import type { Namespace, Socket } from 'socket.io';
import type { Queryable } from '../../shared/db/pool.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentStore, LiveSocket } from '../agents/store.js';
import { isUuid } from '../chat/store.js';

/** At most this many absent customers are handled per durable round (the rest in the next). */
const ABSENT_BATCH = 200;

export interface CustomerPresenceOptions {
  /** The `/consumer` namespace, when this gateway serves sockets. */
  consumer?: Namespace;
  graceMs: number;
  conversationOf(socket: Socket): { ccid: string; conversationId: string } | undefined;
  left(ccid: string, conversationId: string): Promise<void>;
  log: Logger;
}

/** Chat's room of a conversation's customer sockets (realtime.ts). */
const convRoom = (id: string) => `conv:${id}`;

export class CustomerPresence {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Conversations whose customer used the REST flow here since the last `take`. */
  private rest = new Set<string>();
  private closed = false;
  private readonly onConnection = (socket: Socket) => this.connected(socket);

  constructor(private readonly opts: CustomerPresenceOptions) {}

  start(): void {
    this.opts.consumer?.on('connection', this.onConnection);
  }

  close(): void {
    this.closed = true;
    this.opts.consumer?.off('connection', this.onConnection);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** A REST request of a session of this conversation came in (no query: it goes out with `take`). */
  seen(conversationId: string): void {
    if (!this.closed && isUuid(conversationId)) this.rest.add(conversationId);
  }

  /**
   * The conversations whose customer this node sees now (a connected socket here) or saw since the
   * last call (a REST request); the REST notes are handed over once.
   */
  take(): string[] {
    const ids = this.rest;
    this.rest = new Set();
    for (const socket of this.opts.consumer?.sockets.values() ?? []) {
      if (!socket.connected) continue;
      const conv = this.opts.conversationOf(socket);
      if (conv && isUuid(conv.conversationId)) ids.add(conv.conversationId);
    }
    return [...ids];
  }

  private connected(socket: Socket): void {
    const conv = this.opts.conversationOf(socket);
    if (!conv) return;
    const pending = this.timers.get(conv.conversationId);
    if (pending) {
      clearTimeout(pending);
      this.timers.delete(conv.conversationId);
    }
    socket.on('disconnect', () => this.disconnected(conv.ccid, conv.conversationId));
  }

  private disconnected(ccid: string, conversationId: string): void {
    if (this.closed || this.timers.has(conversationId)) return;
    const timer = setTimeout(() => {
      this.timers.delete(conversationId);
      void this.check(ccid, conversationId);
    }, this.opts.graceMs);
    timer.unref();
    this.timers.set(conversationId, timer);
  }

  private async check(ccid: string, conversationId: string): Promise<void> {
    if (this.closed || !this.opts.consumer) return;
    try {
      const sockets = await this.opts.consumer.in(convRoom(conversationId)).fetchSockets();
      if (sockets.length === 0 && !this.closed) await this.opts.left(ccid, conversationId);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, conversationId }, 'customer presence check failed');
    }
  }
}

/**
 * One durable round (the router's sweep runs it every presenceTtlMs / 3). ONE statement marks every
 * conversation whose customer this node sees (`here`); rows another transaction holds (the
 * writer's batch) are skipped, not waited for, and get the next mark, well within the TTL. No index
 * covers `customer_seen_at`, so a mark is a HOT update. Then every conversation that no node has
 * marked for `unseenForMs` (grace + TTL) is left by its customer: `assigned` ones always (async hold
 * frees the agent's room), `queued` and `bot` ones only on an endpoint without async hold (they
 * end). A queued conversation on a hold endpoint stays: leaving changes nothing for it, and once it
 * is assigned this same check holds it. Every node runs it; `left` (the router's customerLeft)
 * re-checks the absence under the conversation's lock (`customerUnseen`), so nodes racing each
 * other (or a customer coming back) change nothing twice.
 */
export async function durablePresenceRound(opts: {
  db: Queryable;
  here: string[];
  unseenForMs: number;
  left(ccid: string, conversationId: string, unseenForMs: number): Promise<void>;
  stopped(): boolean;
  log: Logger;
}): Promise<void> {
  const { db, here, unseenForMs } = opts;
  if (here.length) {
    await db.query(
      `UPDATE conversations c SET customer_seen_at = now()
       FROM (SELECT id FROM conversations WHERE id = ANY($1::uuid[]) AND state <> 'done'
             FOR NO KEY UPDATE SKIP LOCKED) x
       WHERE c.id = x.id`,
      [here],
    );
  }
  const r = await db.query<{ ccid: string; id: string }>(
    `SELECT c.ccid, c.id FROM conversations c
     LEFT JOIN chat_endpoints e ON e.ccid = c.ccid AND e.endpoint = c.endpoint
     WHERE c.state IN ('bot', 'queued', 'assigned') AND c.channel = 'chat'
       AND (c.state = 'assigned' OR e.async_hold = false)
       AND c.customer_seen_at < now() - $1 * interval '1 millisecond'
       AND EXISTS (SELECT 1 FROM chat_sessions s WHERE s.conversation_id = c.id)
     ORDER BY c.customer_seen_at LIMIT ${ABSENT_BATCH}`,
    [unseenForMs],
  );
  for (const { ccid, id } of r.rows) {
    if (opts.stopped()) return;
    try {
      await opts.left(ccid, id, unseenForMs);
    } catch (err) {
      opts.log.warn({ err: (err as Error).message, conversationId: id }, 'absent customer not handled');
    }
  }
}

/**
 * Whether no node has seen the conversation's customer for `ms`, by the database's clock (the
 * caller holds the conversation's lock, so a mark cannot slip in between).
 */
export async function customerUnseen(q: Queryable, id: string, ms: number): Promise<boolean> {
  const r = await q.query(
    `SELECT 1 FROM conversations WHERE id = $1 AND customer_seen_at < now() - $2 * interval '1 millisecond'`,
    [id, ms],
  );
  return r.rows.length > 0;
}

export interface PresenceSweepOptions {
  db: Queryable;
  agents: AgentStore;
  log: Logger;
  /** How often the sweep runs. */
  sweepMs: number;
  /** How long an agent socket counts as connected without a heartbeat (a crashed node's). */
  presenceTtlMs: number;
  /** With it, durable customer presence runs every presenceTtlMs / 3 (durablePresenceRound). */
  customerGraceMs?: number;
  /** The conversations whose customer this node sees now or saw since the last call. */
  customersHere?: () => string[];
  /** The customer of a conversation is gone (the router's customerLeft). */
  left(ccid: string, conversationId: string, unseenForMs: number): Promise<void>;
  /** Serves the queues (the router's assignment), last in every sweep. */
  serve(): Promise<void>;
}

/**
 * The router's periodic sweep: keeps this node's agent sockets alive (their `agent_connections`
 * rows), marks its customers and lets go of absent ones (every presenceTtlMs / 3), then has the
 * router serve every tenant with a queue.
 */
export class PresenceSweep {
  readonly nodeId = randomUUID();
  /** Agent sockets connected to this node (their presence rows are refreshed by the sweep). */
  readonly agentSockets = new Map<string, LiveSocket>();
  readonly presenceTtlMs: number;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  /** When this node next marks its customers and looks for absent ones (Date.now()). */
  private nextPresence = 0;
  private stopped = false;

  constructor(private readonly opts: PresenceSweepOptions) {
    this.presenceTtlMs = opts.presenceTtlMs;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.sweep().finally(() => {
        this.sweeping = undefined;
      });
    }, this.opts.sweepMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.sweeping?.catch(() => undefined);
  }

  /** Forgets this node's agent sockets, so other nodes need not wait for the TTL. */
  async forgetNode(): Promise<void> {
    await this.opts.agents.forgetNode(this.nodeId).catch(() => undefined);
  }

  async sweep(): Promise<void> {
    const { opts } = this;
    try {
      await opts.agents.heartbeat(this.nodeId, [...this.agentSockets.values()], this.presenceTtlMs);
      if (opts.customerGraceMs !== undefined && Date.now() >= this.nextPresence) {
        this.nextPresence = Date.now() + this.presenceTtlMs / 3;
        await durablePresenceRound({
          db: opts.db,
          here: opts.customersHere?.() ?? [],
          unseenForMs: opts.customerGraceMs + this.presenceTtlMs,
          left: opts.left,
          stopped: () => this.stopped,
          log: opts.log,
        });
      }
      await opts.serve();
    } catch (err) {
      if (!this.stopped) opts.log.warn({ err: (err as Error).message }, 'routing sweep failed');
    }
  }
}
