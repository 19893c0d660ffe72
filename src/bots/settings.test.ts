import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger.js';
import { MemoryKeyValueStore } from '../shared/state/memory.js';
import type { NexusClient } from './nexus-client.js';
import { TenantSettings } from './settings.js';

/** The gateway's answers, counted. */
function fakeNexus() {
  const calls = { connector: 0, bot: 0 };
  const nexus = {
    async connector() {
      calls.connector++;
      return { url: 'http://athena', signingKey: 'SIGNING-KEY-abc123', source: 'tenant' };
    },
    async bot() {
      calls.bot++;
      return {
        provider: 'Webhook',
        url: 'http://bot',
        data: { provider: 'Webhook' },
        secret: { token: 'BOT-TOKEN-xyz789' },
        version: '1',
      };
    },
  } as unknown as NexusClient;
  return { nexus, calls };
}

describe('tenant settings cache', () => {
  const log = createLogger({ level: 'silent' });

  it('keeps signing keys and bot credentials encrypted in the shared store, readable by every node with the key', async () => {
    const kv = new MemoryKeyValueStore();
    const { nexus, calls } = fakeNexus();
    const a = new TenantSettings({ nexus, kv, log, cacheSecret: 'cluster-key-1' });
    expect(await a.signingKey('cc1')).toBe('SIGNING-KEY-abc123');
    expect((await a.bot('cc1', 'helper'))?.secret).toEqual({ token: 'BOT-TOKEN-xyz789' });

    const stored = [await kv.get('settings:connector:cc1'), await kv.get('settings:bot:cc1:helper')].join(
      '\n',
    );
    expect(stored).not.toContain('SIGNING-KEY');
    expect(stored).not.toContain('BOT-TOKEN');
    expect(stored).toMatch(/^v1\./);

    // A second node with the same cluster key reads the cache without asking the gateway.
    const b = new TenantSettings({ nexus, kv, log, cacheSecret: 'cluster-key-1' });
    expect(await b.signingKey('cc1')).toBe('SIGNING-KEY-abc123');
    expect(calls).toEqual({ connector: 1, bot: 1 });

    // Another key cannot open it and reads afresh instead.
    const c = new TenantSettings({ nexus, kv, log, cacheSecret: 'another-key' });
    expect(await c.signingKey('cc1')).toBe('SIGNING-KEY-abc123');
    expect(calls.connector).toBe(2);
  });
});
