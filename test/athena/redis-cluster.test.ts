/**
 * athena on its own against a Redis Cluster over TLS (`athena.redis.nodes`, `cluster`, `tls`,
 * `tlsCaFile`), the gateway on the same cluster: three real redis-server masters with a
 * self-signed certificate, as the chart deploys them. athena reports Redis ready in
 * `/health/detail`, keeps its cached settings in the cluster under `athena:`, answers the
 * customer through a webhook bot, and hears the gateway's `services:changed` notice over the
 * cluster, so an edited bot is used on its very next turn.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Cluster } from 'ioredis';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import { createStandaloneAthena } from '../../src/bots/standalone.js';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { emitAck, newSession, seen, socketFor } from '../chat/helpers.js';
import type { TestAgent } from '../chat/routing-helpers.js';
import { selfSignedCert } from '../cluster/servers.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import {
  type RedisClusterServers,
  redisServerAvailable,
  startRedisCluster,
} from '../helpers/redis-server.js';
import { createApiKey, type TestTenant } from '../helpers/tenants.js';
import { botTenant, cmid, eventWhere, FakeRasa, provision } from './helpers.js';

type LogLine = Record<string, unknown> & { msg?: string };

describe.runIf(redisServerAvailable())('athena on a Redis Cluster over TLS', () => {
  let dir: string;
  let cert: string;
  let cluster: RedisClusterServers;
  let t: TestNexus;
  let athena: Athena;
  let first: FakeRasa;
  let second: FakeRasa;
  let tenant: TestTenant;
  let alice: TestAgent;
  const lines: LogLine[] = [];
  const waiters: Array<() => void> = [];
  const sockets: Socket[] = [];

  const logged = (test: (l: LogLine) => boolean, what: string, from: number, ms = 10_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`athena logged no ${what} within ${ms} ms`)), ms);
      const check = () => {
        const l = lines.slice(from).find(test);
        if (l) {
          clearTimeout(timer);
          resolve(l);
        } else waiters.push(check);
      };
      check();
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'athena-cluster-'));
    const tls = await selfSignedCert(dir, 'redis');
    cert = tls.cert;
    cluster = await startRedisCluster({ tls });
    const keyPrefix = 'nx1:';
    t = await startNexus({
      nexus: {
        redis: { nodes: cluster.nodes, useCluster: true, enableTls: true, tlsCaFile: cert, keyPrefix },
      },
    });
    first = await FakeRasa.start();
    second = await FakeRasa.start();
    first.script = (c) => ({ body: [{ text: `first: ${c.message}` }] });
    second.script = (c) => ({ body: [{ text: `second: ${c.message}` }] });
    const { apiKey } = await createApiKey(t, {
      tenant: '*',
      permissions: ['nexus:cluster:*'],
      capacity: 100_000,
      name: 'athena',
    });
    const config = loadConfig({
      env: {},
      overrides: {
        nexus: { redis: { keyPrefix } },
        athena: {
          port: 0,
          host: '127.0.0.1',
          nexus: { url: t.url, apiKey, timeout: 5000 },
          redis: { nodes: cluster.nodes, cluster: true, tls: true, tlsCaFile: cert },
        },
      },
    });
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const p of chunk.toString('utf8').split('\n')) if (p.trim()) lines.push(JSON.parse(p));
        for (const w of waiters.splice(0)) w();
        done();
      },
    });
    athena = createStandaloneAthena(config, createLogger({ level: 'debug', destination: stream }));
    await athena.start();
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: { rasa: { url: first.url, data: { provider: 'Webhook', timeoutMs: 5000, nickname: 'First' } } },
    }));
  }, 120_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    alice?.close();
    await athena?.close();
    await first?.close();
    await second?.close();
    await t?.cleanup();
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the cluster ready, caches in it, and uses an edited bot on its next turn', async () => {
    const health = await api(athena.url, 'GET', '/health/detail');
    expect(health.body).toMatchObject({ isReady: true, redis: { ready: true } });
    expect(typeof health.body.redis.latency).toBe('number');

    const session = await newSession(t, tenant);
    const s = await socketFor(t.url, '/consumer', { clientToken: session.clientToken });
    sockets.push(s);
    const say = async (text: string) => {
      const a = await emitAck(s, 'message.send', { clientMessageId: cmid(), text });
      expect(a.ok, JSON.stringify(a)).toBe(true);
    };
    const botSays = (text: string) =>
      eventWhere<ChatMessage>(
        s,
        'message',
        (m) => m.from.type === 'Bot' && m.text === text,
        10_000,
        seen(s).messages,
      );

    await say('one');
    expect((await botSays('first: one')).from).toMatchObject({ type: 'Bot', nickname: 'First' });

    // athena's cached settings live in the cluster, under its own prefix.
    const admin = new Cluster(
      [{ host: '127.0.0.1', port: Number(new URL(cluster.nodes.split(',')[0]).port) }],
      {
        redisOptions: { tls: { ca: readFileSync(cert) } },
      },
    );
    try {
      await new Promise((resolve, reject) => {
        admin.once('ready', resolve);
        admin.once('error', reject);
      });
      const keys: string[] = [];
      for (const node of admin.nodes('master')) keys.push(...(await node.keys('athena:*')));
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.some((k) => k.includes(tenant.ccid))).toBe(true);
    } finally {
      admin.disconnect();
    }

    // The bot edited: the gateway's notice reaches athena over the cluster, and the very next turn
    // goes to the new bot.
    const from = lines.length;
    await provision(t, tenant, 'Bot-rasa', {
      url: second.url,
      data: { provider: 'Webhook', timeoutMs: 5000, nickname: 'Second' },
    });
    await logged(
      (l) => l.msg === 'service changed: cache dropped' && l.ccid === tenant.ccid && l.service === 'Bot-rasa',
      'dropped cache for Bot-rasa',
      from,
    );
    await say('two');
    expect((await botSays('second: two')).from).toMatchObject({ type: 'Bot', nickname: 'Second' });
    expect(first.calls.map((c) => c.message)).toEqual(['one']);
    expect(second.calls.map((c) => c.message)).toEqual(['two']);
    const listening = lines.find((l) => l.msg === "listening to the gateway's service changes");
    expect(listening?.channel).toBe('nx1:services:changed');
  });
});
