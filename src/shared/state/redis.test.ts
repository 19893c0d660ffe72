/**
 * The Redis driver against servers this suite starts itself: the connection metrics through an
 * outage (kill the server, start it again), start-up failures that name the nodes and hide the
 * password, passwords, and TLS with a self-signed certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type RedisServer,
  redisServerAvailable,
  startRedisServer,
} from '../../../test/helpers/redis-server.js';
import { AppError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { StateOptions } from './index.js';
import { createRedisState } from './redis.js';
import { parseNodes } from './redis-connection.js';

const log = createLogger({ level: 'silent' });

/** The next `event` of `emitter`; unlike events.once, an `error` meanwhile does not reject it. */
const next = (emitter: NodeJS.EventEmitter, event: string) =>
  new Promise<void>((resolve) => emitter.once(event, () => resolve()));

function options(nodes: string, extra: Partial<StateOptions> = {}): StateOptions {
  return { nodes, cluster: false, tls: false, password: '', keyPrefix: 'test:', log, ...extra };
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  // A histogram's count sample, or the single value of a gauge or counter.
  const v = values.find((x) => (x as { metricName?: string }).metricName === `${name}_count`) ?? values[0];
  return v?.value ?? 0;
}

describe('parseNodes', () => {
  it('reads hosts, ports, TLS, credentials and database', () => {
    expect(parseNodes('redis://a:6380, rediss://:p%40ss@b/2,redis://[::1]')).toEqual([
      { host: 'a', port: 6380, tls: false, username: undefined, password: undefined, db: undefined },
      { host: 'b', port: 6379, tls: true, username: undefined, password: 'p@ss', db: 2 },
      { host: '::1', port: 6379, tls: false, username: undefined, password: undefined, db: undefined },
    ]);
  });

  it('refuses what is not a Redis URL, without repeating a password', () => {
    expect(() => parseNodes('http://h:1')).toThrow(/"http:\/\/h:1" is not a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => parseNodes('redis://:secret@h/x')).toThrow(/database "x"/);
    expect(() => parseNodes('redis://:secret@h/x')).not.toThrow(/secret/);
    expect(() => parseNodes(' , ')).toThrow(/no node/);
  });

  it('refuses several nodes without cluster mode', () => {
    expect(() => createRedisState(options('redis://a:1,redis://b:2'))).toThrow(
      /2 nodes .* cluster mode is off/,
    );
  });
});

const servers = redisServerAvailable() ? ['redis-server'] : [];

