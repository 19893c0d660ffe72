/**
 * The outbound API for campaigns (CX Contact):
 *
 * - `POST /nexus/v3/outbound/{ccid}/messages` `{ channelId | section, to, text }` (SMS) or
 *   `{ channelId | section, to, subject, text | html, from?, fromName?, replyTo? }` (email), with an
 *   optional `clientMessageId` → `data.messageId` (202: queued for delivery through the outbox);
 * - `GET /nexus/v3/outbound/{ccid}/messages/{messageId}` → its delivery state.
 *
 * Permission `nexus:outbound:send` (a tenant key, or a cluster key naming the tenant) or the admin.
 */
import { createChannelStore } from '../../gateway/channels/index.js';
import type { GatewayDeps } from '../../gateway/deps.js';
import { requireTenant } from '../../gateway/services/store.js';
import { AppError } from '../../shared/errors.js';
import { emailEventRoutes } from '../email/routes.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import { parseOutboundRequest } from './schema.js';
import { OutboundMessages } from './service.js';

export const OUTBOUND_PERMISSION = 'nexus:outbound:send';
const BASE = '/nexus/v3/outbound';

export function outboundRoutes(router: Router, deps: GatewayDeps): void {
  const outbound = new OutboundMessages({
    db: deps.db,
    plugins: deps.plugins,
    services: deps.services,
    channels: createChannelStore(deps),
    log: deps.log.child({ component: 'outbound' }),
  });
  deps.plugins.onStart((rt) => outbound.attach(rt));
  // Providers' delivery events for campaign email move the same messages.
  emailEventRoutes(router, deps, outbound);

  const access = async (ctx: HttpContext): Promise<string> => {
    const ccid = ctx.params.ccid;
    if (!ccid || ccid.length > 128)
      throw new AppError('VALIDATION_FAILED', 'ccid must be 1-128 characters.', { field: 'ccid' });
    await deps.auth.require(ctx, { permission: OUTBOUND_PERMISSION, ccid });
    await requireTenant(deps.db, ccid);
    return ccid;
  };

  router.post(`${BASE}/:ccid/messages`, async (ctx) => {
    const ccid = await access(ctx);
    const req = parseOutboundRequest(ctx.body);
    const { message, duplicate } = await outbound.send(ccid, req);
    return { status: duplicate ? 200 : 202, data: message };
  });

  router.get(`${BASE}/:ccid/messages/:messageId`, async (ctx) => {
    const ccid = await access(ctx);
    const message = await outbound.get(ccid, ctx.params.messageId);
    if (!message) throw new AppError('OUTBOUND_MESSAGE_NOT_FOUND');
    return { data: message };
  });
}
