/**
 * Tenants: `POST /nexus/v3/provisioning/tenants` (admin) creates one together with its own API key
 * (`data.xapikey`, permissions `nexus:*` for that tenant only); `GET|PUT|DELETE
 * /nexus/v3/provisioning/tenants/{ccid}` take an admin credential or a key of that tenant with
 * `nexus:provisioning:tenants` (covered by `nexus:provisioning:*`). Deleting a tenant revokes its keys.
 */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import { ApiKeyStore } from '../auth/api-keys.js';
import { isValidCcid } from '../auth/auth.js';
import { PERMISSIONS } from '../auth/permissions.js';
import type { GatewayDeps } from '../deps.js';
import type { SecretBox } from '../secret-box.js';
import { parseInput } from '../apikeys/validate.js';
import { type Tenant, TenantStore } from './store.js';

const BASE = '/nexus/v3/provisioning/tenants';
/** What a tenant's own key may do: everything of the gateway, for that tenant only. */
export const TENANT_KEY_PERMISSIONS = ['nexus:*'];

const ccid = z.string().refine(isValidCcid, 'must be 1-128 letters, digits or _.- (a contact center id)');

/** The guide's body; fields the gateway does not interpret are kept as they are. */
const tenantFields = {
  name: z.string().trim().min(1).max(200),
  type: z.string().max(100).optional(),
  backendurl: z.string().url().max(2048).optional(),
  username: z.string().max(256).optional(),
  /** The tenant user's password or token: sealed at rest, never returned. */
  token: z.string().max(4096).optional(),
  /** Spelled as the guide spells it. */
  genesysenantid: z.union([z.number(), z.string().max(128)]).optional(),
};

const createSchema = z.object({ id: ccid, ...tenantFields }).strict();
const replaceSchema = z.object({ id: ccid.optional(), ...tenantFields }).strict();

const tokenAad = (id: string) => `tenant:${id}:token`;

function dataOf(body: z.infer<typeof replaceSchema>, id: string, secrets: SecretBox, keptToken?: unknown) {
  const data: Record<string, unknown> = {};
  if (body.backendurl !== undefined) data.backendurl = body.backendurl;
  if (body.username !== undefined) data.username = body.username;
  if (body.genesysenantid !== undefined) data.genesysenantid = body.genesysenantid;
  if (body.token !== undefined) data.tokenSealed = secrets.seal(body.token, tokenAad(id));
  else if (keptToken !== undefined) data.tokenSealed = keptToken;
  return data;
}

/** The tenant as answers show it: the sealed token never leaves, only whether one is set. */
export function tenantRecord(t: Tenant): Record<string, unknown> {
  const { tokenSealed, ...data } = t.data;
  return {
    id: t.ccid,
    name: t.name,
    type: t.type,
    ...data,
    tokenSet: tokenSealed !== undefined,
    created: t.created.toISOString(),
    updated: t.updated.toISOString(),
  };
}

function ccidParam(ctx: HttpContext): string {
  const id = ctx.params.ccid;
  if (!isValidCcid(id)) {
    throw new AppError(
      'VALIDATION_FAILED',
      'ccid: must be 1-128 letters, digits or _.- (a contact center id)',
      {
        field: 'ccid',
      },
    );
  }
  return id;
}

