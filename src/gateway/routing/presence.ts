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
import type { Namespace, Socket } from 'socket.io';
import type { Logger } from '../../shared/logger.js';
import { isUuid } from '../chat/store.js';

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