describe.each(servers)('Redis driver against its own %s', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterAll(async () => {
    await server?.destroy();
  });

  it('records the connection metrics through an outage and recovers, subscriptions included', async () => {
    const registry = new Registry();
    const state = createRedisState(
      options(server.url, { registry, metricPrefix: 'nexus', keyPrefix: 'outage:', commandTimeoutMs: 500 }),
    );
    const { pub, sub } = state.redisClients;
    try {
      await state.start();
      expect(pub).toBeInstanceOf(Redis);
      expect(state.health).toMatchObject({ ready: true, state: 'READY', unreadySince: undefined });
      expect(await metric(registry, 'nexus_redis_connections_ready')).toBe(2);
      expect(await metric(registry, 'nexus_redis_connections_established')).toBe(2);
      expect(await metric(registry, 'nexus_redis_connections_reconnecting')).toBe(0);
      expect(await metric(registry, 'nexus_redis_duration_until_ready')).toBe(2);
      expect(await metric(registry, 'nexus_redis_errors_total')).toBe(0);

      const got: string[] = [];
      await state.pubsub.subscribe('events', (m) => got.push(m));

      const lost = Promise.all([next(pub, 'reconnecting'), next(sub, 'reconnecting'), next(pub, 'error')]);
      const stoppedAt = Date.now();
      await server.stop();
      await lost;
      expect(state.health.ready).toBe(false);
      // Readiness' grace counts from the loss, not from whoever asks first.
      const since = state.health.unreadySince;
      expect(since).toBeGreaterThanOrEqual(stoppedAt);
      expect(since).toBeLessThanOrEqual(Date.now());
      expect(['RECONNECTING', 'CONNECTING', 'CONNECT']).toContain(state.health.state);
      expect(await metric(registry, 'nexus_redis_connections_ready')).toBe(0);
      expect(await metric(registry, 'nexus_redis_connections_established')).toBe(0);
      expect(await metric(registry, 'nexus_redis_connections_reconnecting')).toBeGreaterThanOrEqual(1);
      expect(await metric(registry, 'nexus_redis_errors_total')).toBeGreaterThan(0);
      // Callers get the catalog's retryable 503, not a hang.
      await expect(state.health.ping()).rejects.toMatchObject({ errorName: 'UNAVAILABLE' });
      const failed = await state.kv.get('k').catch((e) => e);
      expect(failed).toBeInstanceOf(AppError);
      expect(failed.code).toBe(9001);

      // Reconnect attempts fail (ECONNREFUSED) until the server listens: an `error` is no failure.
      const back = Promise.all([next(pub, 'ready'), next(sub, 'ready')]);
      await server.start();
      await back;
      expect(state.health).toMatchObject({ ready: true, state: 'READY', unreadySince: undefined });
      expect(await metric(registry, 'nexus_redis_connections_ready')).toBe(2);
      expect(await metric(registry, 'nexus_redis_connections_established')).toBe(2);
      expect(await metric(registry, 'nexus_redis_connections_reconnecting')).toBe(0);
      expect(await metric(registry, 'nexus_redis_duration_until_ready')).toBe(4);
      expect(await state.health.ping()).toBeGreaterThanOrEqual(0);

      // ioredis re-subscribes on its own once ready; the SUBSCRIBE may trail our first PUBLISH, so
      // publish until one arrives (bounded).
      const deadline = Date.now() + 5000;
      while (got.length === 0) {
        if (Date.now() > deadline) throw new Error('no message after the reconnect');
        await state.pubsub.publish('events', 'after');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(got[0]).toBe('after');
      await state.kv.set('k', 'v');
      expect(await state.kv.get('k')).toBe('v');
    } finally {
      await state.close();
    }
    expect(await metric(registry, 'nexus_redis_connections_ready')).toBe(0);
    expect(await metric(registry, 'nexus_redis_connections_established')).toBe(0);
    expect(state.health.ready).toBe(false);
    expect(state.health.state).toBe('END');
  });

  it('fails the start within the deadline, naming the nodes but not the password', async () => {
    const port = await freePort();
    const state = createRedisState(options(`redis://:s3cr3t@127.0.0.1:${port}`, { connectTimeoutMs: 700 }));
    const started = Date.now();
    const err = await state.start().catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      new RegExp(`cannot connect to Redis at redis://127\\.0\\.0\\.1:${port} within 0\\.7 s`),
    );
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as Error).message).not.toContain('s3cr3t');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(state.health).toMatchObject({ ready: false, state: 'END' });
    await state.close();
    await state.close();
  });

  it('authenticates with the configured password, which wins over the URL', async () => {
    const locked = await startRedisServer(['--requirepass', 'right-pass']);
    try {
      const wrong = createRedisState(options(locked.url, { password: 'wrong', connectTimeoutMs: 700 }));
      const err = await wrong.start().catch((e: Error) => e);
      expect((err as Error).message).toMatch(/WRONGPASS|invalid password/i);
      expect((err as Error).message).not.toContain('wrong');
      await wrong.close();

      const fromOption = createRedisState(
        options(`redis://:stale@127.0.0.1:${locked.port}`, { password: 'right-pass' }),
      );
      await fromOption.start();
      expect(await fromOption.health.ping()).toBeGreaterThanOrEqual(0);
      await fromOption.close();

      const fromUrl = createRedisState(options(`redis://:right-pass@127.0.0.1:${locked.port}`));
      await fromUrl.start();
      await fromUrl.kv.set('a', 'b');
      expect(await fromUrl.kv.get('a')).toBe('b');
      await fromUrl.close();
    } finally {
      await locked.destroy();
    }
  });

  describe('TLS with a certificate of a private CA', () => {
    let dir: string;
    let tlsServer: RedisServer;
    let tlsPort: number;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
      ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '1',
        '-subj',
        '/CN=test-ca',
      );
      ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'server.key',
        '-out',
        'server.csr',
        '-subj',
        '/CN=localhost',
      );
      writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      ssl(
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'server.crt',
        '-days',
        '1',
        '-extfile',
        'ext',
      );
      tlsPort = await freePort();
      tlsServer = await startRedisServer([
        '--port',
        '0',
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        join(dir, 'server.crt'),
        '--tls-key-file',
        join(dir, 'server.key'),
        '--tls-ca-cert-file',
        join(dir, 'ca.crt'),
        '--tls-auth-clients',
        'no',
      ]);
    });

    afterAll(async () => {
      await tlsServer?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('verifies the certificate by default, and refuses one it cannot verify', async () => {
      const state = createRedisState(options(`rediss://127.0.0.1:${tlsPort}`, { connectTimeoutMs: 700 }));
      const err = await state.start().catch((e: Error) => e);
      expect((err as Error).message).toMatch(new RegExp(`rediss://127\\.0\\.0\\.1:${tlsPort}`));
      expect((err as Error).message).toMatch(/certificate/i);
      await state.close();
    });

    it('connects with the CA file, verifying', async () => {
      const state = createRedisState(
        options(`redis://127.0.0.1:${tlsPort}`, { tls: true, tlsCaFile: join(dir, 'ca.crt') }),
      );
      await state.start();
      await state.kv.set('tls', 'yes');
      expect(await state.kv.get('tls')).toBe('yes');
      await state.close();
    });

    it('accepts an unverified certificate only when told to', async () => {
      const state = createRedisState(
        options(`rediss://127.0.0.1:${tlsPort}`, { tlsRejectUnauthorized: false }),
      );
      await state.start();
      expect(state.health.ready).toBe(true);
      await state.close();
    });
  });
});
