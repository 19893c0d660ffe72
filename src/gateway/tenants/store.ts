/**
 * Tenants (contact centers, id `ccid`). The guide's body fields that the gateway does not interpret
 * (`backendurl`, `username`, `genesysenantid`, …) are kept in `data`; the tenant user's `token` is
 * a secret, kept only sealed (`tokenSealed`) and never returned.
 */
import type { Queryable } from '../../shared/db/pool.js';

export interface Tenant {
  ccid: string;
  name: string;
  type: string | null;
  data: Record<string, unknown>;
  created: Date;
  updated: Date;
}

const COLUMNS = 'ccid, name, type, data, created_at, updated_at';

function fromRow(r: Record<string, any>): Tenant {
  return {
    ccid: r.ccid,
    name: r.name,
    type: r.type,
    data: r.data ?? {},
    created: r.created_at,
    updated: r.updated_at,
  };
}

export class TenantStore {
  constructor(private readonly db: Queryable) {}

  /** Inserts the tenant; undefined when the ccid is taken. */
  async create(
    t: { ccid: string; name: string; type: string | null; data: Record<string, unknown> },
    q: Queryable = this.db,
  ): Promise<Tenant | undefined> {
    const r = await q.query(
      `INSERT INTO tenants (ccid, name, type, data) VALUES ($1, $2, $3, $4::jsonb)
       ON CONFLICT (ccid) DO NOTHING RETURNING ${COLUMNS}`,
      [t.ccid, t.name, t.type, JSON.stringify(t.data)],
    );
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async get(ccid: string, q: Queryable = this.db): Promise<Tenant | undefined> {
    const r = await q.query(`SELECT ${COLUMNS} FROM tenants WHERE ccid = $1`, [ccid]);
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  /** Whether the tenant exists, holding it (in a transaction) until commit so it cannot vanish meanwhile. */
  async holdIfExists(ccid: string, q: Queryable): Promise<boolean> {
    const r = await q.query('SELECT 1 FROM tenants WHERE ccid = $1 FOR SHARE', [ccid]);
    return r.rows.length > 0;
  }

  async list(): Promise<Tenant[]> {
    const r = await this.db.query(`SELECT ${COLUMNS} FROM tenants ORDER BY created_at, ccid`);
    return r.rows.map(fromRow);
  }

  async replace(
    t: { ccid: string; name: string; type: string | null; data: Record<string, unknown> },
    q: Queryable = this.db,
  ): Promise<Tenant | undefined> {
    const r = await q.query(
      `UPDATE tenants SET name = $2, type = $3, data = $4::jsonb, updated_at = now() WHERE ccid = $1 RETURNING ${COLUMNS}`,
      [t.ccid, t.name, t.type, JSON.stringify(t.data)],
    );
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async delete(ccid: string, q: Queryable = this.db): Promise<boolean> {
    const r = await q.query('DELETE FROM tenants WHERE ccid = $1', [ccid]);
    return (r.rowCount ?? 0) > 0;
  }
}
