/**
 * Baseline: raw batched INSERT. Takes the message rows the gateway itself wrote, and inserts the
 * same rows, as multi-row INSERT statements on several connections, into fresh copies of the
 * gateway's message table (`LIKE … INCLUDING ALL`: same columns, defaults, indexes and unique
 * constraints; not its foreign keys) in the same database. A round fills one copy; copies are
 * created outside the timed part and dropped at the end.
 */
import pg from 'pg';
import { serve } from '../ipc.js';

interface Args {
  connection: pg.ClientConfig;
  /** The gateway's message table; found by its columns when not given. */
  table?: string;
  durationMs: number;
  batch: number;
  concurrency: number;
  sampleRows: number;
}

async function findTable(c: pg.Client): Promise<string> {
  const r = await c.query(
    `SELECT table_name FROM information_schema.columns
      WHERE table_schema = 'public' AND column_name IN ('conversation_id', 'seq')
      GROUP BY table_name HAVING count(*) = 2
      ORDER BY (table_name LIKE '%message%') DESC, table_name`,
  );
  if (!r.rows.length) throw new Error('no message table (with conversation_id and seq) in the database');
  return r.rows[0].table_name;
}

async function run(a: Args) {
  const admin = new pg.Client(a.connection);
  await admin.connect();
  const clients: pg.Client[] = [];
  const copies: string[] = [];
  try {
    const table = a.table ?? (await findTable(admin));
    const cols = (
      await admin.query(
        `SELECT column_name, udt_name FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      )
    ).rows as Array<{ column_name: string; udt_name: string }>;
    const sample = (await admin.query(`SELECT * FROM ${ident(table)} LIMIT ${Number(a.sampleRows)}`)).rows;
    if (!sample.length)
      throw new Error(`${table} has no rows to copy (run the gateway's durable phase first)`);
    const json = new Set(
      cols.filter((c) => c.udt_name === 'json' || c.udt_name === 'jsonb').map((c) => c.column_name),
    );
    const names = cols.map((c) => c.column_name);
    const rows = sample.map((r) =>
      names.map((n) => (json.has(n) && r[n] !== null ? JSON.stringify(r[n]) : r[n])),
    );
    const batch = Math.max(1, Math.min(a.batch, Math.floor(60_000 / names.length)));
    const colList = names.map(ident).join(', ');

    for (let i = 0; i < a.concurrency; i++) {
      const c = new pg.Client(a.connection);
      await c.connect();
      clients.push(c);
    }
    let inserted = 0;
    let busy = 0;
    let statements = 0;
    while (busy < a.durationMs) {
      const copy = `bench_copy_${process.pid}_${copies.length}`;
      await admin.query(`CREATE TABLE ${ident(copy)} (LIKE ${ident(table)} INCLUDING ALL)`);
      copies.push(copy);
      const batches: unknown[][][] = [];
      for (let i = 0; i < rows.length; i += batch) batches.push(rows.slice(i, i + batch));
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        clients.map(async (c) => {
          while (next < batches.length) {
            const b = batches[next++];
            const params: unknown[] = [];
            const tuples = b.map((r) => `(${r.map((v) => `$${params.push(v)}`).join(', ')})`);
            await c.query(`INSERT INTO ${ident(copy)} (${colList}) VALUES ${tuples.join(', ')}`, params);
            statements++;
          }
        }),
      );
      busy += performance.now() - t0;
      inserted += rows.length;
    }
    return {
      table,
      rows: inserted,
      statements,
      seconds: busy / 1000,
      rowsPerSecond: inserted / (busy / 1000),
      batch,
      concurrency: a.concurrency,
      sampleRows: rows.length,
      backendPids: await Promise.all(
        clients.map(async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p),
      ),
    };
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
    for (const t of copies) await admin.query(`DROP TABLE IF EXISTS ${ident(t)}`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  }
}

function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

serve({ run }, () => undefined);
