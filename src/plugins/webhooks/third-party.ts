/**
 * Third-party webhook plugins: a plugin of kind `webhook` loaded from `nexus.plugins.modules` and
 * provisioned for a tenant as the service `Plugin-<name>` receives the bus events of that tenant
 * its subscription matches (`subscribe`: event types, tenants, channel types; by default every
 * event: messages, conversation changes, interactions, delivery receipts) through the outbox: planned in the event's
 * transaction, in order per conversation, retried with backoff, dead-lettered, re-drivable. A
 * plugin that throws or hangs only delays its own deliveries (the host's timeout and circuit
 * breaker bound each call); the chat never waits for it.
 */
import type { GatewayDeps } from '../../gateway/deps.js';
import type { Queryable } from '../../shared/db/pool.js';
import type { Router } from '../../shared/http/router.js';
import type { Unsubscribe } from '../../shared/state/types.js';
import { matches } from '../bus.js';
import type { PluginHost } from '../host.js';
import type { BusEvent } from '../types.js';

export const PLUGIN_WEBHOOK_KIND = 'plugin-webhook';
const PREFIX = 'Plugin-';
/** Provisioning changes drop the cache at once (every node hears them); this bounds a missed one. */
const CACHE_MS = 30_000;

/** Which `Plugin-*` services of each tenant are webhook plugins, cached: this runs in every message's transaction. */
class TenantPlugins {
  private readonly cache = new Map<string, { names: string[]; at: number }>();

  constructor(private readonly host: () => PluginHost) {}

  async names(ccid: string, q: Queryable): Promise<string[]> {
    const hit = this.cache.get(ccid);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.names;
    const r = await q.query<{ name: string }>(
      "SELECT name FROM services WHERE ccid = $1 AND starts_with(name, 'Plugin-') ORDER BY name",
      [ccid],
    );
    const names = r.rows
      .map((x) => x.name)
      .filter((n) => this.host().definitionFor(n, 'webhook')?.kind === 'webhook');
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(ccid, { names, at: Date.now() });
    return names;
  }

  drop(ccid: string): void {
    this.cache.delete(ccid);
  }
}

export function pluginWebhookRoutes(_router: Router, deps: GatewayDeps): void {
  const tenants = new TenantPlugins(() => deps.plugins.host);
  let unsubscribe: Unsubscribe | undefined;
  deps.components.add({
    name: 'plugin-webhooks',
    start: async () => {
      unsubscribe = await deps.services.onChange((c) => {
        if (c.name.startsWith(PREFIX)) tenants.drop(c.ccid);
      });
    },
    close: async () => {
      await unsubscribe?.();
      unsubscribe = undefined;
    },
  });
  deps.plugins.onStart((rt) => {
    rt.bus.plan('plugin-webhooks', {}, async (e: BusEvent, q: Queryable) => {
      const names = await tenants.names(e.ccid, q);
      // Only the events each plugin subscribed to: others never reach it, not even to be ignored.
      return names
        .filter((name) => matches(rt.host.subscriptionOf(name), e))
        .map((name) => ({
          ccid: e.ccid,
          orderingKey: `plugin:${name}:${e.conversationId ?? e.ccid}`,
          kind: PLUGIN_WEBHOOK_KIND,
          target: name,
          payload: e as unknown as Record<string, unknown>,
        }));
    });
    rt.outbox.handle(PLUGIN_WEBHOOK_KIND, async (row) => {
      const target = await rt.host.instance(row.ccid, row.target, 'webhook');
      await target.deliver(row.payload as unknown as BusEvent);
      return { delivered: true };
    });
  });
}
