/**
 * The group-commit writer: appends from every socket and REST call on this node are collected for
 * a short window (or until a batch is full) and committed in ONE transaction, so durability costs
 * one round of commits per batch instead of one per message (PGlite has a single connection).
 *
 * In the transaction: the batch's conversations are locked in id order (no deadlocks between
 * nodes), earlier messages with the same clientMessageId are looked up under that lock (so a
 * retried send folds onto the original and never burns a seq), seqs are handed out from last_seq,
 * the new rows go in with one multi-row INSERT and last_seq moves with one UPDATE. Nothing is acked
 * before COMMIT; a failed commit fails every message of the batch with a retryable error.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ChatMessage } from './events.js';
import { isUuid, MESSAGE_COLUMNS, type MessageRow, toMessage } from './store.js';
import type { AppendResult, NewMessage } from './types.js';

export interface TxDb {
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
}

export interface CommittedMessage {
  ccid: string;
  message: ChatMessage;
}

/** Runs inside the batch's transaction (e.g. an outbox written atomically with the messages). */
export type TxHook = (q: Queryable, committed: CommittedMessage[]) => Promise<void>;

export interface WriterOptions {
  windowMs: number;
  maxBatch: number;
  log: Logger;
  /** Called after each commit with the new messages, in seq order per conversation. */
  onCommitted: (committed: CommittedMessage[]) => void;
  /** After each batch: how many appends it carried, how long the transaction took, whether it committed. */
  onBatch?: (size: number, ms: number, committed: boolean) => void;
}

interface Pending {
  conversationId: string;
  /** When set, the conversation must belong to this tenant. */
  ccid?: string;
  message: NewMessage;
  resolve: (r: AppendResult) => void;
  reject: (e: AppError) => void;
}

type Outcome = { ok: AppendResult } | { err: AppError } | { sameAs: number };

const RETRYABLE_PG = new Set(['40001', '40P01']);

/** A data exception (SQLSTATE class 22, or the pool's 400 for it): the input, not the database. */
function refusedData(err: unknown): boolean {
  if (err instanceof AppError) return err.errorName === 'VALIDATION_FAILED';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('22');
}

export class GroupCommitWriter {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly hooks: TxHook[] = [];

  constructor(
    private readonly db: TxDb,
    private readonly opts: WriterOptions,
  ) {}

