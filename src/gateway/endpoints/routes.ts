/**
 * `PUT|GET|DELETE /nexus/v3/provisioning/endpoints/{ccid}/{endpoint}` and the list
 * `GET /nexus/v3/provisioning/endpoints/{ccid}`. Permission `nexus:provisioning:endpoints` (a
 * tenant key holding `nexus:provisioning:*` or `nexus:*` has it) or the admin token.
 */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { GatewayDeps } from '../deps.js';
import { name, param, parse } from '../routing/validate.js';
import { EndpointStore } from './store.js';

export const ENDPOINT_PERMISSION = 'nexus:provisioning:endpoints';

const endpointBody = z
  .object({
    queue: name('queue'),
    bot: name('bot').nullable().optional(),
    asyncHold: z.boolean().optional(),
  })
  .strict();

const BASE = '/nexus/v3/provisioning/endpoints';

export function endpointRoutes(router: Router, deps: GatewayDeps): void {
  const store = new EndpointStore(deps.db);

  const access = async (ctx: HttpContext) => {
    const ccid = param(ctx.params.ccid, 'ccid');
    await deps.auth.require(ctx, { permission: ENDPOINT_PERMISSION, ccid });
    return ccid;
  };

  router.get(`${BASE}/:ccid`, async (ctx) => {
    const ccid = await access(ctx);
    return { data: { endpoints: await store.list(ccid) } };
  });

  router.get(`${BASE}/:ccid/:endpoint`, async (ctx) => {
    const ccid = await access(ctx);
    const found = await store.get(ccid, param(ctx.params.endpoint, 'endpoint'));
    if (!found) throw new AppError('ENDPOINT_NOT_FOUND');
    return { data: found };
  });

  router.put(`${BASE}/:ccid/:endpoint`, async (ctx) => {
    const ccid = await access(ctx);
    const endpoint = param(ctx.params.endpoint, 'endpoint');
    const input = parse(endpointBody, ctx.body ?? {});
    try {
      const r = await store.put(ccid, endpoint, input);
      return { status: r.created ? 201 : 200, data: r.endpoint };
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new AppError('TENANT_NOT_FOUND');
      throw err;
    }
  });

  router.delete(`${BASE}/:ccid/:endpoint`, async (ctx) => {
    const ccid = await access(ctx);
    if (!(await store.delete(ccid, param(ctx.params.endpoint, 'endpoint'))))
      throw new AppError('ENDPOINT_NOT_FOUND');
    return { data: {} };
  });
}
