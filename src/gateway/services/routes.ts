/**
 * `POST|PUT|GET|DELETE /nexus/v3/provisioning/services/{ccid}/{serviceName}` with
 * `{ url, data, secret }`, and the list `GET /nexus/v3/provisioning/services/{ccid}`. Permission
 * `nexus:provisioning:services` (tenant keys, cluster keys with `x-ccid`) or the admin token, as
 * the guide uses both. Answers carry `secretFields`, never the secret.
 */
import { type PluginKind, secretPathSegments } from '../../plugins/sdk.js';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { GatewayDeps } from '../deps.js';
import { parseServiceBody, serviceSchema } from './schemas.js';
import { createServiceStore, requireTenant } from './store.js';

export const SERVICES_PERMISSION = 'nexus:provisioning:services';
const BASE = '/nexus/v3/provisioning/services';

function ccidParam(ctx: HttpContext): string {
  const ccid = ctx.params.ccid;
  if (!ccid || ccid.length > 128)
    throw new AppError('VALIDATION_FAILED', 'ccid must be 1-128 characters.', { field: 'ccid' });
  return ccid;
}

const KINDS: readonly PluginKind[] = ['sms', 'email', 'webhook', 'bot'];

/** The secret paths of every plugin that serves a service name (one name may serve several kinds). */
export function pluginSecretPaths(deps: Pick<GatewayDeps, 'plugins'>, serviceName: string): string[][] {
  const host = deps.plugins.host as GatewayDeps['plugins']['host'] | undefined;
  if (!host) return [];
  const defs = new Set(KINDS.map((k) => host.definitionFor(serviceName, k)).filter((d) => d !== undefined));
  return [...defs].flatMap((d) => secretPathSegments(d.config));
}

export function serviceRoutes(router: Router, deps: GatewayDeps): void {
  // Secret fields a plugin marks outside `secret` are sealed as they are written.
  const store = createServiceStore({ ...deps, sealedPaths: (name) => pluginSecretPaths(deps, name) });

  /** Authorizes first, so that nothing about a tenant is told to a credential that may not see it. */
  const access = async (ctx: HttpContext): Promise<{ ccid: string; name?: string }> => {
    const ccid = ccidParam(ctx);
    await deps.auth.require(ctx, { permission: SERVICES_PERMISSION, ccid });
    const name = ctx.params.serviceName;
    if (name !== undefined) serviceSchema(name);
    await requireTenant(deps.db, ccid);
    return { ccid, name };
  };

  router.get(`${BASE}/:ccid`, async (ctx) => {
    const { ccid } = await access(ctx);
    return { data: { services: await store.list(ccid) } };
  });

  router.get(`${BASE}/:ccid/:serviceName`, async (ctx) => {
    const { ccid, name } = await access(ctx);
    const found = await store.get(ccid, name!);
    if (!found)
      throw new AppError('SERVICE_NOT_FOUND', `The service "${name}" is not provisioned for this tenant.`);
    return { data: found };
  });

  router.post(
    `${BASE}/:ccid/:serviceName`,
    async (ctx) => {
      const { ccid, name } = await access(ctx);
      const body = parseServiceBody(name!, ctx.body);
      return { status: 201, data: await store.create(ccid, name!, body) };
    },
    { body: ['json'] },
  );

  router.put(
    `${BASE}/:ccid/:serviceName`,
    async (ctx) => {
      const { ccid, name } = await access(ctx);
      const body = parseServiceBody(name!, ctx.body);
      const r = await store.put(ccid, name!, body);
      return { status: r.created ? 201 : 200, data: r.record };
    },
    { body: ['json'] },
  );

  router.delete(`${BASE}/:ccid/:serviceName`, async (ctx) => {
    const { ccid, name } = await access(ctx);
    return { data: await store.delete(ccid, name!) };
  });
}
