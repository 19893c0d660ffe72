/**
 * API key management, admin credentials only: `POST|GET /nexus/v3/apikeys`,
 * `GET|DELETE /nexus/v3/apikeys/{keyId}`.
 *
 * The guide's clients read the key record at the top level of the answer while our convention is
 * the envelope, so single-record answers carry both: `{ status, data: record, operationId, ...record }`.
 * In the create answer `id` is the key value itself (shown this once; the guide's users copy it as
 * `$apikey`) and `keyId` manages the key afterwards; in every later answer `id` is the keyId.
 */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { HttpContext, RawReply } from '../../shared/http/types.js';
import type { Router } from '../../shared/http/router.js';
import { type ApiKey, ApiKeyStore } from '../auth/api-keys.js';
import { isValidCcid } from '../auth/auth.js';
import { isClusterPermission, isValidPermission } from '../auth/permissions.js';
import type { GatewayDeps } from '../deps.js';
import { TenantStore } from '../tenants/store.js';
import { parseInput } from './validate.js';

const BASE = '/nexus/v3/apikeys';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Only the routes' own permission name: admin credentials hold every permission, keys are refused. */
const MANAGE = { permission: 'nexus:apikeys:manage', apiKey: false } as const;

export const createKeySchema = z
  .object({
    enabled: z.boolean().default(true),
    tenant: z
      .string()
      .refine((t) => t === '*' || isValidCcid(t), 'must be a contact center id, or * for a cluster key'),
    name: z.string().trim().min(1).max(200),
    permissions: z
      .array(
        z.string().refine(isValidPermission, 'is not a permission (segments of letters, digits, _.- or *)'),
      )
      .min(1)
      .max(50),
    capacity: z.number().int().min(1).max(1_000_000).optional(),
    frequency: z.number().int().min(1).max(86_400).optional(),
    /** An ISO 8601 time, or false/null for a key that never expires (the guide shows `false`). */
    expires: z.union([z.literal(false), z.null(), z.string().datetime({ offset: true })]).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    b.permissions.forEach((p, i) => {
      // Cross-tenant power must be visible in both places: the tenant `*` and a cluster permission.
      if (b.tenant === '*' && !isClusterPermission(p)) {
        ctx.addIssue({
          code: 'custom',
          path: ['permissions', i],
          message: 'a cluster key (tenant *) holds only nexus:cluster:… permissions',
        });
      }
      if (b.tenant !== '*' && isClusterPermission(p)) {
        ctx.addIssue({
          code: 'custom',
          path: ['permissions', i],
          message: 'nexus:cluster:… permissions are for cluster keys (tenant *) only',
        });
      }
    });
    if (typeof b.expires === 'string') {
      const at = Date.parse(b.expires);
      // ISO-shaped is not enough: `+99:99` parses to no time at all, which PostgreSQL would refuse (a 500).
      if (!Number.isFinite(at) || new Date(at).getUTCFullYear() > 9999)
        ctx.addIssue({ code: 'custom', path: ['expires'], message: 'must be a time before the year 10000' });
      else if (at <= Date.now())
        ctx.addIssue({ code: 'custom', path: ['expires'], message: 'must be in the future' });
    }
  });

/** The record as the guide shows it, never with the key value; `id` is the keyId. */
export function keyRecord(k: ApiKey): Record<string, unknown> {
  return {
    id: k.keyId,
    keyId: k.keyId,
    prefix: k.prefix,
    tenant: k.tenant,
    name: k.name,
    permissions: k.permissions,
    enabled: k.enabled,
    created: k.created.toISOString(),
    revoked: k.revoked,
    revokedAt: k.revokedAt ? k.revokedAt.toISOString() : null,
    expires: k.expires ? k.expires.toISOString() : false,
    createdby: k.createdby,
    capacity: k.capacity,
    frequency: k.frequency,
  };
}

/** The envelope with the record also at the top level (see the file comment). */
function recordReply(ctx: HttpContext, record: Record<string, unknown>, status = 200): RawReply {
  return {
    status,
    contentType: 'application/json',
    raw: JSON.stringify({ ...record, status: { code: 0 }, data: record, operationId: ctx.operationId }),
  };
}

