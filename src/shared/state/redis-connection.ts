/**
 * Redis connections with ioredis: node URLs, standalone or cluster, TLS, password, start-up with a
 * deadline, and the guide's connection metrics. The state driver (`redis.ts`) builds on this; the
 * socket.io Redis adapter can be given the same clients.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';
import { counter, gauge, histogram, type Registry } from '../metrics.js';

export type RedisClient = Redis | Cluster;

export interface RedisNode {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  db?: number;
}

export interface RedisConnectionOptions {
  /** Comma-separated redis:// or rediss:// URLs. */
  nodes: string;
  cluster: boolean;
  tls: boolean;
  /** Wins over a password in the URLs. */
  password: string;
  /** Verify the server certificate (default true). False accepts self-signed certificates. */
  tlsRejectUnauthorized?: boolean;
  /** PEM file of the CA that signed the server certificate, for private CAs. */
  tlsCaFile?: string;
  /** A command without a reply after this long fails (default 5000 ms). */
  commandTimeoutMs?: number;
}

/** Parses `redis://[user:pass@]host[:port][/db]` entries; a bad entry throws naming it (without credentials). */
export function parseNodes(nodes: string): RedisNode[] {
  const out: RedisNode[] = [];
  for (const entry of nodes.split(',')) {
    const text = entry.trim();
    if (!text) continue;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`redis nodes: "${redactUrl(text)}" is not a redis:// or rediss:// URL`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new Error(`redis nodes: "${redactUrl(text)}" is not a redis:// or rediss:// URL`);
    }
    if (!url.hostname) throw new Error(`redis nodes: "${redactUrl(text)}" has no host`);
    const port = url.port ? Number(url.port) : 6379;
    const dbText = url.pathname.replace(/^\//, '');
    if (dbText && !/^\d+$/.test(dbText)) {
      throw new Error(`redis nodes: "${redactUrl(text)}" names database "${dbText}", expected a number`);
    }
    out.push({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port,
      tls: url.protocol === 'rediss:',
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: dbText ? Number(dbText) : undefined,
    });
  }
  if (out.length === 0) throw new Error('redis nodes: no node is configured');
  return out;
}

/** The URL without its user and password, for messages and logs. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/[^@/]*@/, '//');
}

export function describeNodes(nodes: RedisNode[]): string {
  return nodes
    .map((n) => `${n.tls ? 'rediss' : 'redis'}://${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`)
    .join(', ');
}

function tlsOptions(opts: RedisConnectionOptions): TlsOptions {
  const tls: TlsOptions = { rejectUnauthorized: opts.tlsRejectUnauthorized ?? true };
  if (opts.tlsCaFile) {
    try {
      tls.ca = readFileSync(opts.tlsCaFile);
    } catch (err) {
      throw new Error(`redis TLS CA file ${opts.tlsCaFile} cannot be read: ${(err as Error).message}`);
    }
  }
  return tls;
}

/**
 * A client that has not connected yet (`lazyConnect`): `waitUntilReady` connects it. Several nodes
 * without cluster mode is refused, because a standalone client would silently use only one.
 */
export function createClient(opts: RedisConnectionOptions, name: string): RedisClient {
  const nodes = parseNodes(opts.nodes);
  const useTls = opts.tls || nodes.some((n) => n.tls);
  const first = nodes[0];
  const common: RedisOptions = {
    connectionName: name,
    username: first.username,
    password: opts.password || first.password || undefined,
    tls: useTls ? tlsOptions(opts) : undefined,
    commandTimeout: opts.commandTimeoutMs ?? 5000,
    connectTimeout: 5000,
    // Pending commands fail after a few reconnect attempts rather than waiting for a long outage.
    maxRetriesPerRequest: 3,
    lazyConnect: true,
  };
  if (opts.cluster) {
    return new Cluster(
      nodes.map((n) => ({ host: n.host, port: n.port })),
      {
        redisOptions: common,
        lazyConnect: true,
        // TLS certificates of managed clusters name the configured host, not the address a
        // lookup returns: connect to the names as they are.
        dnsLookup: (address, callback) => callback(null, address),
        slotsRefreshTimeout: 5000,
        // SSUBSCRIBE must reach the master that owns the channel's slot (the sharded socket.io
        // adapter); without this ioredis sends it to one random node, which answers MOVED.
        shardedSubscribers: true,
      },
    );
  }
  if (nodes.length > 1) {
    throw new Error(
      `redis nodes: ${nodes.length} nodes are listed (${describeNodes(nodes)}) but cluster mode is off: list one node or turn cluster mode on`,
    );
  }
  return new Redis({ ...common, host: first.host, port: first.port, db: first.db ?? 0 });
}

