import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import { MemoryKeyValueStore } from '../shared/state/memory.js';
import { loadPluginModules, PluginHost, type ServiceSource } from './host.js';
import { definePlugin, redact, secret, secretPaths } from './sdk.js';
import { PluginError } from './types.js';

function capture() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination: dest }), lines };
}

const services: ServiceSource = {
  async getWithSecret(ccid, name) {
    if (name === 'Plugin-missing') return undefined;
    if (ccid === 'misconfigured') return { url: 'http://x', data: {}, secret: {} };
    return { url: 'http://provider.test', data: { from: '+1555' }, secret: { token: 'tok-SECRET-123' } };
  },
};

const config = z.object({
  url: z.string(),
  data: z.object({ from: z.string() }),
  secret: z.object({ token: secret(z.string()) }),
});

function host(
  behaviour: { send: (n: number) => Promise<unknown> },
  opts: Partial<ConstructorParameters<typeof PluginHost>[0]> = {},
) {
  const { log, lines } = capture();
  const h = new PluginHost({
    log,
    kv: new MemoryKeyValueStore(),
    services,
    callTimeoutMs: 200,
    circuitFailures: 3,
    circuitResetMs: 150,
    ...opts,
  });
  let calls = 0;
  h.register(
    definePlugin({
      name: 'flaky',
      kind: 'sms',
      version: '1.0.0',
      config,
      create: (ctx) => ({
        async send(msg) {
          calls++;
          await behaviour.send(calls);
          await ctx.kv.set('last', msg.messageId);
          return { providerMessageId: `p-${msg.messageId}`, state: 'sent' as const };
        },
      }),
    }),
  );
  return { h, lines, calls: () => calls };
}

const msg = { messageId: 'm1', from: '+1555', to: '+1666', text: 'hi' };

describe('plugin SDK', () => {
  it('refuses a malformed declaration at load', () => {
    expect(() =>
      definePlugin({ name: 'bad name', kind: 'sms', version: '1', config, create: () => ({}) as any }),
    ).toThrow(/name must be.*version must be semver/);
  });

  it('knows the secret fields and redacts them', () => {
    expect(secretPaths(config)).toEqual(['secret.token']);
    expect(redact(config, { url: 'u', data: { from: 'f' }, secret: { token: 't' } })).toEqual({
      url: 'u',
      data: { from: 'f' },
      secret: { token: '[redacted]' },
    });
  });
});

describe('plugin host', () => {
  it('builds an instance from the tenant service and calls it; the secret never reaches a log', async () => {
    const { h, lines } = host({ send: async () => undefined });
    const sms = await h.instance('cc1', 'Plugin-flaky', 'sms');
    expect(await sms.send(msg)).toEqual({ providerMessageId: 'p-m1', state: 'sent' });
    expect(lines.join('')).toContain('plugin instance created');
    expect(lines.join('')).not.toContain('tok-SECRET-123');
  });

  it('refuses a service of another kind, one not provisioned, and one whose config does not fit', async () => {
    const { h } = host({ send: async () => undefined });
    await expect(h.instance('cc1', 'Plugin-flaky', 'email')).rejects.toThrow(/is a sms plugin/);
    await expect(h.instance('cc1', 'Plugin-unknown', 'sms')).rejects.toThrow(/no plugin serves/);
    const e = await h.instance('misconfigured', 'Plugin-flaky', 'sms').catch((x) => x);
    expect(e).toBeInstanceOf(PluginError);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/data\.from/);
  });

  it('contains a throwing plugin, opens its circuit after repeated failures, and closes it after a good trial', async () => {
    let healthy = false;
    const { h, calls } = host({
      send: async () => {
        if (!healthy) throw new TypeError('boom');
      },
    });
    const sms = await h.instance('cc1', 'Plugin-flaky', 'sms');
    for (let i = 0; i < 3; i++) {
      const e = await sms.send(msg).catch((x) => x);
      expect(e).toBeInstanceOf(PluginError);
      expect(e.retryable).toBe(true);
      expect(e.message).toContain('boom');
    }
    // Open: refused without calling the plugin.
    await expect(sms.send(msg)).rejects.toThrow(/calls paused/);
    expect(calls()).toBe(3);
    healthy = true;
    await new Promise((r) => setTimeout(r, 160)); // the circuit's own reset period
    await expect(sms.send(msg)).resolves.toMatchObject({ state: 'sent' });
    expect(calls()).toBe(4);
  });

  it('times out a hanging plugin without holding the caller', async () => {
    const { h } = host({ send: () => new Promise(() => undefined) });
    const sms = await h.instance('cc1', 'Plugin-flaky', 'sms');
    const t = performance.now();
    await expect(sms.send(msg)).rejects.toThrow(/timed out after 200 ms/);
    expect(performance.now() - t).toBeLessThan(2000);
  });

  it('keeps instances of different tenants apart, including their key-value namespaces', async () => {
    const kv = new MemoryKeyValueStore();
    const { h } = host({ send: async () => undefined }, { kv });
    await (await h.instance('cc1', 'Plugin-flaky', 'sms')).send({ ...msg, messageId: 'a' });
    await (await h.instance('cc2', 'Plugin-flaky', 'sms')).send({ ...msg, messageId: 'b' });
    expect(await kv.get('plugin:flaky:cc1:last')).toBe('a');
    expect(await kv.get('plugin:flaky:cc2:last')).toBe('b');
  });
});

