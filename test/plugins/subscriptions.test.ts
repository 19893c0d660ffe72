/**
 * Plugin subscriptions on both engines: webhook plugins loaded by config, each provisioned by two
 * tenants, declare what they receive (`subscribe`: tenants, event types, channel types), and the
 * host delivers only what matches: a plugin filtered to tenant A never sees tenant B's events
 * (nothing is even planned for it), one filtered to the interaction lifecycle gets only
 * interaction.started/finished, one filtered to SMS only the events of SMS conversations. A plugin
 * with a bad subscription stops the start with a message that names it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BusEvent } from '../../src/plugins/types.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const PLUGINS = ['everything', 'only-tenant-a', 'interactions-only', 'sms-only'];
const MODULES = ['subscribed-plugin', 'tenant-a-plugin', 'interactions-plugin', 'sms-plugin']
  .map((f) => join(FIXTURES, `${f}.mjs`))
  .join(',');

interface Call {
  ccid: string;
  event: BusEvent;
}

describe.each(engines())('plugin subscriptions (%s)', (engine) => {
  let t: TestNexus;
  let a: TestTenant;
  let b: TestTenant;
  const calls: Record<string, Call[]> = {};
  /** Per tenant: its chat conversation and its SMS conversation. */
  const conversations: Record<string, { chat: string; sms: string }> = {};

  beforeAll(async () => {
    (globalThis as any).__subscribedCalls = (name: string, ccid: string, event: BusEvent) => {
      calls[name] = [...(calls[name] ?? []), { ccid, event }];
    };
    t = await startNexus({ engine, nexus: { plugins: { modules: MODULES } } });
    a = await createTenant(t, 'subs-tenant-a');
    b = await createTenant(t, 'subs-tenant-b');
    for (const tenant of [a, b]) {
      for (const name of PLUGINS) {
        const r = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${tenant.ccid}/Plugin-${name}`, {
          headers: keyHeaders(tenant.apiKey),
          json: { data: {}, secret: {} },
        });
        expect(r.status).toBeLessThan(300);
      }
      // A chat that starts and is done, and an SMS conversation that starts.
      const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
        headers: keyHeaders(tenant.apiKey),
        json: { data: { nickname: 'Ada' } },
      });
      expect(s.status).toBe(200);
      const chat = s.body.data.conversationId as string;
      const done = await api(t.url, 'POST', `/nexus/v3/interactions/${chat}/done`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(done.status).toBe(200);
      const sms = await t.nexus.chat.createConversation({
        ccid: tenant.ccid,
        channel: 'sms',
        endpoint: 'sms-line',
        customer: { phone: '+15550100' },
      });
      conversations[tenant.ccid] = { chat, sms: sms.id };
    }
    // Everything the plugins will get has been delivered: the unfiltered one saw the last events,
    // and no delivery is pending.
    await vi.waitFor(
      async () => {
        for (const tenant of [a, b]) {
          const seen = (calls.everything ?? []).filter((c) => c.ccid === tenant.ccid).map((c) => c.event);
          const { chat, sms } = conversations[tenant.ccid];
          expect(seen.some((e) => e.type === 'interaction.finished' && e.conversationId === chat)).toBe(true);
          expect(seen.some((e) => e.type === 'interaction.started' && e.conversationId === sms)).toBe(true);
          expect(await t.nexus.plugins.outbox.list(tenant.ccid, 'pending')).toEqual([]);
        }
      },
      { timeout: 15_000, interval: 100 },
    );
  });
  afterAll(async () => {
    await t?.cleanup();
    (globalThis as any).__subscribedCalls = undefined;
  });

  it('a plugin without a subscription gets every event of both tenants', () => {
    const all = calls.everything;
    expect(new Set(all.map((c) => c.ccid))).toEqual(new Set([a.ccid, b.ccid]));
    expect(new Set(all.map((c) => c.event.type))).toEqual(
      new Set([
        'conversation.created',
        'conversation.state-changed',
        'message.created',
        'interaction.started',
        'interaction.finished',
      ]),
    );
  });

  it('a plugin filtered to tenant A never sees tenant B, and nothing is planned for it there', async () => {
    const got = calls['only-tenant-a'];
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((c) => c.ccid === a.ccid && c.event.ccid === a.ccid)).toBe(true);
    // Tenant A: the same events the unfiltered plugin got there.
    const ofA = (name: string) =>
      calls[name]
        .filter((c) => c.ccid === a.ccid)
        .map((c) => c.event.id)
        .sort();
    expect(ofA('only-tenant-a')).toEqual(ofA('everything'));
    const rowsOfB = await t.nexus.plugins.outbox.list(b.ccid, undefined, 1000);
    expect(rowsOfB.filter((r) => r.target === 'Plugin-only-tenant-a')).toEqual([]);
    expect(rowsOfB.filter((r) => r.target === 'Plugin-everything').length).toBeGreaterThan(0);
  });

  it('a plugin filtered to the interaction lifecycle gets started and finished only', () => {
    const got = calls['interactions-only'].map((c) => [c.ccid, c.event.type, c.event.conversationId]);
    const expected = [a, b].flatMap((tenant) => {
      const { chat, sms } = conversations[tenant.ccid];
      return [
        [tenant.ccid, 'interaction.started', chat],
        [tenant.ccid, 'interaction.finished', chat],
        [tenant.ccid, 'interaction.started', sms],
      ];
    });
    expect(got.sort()).toEqual(expected.sort());
  });

  it('a plugin filtered to SMS gets the events of SMS conversations only', () => {
    const got = calls['sms-only'];
    expect(got.every((c) => c.event.channelType === 'sms')).toBe(true);
    for (const tenant of [a, b]) {
      const { chat, sms } = conversations[tenant.ccid];
      const ofTenant = got.filter((c) => c.ccid === tenant.ccid).map((c) => c.event);
      expect(ofTenant.map((e) => [e.type, e.conversationId]).sort()).toEqual(
        [
          ['conversation.created', sms],
          ['interaction.started', sms],
        ].sort(),
      );
      expect(ofTenant.some((e) => e.conversationId === chat)).toBe(false);
    }
  });
});

describe('a bad subscription', () => {
  it('stops the start with a message that names the module and the problem', async () => {
    const module = join(FIXTURES, 'bad-subscription-plugin.mjs');
    await expect(startNexus({ nexus: { plugins: { modules: module } } })).rejects.toThrow(
      /plugin module ".*bad-subscription-plugin\.mjs" is not a valid plugin: subscribe\.events\.1: Invalid enum value\. Expected 'message\.created' \| .*, received 'message\.sent'/,
    );
    // The plugins start after the database's migrations: an embedded boot took over 30 s on 2 cores
    // under a load of 8.
  }, 90_000);
});
