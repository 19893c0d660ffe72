/**
 * The athena service (AI connector). For now: its own HTTP server with the guide's health shape.
 * The agent-assist webhook and the bot connectors come with the AI connector issue.
 */
import type { AthenaConfig } from '../shared/config.js';
import { Router } from '../shared/http/router.js';
import { HttpServer } from '../shared/http/server.js';
import { processHealth } from '../shared/health.js';
import { Lifecycle } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import { createSharedState } from '../shared/state/index.js';
import type { SharedState } from '../shared/state/types.js';
import { Database } from '../shared/db/pool.js';

export interface Athena {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface AthenaOptions {
  /** A database to share (the all-in-one process passes the gateway's); otherwise athena.db.* is used when a host is set. */
  db?: Database;
}

export function createAthena(config: AthenaConfig, log: Logger, opts: AthenaOptions = {}): Athena {
  const registry = createRegistry('athena');
  const lifecycle = new Lifecycle(log);
  const startTime = new Date();
  const router = new Router();
  let state!: SharedState;
  const ownDb =
    !opts.db && config.db.host
      ? new Database({
          host: config.db.host,
          port: config.db.port,
          user: config.db.user,
          password: config.db.password,
          database: config.db.database,
          ssl: config.db.ssl,
          poolSize: 5,
          log: log.child({ component: 'db' }),
          registry,
          metricPrefix: 'athena',
        })
      : undefined;
  const db = opts.db ?? ownDb;

  router.get('/health/detail', async () => {
    let redisLatency: number | null = null;
    try {
      redisLatency = await state.health.ping();
    } catch {
      redisLatency = null;
    }
    let dbLatency: number | null = null;
    if (db) {
      try {
        dbLatency = await db.ping();
      } catch {
        dbLatency = null;
      }
    }
    const redisReady = state.health.ready && redisLatency !== null;
    const dbReady = db ? dbLatency !== null : true;
    const isReady = redisReady && dbReady;
    const body = {
      ...processHealth(startTime),
      redis: { state: state.health.state, ready: redisReady, latency: redisLatency },
      db: { ready: dbReady, latency: dbLatency },
      isReady,
      state: isReady ? 'green' : 'red',
    };
    return { status: isReady ? 200 : 503, raw: JSON.stringify(body), contentType: 'application/json' };
  });
  router.get('/health/live', () => ({ raw: '{"state":"alive"}', contentType: 'application/json' }));
  // Scraped by the athena chart's ServiceMonitor (monitoring.enabled) on the service port.
  router.get('/metrics', async () => ({ raw: await registry.metrics(), contentType: registry.contentType }));
  router.get('/health/ready', async () => {
    const ok = state.health.ready && (!db || db.ready);
    return { status: ok ? 200 : 503, raw: JSON.stringify({ isReady: ok }), contentType: 'application/json' };
  });

  const http = new HttpServer(router, {
    host: config.host,
    port: config.port,
    bodyLimit: 1_048_576,
    corsOrigins: '',
    log: log.child({ component: 'http' }),
    registry,
    metricPrefix: 'athena',
  });

  if (ownDb) lifecycle.add(ownDb);
  lifecycle.add({
    name: 'state',
    start: async () => {
      state = await createSharedState({
        nodes: config.redis.nodes,
        cluster: config.redis.cluster,
        tls: config.redis.tls,
        password: config.redis.password,
        tlsRejectUnauthorized: config.redis.tlsRejectUnauthorized,
        tlsCaFile: config.redis.tlsCaFile || undefined,
        keyPrefix: 'athena:',
        log: log.child({ component: 'redis' }),
        registry,
        metricPrefix: 'athena',
      });
      await state.start();
    },
    close: () => state?.close(),
  });
  lifecycle.add({ name: 'http', start: async () => void (await http.listen()), close: () => http.close() });

  return {
    get port() {
      return http.port;
    },
    get url() {
      return `http://127.0.0.1:${http.port}`;
    },
    start: () => lifecycle.start(),
    close: () => lifecycle.close(),
  };
}