describe('plugin key-value store', () => {
  it('is sealed at rest when the gateway gives a sealer, and reads back in the clear for the plugin', async () => {
    const { SecretBox } = await import('../gateway/secret-box.js');
    const kv = new MemoryKeyValueStore();
    const { h } = host(
      { send: async () => undefined },
      { kv, sealer: new SecretBox(SecretBox.generateKey()) },
    );
    let seen: string | null = null;
    h.register(
      definePlugin({
        name: 'token-keeper',
        kind: 'sms',
        version: '1.0.0',
        config,
        create: (ctx) => ({
          async send() {
            await ctx.kv.set('token', 'ACCESS-TOKEN-123');
            seen = await ctx.kv.get('token');
            return { state: 'sent' as const };
          },
        }),
      }),
    );
    await (await h.instance('cc1', 'Plugin-token-keeper', 'sms')).send(msg);
    expect(seen).toBe('ACCESS-TOKEN-123');
    const raw = await kv.get('plugin:token-keeper:cc1:token');
    expect(raw).not.toContain('ACCESS-TOKEN');
    expect(raw).toMatch(/^v1\./);
  });
});

describe('third-party plugin modules', () => {
  const dir = join(import.meta.dirname, '../../test/fixtures/plugins');

  it('loads a plugin by path and serves it as Plugin-<name>', async () => {
    const [def] = await loadPluginModules(join(dir, 'good-plugin.mjs'));
    const { h } = host({ send: async () => undefined });
    h.register(def);
    const sms = await h.instance('cc1', 'Plugin-fixture-sms', 'sms');
    expect(await sms.send(msg)).toEqual({ providerMessageId: 'fx-m1', state: 'sent' });
  });

  it('stops the start with a clear message for a missing or invalid module', async () => {
    await expect(loadPluginModules('./no/such/plugin.mjs')).rejects.toThrow(
      /cannot load plugin module "\.\/no\/such\/plugin\.mjs"/,
    );
    await expect(loadPluginModules(join(dir, 'bad-plugin.mjs'))).rejects.toThrow(
      /not a valid plugin: name must be/,
    );
    await expect(loadPluginModules('nexus-plugin-that-does-not-exist')).rejects.toThrow(
      /cannot load plugin module/,
    );
  });
});

describe('plugin subscriptions', () => {
  const webhook = (subscribe: unknown) =>
    ({
      name: 'subscriber',
      kind: 'webhook',
      version: '1.0.0',
      config: z.object({}).passthrough(),
      subscribe,
      create: () => ({ deliver: async () => undefined }),
    }) as never;

  it('are typed on the definition and become the filter the host delivers by', () => {
    const def = definePlugin({
      name: 'typed-subscriber',
      kind: 'webhook',
      version: '1.0.0',
      config: z.object({}).passthrough(),
      subscribe: { events: ['interaction.started'], tenants: ['cc1'], channelTypes: ['chat', 'sms'] },
      create: () => ({ deliver: async () => undefined }),
    });
    definePlugin({
      ...def,
      name: 'mistyped-subscriber',
      // @ts-expect-error: not an event type of the bus
      subscribe: { events: ['message.sent'] },
    });
    const { h } = host({ send: async () => undefined });
    h.register(def);
    expect(h.subscriptionOf('Plugin-typed-subscriber')).toEqual({
      types: ['interaction.started'],
      ccids: ['cc1'],
      channelTypes: ['chat', 'sms'],
    });
    h.register(webhook(undefined));
    expect(h.subscriptionOf('Plugin-subscriber')).toEqual({});
  });

  it('a bad one is refused at registration with what is wrong', () => {
    const refused = (subscribe: unknown) => () =>
      host({ send: async () => undefined }).h.register(webhook(subscribe));
    expect(refused({ events: ['message.sent'] })).toThrow(/subscribe\.events\.0: Invalid enum value/);
    expect(refused({ events: [] })).toThrow(/subscribe\.events: Array must contain at least 1/);
    expect(refused({ tenants: [''] })).toThrow(/subscribe\.tenants\.0/);
    expect(refused({ channelTypes: ['fax'] })).toThrow(/subscribe\.channelTypes\.0: Invalid enum value/);
    expect(refused({ tenant: 'cc1' })).toThrow(/subscribe: Unrecognized key\(s\) in object: 'tenant'/);
    expect(refused('everything')).toThrow(/subscribe: Expected object, received string/);
    const sms = { ...(webhook({ events: ['message.created'] }) as object), kind: 'sms' };
    expect(() => host({ send: async () => undefined }).h.register(sms as never)).toThrow(
      /subscribe: only webhook plugins receive bus events, not sms/,
    );
  });
});

describe('per-plugin metrics', () => {
  it('count calls by outcome, time them, and show an open circuit', async () => {
    const registry = createRegistry('nexus');
    let healthy = true;
    const { h } = host(
      {
        send: async () => {
          if (!healthy) throw new TypeError('boom');
        },
      },
      { registry },
    );
    const sms = await h.instance('cc1', 'Plugin-flaky', 'sms');
    await sms.send(msg);
    healthy = false;
    for (let i = 0; i < 3; i++) await sms.send(msg).catch(() => undefined);
    await sms.send(msg).catch(() => undefined); // refused: the circuit is open
    const text = await registry.metrics();
    const value = (line: string) => {
      const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
      return hit ? Number(hit.slice(line.length + 1)) : undefined;
    };
    expect(value('nexus_plugin_calls_total{plugin="flaky",method="send",outcome="ok"}')).toBe(1);
    expect(value('nexus_plugin_calls_total{plugin="flaky",method="send",outcome="error"}')).toBe(3);
    expect(value('nexus_plugin_calls_total{plugin="flaky",method="send",outcome="circuit_open"}')).toBe(1);
    expect(value('nexus_plugin_call_duration_seconds_count{plugin="flaky"}')).toBe(4);
    expect(value('nexus_plugin_circuit_open{plugin="flaky"}')).toBe(1);
  });
});
