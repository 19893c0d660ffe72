import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engines } from '../../../test/helpers/engines.js';
import { testDatabase } from '../../../test/helpers/db.js';
import type { Database } from '../../shared/db/pool.js';
import { createLogger } from '../../shared/logger.js';
import { PluginError } from '../types.js';
import { backoffMs, Outbox, type OutboxRow } from './outbox.js';

const log = createLogger({ level: 'silent' });

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves when `cond` holds, checking after each outbox outcome or every 20 ms, bounded. */
async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('backoff', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    expect(backoffMs(1, 100, 10_000, () => 1)).toBe(100);
    expect(backoffMs(4, 100, 10_000, () => 1)).toBe(800);
    expect(backoffMs(20, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffMs(4, 100, 10_000, () => 0)).toBe(0);
  });
});

describe.each(engines())('outbox on %s engine', (engine) => {
  let db: Database;
  let reopen: () => Promise<Database>;
  let cleanup: () => Promise<void>;
  const boxes: Outbox[] = [];
  const make = (d: Database, o: Partial<ConstructorParameters<typeof Outbox>[0]> = {}) => {
    const box = new Outbox({ db: d, log, pollMs: 20, backoffBaseMs: 10, backoffMaxMs: 50, ...o });
    boxes.push(box);
    return box;
  };

  beforeEach(async () => {
    ({ db, reopen, cleanup } = await testDatabase(engine));
  });
  afterEach(async () => {
    for (const b of boxes.splice(0)) await b.close();
    await cleanup();
  });

  const item = (n: number, key = 'conv-1') => ({
    ccid: 'cc1',
    orderingKey: key,
    kind: 'test',
    target: 'T',
    payload: { n },
  });

  it('exists only when the enqueuing transaction commits', async () => {
    const box = make(db);
    await expect(
      db.tx(async (q) => {
        await box.enqueue(q, [item(1)]);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    await db.tx((q) => box.enqueue(q, [item(2)]));
    const rows = await box.list('cc1', undefined);
    expect(rows.map((r) => r.payload.n)).toEqual([2]);
  });

  it('delivers in order per ordering key, at least once, and records done', async () => {
    const got: number[] = [];
    const box = make(db);
    box.handle('test', async (row) => {
      got.push(row.payload.n as number);
      return { ok: true };
    });
    await db.tx((q) =>
      box.enqueue(
        q,
        [1, 2, 3, 4, 5].map((n) => item(n)),
      ),
    );
    await box.start();
    await until(() => got.length === 5);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    await until(async () => (await box.list('cc1', 'done')).length === 5);
  });

  it('retries a retryable failure with backoff, then delivers; a later item waits its turn', async () => {
    const got: number[] = [];
    let failures = 0;
    const box = make(db);
    box.handle('test', async (row) => {
      if (row.payload.n === 1 && failures < 3) {
        failures++;
        throw new PluginError('provider down', { retryable: true, status: 503 });
      }
      got.push(row.payload.n as number);
    });
    await db.tx((q) => box.enqueue(q, [item(1), item(2)]));
    await box.start();
    await until(() => got.length === 2);
    expect(got).toEqual([1, 2]);
    expect(failures).toBe(3);
    const [first] = (await box.list('cc1', 'done')).filter((r) => r.payload.n === 1);
    expect(first.attempts).toBe(4);
  });

  it('dead-letters a non-retryable failure at once and after the attempt limit, and re-drives it', async () => {
    const outcomes: Array<[string, string]> = [];
    let healthy = false;
    const box = make(db, { onOutcome: (row, o) => void outcomes.push([String(row.payload.n), o]) });
    box.handle('test', async (row) => {
      if (row.payload.n === 1) throw new PluginError('bad number', { retryable: false, status: 400 });
      if (!healthy) throw new PluginError('down', { retryable: true });
    });
    await db.tx((q) => box.enqueue(q, [item(1, 'a'), { ...item(2, 'b'), maxAttempts: 3 }]));
    await box.start();
    await until(() => outcomes.length === 2);
    expect(outcomes.sort()).toEqual([
      ['1', 'dead'],
      ['2', 'dead'],
    ]);
    const dead = await box.list('cc1', 'dead');
    const two = dead.find((r) => r.payload.n === 2)!;
    expect(two.attempts).toBe(3);
    expect(two.lastError).toBe('down');

    healthy = true;
    expect(await box.redrive('other-tenant', two.id)).toBeUndefined();
    expect((await box.redrive('cc1', two.id))?.state).toBe('pending');
    await until(() => outcomes.length === 3);
    expect(outcomes[2]).toEqual(['2', 'done']);
  });

  it('records the outcome and what its hook writes in one transaction; a failed one is recorded later without delivering again', async () => {
    await db.query('CREATE TABLE outcome_marks (n int PRIMARY KEY, outcome text NOT NULL)');
    const sends: number[] = [];
    const after: number[] = [];
    let hookFails = 2;
    const box = make(db, {
      onOutcome: async (row, outcome, _result, q) => {
        const n = row.payload.n as number;
        await q.query('INSERT INTO outcome_marks (n, outcome) VALUES ($1, $2)', [n, outcome]);
        // The mark above is rolled back with the outcome when the hook fails after writing it.
        if (n === 1 && hookFails-- > 0) throw new Error('database went away');
        return () => void after.push(n);
      },
    });
    box.handle('test', async (row) => {
      sends.push(row.payload.n as number);
      if (row.payload.n === 2) throw new PluginError('refused', { retryable: false, status: 400 });
      return { providerMessageId: `p-${row.payload.n}` };
    });
    await db.tx((q) => box.enqueue(q, [item(1, 'a'), item(2, 'b')]));
    await box.start();
    await until(() => after.length === 2);
    expect(after.sort()).toEqual([1, 2]);
    // Sent once each, though row 1's outcome took three attempts to record.
    expect(sends.sort()).toEqual([1, 2]);
    const marks = await db.query('SELECT n, outcome FROM outcome_marks ORDER BY n');
    expect(marks.rows).toEqual([
      { n: 1, outcome: 'done' },
      { n: 2, outcome: 'dead' },
    ]);
    const rows = await box.list('cc1', undefined);
    const one = rows.find((r) => r.payload.n === 1)!;
    expect([one.state, one.attempts, one.result, one.lastError]).toEqual([
      'done',
      3,
      { providerMessageId: 'p-1' },
      null,
    ]);
    expect(rows.find((r) => r.payload.n === 2)?.state).toBe('dead');
  });

  it('a dead letter whose hook fails is not recorded: the delivery is tried again', async () => {
    const outcomes: string[] = [];
    let hookFails = 1;
    let sends = 0;
    const box = make(db, {
      onOutcome: (_row, outcome) => {
        if (hookFails-- > 0) throw new Error('database went away');
        outcomes.push(outcome);
      },
    });
    box.handle('test', async () => {
      sends++;
      throw new PluginError('refused', { retryable: false, status: 400 });
    });
    await db.tx((q) => box.enqueue(q, [item(1)]));
    await box.start();
    await until(() => outcomes.length === 1);
    expect(outcomes).toEqual(['dead']);
    expect(sends).toBe(2);
    const [row] = await box.list('cc1', 'dead');
    expect([row.attempts, row.lastError]).toEqual([2, 'refused']);
  });

  it('keeps delivering other conversations while one delivery hangs', async () => {
    const hung = deferred();
    const got: string[] = [];
    const box = make(db);
    box.handle('test', async (row) => {
      if (row.orderingKey === 'stuck') return hung.promise;
      got.push(row.orderingKey);
    });
    await db.tx((q) => box.enqueue(q, [item(1, 'stuck'), item(2, 'a'), item(3, 'b')]));
    await box.start();
    await until(() => got.length === 2);
    await db.tx((q) => box.enqueue(q, [item(4, 'c')]));
    box.wake();
    await until(() => got.length === 3);
    expect(got.sort()).toEqual(['a', 'b', 'c']);
    hung.resolve();
  });

  it('folds a second enqueue with the same dedupe key', async () => {
    const box = make(db);
    await db.tx((q) => box.enqueue(q, [{ ...item(1), dedupeKey: 'm-1' }]));
    const again = await db.tx((q) => box.enqueue(q, [{ ...item(1), dedupeKey: 'm-1' }]));
    expect(again).toEqual([]);
    expect(await box.list('cc1', undefined)).toHaveLength(1);
  });

  it('loses nothing across a restart in the middle of retries', async () => {
    let calls = 0;
    const first = make(db);
    first.handle('test', async () => {
      calls++;
      throw new PluginError('down', { retryable: true });
    });
    await db.tx((q) => first.enqueue(q, [item(1), item(2)]));
    await first.start();
    await until(() => calls >= 2);
    await first.close();

    const db2 = await reopen();
    const got: number[] = [];
    const second = make(db2);
    second.handle('test', async (row) => {
      got.push(row.payload.n as number);
    });
    await second.start();
    await until(() => got.length === 2);
    expect(got).toEqual([1, 2]);
  });

  it('six workers racing over 600 rows deliver each exactly once, in order per key', async () => {
    // Polling every millisecond, a worker's claim often reads a row another worker is delivering or
    // has just marked done; the claim must re-check the row it locks (this found a double delivery).
    const seen = new Map<number, number>();
    const order = new Map<string, number[]>();
    const workers = Array.from({ length: 6 }, () => {
      const w = make(db, { pollMs: 1 });
      w.handle('test', async (row) => {
        const n = row.payload.n as number;
        seen.set(n, (seen.get(n) ?? 0) + 1);
        order.set(row.orderingKey, [...(order.get(row.orderingKey) ?? []), n]);
      });
      return w;
    });
    const rows = Array.from({ length: 600 }, (_, i) => item(i, `k${i % 50}`));
    await db.tx((q) => workers[0].enqueue(q, rows));
    await Promise.all(workers.map((w) => w.start()));
    // Correctness, not speed: on one PGlite connection shared by six 1 ms pollers, on a loaded
    // machine, the 600 deliveries (two transactions each) have taken 20-45 s.
    await until(async () => (await workers[0].list('cc1', 'done', 1000)).length === 600, 90_000);
    for (const w of workers) await w.settled();
    expect(seen.size).toBe(600);
    expect([...seen.entries()].filter(([, v]) => v !== 1)).toEqual([]);
    for (const [key, ns] of order) expect(ns, key).toEqual([...ns].sort((a, b) => a - b));
  }, 120_000);

  it('delivers each row once when two workers share the database, and re-delivers after a lost lease', async () => {
    const seen = new Map<number, number>();
    const handler = async (row: OutboxRow) => {
      seen.set(row.payload.n as number, (seen.get(row.payload.n as number) ?? 0) + 1);
    };
    const a = make(db);
    const b = make(db);
    a.handle('test', handler);
    b.handle('test', handler);
    await db.tx((q) =>
      a.enqueue(
        q,
        Array.from({ length: 40 }, (_, i) => item(i, `k${i % 8}`)),
      ),
    );
    await Promise.all([a.start(), b.start()]);
    await until(() => seen.size === 40);
    await until(async () => (await a.list('cc1', 'done')).length === 40);
    expect([...seen.values()].every((v) => v === 1)).toBe(true);
    await a.close();
    await b.close();

    // A worker that claims a row and then hangs (a crashed node): the lease runs out and another delivers.
    const hung = deferred();
    const crashed = make(db, { leaseMs: 200 });
    crashed.handle('test', () => hung.promise);
    await db.tx((q) => crashed.enqueue(q, [item(99, 'z')]));
    void crashed.pass();
    await until(async () => (await crashed.list('cc1', 'pending')).some((r) => r.attempts === 1));
    const rescuer = make(db, { leaseMs: 200 });
    const rescued = deferred<number>();
    rescuer.handle('test', async (row) => rescued.resolve(row.payload.n as number));
    await rescuer.start();
    expect(await rescued.promise).toBe(99);
    hung.resolve();
  });
});
