/**
 * The group-commit writer: appends from every socket and REST call on this node are collected for
 * a short window (or until a batch is full) and committed in ONE transaction, so durability costs
 * one round of commits per batch instead of one per message.
 *
 * Several batches may be in flight at once (`maxInflight`, one on PGlite whose pool has one
 * connection), but a conversation is pinned to at most one of them: its later appends wait for
 * that batch to end, so a conversation's messages commit in the order they were appended.
 *
 * A batch is `BEGIN`, ONE statement (store.ts `APPEND_SQL`: lock the conversations in id order,
 * fold retried clientMessageIds onto their originals, insert the new rows with seqs from last_seq,
 * move last_seq), the tx hooks (the durable outbox), `COMMIT`. Nothing is acked before COMMIT; a
 * failed commit fails every message of the batch with a retryable error and leaves nothing behind.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ChatMessage } from './events.js';
import { APPEND_SQL, type AppendOutcome, isUuid, toMessage } from './store.js';
import type { AppendResult, Conversation, NewMessage } from './types.js';

export interface TxDb {
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
}

export interface CommittedMessage {
  ccid: string;
  message: ChatMessage;
  /** The conversation's channel, read under its lock (hooks need not select it again). */
  channel?: Conversation['channel'];
  /** The conversation's state, read under the same lock (before any routing reacts to the message). */
  state?: Conversation['state'];
}

/** Runs inside the batch's transaction (e.g. an outbox written atomically with the messages). */
export type TxHook = (q: Queryable, committed: CommittedMessage[]) => Promise<void>;

export interface WriterOptions {
  windowMs: number;
  maxBatch: number;
  /** Batches committing at once on different connections (default 1). */
  maxInflight?: number;
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
const ATTEMPTS = 3;

/**
 * Another node committed the same clientMessageId while this statement waited for the
 * conversation's lock (the statement's snapshot predates it): roll back and run again, when the
 * original is visible and the retry folds onto it.
 */
class RaceError extends Error {
  readonly code = 'RACE';
}

/** A data exception (SQLSTATE class 22, or the pool's 400 for it): the input, not the database. */
function refusedData(err: unknown): boolean {
  if (err instanceof AppError) return err.errorName === 'VALIDATION_FAILED';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('22');
}

export class GroupCommitWriter {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Batches committing now. */
  private readonly inflight = new Set<Promise<void>>();
  /** Conversations with a batch in flight: their next appends wait for it. */
  private readonly busy = new Set<string>();
  private closed = false;
  private readonly hooks: TxHook[] = [];
  private readonly maxInflight: number;

