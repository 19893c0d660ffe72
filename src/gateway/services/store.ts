/**
 * Provisioned services in PostgreSQL. The secret is sealed (AES-256-GCM, bound to
 * `<ccid>/<name>`) before it reaches the database and is opened only by `getWithSecret`; every
 * other read carries just the secret's field names. Fields that the serving plugin's schema marks
 * secret outside `secret` (`data.apiKey`, `url`) are taken out of the row and sealed too, after the
 * secret: `secret_enc` is `<sealed secret>` or `<sealed secret>|<sealed fields>`. Changes are
 * announced on the shared pub/sub so that caches on every node can drop what they hold.
 */
import type { Database, Queryable } from '../../shared/db/pool.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { SharedState, Unsubscribe } from '../../shared/state/types.js';
import type { SecretBox } from '../secret-box.js';
import { type ServiceBody, secretFields } from './schemas.js';
import { restoreSealedFields, type SealedField, takeSealedFields } from './sealed-fields.js';
import {
  SERVICES_CHANGED,
  type ServiceChange,
  type ServiceChangeOp,
  type ServiceRecord,
  type ServiceStore,
  type ServiceWithSecret,
} from './types.js';

export interface ServiceStoreDeps {
  db: Database;
  state: SharedState;
  secrets: SecretBox;
  log: Logger;
  /**
   * The secret paths of the plugin that serves a service name (`secretPathSegments` of its config
   * schema); the values they name outside `secret` are sealed before the row is written.
   */
  sealedPaths?: (serviceName: string) => readonly (readonly string[])[];
}

interface Row {
  ccid: string;
  name: string;
  url: string | null;
  data: Record<string, unknown>;
  secret_fields: string[];
  sealed_fields: string[];
  secret_enc: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'ccid, name, url, data, secret_fields, sealed_fields, secret_enc, created_at, updated_at';

/** Binds a sealed secret to its row: moved to another tenant or name, it does not open. */
export function secretAad(ccid: string, name: string): string {
  return `${ccid}/${name}`;
}

function toRecord(r: Row): ServiceRecord {
  return {
    ccid: r.ccid,
    name: r.name,
    url: r.url,
    data: r.data,
    secretFields: r.secret_fields,
    sealedFields: r.sealed_fields,
    created: new Date(r.created_at).toISOString(),
    updated: new Date(r.updated_at).toISOString(),
  };
}

/** TENANT_NOT_FOUND unless the tenant exists. */
export async function requireTenant(q: Queryable, ccid: string): Promise<void> {
  const r = await q.query('SELECT 1 FROM tenants WHERE ccid = $1', [ccid]);
  if (r.rowCount === 0)
    throw new AppError('TENANT_NOT_FOUND', `The tenant "${ccid}" does not exist.`, { ccid });
}

function isForeignKeyViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === '23503';
}