  addTxHook(hook: TxHook): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** Resolves after the message (or the original it folds onto) is committed. */
  append(conversationId: string, message: NewMessage, ccid?: string): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new AppError('SHUTTING_DOWN'));
    if (!isUuid(conversationId)) return Promise.reject(new AppError('CONVERSATION_NOT_FOUND'));
    return new Promise((resolve, reject) => {
      this.pending.push({ conversationId, ccid, message, resolve, reject });
      this.schedule();
    });
  }

  /** Commits what is pending, then refuses new appends. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing || this.pending.length) {
      if (this.flushing) await this.flushing;
      else await this.flush();
    }
  }

  private schedule(): void {
    if (this.flushing) return; // the running flush picks the rest up when it ends
    if (this.pending.length >= this.opts.maxBatch) {
      void this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.opts.windowMs);
    }
  }

  private flush(): Promise<void> {
    if (this.flushing || this.pending.length === 0) return this.flushing ?? Promise.resolve();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, this.opts.maxBatch);
    this.flushing = this.commit(batch).finally(() => {
      this.flushing = undefined;
      // Whatever arrived meanwhile has already waited one commit: write it now.
      if (this.pending.length) void this.flush();
    });
    return this.flushing;
  }

  private async commit(batch: Pending[]): Promise<void> {
    let result: { outcomes: Outcome[]; committed: CommittedMessage[] } | undefined;
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        result = await this.db.tx((q) => this.write(q, batch));
        this.opts.onBatch?.(batch.length, performance.now() - started, true);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        // A deadlock or serialization failure with another node's batch: the retry usually passes.
        if (attempt === 0 && code && RETRYABLE_PG.has(code)) continue;
        this.opts.onBatch?.(batch.length, performance.now() - started, false);
        if (refusedData(err)) {
          // One message the database refuses (text or JSON it cannot hold) must not sink the
          // others of its batch, whatever their tenant: each is written alone, in order.
          if (batch.length > 1) {
            for (const p of batch) await this.commit([p]);
            return;
          }
          batch[0].reject(
            new AppError(
              'VALIDATION_FAILED',
              'The message holds text the database cannot store.',
              undefined,
              {
                cause: err,
              },
            ),
          );
          return;
        }
        this.opts.log.error({ err, size: batch.length }, 'message batch not committed');
        const e = new AppError(
          'UNAVAILABLE',
          'The message was not stored; send it again (same clientMessageId).',
        );
        for (const p of batch) p.reject(e);
        return;
      }
    }
    const { outcomes, committed } = result;
    outcomes.forEach((o, i) => {
      if ('ok' in o) batch[i].resolve(o.ok);
      else if ('err' in o) batch[i].reject(o.err);
    });
    outcomes.forEach((o, i) => {
      if ('sameAs' in o) {
        const first = outcomes[o.sameAs];
        if ('ok' in first) batch[i].resolve({ ...first.ok, duplicate: true });
        else if ('err' in first) batch[i].reject(first.err);
      }
    });
    if (committed.length) {
      try {
        this.opts.onCommitted(committed);
      } catch (err) {
        this.opts.log.error({ err }, 'fan-out after commit failed');
      }
    }
  }

  private async write(
    q: Queryable,
    batch: Pending[],
  ): Promise<{ outcomes: Outcome[]; committed: CommittedMessage[] }> {
    const ids = [...new Set(batch.map((p) => p.conversationId))].sort();
    const locked = await q.query<{ id: string; ccid: string; state: string; last_seq: string }>(
      'SELECT id, ccid, state, last_seq FROM conversations WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
      [ids],
    );
    const convs = new Map(
      locked.rows.map((r) => [r.id, { ccid: r.ccid, state: r.state, lastSeq: Number(r.last_seq) }]),
    );

    const key = (c: string, m: string) => `${c}\u0000${m}`;
    const cmids = [...new Set(batch.map((p) => p.message.clientMessageId).filter((x): x is string => !!x))];
    const existing = new Map<string, ChatMessage>();
    if (cmids.length) {
      const r = await q.query<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ANY($1::uuid[]) AND client_message_id = ANY($2::text[])`,
        [ids, cmids],
      );
      for (const row of r.rows)
        existing.set(key(row.conversation_id, row.client_message_id as string), toMessage(row));
    }

    const now = new Date();
    const outcomes: Outcome[] = [];
    const committed: CommittedMessage[] = [];
    const firstInBatch = new Map<string, number>();
    for (const [i, p] of batch.entries()) {
      const conv = convs.get(p.conversationId);
      if (!conv || (p.ccid && p.ccid !== conv.ccid)) {
        outcomes.push({ err: new AppError('CONVERSATION_NOT_FOUND') });
        continue;
      }
      const cmid = p.message.clientMessageId;
      if (cmid) {
        const old = existing.get(key(p.conversationId, cmid));
        if (old) {
          outcomes.push({ ok: { id: old.id, seq: old.seq, duplicate: true, message: old } });
          continue;
        }
        const same = firstInBatch.get(key(p.conversationId, cmid));
        if (same !== undefined) {
          outcomes.push({ sameAs: same });
          continue;
        }
      }
      if (conv.state === 'done') {
        outcomes.push({ err: new AppError('CONVERSATION_CLOSED') });
        continue;
      }
      conv.lastSeq += 1;
      const m = p.message;
      const message: ChatMessage = {
        id: randomUUID(),
        conversationId: p.conversationId,
        seq: conv.lastSeq,
        type: m.type ?? 'Text',
        from: m.from,
        ...(m.text !== undefined ? { text: m.text } : {}),
        ...(m.content !== undefined ? { content: m.content } : {}),
        ...(cmid ? { clientMessageId: cmid } : {}),
        timestamp: now.toISOString(),
        visibility: m.visibility ?? 'all',
      };
      if (cmid) firstInBatch.set(key(p.conversationId, cmid), i);
      outcomes.push({ ok: { id: message.id, seq: message.seq, duplicate: false, message } });
      committed.push({ ccid: conv.ccid, message });
    }

    if (committed.length) {
      const col = <T>(f: (m: ChatMessage) => T) => committed.map((c) => f(c.message));
      const ins = await q.query(
        `INSERT INTO messages (conversation_id, seq, id, type, from_participant_id, from_type, from_nickname, text,
                               content, client_message_id, visibility, created_at)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::jsonb[], $10::text[], $11::text[], $12::timestamptz[])
         ON CONFLICT DO NOTHING`,
        [
          col((m) => m.conversationId),
          col((m) => m.seq),
          col((m) => m.id),
          col((m) => m.type),
          col((m) => m.from.participantId),
          col((m) => m.from.type),
          col((m) => m.from.nickname ?? null),
          col((m) => m.text ?? null),
          col((m) => (m.content !== undefined ? JSON.stringify(m.content) : null)),
          col((m) => m.clientMessageId ?? null),
          col((m) => m.visibility),
          col(() => now),
        ],
      );
      // Under the conversation locks nothing else can insert these keys; if something did, roll
      // back rather than ack a message that was not stored.
      if (ins.rowCount !== committed.length) throw new Error('message insert conflicted under lock');
      const moved = [...convs.entries()].filter(([id]) =>
        committed.some((c) => c.message.conversationId === id),
      );
      await q.query(
        `UPDATE conversations c SET last_seq = v.last_seq, updated_at = now()
         FROM unnest($1::uuid[], $2::bigint[]) AS v(id, last_seq) WHERE c.id = v.id`,
        [moved.map(([id]) => id), moved.map(([, c]) => c.lastSeq)],
      );
      for (const hook of this.hooks) await hook(q, committed);
    }
    return { outcomes, committed };
  }
}
