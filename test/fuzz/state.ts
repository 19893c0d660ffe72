/**
 * The gateway's durable state as the fuzz suites compare it: for every table of the schema (the
 * migrations' bookkeeping aside) its row count and a digest of its rows' content, read in one
 * statement so that a snapshot is consistent. A refused request that inserts, deletes or changes
 * any row shows. Columns that move without any request are left out of the digest (`VOLATILE`).
 */
import type { Queryable } from '../../src/shared/db/pool.js';

export interface TableState {
  rows: number;
  /** md5 of the rows as canonical jsonb text, sorted, volatile columns left out. */
  digest: string;
}
export type Snapshot = Record<string, TableState>;

/**
 * Columns that legitimately change while the fuzz runs, each a presence stamp a node renews on a
 * timer: the customer's (every node marks the conversations whose customer it sees; a refused
 * request of a session still shows the customer is there) and the agent sockets' lease.
 */
export const VOLATILE: Record<string, string[]> = {
  conversations: ['customer_seen_at'],
  agent_connections: ['expires_at'],
};

const ident = (n: string) => `"${n.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function snapshot(
  db: Queryable,
  volatile: Record<string, string[]> = VOLATILE,
): Promise<Snapshot> {
  const tables = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
      ORDER BY table_name`,
  );
  const names = tables.rows.map((r) => r.name).filter((n) => !n.startsWith('schema_migrations'));
  const sql = names
    .map((n) => {
      const row = ['to_jsonb(t)', ...(volatile[n] ?? []).map(literal)].join(' - ');
      return `SELECT ${literal(n)} AS name, count(*)::int AS n,
                     coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') AS digest
                FROM (SELECT (${row})::text AS r FROM ${ident(n)} t) x`;
    })
    .join(' UNION ALL ');
  const r = await db.query<{ name: string; n: number; digest: string }>(sql);
  return Object.fromEntries(r.rows.map((x) => [x.name, { rows: x.n, digest: x.digest }]));
}

/** The tables whose rows differ: count before → after, or that their content changed. */
export function changed(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[k];
    const b = after[k];
    if (a?.rows !== b?.rows) out.push(`${k}: ${a?.rows} → ${b?.rows} rows`);
    else if (a?.digest !== b?.digest) out.push(`${k}: a row changed`);
  }
  return out;
}
