/**
 * The durable outbox. `enqueue` runs inside the caller's transaction, so a delivery exists exactly
 * when the message that causes it does. Workers on every node claim due rows with
 * `FOR UPDATE SKIP LOCKED` and a lease, oldest first and only the head of each ordering key (so a
 * conversation's deliveries leave in order), deliver them through the handler of their kind, and
 * record the outcome: done, a retry with exponential backoff and full jitter, or a dead letter.
 * A crash mid-delivery leaves the lease to expire and another worker delivers again: at least once.
 *
 * The outcome (done or dead) and what the outcome hooks record of it (an SMS's delivery state, the
 * conversation's `undelivered` mark) commit in one transaction, so a crash or a failing statement
 * never leaves one without the other. When that transaction fails after the handler succeeded, the
 * handler's result is kept on the row (`delivered_at` set, still pending): the next attempt records
 * the outcome again without delivering a second time.
 */
import type { Queryable } from '../../shared/db/pool.js';
import type { Logger } from '../../shared/logger.js';
import { counter, gauge, histogram, type Registry } from '../../shared/metrics.js';
import type { PubSub } from '../../shared/state/types.js';
import { PluginError } from '../types.js';

export interface OutboxItem {
  ccid: string;
  /** Deliveries with the same key leave in order (e.g. the conversation id plus the target). */
  orderingKey: string;
  /** Selects the handler: `sms`, `email`, `webhook`, … */
  kind: string;
  /** Which instance of the kind: a service name such as `mGageSMS` or `WebhookTransportTarget-ai-connector`. */
  target: string;
  payload: Record<string, unknown>;
  /** A second enqueue with the same key is a no-op (retried inbound requests). */
  dedupeKey?: string;
  maxAttempts?: number;
}

export interface OutboxRow {
  id: string;
  ccid: string;
  orderingKey: string;
  kind: string;
  target: string;
  payload: Record<string, unknown>;
  state: 'pending' | 'done' | 'dead';
  attempts: number;
  maxAttempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  result: unknown;
  createdAt: string;
  deliveredAt: string | null;
}

/** Delivers one row; returns what to record as its result. Throw PluginError to say whether to retry. */
export type DeliveryHandler = (row: OutboxRow) => Promise<unknown>;

/** What an outcome hook leaves for after the commit (live notifications). */
export type AfterCommit = () => void | Promise<void>;

/**
 * Told of a delivery's final outcome INSIDE the transaction that records it (`q`): what it writes
 * commits with the outcome or not at all. It must use `q` only (on the embedded engine the pool has
 * one connection, which the transaction holds) and returns what to do after the commit.
 */
export type OutcomeHook = (
  row: OutboxRow,
  outcome: 'done' | 'dead',
  result: unknown,
  q: Queryable,
) => OutcomeHookResult | Promise<OutcomeHookResult>;
// biome-ignore lint/suspicious/noConfusingVoidType: a hook with nothing for after the commit returns nothing
type OutcomeHookResult = AfterCommit | undefined | void;

export interface OutboxOptions {
  db: { tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>; query: Queryable['query'] };
  log: Logger;
  registry?: Registry;
  pubsub?: PubSub;
  /** Poll interval when nothing wakes the worker. */
  pollMs?: number;
  /** How long a claimed row is leased to one worker. */
  leaseMs?: number;
  batchSize?: number;
  /** Backoff base and cap, in ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Called in the transaction that marks a row delivered or dead-lettered (delivery states, undelivered marking). */
  onOutcome?: OutcomeHook;
}

const WAKE_CHANNEL = 'outbox:wake';

function toRow(r: any): OutboxRow {
  return {
    id: String(r.id),
    ccid: r.ccid,
    orderingKey: r.ordering_key,
    kind: r.kind,
    target: r.target,
    payload: r.payload,
    state: r.state,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    nextAttemptAt: new Date(r.next_attempt_at).toISOString(),
    lastError: r.last_error,
    result: r.result,
    createdAt: new Date(r.created_at).toISOString(),
    deliveredAt: r.delivered_at ? new Date(r.delivered_at).toISOString() : null,
  };
}

