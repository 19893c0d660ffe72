/**
 * `athena.db.*`: athena on its own with a PostgreSQL connection of its own (the chart's athena
 * section), reported in `/health/detail` (`db.ready`, `db.latency`) and in readiness. Real
 * PostgreSQL only.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Athena, createAthena } from '../../src/bots/athena.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { freshDatabase, realEngines } from '../helpers/engines.js';
import { api } from '../helpers/nexus.js';

describe.runIf(realEngines())('athena with its own database (athena.db.*)', () => {
  const started: Athena[] = [];
  const drops: Array<() => Promise<void>> = [];

  afterAll(async () => {
    for (const a of started) await a.close();
    for (const d of drops) await d();
  });

  const start = async (db: Record<string, unknown>) => {
    const config = loadConfig({
      env: {},
      overrides: { athena: { port: 0, host: '127.0.0.1', db } },
    }).athena;
    const athena = createAthena(config, createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
    started.push(athena);
    await athena.start();
    return athena;
  };

  it('connects to it and reports it in /health/detail and readiness', async () => {
    const real = realEngines()!;
    const { database, drop } = await freshDatabase();
    drops.push(drop);
    const athena = await start({
      host: real.pg.host,
      port: real.pg.port,
      user: real.pg.user,
      password: real.pg.password,
      database,
    });
    const health = await api(athena.url, 'GET', '/health/detail');
    expect(health.body.db.ready).toBe(true);
    expect(typeof health.body.db.latency).toBe('number');
    expect((await api(athena.url, 'GET', '/health/ready')).status).toBe(200);
  });

  it('refuses to start when the database named there does not exist', async () => {
    const real = realEngines()!;
    await expect(
      start({
        host: real.pg.host,
        port: real.pg.port,
        user: real.pg.user,
        password: real.pg.password,
        database: 'no_such_database_for_athena',
      }),
    ).rejects.toThrow(/no_such_database_for_athena/);
  });
});
