/**
 * A plugin that throws and one that hangs, both loaded by config and provisioned for the tenant
 * (so they receive its conversation events), plus live bus subscribers that throw and hang: a
 * customer and an agent keep exchanging messages, in order, promptly, on both engines; the bad
 * plugins' deliveries are retried in the outbox, never in the chat's way.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { engines } from '../helpers/engines.js';
import { newSession, seen } from '../chat/helpers.js';
import { putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

describe.each(engines())('a misbehaving plugin does not disturb a chat (%s)', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let agent: TestAgent | undefined;
  const calls: Record<string, number> = {};
  const called: Record<string, Array<() => void>> = {};
  /** Resolves once the plugin was called `n` times. */
  const whenCalled = (name: string, n = 1): Promise<void> =>
    new Promise<void>((resolve) => {
      const check = () => {
        if ((calls[name] ?? 0) >= n) resolve();
        else {
          called[name] = called[name] ?? [];
          called[name].push(check);
        }
      };
      check();
    });

  beforeAll(async () => {
    (globalThis as any).__badPluginCalls = (name: string) => {
      calls[name] = (calls[name] ?? 0) + 1;
      for (const f of (called[name] ?? []).splice(0)) f();
    };
    t = await startNexus({
      engine,
      nexus: {
        plugins: {
          modules: `${join(FIXTURES, 'throwing-plugin.mjs')},${join(FIXTURES, 'hanging-plugin.mjs')}`,
          callTimeoutMs: 500,
        },
      },
    });
    t.nexus.plugins.bus.subscribe('live-thrower', {}, () => {
      throw new Error('live subscriber bug');
    });
    t.nexus.plugins.bus.subscribe('live-hanger', {}, () => new Promise(() => {}));
    tenant = await createTenant(t);
    for (const name of ['Plugin-thrower', 'Plugin-hanger']) {
      const r = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${tenant.ccid}/${name}`, {
        headers: keyHeaders(tenant.apiKey),
        json: { data: {}, secret: {} },
      });
      expect(r.status).toBeLessThan(300);
    }
    await putEndpoint(t, tenant, 'web', { queue: 'care' });
    await putAgent(t, tenant, 'alice', { name: 'Alice', queues: ['care'], capacity: 2 });
  });
  afterAll(async () => {
    agent?.close();
    await t?.cleanup();
    (globalThis as any).__badPluginCalls = undefined;
  });

  it('customer and agent exchange messages while the plugins fail', async () => {
    agent = await TestAgent.connect(t, tenant, 'alice');
    await agent.ready();
    const s = await newSession(t, tenant, 'data[firstName]=Ada&data[endpoint]=web');
    const assigned = await agent.nth(1);
    expect(assigned.conversation.id).toBe(s.conversationId);
    // The bad plugins are really in the path: they were given this tenant's events.
    await Promise.all([whenCalled('thrower'), whenCalled('hanger')]);

    const agentSeen = seen(agent.socket);
    const rounds = 5;
    for (let i = 1; i <= rounds; i++) {
      const started = Date.now();
      const c = await api(t.url, 'POST', `${s.selfUri}/messages`, {
        headers: { 'x-nexus-client-key': s.clientToken },
        form: `data[type]=Text&data[text]=${encodeURIComponent(`customer ${i}`)}`,
      });
      expect(c.status).toBe(200);
      while (!agentSeen.messages.some((m) => m.text === `customer ${i}`))
        await agentSeen.waitFor(agentSeen.messages.length + 1, 5000);
      const ack = await agent.ack('message.send', {
        conversationId: s.conversationId,
        clientMessageId: `agent-${i}`,
        type: 'Text',
        text: `agent ${i}`,
      });
      expect(ack.ok).toBe(true);
      // Each round trip stays quick although every event also goes to a plugin that hangs.
      expect(Date.now() - started).toBeLessThan(3000);
    }

    const r = await api(t.url, 'GET', `${s.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': s.clientToken },
    });
    const texts = r.body.data.messages.filter((m: any) => m.type === 'Text').map((m: any) => m.text);
    const expected = Array.from({ length: rounds }, (_, i) => [`customer ${i + 1}`, `agent ${i + 1}`]).flat();
    expect(texts).toEqual(expected);
    const seqs = r.body.data.messages.map((m: any) => Number(m.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);

    // The failures stay in the outbox, visible, with their errors: retried (a second call means the
    // first failure was recorded), not lost, not in the chat.
    await Promise.all([whenCalled('thrower', 2), whenCalled('hanger', 2)]);
    const list = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=pending`, {
      headers: keyHeaders(tenant.apiKey),
    });
    const errors = list.body.data.entries
      .filter((e: any) => e.kind === 'plugin-webhook' && e.lastError)
      .map((e: any) => `${e.target}: ${e.lastError}`);
    expect(errors.some((e: string) => /Plugin-thrower: .*boom/.test(e))).toBe(true);
    expect(errors.some((e: string) => /Plugin-hanger: .*timed out/.test(e))).toBe(true);
  });
});
