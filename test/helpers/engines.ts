/**
 * Which storage engines a suite runs against. The embedded defaults always; real PostgreSQL and
 * real Redis when TEST_PG_HOST and TEST_REDIS_NODES are set (CI sets them, and fails a run
 * that lacks them, so the real engines can never be skipped silently there).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type Engine = 'embedded' | 'real';

export function realEngines():
  | { pg: { host: string; port: number; user: string; password: string }; redis: string }
  | undefined {
  const host = process.env.TEST_PG_HOST;
  const redis = process.env.TEST_REDIS_NODES;
  if (!host || !redis) {
    if (process.env.CI === 'true')
      throw new Error('CI must set TEST_PG_HOST and TEST_REDIS_NODES (see .ci/run)');
    return undefined;
  }
  return {
    pg: {
      host,
      port: Number(process.env.TEST_PG_PORT ?? 5432),
      user: process.env.TEST_PG_USER ?? 'postgres',
      password: process.env.TEST_PG_PASSWORD ?? '',
    },
    redis,
  };
}

export function engines(): Engine[] {
  return realEngines() ? ['embedded', 'real'] : ['embedded'];
}

/** A fresh database on the real server, dropped by the returned function. */
export async function freshDatabase(): Promise<{ database: string; drop: () => Promise<void> }> {
  const real = realEngines();
  if (!real) throw new Error('no real PostgreSQL configured');
  const database = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ ...real.pg, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  return {
    database,
    drop: async () => {
      const c = new pg.Client({ ...real.pg, database: 'postgres' });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.end();
    },
  };
}
