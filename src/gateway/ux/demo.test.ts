import { describe, expect, it } from 'vitest';
import { configSchema } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { DemoProvisioner, demoEnabled } from './demo.js';

const nexus = (over: Record<string, unknown>) => configSchema.parse({ nexus: over }).nexus;

describe('the demo switch', () => {
  it('is on by default only on the embedded defaults', () => {
    expect(demoEnabled(nexus({}))).toBe(true);
    expect(demoEnabled(nexus({ db: { host: 'pg' } }))).toBe(false);
    expect(demoEnabled(nexus({ redis: { nodes: 'redis://r:6379' } }))).toBe(false);
    expect(demoEnabled(nexus({ redis: { nodes: 'redis://r:6379', enabled: false } }))).toBe(true);
  });

  it('can be forced either way', () => {
    expect(demoEnabled(nexus({ ux: { demo: 'on' }, db: { host: 'pg' } }))).toBe(true);
    expect(demoEnabled(nexus({ ux: { demo: 'off' } }))).toBe(false);
  });
});

describe('the demo provisioner', () => {
  const log = createLogger({ level: 'silent' });

  it('makes the tenant, endpoint, agent and token once, through the REST routes', async () => {
    const calls: string[] = [];
    const p = new DemoProvisioner(async (method, path) => {
      calls.push(`${method} ${path.replace(/demo-[0-9a-f]+/, 'demo-X')}`);
      if (path.endsWith('/tenants')) return { xapikey: 'key-1' };
      if (path.endsWith('/apikeys')) return { id: 'widget-key' };
      if (path.endsWith('/tokens')) return { token: 'agent-token' };
      return {};
    }, log);
    const [a, b] = await Promise.all([p.get(), p.get()]);
    expect(a).toBe(b);
    expect(a).toMatchObject({
      // The page's key is its own consumer-chat key, never the tenant's.
      apiKey: 'widget-key',
      agentToken: 'agent-token',
      endpoint: 'web',
      queue: 'support',
    });
    expect(calls).toEqual([
      'POST /nexus/v3/provisioning/tenants',
      'PUT /nexus/v3/provisioning/endpoints/demo-X/web',
      'PUT /nexus/v3/provisioning/agents/demo-X/alex',
      'POST /nexus/v3/provisioning/agents/demo-X/alex/tokens',
      'POST /nexus/v3/apikeys',
    ]);
  });

  it('does not keep a failure: the next visit tries again', async () => {
    let fail = true;
    const p = new DemoProvisioner(async (_m, path) => {
      if (fail) throw new Error('database down');
      return path.endsWith('/tenants')
        ? { xapikey: 'x' }
        : path.endsWith('/apikeys')
          ? { id: 'k' }
          : { token: 't' };
    }, log);
    await expect(p.get()).rejects.toMatchObject({ errorName: 'UX_DEMO_PROVISIONING_FAILED' });
    fail = false;
    await expect(p.get()).resolves.toMatchObject({ apiKey: 'k' });
  });
});
