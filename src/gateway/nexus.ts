/**
 * The nexus service: composes the database, the shared state, the HTTP server with its route
 * modules, socket.io on the same uWS app, and the metrics server. Parts start in dependency order
 * and close in reverse.
 */
import { join, resolve } from 'node:path';
import { Server as SocketServer } from 'socket.io';
import type { NexusConfig } from '../shared/config.js';
import { generatedOnce, randomToken } from '../shared/data-dir.js';
import { migrate } from '../shared/db/migrate.js';
import { Database } from '../shared/db/pool.js';
import { Router } from '../shared/http/router.js';
import { HttpServer } from '../shared/http/server.js';
import { type Component, Lifecycle } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry, type Registry } from '../shared/metrics.js';
import { MetricsServer } from '../shared/metrics-server.js';
import { createSharedState } from '../shared/state/index.js';
import type { SharedState } from '../shared/state/types.js';
import { createAuth } from './auth/auth.js';
import { ChatService } from './chat/service.js';
import { bridgeChatToBus } from '../plugins/chat-bridge.js';
import { PluginRuntime } from '../plugins/runtime.js';
import { createServiceStore } from './services/store.js';
import type { GatewayDeps } from './deps.js';
import { healthRoutes } from './health/routes.js';
import { ROUTE_MODULES } from './modules.js';
import { SecretBox } from './secret-box.js';

export const SOCKET_PATH = '/chat/v3/socket.io';

export interface Nexus {
  readonly config: NexusConfig;
  readonly adminToken: string;
  readonly db: Database;
  readonly state: SharedState;
  readonly registry: Registry;
  readonly io: SocketServer;
  readonly chat: ChatService;
  readonly plugins: PluginRuntime;
  readonly router: Router;
  /** The HTTP port actually bound (differs from config when 0). */
  readonly port: number;
  readonly metricsPort: number;
  readonly url: string;
  start(): Promise<void>;
  /** Stops taking requests, closes every part in reverse order. Idempotent. */
  close(): Promise<void>;
}

export function createNexus(config: NexusConfig, log: Logger): Nexus {
  const dataDir = resolve(config.dataDir);
  const needsDataDir =
    !config.adminToken || !config.secretsKey || (!config.db.host && !config.db.embeddedInMemory);
  const adminToken =
    config.adminToken || (needsDataDir ? generatedOnce(dataDir, 'admin-token', () => randomToken(24)) : '');
  const secretsKey = config.secretsKey || generatedOnce(dataDir, 'secrets.key', SecretBox.generateKey);
  const registry = createRegistry('nexus');
  const lifecycle = new Lifecycle(log);
  const startTime = new Date();
  let accepting = true;

  const db = new Database({
    host: config.db.host,
    port: config.db.port,
    user: config.db.user,
    password: config.db.password,
    database: config.db.database,
    ssl: config.db.enableSSL,
    sslRejectUnauthorized: config.db.sslRejectUnauthorized,
    poolSize: config.db.poolSize,
    embeddedDir: config.db.embeddedInMemory ? undefined : join(dataDir, 'db'),
    log: log.child({ component: 'db' }),
    registry,
  });

  // The shared state is created at start (its driver is chosen by config); a holder lets the
  // modules receive it now and use it after start.
  let state!: SharedState;
  const stateProxy = new Proxy({} as SharedState, {
    get: (_t, p) => (state as any)[p],
  });

  const router = new Router();
  const http = new HttpServer(router, {
    host: config.host,
    port: config.port,
    bodyLimit: config.bodyLimit,
    corsOrigins: config.corsOrigins,
    log: log.child({ component: 'http' }),
    registry,
  });
  const io = new SocketServer({
    path: SOCKET_PATH,
    serveClient: false,
    // Oversized frames close the connection before they are parsed.
    maxHttpBufferSize: config.chat.maxFrameBytes,
    cors: { origin: config.corsOrigins === '*' ? true : config.corsOrigins.split(',').map((s) => s.trim()) },
  });
  io.attachApp(http.app);
  const chat = new ChatService({
    config,
    db,
    state: stateProxy,
    io,
    log: log.child({ component: 'chat' }),
    registry,
  });

  const secrets = new SecretBox(secretsKey);
  const auth = createAuth({
    db,
    state: stateProxy,
    adminToken,
    config,
    log: log.child({ component: 'auth' }),
    registry,
  });
  const services = createServiceStore({
    db,
    state: stateProxy,
    secrets,
    log: log.child({ component: 'services' }),
  });
  const plugins = new PluginRuntime({
    config,
    db,
    state: () => state,
    services,
    log: log.child({ component: 'plugins' }),
    registry,
    sealer: secrets,
  });
  bridgeChatToBus(chat, plugins.bus, db, log.child({ component: 'bus' }));
  const moduleParts: Component[] = [];
  const components = { add: (part: Component) => void moduleParts.push(part) };
  const deps: GatewayDeps = {
    config,
    log,
    db,
    state: stateProxy,
    registry,
    secrets,
    auth,
    adminToken,
    chat,
    components,
    services,
    plugins,
  };

  healthRoutes(router, {
    db,
    state: stateProxy,
    startTime,
    accepting: () => accepting,
    readinessGraceMs: config.redis.readinessGraceMs,
  });
  for (const mod of ROUTE_MODULES) mod(router, deps);

  const metrics = new MetricsServer(registry, config.host, config.metricsPort);

  lifecycle.add({
    name: 'db',
    start: async () => {
      await db.start();
      await migrate(db, log.child({ component: 'migrate' }));
    },
    close: () => db.close(),
  });
  lifecycle.add({
    name: 'state',
    start: async () => {
      state = await createSharedState({
        nodes: config.redis.enabled ? config.redis.nodes : '',
        cluster: config.redis.useCluster,
        tls: config.redis.enableTls,
        password: config.redis.password,
        tlsRejectUnauthorized: config.redis.tlsRejectUnauthorized,
        tlsCaFile: config.redis.tlsCaFile || undefined,
        keyPrefix: config.redis.keyPrefix,
        log: log.child({ component: 'redis' }),
        registry,
      });
      await state.start();
    },
    close: () => state?.close(),
  });
  // After the state (the socket.io adapter uses its Redis clients); closes (flushes) before it.
  lifecycle.add(chat);
  for (const part of moduleParts) lifecycle.add(part);
  // Modules register their outbox handlers and bus planners with plugins.onStart.
  lifecycle.add(plugins);
  lifecycle.add(metrics);
  lifecycle.add({
    name: 'http',
    start: async () => {
      await http.listen();
    },
    close: async () => {
      accepting = false;
      http.drain();
      // Tell socket clients to reconnect elsewhere; commit what is in flight while their sockets are
      // still here, so every message this node took is answered (later sends are refused with the
      // retryable SHUTTING_DOWN); then disconnect them and stop listening.
      chat.drain('shutting down');
      await chat.close();
      await new Promise<void>((r) => setImmediate(r));
      io.local.disconnectSockets(true);
      await new Promise<void>((r) => io.close(() => r()));
      http.close();
    },
  });

  return {
    config,
    adminToken,
    db,
    get state() {
      return state;
    },
    registry,
    io,
    chat,
    plugins,
    router,
    get port() {
      return http.port;
    },
    get metricsPort() {
      return metrics.port;
    },
    get url() {
      return `http://127.0.0.1:${http.port}`;
    },
    start: () => lifecycle.start(),
    close: () => lifecycle.close(),
  };
}
