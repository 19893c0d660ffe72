/**
 * A customer or an agent of one conversation as a widget or agent console would behave across
 * node failures: one real socket.io client at a time, reconnecting to another live node with the
 * last seq it holds, resending an unacked message with the same clientMessageId until it is acked.
 * It counts what it was acked and what it received, so a test can count lost and duplicated
 * messages by seq.
 */
import type { Socket } from 'socket.io-client';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { socketFor } from '../chat/helpers.js';

export interface PartyOptions {
  kind: 'customer' | 'agent';
  conversationId: string;
  /** Customer: `{ clientToken }`; agent: `{ token }`. */
  auth: Record<string, unknown>;
  /** The nodes to (re)connect to, in order of preference; re-read on every reconnect. */
  urls: () => string[];
  /** Seq already held before this party connects (e.g. the session's base). */
  lastSeq?: number;
}

export class Party {
  /** Every message of the conversation this party received, in arrival order, across its sockets. */
  readonly received: ChatMessage[] = [];
  /** clientMessageId → seq of every acked send. */
  readonly acked = new Map<string, number>();
  /** Seqs received more than once. */
  readonly duplicates: number[] = [];
  /** Seqs received out of order (lower than one already held). */
  readonly outOfOrder: number[] = [];
  /** Sends answered `{ ok: false }` (each then retried), by error name. */
  readonly refusals: string[] = [];
  reconnects = 0;
  /** Events other than `message` a test may look at (`reconnect`). */
  readonly events: Array<{ event: string; payload: unknown }> = [];
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private held = new Set<number>();
  private lastSeq: number;
  private closed = false;
  private waiters: Array<() => void> = [];

  readonly kind: PartyOptions['kind'];

  constructor(private readonly opts: PartyOptions) {
    this.kind = opts.kind;
    this.lastSeq = opts.lastSeq ?? 0;
  }

  get url(): string | undefined {
    return (this.socket?.io as unknown as { uri?: string } | undefined)?.uri;
  }

  /** Connected (and, for an agent, joined) to the first node that takes it. */
  connect(): Promise<Socket> {
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<Socket> {
    const end = Date.now() + 30_000;
    let lastErr: unknown;
    while (!this.closed && Date.now() < end) {
      for (const url of this.opts.urls()) {
        try {
          const s = await this.attach(url);
          this.socket = s;
          return s;
        } catch (err) {
          lastErr = err;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.opts.kind}: no node took the connection: ${lastErr}`);
  }

  private async attach(url: string): Promise<Socket> {
    const ns = this.opts.kind === 'customer' ? '/consumer' : '/agent';
    const auth =
      this.opts.kind === 'customer' ? { ...this.opts.auth, lastSeq: this.lastSeq } : this.opts.auth;
    // Listening from the socket's creation: the replay after `lastSeq` can arrive in the same read
    // as the connect packet, before `await` returns (listening after it lost those messages).
    const s = await socketFor(url, ns, auth, {
      listen: (sock) => {
        sock.on('message', (m: ChatMessage) => this.onMessage(m));
        sock.on('reconnect', (p: unknown) => this.events.push({ event: 'reconnect', payload: p }));
      },
    });
    s.on('disconnect', () => {
      if (this.socket === s) this.socket = undefined;
      if (!this.closed) {
        this.reconnects++;
        void this.connect().catch(() => undefined);
      }
    });
    if (this.opts.kind === 'agent') {
      const r = await s.timeout(10_000).emitWithAck('conversation.join', {
        conversationId: this.opts.conversationId,
        lastSeq: this.lastSeq,
      });
      if (!r?.ok) {
        s.close();
        throw new Error(`join: ${JSON.stringify(r)}`);
      }
    }
    return s;
  }

  private onMessage(m: ChatMessage): void {
    if (m.conversationId !== this.opts.conversationId) return;
    if (this.held.has(m.seq)) this.duplicates.push(m.seq);
    else if (m.seq < this.lastSeq) this.outOfOrder.push(m.seq);
    this.held.add(m.seq);
    this.received.push(m);
    this.lastSeq = Math.max(this.lastSeq, m.seq);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Sends until acked: a timeout, a disconnect or a retryable refusal resends the same clientMessageId. */
  async send(clientMessageId: string, text: string, deadlineMs = 60_000): Promise<number> {
    const end = Date.now() + deadlineMs;
    const payload =
      this.opts.kind === 'customer'
        ? { clientMessageId, text }
        : { conversationId: this.opts.conversationId, clientMessageId, text };
    for (;;) {
      if (Date.now() > end) throw new Error(`${clientMessageId} was never acked`);
      const s = this.socket?.connected ? this.socket : await this.connect();
      let r: any;
      try {
        r = await s.timeout(3000).emitWithAck('message.send', payload);
      } catch {
        continue; // no ack (timeout or the socket went down): resend
      }
      if (r?.ok) {
        this.acked.set(clientMessageId, r.seq);
        return r.seq;
      }
      this.refusals.push(r?.error?.name ?? 'unknown');
      if (!r?.error?.retryable) throw new Error(`${clientMessageId} refused: ${JSON.stringify(r)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** Resolves once every seq in `seqs` is held. */
  holds(seqs: Iterable<number>, ms = 20_000): Promise<void> {
    const want = [...seqs];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const missing = want.filter((s) => !this.held.has(s));
        reject(new Error(`${this.opts.kind} lacks seqs ${missing.slice(0, 20)} after ${ms} ms`));
      }, ms);
      const check = () => {
        if (want.every((s) => this.held.has(s))) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  has(seq: number): boolean {
    return this.held.has(seq);
  }

  close(): void {
    this.closed = true;
    this.socket?.close();
  }
}

/**
 * Lost and duplicated messages of a conversation: every seq either party was acked must be held
 * by both (messages visible to both) exactly once; `stored` is the database's view (seq by
 * clientMessageId) and must hold every ack with the same seq.
 */
export function tally(
  parties: Party[],
  stored: Map<string, number>,
): { acked: number; lost: string[]; duplicated: number; outOfOrder: number; mismatched: string[] } {
  const lost: string[] = [];
  const mismatched: string[] = [];
  let acked = 0;
  for (const p of parties) {
    for (const [id, seq] of p.acked) {
      acked++;
      if (stored.get(id) !== seq) mismatched.push(`${id}: acked ${seq}, stored ${stored.get(id)}`);
      for (const q of parties) if (!q.has(seq)) lost.push(`${id} (seq ${seq}) missing at the ${q.kind}`);
    }
  }
  return {
    acked,
    lost,
    duplicated: parties.reduce((n, p) => n + p.duplicates.length, 0),
    outOfOrder: parties.reduce((n, p) => n + p.outOfOrder.length, 0),
    mismatched,
  };
}
