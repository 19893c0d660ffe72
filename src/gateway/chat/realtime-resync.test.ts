/**
 * AdapterResync against a real redis-server with real ioredis clients (no socket.io: the probe is
 * a PUBLISH on a channel the subscriber holds, as the adapter's server-side emit is): after the
 * subscriber reconnects, the refill runs once, and only once the subscription is back on the
 * server; a failed publish asks for a refill once the publisher is ready again.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisServer,
  redisServerAvailable,
  startRedisServer,
} from '../../../test/helpers/redis-server.js';
import { createLogger } from '../../shared/logger.js';
import { AdapterResync } from './realtime-resync.js';

const CHANNEL = 'resync-test';
const log = createLogger({ level: 'silent' });

describe.runIf(redisServerAvailable())('AdapterResync', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    // The last test stops the server.
    admin.on('error', () => {});
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.destroy();
  });

  const numsub = async () => Number(((await admin.call('PUBSUB', 'NUMSUB', CHANNEL)) as unknown[])[1]);

  it('refills once the subscriber is subscribed again, not before', async () => {
    const sub = new Redis(server.url, { connectionName: 'resync-sub' });
    const pub = new Redis(server.url);
    await sub.subscribe(CHANNEL);
    const refills: number[] = [];
    let refilled!: () => void;
    const done = new Promise<void>((r) => {
      refilled = r;
    });
    const resync = new AdapterResync({
      sub,
      pub,
      probe: (token) => void pub.publish(CHANNEL, token),
      refill: async () => {
        // What the refill relies on: from now on every publish reaches this subscriber.
        refills.push(await numsub());
        refilled();
      },
      requestRefill: () => {},
      log,
      probeTimeoutMs: 200,
    });
    try {
      expect(await numsub()).toBe(1);
      // The server drops the subscriber: it reconnects, resubscribes, and 'ready' starts a probe.
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await done;
      expect(refills).toEqual([1]);
    } finally {
      resync.close();
      sub.disconnect();
      pub.disconnect();
    }
  });

  it('keeps probing while the probe does not come back, and refills when it does', async () => {
    const sub = new Redis(server.url);
    const pub = new Redis(server.url);
    await sub.subscribe(CHANNEL);
    let refills = 0;
    // The probes go to a channel nobody holds until the test points them at the subscribed one.
    let probeChannel = 'nobody-listens';
    let probes = 0;
    let thirdProbe!: () => void;
    const threeProbes = new Promise<void>((r) => {
      thirdProbe = r;
    });
    const resync = new AdapterResync({
      sub,
      pub,
      probe: (token) => {
        if (++probes === 3) thirdProbe();
        void pub.publish(probeChannel, token);
      },
      refill: async () => {
        refills++;
      },
      requestRefill: () => {},
      log,
      probeTimeoutMs: 100,
    });
    try {
      const run = resync.trigger();
      await threeProbes;
      expect(refills).toBe(0);
      probeChannel = CHANNEL;
      await run;
      expect(refills).toBe(1);
      expect(probes).toBe(4);
    } finally {
      resync.close();
      sub.disconnect();
      pub.disconnect();
    }
  });

  it('asks for a refill once the publisher is ready again after a failed publish', async () => {
    const sub = new Redis(server.url);
    const pub = new Redis(server.url, { maxRetriesPerRequest: 0 });
    // The outage's connection errors are expected here.
    for (const c of [sub, pub]) c.on('error', () => {});
    let asked!: () => void;
    const requested = new Promise<void>((r) => {
      asked = r;
    });
    const resync = new AdapterResync({
      sub,
      pub,
      probe: () => {},
      refill: async () => {},
      requestRefill: () => asked(),
      log,
    });
    try {
      await pub.ping();
      await server.stop();
      const failed = await pub.publish(CHANNEL, 'lost').catch((e: Error) => e);
      expect(failed).toBeInstanceOf(Error);
      resync.publishFailed();
      expect(pub.status).not.toBe('ready');
      const back = new Promise<void>((r) => pub.once('ready', () => r()));
      await server.start();
      await back;
      await requested;
    } finally {
      resync.close();
      sub.disconnect();
      pub.disconnect();
    }
  });
});