/**
 * Connects and resolves once the client is ready; rejects after `timeoutMs` with a message that
 * names the nodes and the last connection error, leaving the client disconnected.
 */
export function waitUntilReady(client: RedisClient, nodes: string, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (err: Error) => {
      lastError = err;
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      client.disconnect();
      const where = safeDescribe(nodes);
      const why = lastError ? `: ${lastError.message}` : '';
      reject(
        new Error(`cannot connect to Redis at ${where} within ${Math.round(timeoutMs / 100) / 10} s${why}`),
      );
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off('error', onError);
      client.off('ready', onReady);
    };
    client.on('error', onError);
    client.once('ready', onReady);
    if (client.status === 'wait') {
      // The outcome is observed through the events; the promise's own rejection says no more.
      client.connect().catch(() => {});
    }
  });
}

function safeDescribe(nodes: string): string {
  try {
    return describeNodes(parseNodes(nodes));
  } catch {
    return redactUrl(nodes);
  }
}

/**
 * Ends a client: QUIT when ready (pending replies arrive first), a plain disconnect otherwise, then
 * waits (bounded) for the socket to close. Between reconnect attempts there is no socket, and
 * ioredis only cancels the next attempt.
 */
export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  const hasSocket = ['connecting', 'connect', 'ready'].includes(client.status);
  let timer: NodeJS.Timeout | undefined;
  const ended = hasSocket
    ? Promise.race([
        once(client, 'end'),
        new Promise((r) => {
          timer = setTimeout(r, 2000);
        }),
      ])
    : Promise.resolve();
  if (client.status === 'ready') {
    try {
      await Promise.race([client.quit(), ended]);
    } catch {
      // Closing anyway.
    }
  }
  client.disconnect();
  await ended.catch(() => {});
  clearTimeout(timer);
}

export interface RedisMetrics {
  established: ReturnType<typeof gauge>;
  reconnecting: ReturnType<typeof gauge>;
  ready: ReturnType<typeof gauge>;
  untilReady: ReturnType<typeof histogram>;
  errors: ReturnType<typeof counter>;
}

