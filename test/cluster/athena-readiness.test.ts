/**
 * athena's readiness rides out a Redis blip as the gateway's does (test/cluster/redis-outage.ts):
 * with Redis killed, `/health/detail` is red at once while `/health/ready` stays 200 until Redis
 * has been gone longer than `athena.redis.readinessGraceMs`, then 503; once Redis is back both are
 * green again. With a grace of 0 readiness fails at once. Real redis-server, athena in process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Athena, createAthena } from '../../src/bots/athena.js';
import { athenaSchema } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { type RedisServer, redisServerAvailable, startRedisServer } from '../helpers/redis-server.js';
import { until } from './nodes.js';

const GRACE_MS = 3000;

async function get(athena: Athena, path: string) {
  const r = await fetch(`${athena.url}${path}`);
  return { status: r.status, body: (await r.json()) as any };
}

describe.runIf(redisServerAvailable())('athena /health/ready through a Redis outage', () => {
  let redis: RedisServer;
  const started: Athena[] = [];

  const start = async (graceMs: number) => {
    const config = athenaSchema.parse({
      port: 0,
      host: '127.0.0.1',
      redis: { nodes: redis.url, readinessGraceMs: graceMs },
    });
    const athena = createAthena(config, createLogger({ level: 'silent' }));
    await athena.start();
    started.push(athena);
    return athena;
  };

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    for (const a of started) await a.close();
    await redis?.destroy();
  });

  it('stays ready within the grace, fails after it, and is ready again once Redis is back', async () => {
    const withGrace = await start(GRACE_MS);
    const noGrace = await start(0);
    for (const a of [withGrace, noGrace]) {
      expect((await get(a, '/health/ready')).status).toBe(200);
      expect((await get(a, '/health/detail')).body.state).toBe('green');
    }

    await redis.stop();
    const stoppedAt = Date.now();
    for (const a of [withGrace, noGrace]) {
      await until('detail red', async () => (await get(a, '/health/detail')).body.state === 'red');
    }
    // Seen red; the blip is still shorter than the grace: ready, and saying why it might not be.
    const blip = await get(withGrace, '/health/ready');
    expect(Date.now() - stoppedAt, 'seen within the grace').toBeLessThan(GRACE_MS);
    expect(blip.status).toBe(200);
    expect(blip.body).toMatchObject({ isReady: true, redis: { ready: false } });
    // No grace: not ready as soon as Redis is.
    const at = await get(noGrace, '/health/ready');
    expect(at.status).toBe(503);
    expect(at.body).toMatchObject({ isReady: false, redis: { ready: false } });

    const failed = await until('not ready after the grace', async () => {
      const r = await get(withGrace, '/health/ready');
      return r.status === 503 ? r : undefined;
    });
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(GRACE_MS);
    expect(failed.body).toMatchObject({ isReady: false, redis: { ready: false } });

    await redis.start();
    for (const a of [withGrace, noGrace]) {
      await until('ready again', async () => (await get(a, '/health/ready')).status === 200);
      expect((await get(a, '/health/detail')).body.state).toBe('green');
    }
  });
});