export function createServiceStore(deps: ServiceStoreDeps): ServiceStore {
  const { db, secrets } = deps;
  const log = deps.log.child({ component: 'services' });

  async function announce(ccid: string, name: string, op: ServiceChangeOp): Promise<void> {
    log.info({ ccid, service: name, op }, 'service changed');
    const change: ServiceChange = { ccid, name, op };
    try {
      await deps.state.pubsub.publish(SERVICES_CHANGED, JSON.stringify(change));
    } catch (err) {
      // The write is committed; a missed notice only delays cache refreshes elsewhere.
      log.warn({ err, ccid, service: name }, 'could not announce the service change');
    }
  }

  /**
   * The row's values: the secret and any secret field outside it sealed, the rest as given; and the
   * paths of both, without values.
   */
  function sealed(ccid: string, name: string, given: ServiceBody): [ServiceBody, string, string, string] {
    const { body, fields } = takeSealedFields(given, deps.sealedPaths?.(name) ?? []);
    const aad = secretAad(ccid, name);
    let enc = secrets.seal(body.secret, aad);
    if (fields.length) enc += `|${secrets.seal(fields, `${aad}#fields`)}`;
    return [
      body,
      enc,
      JSON.stringify(secretFields(body.secret)),
      JSON.stringify(fields.map((f) => f.path.join('.'))),
    ];
  }

  async function write<T>(ccid: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // The tenant was removed between the check and the write (or never existed).
      if (isForeignKeyViolation(err))
        throw new AppError('TENANT_NOT_FOUND', `The tenant "${ccid}" does not exist.`, { ccid });
      throw err;
    }
  }

  return {
    async get(ccid, name) {
      const r = await db.query<Row>(`SELECT ${COLUMNS} FROM services WHERE ccid = $1 AND name = $2`, [
        ccid,
        name,
      ]);
      return r.rows[0] ? toRecord(r.rows[0]) : undefined;
    },

    async getWithSecret<S>(ccid: string, name: string): Promise<ServiceWithSecret<S> | undefined> {
      const r = await db.query<Row>(`SELECT ${COLUMNS} FROM services WHERE ccid = $1 AND name = $2`, [
        ccid,
        name,
      ]);
      const row = r.rows[0];
      if (!row) return undefined;
      let secret: S;
      let fields: SealedField[] = [];
      try {
        const aad = secretAad(ccid, name);
        const [enc, encFields] = (row.secret_enc ?? '').split('|');
        secret = enc ? secrets.open<S>(enc, aad) : ({} as S);
        if (encFields) fields = secrets.open<SealedField[]>(encFields, `${aad}#fields`);
      } catch (err) {
        log.error({ ccid, service: name, reason: (err as Error).message }, 'service secret does not decrypt');
        throw new AppError('SERVICE_SECRET_UNREADABLE', undefined, { ccid, service: name }, { cause: err });
      }
      return { ...restoreSealedFields(toRecord(row), fields), secret };
    },

    async list(ccid) {
      const r = await db.query<Row>(`SELECT ${COLUMNS} FROM services WHERE ccid = $1 ORDER BY name`, [ccid]);
      return r.rows.map(toRecord);
    },

    async onChange(listener): Promise<Unsubscribe> {
      return deps.state.pubsub.subscribe(SERVICES_CHANGED, (message) => {
        let change: ServiceChange;
        try {
          change = JSON.parse(message) as ServiceChange;
        } catch {
          return;
        }
        if (typeof change?.ccid === 'string' && typeof change?.name === 'string') listener(change);
      });
    },

    async create(ccid, name, given) {
      const [body, enc, fields, outside] = sealed(ccid, name, given);
      const r = await write(ccid, () =>
        db.query<Row>(
          `INSERT INTO services (ccid, name, url, data, secret_enc, secret_fields, sealed_fields)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (ccid, name) DO NOTHING
           RETURNING ${COLUMNS}`,
          [ccid, name, body.url ?? null, JSON.stringify(body.data), enc, fields, outside],
        ),
      );
      if (!r.rows[0]) {
        throw new AppError(
          'SERVICE_EXISTS',
          `The service "${name}" is already provisioned; use PUT to replace it.`,
          {
            service: name,
          },
        );
      }
      await announce(ccid, name, 'created');
      return toRecord(r.rows[0]);
    },

    async put(ccid, name, given) {
      const [body, enc, fields, outside] = sealed(ccid, name, given);
      const r = await write(ccid, () =>
        db.query<Row & { inserted: boolean }>(
          `INSERT INTO services (ccid, name, url, data, secret_enc, secret_fields, sealed_fields)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (ccid, name) DO UPDATE
             SET url = EXCLUDED.url, data = EXCLUDED.data, secret_enc = EXCLUDED.secret_enc,
                 secret_fields = EXCLUDED.secret_fields,
                 sealed_fields = EXCLUDED.sealed_fields, updated_at = now()
           RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
          [ccid, name, body.url ?? null, JSON.stringify(body.data), enc, fields, outside],
        ),
      );
      const row = r.rows[0];
      await announce(ccid, name, row.inserted ? 'created' : 'replaced');
      return { record: toRecord(row), created: row.inserted };
    },

    async delete(ccid, name) {
      const r = await db.query<Row>(
        `DELETE FROM services WHERE ccid = $1 AND name = $2 RETURNING ${COLUMNS}`,
        [ccid, name],
      );
      if (!r.rows[0]) {
        throw new AppError('SERVICE_NOT_FOUND', `The service "${name}" is not provisioned for this tenant.`, {
          service: name,
        });
      }
      await announce(ccid, name, 'deleted');
      return toRecord(r.rows[0]);
    },
  };
}
