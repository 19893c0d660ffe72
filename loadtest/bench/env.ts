/**
 * The storage the benchmark runs on: the real PostgreSQL and Redis when TEST_PG_HOST and
 * TEST_REDIS_NODES (or BENCH_PG_HOST / BENCH_REDIS_NODES) are set, with a database of its own
 * created for the run and dropped after; otherwise the embedded defaults (PGlite inside the
 * gateway process, in-process state). Also finds the server processes whose CPU is measured.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { cpuSeconds, ppidOf, type ProcessGroup, processTree, singleProcess } from './cpu.js';

export interface BenchEnv {
  engine: 'real' | 'embedded';
  description: string;
  /** The gateway's `nexus` config section for this engine. */
  nexusConfig(): Record<string, unknown>;
  /** Connection for the raw INSERT baseline (real engine). */
  pgConnection?: pg.ClientConfig;
  /** CPU groups of the storage servers (PostgreSQL, Redis). */
  storageGroups: ProcessGroup[];
  close(): Promise<void>;
}

export async function createEnv(prefer: 'auto' | 'real' | 'embedded'): Promise<BenchEnv> {
  const host = process.env.BENCH_PG_HOST ?? process.env.TEST_PG_HOST;
  const redisNodes = process.env.BENCH_REDIS_NODES ?? process.env.TEST_REDIS_NODES;
  const dataDir = mkdtempSync(join(tmpdir(), 'nexus-bench-'));
  const adminToken = `bench-${randomBytes(12).toString('hex')}`;
  // The bench measures the message path, not the per-socket and per-key limiters: lift them.
  const common = {
    port: 0,
    metricsPort: 0,
    host: '127.0.0.1',
    dataDir,
    adminToken,
    logLevel: process.env.BENCH_LOG_LEVEL ?? 'warn',
    rateLimit: { capacity: 1_000_000_000, frequency: 1 },
    chat: { socketMessagesPerSecond: 1_000_000, socketMessageBurst: 1_000_000 },
  };
  if (prefer === 'embedded' || (prefer === 'auto' && !(host && redisNodes))) {
    return {
      engine: 'embedded',
      description: 'embedded defaults: PGlite (in the gateway process) and in-process state',
      nexusConfig: () => ({ ...common, db: { embeddedInMemory: true } }),
      storageGroups: [],
      close: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  if (!host || !redisNodes)
    throw new Error('real engines requested but TEST_PG_HOST / TEST_REDIS_NODES are not set');
  const pgBase = {
    host,
    port: Number(process.env.BENCH_PG_PORT ?? process.env.TEST_PG_PORT ?? 5432),
    user: process.env.BENCH_PG_USER ?? process.env.TEST_PG_USER ?? 'postgres',
    password: process.env.BENCH_PG_PASSWORD ?? process.env.TEST_PG_PASSWORD ?? '',
  };
  const database = `bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ ...pgBase, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const backend = (await admin.query('SELECT pg_backend_pid() AS pid, version() AS v')).rows[0];
  const fsync = (await admin.query('SHOW fsync')).rows[0].fsync;
  const sync = (await admin.query('SHOW synchronous_commit')).rows[0].synchronous_commit;
  // Read while the backend lives: its parent is the postmaster.
  const postmaster = ppidOf(backend.pid);
  await admin.end();
  const redisUrl = redisNodes.split(',')[0].trim();
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  const info = await r.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1];
  const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1]);
  r.disconnect();
  const keyPrefix = `bench${randomBytes(3).toString('hex')}:`;
  const groups: ProcessGroup[] = [];
  // The backends serving this run's database: the part of the shared server's CPU that is ours.
  const watcher = new pg.Client({ ...pgBase, database: 'postgres' });
  await watcher.connect();
  const seen = new Map<number, number>();
  groups.push({
    name: 'postgres-run',
    label: `PostgreSQL backends of database ${database} (this run's own share)`,
    // Short-lived backends (the raw INSERT baseline's connections) are caught between samples.
    poll: true,
    sample: async () => {
      const r = await watcher.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]);
      for (const row of r.rows) {
        const v = cpuSeconds(row.pid);
        if (v !== undefined) seen.set(row.pid, v);
      }
      // A backend that exited keeps its last reading, so the sum never runs backwards.
      let t = 0;
      for (const v of seen.values()) t += v;
      return t;
    },
  });
  if (postmaster)
    groups.push(
      processTree('postgres', 'PostgreSQL server, all processes (shared with other users)', postmaster),
    );
  if (redisPid) groups.push(singleProcess('redis', 'Redis server (shared with other users)', () => redisPid));
  return {
    engine: 'real',
    description: `PostgreSQL ${String(backend.v).split(' ')[1]} (fsync=${fsync}, synchronous_commit=${sync}) at ${pgBase.host}:${pgBase.port}, database ${database}; Redis ${redisVersion} at ${redisUrl}`,
    nexusConfig: () => ({
      ...common,
      db: { ...pgBase, database },
      redis: { nodes: redisNodes, keyPrefix },
    }),
    pgConnection: { ...pgBase, database },
    storageGroups: groups,
    close: async () => {
      await watcher.end().catch(() => undefined);
      const c = new pg.Client({ ...pgBase, database: 'postgres' });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.end();
      const rr = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await rr.connect();
      // Remove this run's keys only (its own prefix), never anybody else's.
      let cursor = '0';
      do {
        const [next, keys] = await rr.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await rr.unlink(...keys);
      } while (cursor !== '0');
      rr.disconnect();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
