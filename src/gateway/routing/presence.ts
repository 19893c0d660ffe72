/**
 * Customer presence on the `/consumer` namespace: when every socket of a conversation has been gone
 * for the grace period (on every node: the check asks the socket.io adapter), the customer has
 * left and the conversation goes on async hold. A reconnect within the grace period, on any node,
 * keeps it as it is. REST-only customers hold no socket and leave by ending their session.
 */
import type { Namespace, Socket } from 'socket.io';
import type { Logger } from '../../shared/logger.js';

export interface CustomerPresenceOptions {
  consumer: Namespace;
  graceMs: number;
  conversationOf(socket: Socket): { ccid: string; conversationId: string } | undefined;
  left(ccid: string, conversationId: string): Promise<void>;
  log: Logger;
}

/** Chat's room of a conversation's customer sockets (realtime.ts). */
const convRoom = (id: string) => `conv:${id}`;

export class CustomerPresence {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;
  private readonly onConnection = (socket: Socket) => this.connected(socket);

  constructor(private readonly opts: CustomerPresenceOptions) {}

  start(): void {
    this.opts.consumer.on('connection', this.onConnection);
  }

  close(): void {
    this.closed = true;
    this.opts.consumer.off('connection', this.onConnection);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
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
    if (this.closed) return;
    try {
      const sockets = await this.opts.consumer.in(convRoom(conversationId)).fetchSockets();
      if (sockets.length === 0 && !this.closed) await this.opts.left(ccid, conversationId);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, conversationId }, 'customer presence check failed');
    }
  }
}
