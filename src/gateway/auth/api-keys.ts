/**
 * The API key store. A key value is a random UUID shown once, at creation; the table keeps only its
 * SHA-256 (enough for a 122-bit random value: no salt or slow hash is needed to resist guessing) and
 * a short prefix so that an operator can recognise a key without it being usable.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from '../../shared/db/pool.js';

export interface ApiKey {
  /** The id that manages the key (`keyId` in answers); never the key value. */
  keyId: string;
  prefix: string;
  tenant: string;
  name: string;
  permissions: string[];
  enabled: boolean;
  revoked: boolean;
  revokedAt: Date | null;
  expires: Date | null;
  capacity: number;
  frequency: number;
  createdby: string;
  created: Date;
}

export interface NewApiKey {
  tenant: string;
  name: string;
  permissions: string[];
  enabled: boolean;
  expires: Date | null;
  capacity: number;
  frequency: number;
  createdby: string;
}

const PREFIX_LENGTH = 8;
const COLUMNS =
  'id, key_prefix, tenant, name, permissions, enabled, revoked, revoked_at, expires, capacity, frequency, createdby, created';

export function hashKey(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

function fromRow(r: Record<string, any>): ApiKey {
  return {
    keyId: r.id,
    prefix: r.key_prefix,
    tenant: r.tenant,
    name: r.name,
    permissions: r.permissions,
    enabled: r.enabled,
    revoked: r.revoked,
    revokedAt: r.revoked_at,
    expires: r.expires,
    capacity: r.capacity,
    frequency: r.frequency,
    createdby: r.createdby,
    created: r.created,
  };
}

/** Why a presented key is refused, or undefined when it is usable now. */
export function unusableReason(
  key: ApiKey,
  now = Date.now(),
): 'revoked' | 'disabled' | 'expired' | undefined {
  if (key.revoked) return 'revoked';
  if (!key.enabled) return 'disabled';
  if (key.expires && key.expires.getTime() <= now) return 'expired';
  return undefined;
}

export class ApiKeyStore {
  constructor(private readonly db: Queryable) {}

  /** Creates a key; the returned `value` is the only time the key itself exists outside the caller. */
  async create(k: NewApiKey, q: Queryable = this.db): Promise<{ key: ApiKey; value: string }> {
    const value = randomUUID();
    const r = await q.query(
      `INSERT INTO api_keys (id, key_hash, key_prefix, tenant, name, permissions, enabled, expires, capacity, frequency, createdby)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
      [
        randomUUID(),
        hashKey(value),
        value.slice(0, PREFIX_LENGTH),
        k.tenant,
        k.name,
        JSON.stringify(k.permissions),
        k.enabled,
        k.expires,
        k.capacity,
        k.frequency,
        k.createdby,
      ],
    );
    return { key: fromRow(r.rows[0]), value };
  }

  /** The key a presented value belongs to, whatever its state. */
  async findByValue(value: string): Promise<ApiKey | undefined> {
    const r = await this.db.query(`SELECT ${COLUMNS} FROM api_keys WHERE key_hash = $1`, [hashKey(value)]);
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async get(keyId: string): Promise<ApiKey | undefined> {
    const r = await this.db.query(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [keyId]);
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  async list(tenant?: string): Promise<ApiKey[]> {
    const r = tenant
      ? await this.db.query(`SELECT ${COLUMNS} FROM api_keys WHERE tenant = $1 ORDER BY created, id`, [
          tenant,
        ])
      : await this.db.query(`SELECT ${COLUMNS} FROM api_keys ORDER BY created, id`);
    return r.rows.map(fromRow);
  }

  /** Revokes a key (idempotent: the first revocation time is kept). */
  async revoke(keyId: string): Promise<ApiKey | undefined> {
    const r = await this.db.query(
      `UPDATE api_keys SET revoked = true, revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
      [keyId],
    );
    return r.rows[0] ? fromRow(r.rows[0]) : undefined;
  }

  /** Revokes every key of a tenant (the tenant is being deleted). */
  async revokeTenant(tenant: string, q: Queryable = this.db): Promise<number> {
    const r = await q.query(
      'UPDATE api_keys SET revoked = true, revoked_at = COALESCE(revoked_at, now()) WHERE tenant = $1 AND NOT revoked',
      [tenant],
    );
    return r.rowCount ?? 0;
  }
}
