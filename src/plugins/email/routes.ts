/**
 * Email provider events: `POST /nexus/v3/email/sparkpost/{ccid}` takes a SparkPost event webhook
 * batch (delivery, bounce, rejection, …) and moves the campaign messages it names. SparkPost's
 * webhook is set up with HTTP Basic authentication: the ccid as user name and a key of the tenant
 * holding `nexus:outbound:send` as password (as the aggregation service's callbacks are).
 */
import { PERMISSIONS } from '../../gateway/auth/permissions.js';
import type { GatewayDeps } from '../../gateway/deps.js';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import { type DeliveryState, PluginError } from '../types.js';
import { parseSparkPostEvents } from './sparkpost.js';

/** The `user:password` of HTTP Basic credentials. */
function basic(header: string | undefined): { user: string; password: string } | undefined {
  const m = header && header.length < 4096 ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export interface EmailEventSink {
  applyReceipt(
    ccid: string,
    providerMessageId: string,
    state: DeliveryState,
    error?: string,
    service?: string,
  ): Promise<boolean>;
}

export function emailEventRoutes(router: Router, deps: GatewayDeps, sink: EmailEventSink): void {
  const tenant = async (ctx: HttpContext): Promise<string> => {
    const ccid = ctx.params.ccid;
    const creds = basic(ctx.headers.authorization);
    if (!creds)
      throw new AppError(
        'UNAUTHENTICATED',
        'Send HTTP Basic credentials: the ccid as user name, an API key as password.',
      );
    if (creds.user !== ccid)
      throw new AppError('TENANT_MISMATCH', 'The user name must be the ccid of the path.');
    // The API key check of every other route, with the key taken from the Basic password.
    const keyed = Object.create(ctx, {
      headers: { value: { ...ctx.headers, 'x-api-key': creds.password, 'x-ccid': ccid }, enumerable: true },
    }) as HttpContext;
    return (await deps.auth.require(keyed, { permission: PERMISSIONS.outboundSend, ccid, admin: false }))
      .ccid;
  };

  router.post('/nexus/v3/email/sparkpost/:ccid', async (ctx) => {
    const ccid = await tenant(ctx);
    let events: ReturnType<typeof parseSparkPostEvents>;
    try {
      events = parseSparkPostEvents(ctx.body);
    } catch (err) {
      if (err instanceof PluginError) throw new AppError('VALIDATION_FAILED', err.message, { field: 'body' });
      throw err;
    }
    let matched = 0;
    for (const e of events) {
      if (e.type !== 'receipt') continue;
      if (await sink.applyReceipt(ccid, e.providerMessageId, e.state, e.error, 'SparkPostEmail')) matched++;
    }
    return { data: { received: events.length, matched } };
  });
}