function keyIdParam(ctx: HttpContext): string {
  const keyId = ctx.params.keyId;
  // Not a UUID: no key can have it, and the database must not be asked to cast it.
  if (!UUID_RE.test(keyId)) throw new AppError('API_KEY_NOT_FOUND');
  return keyId.toLowerCase();
}

export function apiKeyRoutes(router: Router, deps: GatewayDeps): void {
  const keys = new ApiKeyStore(deps.db);
  const tenants = new TenantStore(deps.db);

  router.post(
    BASE,
    async (ctx) => {
      const { principal } = await deps.auth.require(ctx, MANAGE);
      const body = parseInput(createKeySchema, ctx.body);
      // A tenant user's token makes keys of its own tenant only (never cluster keys).
      if (principal.tenant !== '*' && body.tenant !== principal.tenant) {
        throw new AppError(
          'TENANT_MISMATCH',
          `This credential provisions keys of the tenant ${principal.tenant} only.`,
          {
            field: 'tenant',
          },
        );
      }
      const { key, value } = await deps.db.tx(async (q) => {
        // A key of a tenant being deleted would outlive its tenant's revocation: hold the tenant.
        if (body.tenant !== '*' && !(await tenants.holdIfExists(body.tenant, q))) {
          throw new AppError(
            'TENANT_NOT_FOUND',
            `The tenant ${body.tenant} does not exist; provision it first.`,
            {
              field: 'tenant',
            },
          );
        }
        return keys.create(
          {
            tenant: body.tenant,
            name: body.name,
            permissions: body.permissions,
            enabled: body.enabled,
            expires: typeof body.expires === 'string' ? new Date(body.expires) : null,
            capacity: body.capacity ?? deps.config.rateLimit.capacity,
            frequency: body.frequency ?? deps.config.rateLimit.frequency,
            createdby: principal.subject,
          },
          q,
        );
      });
      ctx.log.info({ keyId: key.keyId, tenant: key.tenant, createdby: key.createdby }, 'API key created');
      return recordReply(ctx, { ...keyRecord(key), id: value }, 201);
    },
    { body: ['json'] },
  );

  router.get(BASE, async (ctx) => {
    const { principal } = await deps.auth.require(ctx, MANAGE);
    let tenant = ctx.query.get('tenant') ?? undefined;
    if (tenant !== undefined && tenant !== '*' && !isValidCcid(tenant)) {
      throw new AppError('VALIDATION_FAILED', 'tenant: must be a contact center id, or *', {
        field: 'tenant',
      });
    }
    if (principal.tenant !== '*') {
      if (tenant !== undefined && tenant !== principal.tenant) throw new AppError('TENANT_MISMATCH');
      tenant = principal.tenant;
    }
    const list = await keys.list(tenant);
    return { data: { apikeys: list.map(keyRecord) } };
  });

  router.get(`${BASE}/:keyId`, async (ctx) => {
    const { principal } = await deps.auth.require(ctx, MANAGE);
    const key = await keys.get(keyIdParam(ctx));
    // Another tenant's key does not exist for a tenant user.
    if (!key || (principal.tenant !== '*' && key.tenant !== principal.tenant))
      throw new AppError('API_KEY_NOT_FOUND');
    return recordReply(ctx, keyRecord(key));
  });

  router.delete(`${BASE}/:keyId`, async (ctx) => {
    const { principal } = await deps.auth.require(ctx, MANAGE);
    const keyId = keyIdParam(ctx);
    if (principal.tenant !== '*' && (await keys.get(keyId))?.tenant !== principal.tenant) {
      throw new AppError('API_KEY_NOT_FOUND');
    }
    const key = await keys.revoke(keyId);
    if (!key) throw new AppError('API_KEY_NOT_FOUND');
    ctx.log.info({ keyId: key.keyId, tenant: key.tenant, by: principal.subject }, 'API key revoked');
    return recordReply(ctx, keyRecord(key));
  });
}