/** The deployment guide's Redis metrics, shared by every connection recorded on the registry. */
export function redisMetrics(registry: Registry, prefix = 'nexus'): RedisMetrics {
  return {
    established: gauge(
      registry,
      `${prefix}_redis_connections_established`,
      'The current number of established Redis connections.',
    ),
    reconnecting: gauge(
      registry,
      `${prefix}_redis_connections_reconnecting`,
      'The current number of reconnecting Redis connections.',
    ),
    ready: gauge(
      registry,
      `${prefix}_redis_connections_ready`,
      'The current number of ready Redis connections.',
    ),
    untilReady: histogram(
      registry,
      `${prefix}_redis_duration_until_ready`,
      'The duration until Redis reaches the ready state, in seconds.',
      [],
      [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    ),
    errors: counter(registry, `${prefix}_redis_errors_total`, 'The total number of Redis connection errors.'),
  };
}

/**
 * Follows one client's connection events into the metrics and the log. Each gauge moves once per
 * change of this connection's state, so several connections add up. Returns a function that
 * takes this connection's contribution back out (after close).
 */
export function instrument(
  client: RedisClient,
  name: string,
  log: Logger,
  metrics?: RedisMetrics,
): () => void {
  let established = false;
  let ready = false;
  let reconnecting = false;
  // Counted from the connect call or from the loss of a ready connection.
  let since = performance.now();
  let reportedError = false;
  const flag = (g: RedisMetrics['ready'] | undefined, was: boolean, now: boolean) => {
    if (was !== now) g?.inc(now ? 1 : -1);
    return now;
  };
  const onConnect = () => {
    established = flag(metrics?.established, established, true);
    reconnecting = flag(metrics?.reconnecting, reconnecting, false);
  };
  const onReady = () => {
    established = flag(metrics?.established, established, true);
    reconnecting = flag(metrics?.reconnecting, reconnecting, false);
    ready = flag(metrics?.ready, ready, true);
    metrics?.untilReady.observe((performance.now() - since) / 1000);
    if (reportedError) log.info({ connection: name }, 'redis connection ready again');
    reportedError = false;
  };
  const onClose = () => {
    if (ready) since = performance.now();
    established = flag(metrics?.established, established, false);
    ready = flag(metrics?.ready, ready, false);
  };
  const onReconnecting = () => {
    reconnecting = flag(metrics?.reconnecting, reconnecting, true);
  };
  const onEnd = () => {
    established = flag(metrics?.established, established, false);
    ready = flag(metrics?.ready, ready, false);
    reconnecting = flag(metrics?.reconnecting, reconnecting, false);
  };
  const onError = (err: Error) => {
    metrics?.errors.inc();
    // An outage repeats the same error on every attempt: warn once, then keep it at debug.
    if (reportedError) log.debug({ connection: name, err: err.message }, 'redis connection error');
    else log.warn({ connection: name, err: err.message }, 'redis connection error');
    reportedError = true;
  };
  client.on('connect', onConnect);
  client.on('ready', onReady);
  client.on('close', onClose);
  client.on('reconnecting', onReconnecting);
  client.on('end', onEnd);
  client.on('error', onError);
  if (client instanceof Cluster) client.on('node error', onError);
  return () => {
    onEnd();
    client.off('connect', onConnect);
    client.off('ready', onReady);
    client.off('close', onClose);
    client.off('reconnecting', onReconnecting);
    client.off('end', onEnd);
    client.off('error', onError);
    client.off('node error', onError);
    // ioredis prints unhandled error events; a closed connection has nothing left to say.
    client.on('error', () => {});
  };
}

/**
 * Works around an ioredis (5.11) defect: a cluster client's sharded subscriber group starts its
 * per-master subscribers inside a reset; when the client reconnects meanwhile (a restarted
 * cluster still failing its ready check), the subscriber it stops has its listeners removed and
 * its connect never settles, so the reset never ends, every later reset only queues, and the
 * client never subscribes again: this node would receive nothing from the others. A reset still
 * running on four checks `everyMs` apart while the client is ready (a real one ends within the
 * 5 s connect timeout) is released, and the slots refreshed, which builds the subscribers and
 * resubscribes every channel. Returns a stop.
 *
 * ioredis has no public way to do this (its group's `isResetting` and `pendingReset` are private,
 * and neither `disconnect` nor `refreshSlotsCache` clears a stuck reset), so this reaches into
 * those fields. Should a later ioredis rename them, the watch is off and says so at error level
 * when the client is made, instead of silently doing nothing (redis-connection.test.ts fails too).
 */
export function watchShardedSubscribers(client: RedisClient, log: Logger, everyMs = 3000): () => void {
  if (!(client instanceof Cluster) || !client.options.shardedSubscribers) return () => {};
  const group = shardedSubscriberGroup(client);
  if (typeof group === 'string') {
    log.error(
      { ioredis: IOREDIS_VERSION, missing: group },
      'ioredis internals changed: the watch for stuck Redis Cluster sharded subscribers is off (after a whole-cluster restart a node may stay deaf to the others until restarted)',
    );
    return () => {};
  }
  let seen = 0;
  const timer = setInterval(() => {
    if (client.status !== 'ready' || !group.isResetting) {
      seen = 0;
      return;
    }
    if (++seen < 4) return;
    seen = 0;
    log.warn('redis sharded subscribers stuck after a reconnect: rebuilding them');
    group.isResetting = false;
    group.pendingReset = null;
    client.refreshSlotsCache();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

interface StuckableGroup {
  isResetting: boolean;
  pendingReset: unknown;
}

const IOREDIS_VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('ioredis/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/**
 * The private sharded subscriber group of a cluster client made with `shardedSubscribers`, or the
 * name of what the watch needs and this ioredis does not have.
 */
export function shardedSubscriberGroup(client: Cluster): StuckableGroup | string {
  const group = (client as unknown as { shardedSubscribers?: Partial<StuckableGroup> }).shardedSubscribers;
  if (!group || typeof group !== 'object') return 'Cluster#shardedSubscribers';
  if (typeof group.isResetting !== 'boolean') return 'ClusterSubscriberGroup#isResetting';
  if (!('pendingReset' in group)) return 'ClusterSubscriberGroup#pendingReset';
  return group as StuckableGroup;
}
