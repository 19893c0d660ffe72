/**
 * A tenant's AI settings as athena sees them: the key the gateway signs its webhooks with, and
 * the tenant's bots (`Bot-<name>` with secrets). Read from the gateway with the cluster key and
 * cached in athena's shared state (Redis in production) so that every athena node shares one
 * copy and the gateway is not asked on every message.
 *
 * Changes are noticed three ways: entries expire (`ttlMs`); a `services:changed` notice drops the
 * tenant's entry at once where athena can hear one (the all-in-one process, or athena on its own
 * sharing the gateway's Redis: `services-watch.ts`); and a signature that
 * does not verify against a cached key is checked once more against a fresh one (a rotated key
 * works at once, and a forged request cannot make athena ask the gateway more than once per
 * `refreshMinMs` per tenant).
 */
import { hkdfSync } from 'node:crypto';
import { SecretBox } from '../gateway/secret-box.js';
import type { Logger } from '../shared/logger.js';
import type { KeyValueStore } from '../shared/state/types.js';
import type { BotProvider, BotSettings } from './connectors/types.js';
import { type NexusClient, NexusError } from './nexus-client.js';

export interface SettingsOptions {
  nexus: NexusClient;
  kv: KeyValueStore;
  /**
   * The cluster API key athena holds. The cache is encrypted (AES-256-GCM) with a key derived from
   * it, so the signing keys and bot credentials it holds are never in Redis in the clear; every
   * athena node holds the same API key and so reads the same cache.
   */
  cacheSecret: string;
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
  private readonly box: SecretBox;

  constructor(private readonly opts: SettingsOptions) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.refreshMinMs = opts.refreshMinMs ?? 5_000;
    const key = Buffer.from(
      hkdfSync('sha256', opts.cacheSecret || 'athena', 'athena-settings-cache', 'v1', 32),
    );
    this.box = new SecretBox(key.toString('base64'));
  }

  private async read<T>(key: string): Promise<T | undefined> {
    const sealed = await this.opts.kv.get(key);
    if (sealed === null) return undefined;
    try {
      return this.box.open<T>(sealed, key);
    } catch {
      // Written under another API key (rotated) or not ours: read afresh.
      return undefined;
    }
  }

  private write(key: string, value: unknown): Promise<void> {
    return this.opts.kv.set(key, this.box.seal(value, key), this.ttlMs);
  }

  /** The signing key of the tenant's AI connector target; undefined when none is registered. */
  async signingKey(ccid: string, opts: { fresh?: boolean } = {}): Promise<string | undefined> {
    const key = connectorKey(ccid);
    if (!opts.fresh) {
      const cached = await this.read<{ signingKey?: string }>(key);
      if (cached) return cached.signingKey;
    }
    try {
      const c = await this.opts.nexus.connector(ccid);
      await this.write(key, { signingKey: c.signingKey });
      return c.signingKey;
    } catch (err) {
      if (err instanceof NexusError && err.status === 404) {
        // Remembered briefly too, so requests for a tenant without a target stay cheap.
        await this.write(key, {});
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
    const cached = await this.read<BotSettings | { missing: true }>(key);
    if (cached) return 'missing' in cached ? undefined : cached;
    let answer: Awaited<ReturnType<NexusClient['bot']>>;
    try {
      answer = await this.opts.nexus.bot(ccid, name);
    } catch (err) {
      if (err instanceof NexusError && err.status === 404) {
        await this.write(key, { missing: true });
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
    await this.write(key, settings);
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
