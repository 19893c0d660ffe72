/**
 * The gateway's durable outbox alone, in its own process, on the run's database (migrated as the
 * gateway migrates it): the harness fills it with rows and times their draining by the real
 * `Outbox` workers. The handler answers at once (no provider), so what is measured is the outbox's
 * own path: claim, deliver, record. Each delivery also moves one row of a stand-in SMS table, as
 * the SMS outcome hook moves the SMS's state, either in its own statement (`separate`: how outcomes
 * were recorded before e838dc1) or inside the transaction that records the outcome (`together`).
 */
import { loadConfig } from '../../../src/shared/config.js';
import { Database } from '../../../src/shared/db/pool.js';
import { migrate } from '../../../src/shared/db/migrate.js';
import { createLogger } from '../../../src/shared/logger.js';
import { Outbox, type OutcomeHook } from '../../../src/plugins/outbox/outbox.js';
import { serve } from '../ipc.js';

const overrides = JSON.parse(process.env.BENCH_NEXUS_CONFIG ?? '{}');
const config = loadConfig({ env: {}, overrides: { nexus: overrides } }).nexus;
const log = createLogger({ level: config.logLevel, name: 'outbox' });
const db = new Database({
  host: config.db.host,
  port: config.db.port,
  user: config.db.user,
  password: config.db.password,
  database: config.db.database,
  ssl: config.db.enableSSL,
  poolSize: config.db.poolSize,
  log,
});
await db.start();
await migrate(db, log);
await db.query('CREATE TABLE IF NOT EXISTS bench_sms (id bigint PRIMARY KEY, state text NOT NULL)');

const KIND = 'bench-sms';
const markSent = (q: { query: Database['query'] }, row: { payload: Record<string, unknown> }) =>
  q.query("UPDATE bench_sms SET state = 'sent' WHERE id = $1", [row.payload.n]);

/** `rows` pending deliveries, each its own ordering key (all claimable at once), and their SMS rows. */
async function fill(a: { rows: number }) {
  await db.query("DELETE FROM outbox WHERE kind = 'bench-sms'");
  await db.query('TRUNCATE bench_sms');
  await db.query(
    `INSERT INTO outbox (ccid, ordering_key, kind, target, payload)
     SELECT 'bench', 'bench:' || n, $2, 'BenchSMS', jsonb_build_object('n', n) FROM generate_series(1, $1::int) n`,
    [a.rows, KIND],
  );
  await db.query("INSERT INTO bench_sms (id, state) SELECT n, 'queued' FROM generate_series(1, $1::int) n", [
    a.rows,
  ]);
}

/** Runs the workers until nothing is pending; answers the wall time. */
async function drain(a: { mode: 'separate' | 'together' }) {
  const hook: OutcomeHook = async (row, _outcome, _result, q) => void (await markSent(q, row));
  const outbox = new Outbox({ db, log, pollMs: 1000, onOutcome: a.mode === 'together' ? hook : undefined });
  outbox.handle(KIND, async (row) => {
    if (a.mode === 'separate') await markSent(db, row);
    return { providerMessageId: `bench-${row.payload.n}` };
  });
  const t0 = performance.now();
  await outbox.start();
  for (;;) {
    const r = await db.query("SELECT count(*)::int AS n FROM outbox WHERE kind = $1 AND state = 'pending'", [
      KIND,
    ]);
    if (r.rows[0].n === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - t0) / 1000;
  await outbox.close();
  const sent = await db.query("SELECT count(*)::int AS n FROM bench_sms WHERE state = 'sent'");
  return { seconds, sent: sent.rows[0].n };
}

serve({ fill, drain }, () => db.close());
