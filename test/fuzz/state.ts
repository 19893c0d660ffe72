/**
 * The gateway's durable state as the fuzz suites compare it: the row count of every table of the
 * schema (the migrations' bookkeeping aside), read in one statement so that a snapshot is
 * consistent.
 */
import type { Queryable } from '../../src/shared/db/pool.js';

export type RowCounts = Record<string, number>;

export async function rowCounts(db: Queryable): Promise<RowCounts> {
  const tables = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
      ORDER BY table_name`,
  );
  const names = tables.rows.map((r) => r.name).filter((n) => !n.startsWith('schema_migrations'));
  const sql = names
    .map((n) => `SELECT '${n}' AS name, count(*)::int AS n FROM "${n.replace(/"/g, '""')}"`)
    .join(' UNION ALL ');
  const r = await db.query<{ name: string; n: number }>(sql);
  return Object.fromEntries(r.rows.map((x) => [x.name, x.n]));
}

/** The tables whose counts differ, with before → after. */
export function changed(before: RowCounts, after: RowCounts): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)]))
    if (before[k] !== after[k]) out.push(`${k}: ${before[k]} → ${after[k]}`);
  return out;
}