  constructor(
    private readonly db: TxDb,
    private readonly opts: WriterOptions,
  ) {
    this.maxInflight = Math.max(1, Math.floor(opts.maxInflight ?? 1));
  }

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
      // Postgres folds uuid case; the pinning must too.
      this.pending.push({ conversationId: conversationId.toLowerCase(), ccid, message, resolve, reject });
      this.schedule();
    });
  }

  /** Commits what is pending, then refuses new appends. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inflight.size || this.pending.length) {
      this.flush();
      if (this.inflight.size) await Promise.race(this.inflight);
    }
  }

  private schedule(): void {
    // Every slot busy: the first batch to end picks the rest up.
    if (this.inflight.size >= this.maxInflight) return;
    if (this.pending.length >= this.opts.maxBatch) {
      this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.opts.windowMs);
    }
  }

  /** Starts batches while slots are free and some pending append's conversation is not busy. */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inflight.size < this.maxInflight && this.pending.length) {
      const batch = this.take();
      if (!batch.length) break; // everything pending waits for a batch in flight
      const ids = new Set(batch.map((p) => p.conversationId));
      for (const id of ids) this.busy.add(id);
      const run: Promise<void> = this.commit(batch)
        .catch((err) => this.opts.log.error({ err, size: batch.length }, 'message batch failed'))
        .finally(() => {
          for (const id of ids) this.busy.delete(id);
          this.inflight.delete(run);
          // Whatever arrived meanwhile has already waited one commit: write it now.
          if (this.pending.length) this.flush();
        });
      this.inflight.add(run);
    }
  }

  /** Up to maxBatch pending appends, in arrival order, of conversations with no batch in flight. */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    for (const p of this.pending) {
      if (batch.length < this.opts.maxBatch && !this.busy.has(p.conversationId)) batch.push(p);
      else rest.push(p);
    }
    this.pending = rest;
    return batch;
  }

  private async commit(batch: Pending[]): Promise<void> {
    let result: { outcomes: Outcome[]; committed: CommittedMessage[] } | undefined;
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        result = await this.db.tx((q) => this.write(q, batch));
        this.opts.onBatch?.(batch.length, performance.now() - started, true);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        // A deadlock or serialization failure with another node's batch, or a retry that node
        // committed first: the next attempt usually passes.
        if (attempt < ATTEMPTS && code && (RETRYABLE_PG.has(code) || code === 'RACE')) continue;
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
    const now = new Date();
    const ids = batch.map(() => randomUUID());
    const col = <T>(f: (p: Pending, i: number) => T) => batch.map(f);
    const r = await q.query<AppendOutcome>(APPEND_SQL, [
      col((p) => p.conversationId),
      col((p) => p.ccid ?? null),
      ids,
      col((p) => p.message.type ?? 'Text'),
      col((p) => p.message.from.participantId),
      col((p) => p.message.from.type),
      col((p) => p.message.from.nickname ?? null),
      col((p) => p.message.text ?? null),
      col((p) => (p.message.content !== undefined ? JSON.stringify(p.message.content) : null)),
      col((p) => p.message.clientMessageId ?? null),
      col((p) => p.message.visibility ?? 'all'),
      now,
    ]);
    const { convs, dups, inserted } = r.rows[0];

    // A clientMessageId is its sender's: the same key from another participant is another message.
    const key = (c: string, fromType: string, from: string, m: string) =>
      `${c}\u0000${fromType}\u0000${from}\u0000${m}`;
    const conv = new Map(convs.map((c) => [c.id, c]));
    const original = new Map(
      dups.map((d) => [
        key(d.conversation_id, d.from_type, d.from_participant_id, d.client_message_id as string),
        d,
      ]),
    );
    const seqOf = new Map(inserted.map((x) => [x.id, Number(x.seq)]));
    const insertedAt = new Map<string, number>();
    const outcomes: Outcome[] = [];
    const committed: CommittedMessage[] = [];
    for (const [i, p] of batch.entries()) {
      const c = conv.get(p.conversationId);
      if (!c || (p.ccid && p.ccid !== c.ccid)) {
        outcomes.push({ err: new AppError('CONVERSATION_NOT_FOUND') });
        continue;
      }
      const cmid = p.message.clientMessageId;
      const old = cmid
        ? original.get(key(p.conversationId, p.message.from.type, p.message.from.participantId, cmid))
        : undefined;
      if (old) {
        const m = toMessage(old);
        outcomes.push({ ok: { id: m.id, seq: m.seq, duplicate: true, message: m } });
        continue;
      }
      const seq = seqOf.get(ids[i]);
      if (seq !== undefined) {
        const m = p.message;
        const message: ChatMessage = {
          id: ids[i],
          conversationId: p.conversationId,
          seq,
          type: m.type ?? 'Text',
          from: m.from,
          ...(m.text !== undefined ? { text: m.text } : {}),
          ...(m.content !== undefined ? { content: m.content } : {}),
          ...(cmid ? { clientMessageId: cmid } : {}),
          timestamp: now.toISOString(),
          visibility: m.visibility ?? 'all',
        };
        if (cmid)
          insertedAt.set(key(p.conversationId, p.message.from.type, p.message.from.participantId, cmid), i);
        outcomes.push({ ok: { id: message.id, seq, duplicate: false, message } });
        committed.push({ ccid: c.ccid, channel: c.channel, state: c.state, message });
        continue;
      }
      // The same clientMessageId earlier in this batch: the statement inserted only the first.
      const same = cmid
        ? insertedAt.get(key(p.conversationId, p.message.from.type, p.message.from.participantId, cmid))
        : undefined;
      if (same !== undefined) {
        outcomes.push({ sameAs: same });
        continue;
      }
      if (c.state === 'done') {
        outcomes.push({ err: new AppError('CONVERSATION_CLOSED') });
        continue;
      }
      // Neither inserted nor explained: its key was taken while the statement waited (roll back).
      throw new RaceError('message insert conflicted');
    }
    // `committed` is in batch order, so in seq order per conversation, as fan-out and hooks expect.
    if (committed.length) for (const hook of this.hooks) await hook(q, committed);
    return { outcomes, committed };
  }
}