export function tenantRoutes(router: Router, deps: GatewayDeps): void {
  const tenants = new TenantStore(deps.db);
  const keys = new ApiKeyStore(deps.db);
  const scoped = (ctx: HttpContext) =>
    deps.auth.require(ctx, { permission: PERMISSIONS.provisioningTenants, ccid: ctx.params.ccid });

  router.post(
    BASE,
    async (ctx) => {
      const { principal } = await deps.auth.require(ctx, {
        permission: PERMISSIONS.provisioningTenants,
        apiKey: false,
      });
      const body = parseInput(createSchema, ctx.body);
      // The guide enables a tenant with its own tenant user's token: that token makes that tenant only.
      if (principal.tenant !== '*' && body.id !== principal.tenant) {
        throw new AppError(
          'TENANT_MISMATCH',
          `This credential provisions the tenant ${principal.tenant} only.`,
          {
            field: 'id',
          },
        );
      }
      const { tenant, key, value } = await deps.db.tx(async (q) => {
        const tenant = await tenants.create(
          {
            ccid: body.id,
            name: body.name,
            type: body.type ?? null,
            data: dataOf(body, body.id, deps.secrets),
          },
          q,
        );
        if (!tenant)
          throw new AppError('TENANT_EXISTS', `A tenant with the id ${body.id} already exists.`, {
            field: 'id',
          });
        const created = await keys.create(
          {
            tenant: body.id,
            name: `Tenant key of ${body.id}`,
            permissions: TENANT_KEY_PERMISSIONS,
            enabled: true,
            expires: null,
            capacity: deps.config.rateLimit.capacity,
            frequency: deps.config.rateLimit.frequency,
            createdby: principal.subject,
          },
          q,
        );
        return { tenant, ...created };
      });
      ctx.log.info({ ccid: tenant.ccid, keyId: key.keyId, by: principal.subject }, 'tenant created');
      return { status: 201, data: { xapikey: value, keyId: key.keyId, tenant: tenantRecord(tenant) } };
    },
    { body: ['json', 'form'] },
  );

  router.get(BASE, async (ctx) => {
    await deps.auth.require(ctx, {
      permission: PERMISSIONS.provisioningTenants,
      apiKey: false,
      cluster: true,
    });
    return { data: { tenants: (await tenants.list()).map(tenantRecord) } };
  });

  router.get(`${BASE}/:ccid`, async (ctx) => {
    await scoped(ctx);
    const tenant = await tenants.get(ccidParam(ctx));
    if (!tenant) throw new AppError('TENANT_NOT_FOUND');
    return { data: tenantRecord(tenant) };
  });

  router.put(
    `${BASE}/:ccid`,
    async (ctx) => {
      await scoped(ctx);
      const id = ccidParam(ctx);
      const body = parseInput(replaceSchema, ctx.body);
      if (body.id !== undefined && body.id !== id) {
        throw new AppError(
          'VALIDATION_FAILED',
          'id: must be the ccid of the path (a tenant cannot be renamed)',
          {
            field: 'id',
          },
        );
      }
      const tenant = await deps.db.tx(async (q) => {
        const current = await tenants.get(id, q);
        if (!current) throw new AppError('TENANT_NOT_FOUND');
        // PUT replaces the tenant, except the token: a client that re-sends what GET showed has none.
        const data = dataOf(body, id, deps.secrets, current.data.tokenSealed);
        return tenants.replace({ ccid: id, name: body.name, type: body.type ?? null, data }, q);
      });
      if (!tenant) throw new AppError('TENANT_NOT_FOUND');
      return { data: tenantRecord(tenant) };
    },
    { body: ['json', 'form'] },
  );

  router.delete(`${BASE}/:ccid`, async (ctx) => {
    // Deleting a tenant is the operator's: not a tenant user's token, nor the tenant's own key.
    const { principal } = await deps.auth.require(ctx, {
      permission: PERMISSIONS.provisioningTenants,
      ccid: ctx.params.ccid,
      cluster: true,
    });
    const id = ccidParam(ctx);
    const revokedKeys = await deps.db.tx(async (q) => {
      // Delete first: it waits for any key creation holding the tenant, so the revocation that
      // follows (a new snapshot, same transaction) sees that key too and none stays usable.
      if (!(await tenants.delete(id, q))) throw new AppError('TENANT_NOT_FOUND');
      return keys.revokeTenant(id, q);
    });
    ctx.log.info({ ccid: id, revokedKeys, by: principal.subject }, 'tenant deleted');
    return { data: { id, deleted: true, revokedKeys } };
  });
}
