/**
 * `PUT|GET|DELETE /nexus/v3/provisioning/channels/{ccid}/{section}` and the list
 * `GET /nexus/v3/provisioning/channels/{ccid}`: sender ids (`chat.*`) and email domains (`cxc.*`).
 * Permission `nexus:provisioning:channels` or the admin token. JSON or form bodies.
 */
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { GatewayDeps } from '../deps.js';
import { requireTenant } from '../services/store.js';
import { checkSection, parseChannelBody } from './schema.js';
import { createChannelStore } from './store.js';

export const CHANNELS_PERMISSION = 'nexus:provisioning:channels';
const BASE = '/nexus/v3/provisioning/channels';

export function channelRoutes(router: Router, deps: GatewayDeps): void {
  const store = createChannelStore(deps);

  /** Authorizes first, so that nothing about a tenant is told to a credential that may not see it. */
  const access = async (ctx: HttpContext): Promise<{ ccid: string; section?: string }> => {
    const ccid = ctx.params.ccid;
    if (!ccid || ccid.length > 128)
      throw new AppError('VALIDATION_FAILED', 'ccid must be 1-128 characters.', { field: 'ccid' });
    await deps.auth.require(ctx, { permission: CHANNELS_PERMISSION, ccid });
    const section = ctx.params.section === undefined ? undefined : checkSection(ctx.params.section);
    await requireTenant(deps.db, ccid);
    return { ccid, section };
  };

  router.get(`${BASE}/:ccid`, async (ctx) => {
    const { ccid } = await access(ctx);
    return { data: { channels: await store.list(ccid) } };
  });

  router.get(`${BASE}/:ccid/:section`, async (ctx) => {
    const { ccid, section } = await access(ctx);
    const found = await store.get(ccid, section!);
    if (!found)
      throw new AppError(
        'CHANNEL_NOT_FOUND',
        `The channel section "${section}" is not provisioned for this tenant.`,
      );
    return { data: found };
  });

  router.put(`${BASE}/:ccid/:section`, async (ctx) => {
    const { ccid, section } = await access(ctx);
    const input = parseChannelBody(ctx.body);
    const r = await store.put(ccid, section!, input);
    return { status: r.created ? 201 : 200, data: r.record };
  });

  router.delete(`${BASE}/:ccid/:section`, async (ctx) => {
    const { ccid, section } = await access(ctx);
    return { data: await store.delete(ccid, section!) };
  });
}
