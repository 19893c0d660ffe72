/**
 * Exactly-once, in-order delivery of one conversation to one socket. A cursor holds the last seq
 * handed over; live messages (which may arrive out of order from several nodes, or while a replay
 * from the database runs) are buffered until they are next in line, and any gap is filled from the
 * database, where every fanned-out message (and all lower seqs) already is. Messages the audience
 * may not see (internal notes for a customer) advance the cursor without being emitted.
 */
import type { ChatMessage } from './events.js';

export interface DeliveryOptions {
  /** Last seq the client holds. */
  cursor: number;
  audience: 'customer' | 'agent';
  /** Messages with seq > afterSeq in order, every visibility, at most `limit`. */
  load: (afterSeq: number, limit: number) => Promise<ChatMessage[]>;
  emit: (m: ChatMessage) => void;
  onError: (err: unknown) => void;
}

const PAGE = 500;
const RETRY_MS = 1000;

export class OrderedDelivery {
  private _cursor: number;
  private readonly pending = new Map<number, ChatMessage>();
  private filling: Promise<number> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: DeliveryOptions) {
    this._cursor = opts.cursor;
  }

  get cursor(): number {
    return this._cursor;
  }

  /** A live message. */
  push(m: ChatMessage): void {
    if (this.closed || m.seq <= this._cursor) return;
    if (this.filling || m.seq !== this._cursor + 1) {
      this.pending.set(m.seq, m);
      if (!this.filling && !this.retry) void this.fill();
      return;
    }
    this.deliver(m);
    this.drain();
  }

  /** Replays everything after the cursor from the database; resolves to the number emitted. */
  fill(): Promise<number> {
    if (this.filling) return this.filling.catch(() => 0).then(() => this.fill());
    const run = async () => {
      let emitted = 0;
      for (;;) {
        const before = this._cursor;
        const page = await this.opts.load(before, PAGE);
        for (const m of page) if (m.seq === this._cursor + 1 && this.deliver(m)) emitted++;
        if (page.length < PAGE || this.closed || this._cursor === before) return emitted;
      }
    };
    const p = run();
    this.filling = p;
    p.then(
      () => {
        this.filling = undefined;
        this.drain();
      },
      (err) => {
        this.filling = undefined;
        this.opts.onError(err);
        // The database is failing: try again later rather than in a tight loop.
        if (!this.closed && !this.retry) {
          this.retry = setTimeout(() => {
            this.retry = undefined;
            if (this.pending.size) void this.fill().catch(() => undefined);
          }, RETRY_MS);
        }
      },
    );
    return p;
  }

  /** The client says it holds `lastSeq`: re-deliver from there. */
  async resume(lastSeq: number): Promise<number> {
    if (this.filling) await this.filling.catch(() => undefined);
    this._cursor = lastSeq;
    for (const s of this.pending.keys()) if (s <= lastSeq) this.pending.delete(s);
    return this.fill();
  }

  close(): void {
    this.closed = true;
    this.pending.clear();
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
  }

  /** Advances the cursor over `m`; true when it was emitted. */
  private deliver(m: ChatMessage): boolean {
    this._cursor = m.seq;
    this.pending.delete(m.seq);
    if (this.closed || (this.opts.audience === 'customer' && m.visibility !== 'all')) return false;
    this.opts.emit(m);
    return true;
  }

  private drain(): void {
    for (;;) {
      const next = this.pending.get(this._cursor + 1);
      if (!next) break;
      this.deliver(next);
    }
    for (const s of this.pending.keys()) if (s <= this._cursor) this.pending.delete(s);
    if (this.pending.size && !this.filling && !this.closed) void this.fill().catch(() => undefined);
  }
}
