/**
 * A tenant's AI settings as athena sees them: the key the gateway signs its webhooks with, and
 * the tenant's bots (`Bot-<name>` with secrets). Read from the gateway with the cluster key and
 * cached in athena's shared state (Redis in production) so that every athena node shares one
 * copy and the gateway is not asked on every message.
 *
 * Changes are noticed three ways: entries expire (`ttlMs`); a `services:changed` notice drops the
 * tenant's entry at once where athena can hear one (the all-in-one process); and a signature that
 * does not verify against a cached key is checked once more against a fresh one (a rotated key
 * works at once, and a forged request cannot make athena ask the gateway more than once per
 * `refreshMinMs` per tenant).
 */
import type { Logger } from '../shared/logger.js';
import type { KeyValueStore } from '../shared/state/types.js';
import type { BotProvider, BotSettings } from './connectors/types.js';
import { type NexusClient, NexusError } from './nexus-client.js';

export interface SettingsOptions {
  nexus: NexusClient;
  kv: KeyValueStore;
  log: Logger;
  ttlMs?: number;
  refreshMinMs?: number;
}

const connectorKey = (ccid: string) => `settings:connector:${ccid}`;
const botKey = (ccid: string, name: string) => `settings:bot:${ccid}:${name}`;

export class TenantSettings {
  private readonly ttlMs: number;
  private readonly refreshMinMs: number;
  private readonly lastRefresh = new Map<string, number>();

  constructor(private readonly opts: SettingsOptions) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.refreshMinMs = opts.refreshMinMs ?? 5_000;
  }

  /** The signing key of the tenant's AI connector target; undefined when none is registered. */
  async signingKey(ccid: string, opts: { fresh?: boolean } = {}): Promise<string | undefined> {
    const key = connectorKey(ccid);
    if (!opts.fresh) {
      const cached = await this.opts.kv.get(key);
      if (cached !== null) return (JSON.parse(cached) as { signingKey?: string }).signingKey;
    }
    try {
      const c = await this.opts.nexus.connector(ccid);
      await this.opts.kv.set(key, JSON.stringify({ signingKey: c.signingKey }), this.ttlMs);
      return c.signingKey;
    } catch (err) {
      if (err instanceof NexusError && err.status === 404) {
        // Remembered briefly too, so requests for a tenant without a target stay cheap.
        await this.opts.kv.set(key, JSON.stringify({}), this.ttlMs);
        return undefined;
      }
      throw err;
    }
  }

  /** Whether a fresh read is allowed now (one per tenant per refreshMinMs). */
  mayRefresh(ccid: string): boolean {
    const now = Date.now();
    const last = this.lastRefresh.get(ccid) ?? 0;
    if (now - last < this.refreshMinMs) return false;
    if (this.lastRefresh.size > 10_000) this.lastRefresh.clear();
    this.lastRefresh.set(ccid, now);
    return true;
  }

  /** A tenant's bot; undefined when the service is not provisioned. */
  async bot(ccid: string, name: string): Promise<BotSettings | undefined> {
    const key = botKey(ccid, name);
    const cached = await this.opts.kv.get(key);
    if (cached !== null) {
      const v = JSON.parse(cached) as BotSettings | { missing: true };
      return 'missing' in v ? undefined : v;
    }
    let answer: Awaited<ReturnType<NexusClient['bot']>>;
    try {
      answer = await this.opts.nexus.bot(ccid, name);
    } catch (err) {
      if (err instanceof NexusError && err.status === 404) {
        await this.opts.kv.set(key, JSON.stringify({ missing: true }), this.ttlMs);
        return undefined;
      }
      throw err;
    }
    const provider = String(answer.provider ?? answer.data.provider ?? '');
    const settings: BotSettings = {
      name,
      ccid,
      // An unknown provider is kept as it came: the connector table refuses it by name.
      provider: provider as BotProvider,
      ...(answer.url ? { url: answer.url } : {}),
      data: answer.data ?? {},
      secret: answer.secret ?? {},
      version: answer.version,
    };
    await this.opts.kv.set(key, JSON.stringify(settings), this.ttlMs);
    return settings;
  }

  /** Drops what is cached for a tenant's service (a `services:changed` notice). */
  async invalidate(ccid: string, service?: string): Promise<void> {
    const keys: string[] = [];
    if (!service || service.startsWith('WebhookTransportTarget-')) keys.push(connectorKey(ccid));
    if (service?.startsWith('Bot-')) keys.push(botKey(ccid, service.slice(4)));
    for (const k of keys) await this.opts.kv.delete(k);
    if (!service) this.opts.log.debug({ ccid }, 'tenant settings dropped');
  }
}
