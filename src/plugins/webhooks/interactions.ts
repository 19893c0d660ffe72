/**
 * Interaction webhooks: `STARTED` when a conversation is submitted to a queue, `FINISHED` when it
 * is done, sent to every `InteractionWebhook-<name>` service of the tenant (`{ url, secret: {
 * signingKey } }`) in the `EventsPayload` shape:
 *
 *   { operationId, data: { entities: [ { event, entity: { id, mediaType, interactionSubtype, selfUri } } ] } }
 *
 * signed with `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`, with `X-B3-TraceId`. The
 * notifications are the bus's `interaction.started` and `interaction.finished` events (published
 * once per conversation, see chat-bridge.ts), planned inside the transaction of the change that
 * causes them and delivered through the outbox, in order per conversation and target, retried
 * until the receiver answers 200.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { GatewayDeps } from '../../gateway/deps.js';
import type { Queryable } from '../../shared/db/pool.js';
import type { Router } from '../../shared/http/router.js';
import type { OutboxItem } from '../outbox/outbox.js';
import { definePlugin, secret } from '../sdk.js';
import { type BusEvent, type InteractionEntity, PluginError } from '../types.js';

export type { InteractionEntity } from '../types.js';

export const SERVICE_PREFIX = 'InteractionWebhook-';
export const INTERACTION_WEBHOOK_KIND = 'interaction-webhook';
/**
 * "Retried until a 200": with the backoff capped at 5 minutes and full jitter (2.5 minutes between
 * attempts on average once capped), 2,000 attempts are about three and a half days of trying, a
 * receiver down over a long weekend included. Only then the dead letter, which can be re-driven.
 */
export const MAX_ATTEMPTS = 2000;

export function eventsPayload(e: BusEvent): Record<string, unknown> {
  return {
    operationId: e.id,
    data: {
      entities: [
        {
          event: e.type === 'interaction.started' ? 'STARTED' : 'FINISHED',
          entity: e.data.entity as InteractionEntity,
        },
      ],
    },
  };
}

/** A B3 trace id (32 hex) derived from the event: every retry of one notification carries the same. */
export function traceIdOf(e: BusEvent): string {
  const hex = e.id.replace(/-/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(hex)
    ? hex
    : createHmac('sha256', 'b3').update(e.id).digest('hex').slice(0, 32);
}

export const interactionWebhook = definePlugin({
  name: 'interaction-webhook',
  kind: 'webhook',
  version: '1.0.0',
  config: z.object({
    url: z.string().url(),
    data: z.record(z.unknown()).default({}),
    secret: z.object({ signingKey: secret(z.string().min(1)) }),
  }),
  create(ctx) {
    return {
      async deliver(event: BusEvent): Promise<void> {
        const body = JSON.stringify(eventsPayload(event));
        const res = await ctx.http.request(ctx.config.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-hub-signature': `sha1=${createHmac('sha1', ctx.config.secret.signingKey).update(body).digest('hex')}`,
            'x-b3-traceid': traceIdOf(event),
          },
          body,
        });
        // The receiver must answer 200; anything else asks for a redelivery.
        if (res.status !== 200)
          throw new PluginError(`the interaction webhook answered ${res.status}`, {
            retryable: true,
            status: res.status,
          });
      },
    };
  },
});

/** Which notification a bus event is, if any. */
export function notificationOf(e: BusEvent): 'STARTED' | 'FINISHED' | undefined {
  if (e.type === 'interaction.started') return 'STARTED';
  if (e.type === 'interaction.finished') return 'FINISHED';
  return undefined;
}

/** The entity with its `selfUri` on the gateway's public URL (`nexus.fqdn`). */
export function withBase(entity: InteractionEntity, base: string): InteractionEntity {
  return /^https?:\/\//i.test(entity.selfUri) ? entity : { ...entity, selfUri: `${base}${entity.selfUri}` };
}

/** Plans the notifications of one event for the tenant's webhooks (inside the producing transaction). */
export async function planNotifications(e: BusEvent, q: Queryable, base: string): Promise<OutboxItem[]> {
  const which = notificationOf(e);
  if (!which || (e.type !== 'interaction.started' && e.type !== 'interaction.finished')) return [];
  const r = await q.query<{ name: string }>(
    "SELECT name FROM services WHERE ccid = $1 AND starts_with(name, 'InteractionWebhook-') ORDER BY name",
    [e.ccid],
  );
  if (r.rows.length === 0) return [];
  const entity = withBase(e.data.entity, base);
  // What the webhook is sent: the entity only (the conversation's details stay in the gateway).
  const notification = { ...e, data: { entity } };
  return r.rows.map(({ name }) => ({
    ccid: e.ccid,
    orderingKey: `iwh:${name}:${entity.id}`,
    kind: INTERACTION_WEBHOOK_KIND,
    target: name,
    payload: notification as unknown as Record<string, unknown>,
    // One STARTED and one FINISHED per conversation and webhook, whatever republishes the event.
    dedupeKey: `iwh:${e.ccid}:${name}:${entity.id}:${which}`,
    maxAttempts: MAX_ATTEMPTS,
  }));
}

/** The module: plans notifications on conversation events and delivers them through the plugin. */
export function interactionWebhookRoutes(_router: Router, deps: GatewayDeps): void {
  const f = deps.config.fqdn.trim().replace(/\/+$/, '');
  const base = !f ? '' : /^https?:\/\//i.test(f) ? f : `https://${f}`;
  deps.plugins.onStart((rt) => {
    rt.bus.plan('interaction-webhooks', { types: ['interaction.started', 'interaction.finished'] }, (e, q) =>
      planNotifications(e, q, base),
    );
    rt.outbox.handle(INTERACTION_WEBHOOK_KIND, async (row) => {
      const target = await rt.host.instance(row.ccid, row.target, 'webhook');
      await target.deliver(row.payload as unknown as BusEvent);
      return { delivered: true };
    });
  });
}
