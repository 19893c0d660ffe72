/**
 * What a plugin gets (issue 5: "ctx gives a child logger, an HTTP client with timeouts, a namespaced
 * key-value store, and nothing else"): loaded by config into a real gateway and provisioned by two
 * tenants, each instance's context holds exactly its log, http, kv, its parsed config and its tenant
 * id; nothing of the gateway (database, shared state, other tenants) is reachable from it; and its
 * key-value store is its own: one tenant's instance does not read what another's wrote.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';

const PLUGIN = join(import.meta.dirname, 'fixtures/ctx-probe-plugin.mjs');

interface Probe {
  what: 'created' | 'delivered';
  ctx: Record<string, any>;
  before?: string | null;
}

describe.each(engines())('the context a plugin is given, on %s engines', (engine) => {
  const probes: Probe[] = [];
  let t: TestNexus;
  let a: TestTenant;
  let b: TestTenant;

  beforeAll(async () => {
    (globalThis as any).__ctxProbe = (what: Probe['what'], ctx: Record<string, any>, extra?: object) =>
      void probes.push({ what, ctx, ...extra });
    t = await startNexus({ engine, nexus: { plugins: { modules: PLUGIN } } });
    a = await createTenant(t);
    b = await createTenant(t);
    for (const tenant of [a, b]) {
      const r = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${tenant.ccid}/Plugin-ctx-probe`, {
        headers: keyHeaders(tenant.apiKey, tenant.ccid),
        json: { data: { colour: tenant === a ? 'red' : 'blue' }, secret: {} },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
  }, 60_000);

  afterAll(async () => {
    (globalThis as any).__ctxProbe = undefined;
    await t?.cleanup();
  });

  const chat = async (tenant: TestTenant, nickname: string) => {
    const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: keyHeaders(tenant.apiKey),
      form: `data[nickname]=${nickname}&data[endpoint]=web`,
    });
    expect(s.status).toBe(200);
  };
  const delivered = (tenant: TestTenant) =>
    probes.filter((p) => p.what === 'delivered' && p.ctx.ccid === tenant.ccid);
  const until = async (fn: () => boolean) => {
    const end = Date.now() + 15_000;
    while (!fn()) {
      if (Date.now() > end) throw new Error('the plugin was not delivered the event');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('holds its log, http client, key-value store, config and tenant, and nothing else', async () => {
    await chat(a, 'Ada');
    await chat(b, 'Bea');
    await until(() => delivered(a).length === 1 && delivered(b).length === 1);
    for (const [tenant, colour] of [
      [a, 'red'],
      [b, 'blue'],
    ] as const) {
      const { ctx } = delivered(tenant)[0];
      expect(Object.keys(ctx).sort()).toEqual(['ccid', 'config', 'http', 'kv', 'log']);
      expect(ctx.ccid).toBe(tenant.ccid);
      expect(ctx.config.data).toEqual({ colour });
      expect(typeof ctx.http.request).toBe('function');
      expect(Object.keys(ctx.kv).sort()).toEqual(['delete', 'get', 'set']);
      for (const level of ['info', 'warn', 'error', 'debug', 'child'])
        expect(typeof ctx.log[level]).toBe('function');
      // It cannot be given more by the plugin itself, or swapped under it.
      expect(Object.isFrozen(ctx)).toBe(true);
      expect(Object.isFrozen(ctx.kv)).toBe(true);
      expect(Object.isFrozen(ctx.http)).toBe(true);
      expect(() => {
        ctx.http.request = async () => ({ status: 200 });
      }).toThrow(TypeError);
    }
    // Each instance has its own handle on the shared HTTP client: nothing one plugin does to its
    // own reaches another tenant's instance.
    expect(delivered(a)[0].ctx.http).not.toBe(delivered(b)[0].ctx.http);
  });

  it("keeps each instance's key-value store its own", async () => {
    // Each tenant's instance wrote its tenant id under 'last'; the second chat reads its own back.
    await chat(a, 'Ada again');
    await until(() => delivered(a).length === 2);
    expect(delivered(a).map((p) => p.before)).toEqual([null, a.ccid]);
    expect(delivered(b).map((p) => p.before)).toEqual([null]);
  });
});