/** Full jitter: a random delay in [0, min(cap, base·2^(attempt-1))]. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * random());
}

export class Outbox {
  readonly name = 'outbox';
  private readonly handlers = new Map<string, DeliveryHandler>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = true;
  private wakeRequested = false;
  private inflight: Promise<void> | undefined;
  private readonly deliveries = new Set<Promise<void>>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly m;

  constructor(private readonly opts: OutboxOptions) {
    const reg = opts.registry;
    this.m = reg
      ? {
          delivered: counter(reg, 'nexus_outbox_delivered_total', 'Outbox deliveries that succeeded.', [
            'kind',
          ]),
          failed: counter(reg, 'nexus_outbox_failures_total', 'Outbox delivery attempts that failed.', [
            'kind',
            'retryable',
          ]),
          dead: counter(reg, 'nexus_outbox_dead_total', 'Outbox deliveries dead-lettered.', ['kind']),
          pending: gauge(reg, 'nexus_outbox_pending', 'Outbox deliveries waiting (sampled by the worker).'),
          lag: histogram(
            reg,
            'nexus_outbox_lag_seconds',
            'Time from enqueue to successful delivery.',
            ['kind'],
            [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
          ),
        }
      : undefined;
  }

  /** Registers the handler of a kind; an enqueued kind without a handler stays pending, visible. */
  handle(kind: string, handler: DeliveryHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Writes deliveries inside the caller's transaction. Returns the ids created (folded duplicates omitted). */
  async enqueue(q: Queryable, items: OutboxItem[]): Promise<string[]> {
    if (items.length === 0) return [];
    const values: unknown[] = [];
    const rows = items.map((it, i) => {
      values.push(
        it.ccid,
        it.orderingKey,
        it.kind,
        it.target,
        JSON.stringify(it.payload),
        it.dedupeKey ?? null,
        it.maxAttempts ?? 8,
      );
      const b = i * 7;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::jsonb, $${b + 6}, $${b + 7})`;
    });
    const r = await q.query<{ id: string }>(
      `INSERT INTO outbox (ccid, ordering_key, kind, target, payload, dedupe_key, max_attempts)
       VALUES ${rows.join(', ')} ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
      values,
    );
    return r.rows.map((x) => String(x.id));
  }

  /** Asks the workers (on every node) to look now rather than at the next poll. */
  wake(): void {
    this.wakeRequested = true;
    void this.opts.pubsub?.publish(WAKE_CHANNEL, '1').catch(() => undefined);
    this.schedule(0);
  }

  async start(): Promise<void> {
    this.stopped = false;
    if (this.opts.pubsub) {
      this.unsubscribe = await this.opts.pubsub.subscribe(WAKE_CHANNEL, () => {
        this.wakeRequested = true;
        this.schedule(0);
      });
    }
    this.schedule(0);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.unsubscribe?.().catch(() => undefined);
    this.unsubscribe = undefined;
    await this.inflight;
    await this.settled();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.running) return; // the running pass re-checks wakeRequested when it ends
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inflight = this.pass()
        .then(() => undefined)
        .finally(() => {
          this.inflight = undefined;
        });
    }, ms);
    this.timer.unref?.();
  }

  /**
   * One pass: claim due rows (one per ordering key) and start their deliveries without waiting for
   * them, so that one slow or hanging delivery never holds up the others; a finished delivery
   * wakes the worker to claim the next row of its key.
   */
  async pass(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    this.wakeRequested = false;
    let claimed = 0;
    const batch = this.opts.batchSize ?? 50;
    const room = batch * 2 - this.deliveries.size;
    try {
      if (room > 0) {
        const rows = await this.claim(Math.min(batch, room));
        claimed = rows.length;
        for (const row of rows) {
          const p: Promise<void> = this.deliver(row).finally(() => {
            this.deliveries.delete(p);
            this.wakeRequested = true;
            this.schedule(0);
          });
          this.deliveries.add(p);
        }
      }
      if (this.m) {
        const p = await this.opts.db.query<{ n: string }>(
          "SELECT count(*) AS n FROM outbox WHERE state = 'pending'",
        );
        this.m.pending.set(Number(p.rows[0].n));
      }
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'outbox pass failed');
    } finally {
      this.running = false;
    }
    // A full batch or a wake during the pass: go again at once; otherwise poll.
    this.schedule(claimed >= batch || this.wakeRequested ? 0 : (this.opts.pollMs ?? 500));
    return claimed;
  }

  /** Resolves when every delivery started so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.deliveries.size) await Promise.allSettled([...this.deliveries]);
  }

  private async claim(limit: number): Promise<OutboxRow[]> {
    // `heads` is read from the statement's snapshot; the state and lease are tested on `o`, the row
    // `FOR UPDATE` locks, because PostgreSQL re-checks those conditions against the newest version
    // of a row another worker changed meanwhile. Tested on `heads` alone, a row another worker had
    // just delivered (or claimed) and committed was claimed and delivered a second time.
    const leaseMs = this.opts.leaseMs ?? 60_000;
    const kinds = [...this.handlers.keys()];
    if (kinds.length === 0) return [];
    return this.opts.db.tx(async (q) => {
      const r = await q.query(
        `WITH heads AS (
           SELECT DISTINCT ON (ordering_key) id, next_attempt_at, locked_until, kind
             FROM outbox WHERE state = 'pending' ORDER BY ordering_key, id
         ), due AS (
           SELECT o.id FROM outbox o JOIN heads h ON h.id = o.id
            WHERE o.state = 'pending' AND o.next_attempt_at <= now()
              AND (o.locked_until IS NULL OR o.locked_until < now()) AND h.kind = ANY($2::text[])
            ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED
         )
         UPDATE outbox SET locked_until = now() + ($3::int * interval '1 millisecond'), attempts = attempts + 1, updated_at = now()
           FROM due WHERE outbox.id = due.id AND outbox.state = 'pending' RETURNING outbox.*`,
        [limit, kinds, leaseMs],
      );
      return r.rows.map(toRow);
    });
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const handler = this.handlers.get(row.kind);
    if (!handler) return;
    // Delivered by an earlier attempt whose outcome could not be recorded: not delivered again.
    const deliveredBefore = row.deliveredAt !== null;
    let result: unknown;
    try {
      result = deliveredBefore ? row.result : await handler(row);
    } catch (err) {
      await this.failed(row, err);
      return;
    }
    try {
      const recorded = await this.record(
        { ...row, state: 'done', lastError: null },
        'done',
        result,
        `UPDATE outbox SET state = 'done', result = $2::jsonb, locked_until = NULL, last_error = NULL,
           delivered_at = COALESCE(delivered_at, now()), updated_at = now() WHERE id = $1 AND state = 'pending'`,
        [row.id, JSON.stringify(result ?? null)],
      );
      if (recorded) {
        this.m?.delivered.inc({ kind: row.kind });
        this.m?.lag.observe({ kind: row.kind }, (Date.now() - Date.parse(row.createdAt)) / 1000);
      }
    } catch (err) {
      // Keep the result, so that the next attempt records the outcome without delivering again.
      await this.unrecorded(row, err, { result });
    }
  }

  /** A failed attempt: retried with backoff, or dead-lettered (with its outcome hooks) at the limit. */
  private async failed(row: OutboxRow, err: unknown): Promise<void> {
    const retryable = err instanceof PluginError ? err.retryable : true;
    const message = (err as Error).message?.slice(0, 500) ?? String(err);
    this.m?.failed.inc({ kind: row.kind, retryable: String(retryable) });
    try {
      if (retryable && row.attempts < row.maxAttempts) {
        const delay = this.backoff(row.attempts);
        await this.opts.db.query(
          `UPDATE outbox SET next_attempt_at = now() + ($2::int * interval '1 millisecond'), locked_until = NULL,
             last_error = $3, updated_at = now() WHERE id = $1`,
          [row.id, delay, message],
        );
        this.opts.log.info(
          { id: row.id, kind: row.kind, attempts: row.attempts, delay, error: message },
          'delivery will be retried',
        );
        return;
      }
    } catch (dbErr) {
      // The lease expires and another attempt is made.
      this.opts.log.warn({ id: row.id, err: (dbErr as Error).message }, 'outbox retry not recorded');
      return;
    }
    try {
      const recorded = await this.record(
        { ...row, state: 'dead', lastError: message },
        'dead',
        undefined,
        `UPDATE outbox SET state = 'dead', locked_until = NULL, last_error = $2, updated_at = now()
          WHERE id = $1 AND state = 'pending'`,
        [row.id, message],
      );
      if (recorded) {
        this.m?.dead.inc({ kind: row.kind });
        this.opts.log.warn(
          { id: row.id, kind: row.kind, attempts: row.attempts, error: message },
          'delivery dead-lettered',
        );
      }
    } catch (hookErr) {
      // Neither the dead letter nor its consequences are recorded: the delivery is tried again.
      await this.unrecorded(row, hookErr);
    }
  }

  /**
   * In one transaction: the row's outcome and what the outcome hooks record of it; then their live
   * part. False when the row was no longer pending (another worker recorded it): hooks not run.
   */
  private async record(
    row: OutboxRow,
    outcome: 'done' | 'dead',
    result: unknown,
    sql: string,
    params: unknown[],
  ): Promise<boolean> {
    const hook = this.opts.onOutcome;
    if (!hook) return Boolean((await this.opts.db.query(sql, params)).rowCount);
    const done = await this.opts.db.tx(async (q) => {
      const u = await q.query(sql, params);
      if (!u.rowCount) return { recorded: false as const };
      return { recorded: true as const, after: await hook(row, outcome, result, q) };
    });
    if (done.recorded && typeof done.after === 'function') {
      try {
        await done.after();
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message, id: row.id }, 'outbox outcome notification failed');
      }
    }
    return done.recorded;
  }

  /**
   * The outcome's transaction failed: the row stays pending and is tried again after a backoff (a
   * delivered one keeps its result, so it is not delivered again), up to twice its attempts; then
   * it is dead-lettered as it is, with the reason, for a re-drive.
   */
  private async unrecorded(row: OutboxRow, err: unknown, delivered?: { result: unknown }): Promise<void> {
    const message = `outcome not recorded: ${(err as Error).message ?? String(err)}`.slice(0, 500);
    const giveUp = row.attempts >= row.maxAttempts * 2;
    this.opts.log.warn(
      { id: row.id, kind: row.kind, attempts: row.attempts, error: message, giveUp },
      'outbox outcome failed',
    );
    try {
      await this.opts.db.query(
        `UPDATE outbox SET last_error = $2, locked_until = NULL, updated_at = now(),
           next_attempt_at = now() + ($3::int * interval '1 millisecond'),
           state = CASE WHEN $4::boolean THEN 'dead' ELSE state END,
           result = CASE WHEN $5::boolean THEN $6::jsonb ELSE result END,
           delivered_at = CASE WHEN $5::boolean THEN COALESCE(delivered_at, now()) ELSE delivered_at END
         WHERE id = $1 AND state = 'pending'`,
        [
          row.id,
          message,
          this.backoff(row.attempts),
          giveUp,
          !!delivered,
          JSON.stringify(delivered?.result ?? null),
        ],
      );
    } catch (dbErr) {
      // The lease expires and another attempt is made.
      this.opts.log.warn(
        { id: row.id, err: (dbErr as Error).message },
        'outbox outcome failure not recorded',
      );
    }
  }

  private backoff(attempt: number): number {
    return backoffMs(attempt, this.opts.backoffBaseMs ?? 1000, this.opts.backoffMaxMs ?? 300_000);
  }

  /** Rows of a tenant in a state, newest first. */
  async list(ccid: string, state: OutboxRow['state'] | undefined, limit = 100): Promise<OutboxRow[]> {
    const r = await this.opts.db.query(
      `SELECT * FROM outbox WHERE ccid = $1 AND ($2::text IS NULL OR state = $2) ORDER BY id DESC LIMIT $3`,
      [ccid, state ?? null, Math.min(Math.max(limit, 1), 1000)],
    );
    return r.rows.map(toRow);
  }

  async get(ccid: string, id: string): Promise<OutboxRow | undefined> {
    if (!/^\d{1,18}$/.test(id)) return undefined;
    const r = await this.opts.db.query('SELECT * FROM outbox WHERE ccid = $1 AND id = $2', [ccid, id]);
    return r.rows[0] ? toRow(r.rows[0]) : undefined;
  }

  /** Puts a dead (or stuck pending) delivery back in the queue with fresh attempts. */
  async redrive(ccid: string, id: string): Promise<OutboxRow | undefined> {
    if (!/^\d{1,18}$/.test(id)) return undefined;
    const r = await this.opts.db.query(
      `UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL, updated_at = now()
        WHERE ccid = $1 AND id = $2 AND state <> 'done' RETURNING *`,
      [ccid, id],
    );
    if (r.rows[0]) this.wake();
    return r.rows[0] ? toRow(r.rows[0]) : undefined;
  }
}
