/**
 * The Redis driver of the shared state: what several gateway nodes must agree on. Every key and
 * channel carries `keyPrefix`; every operation touches one key, so cluster hash slots never split
 * a command. Commands go on one connection, subscriptions on a second (a subscribed connection
 * accepts nothing else); both are exposed for the socket.io Redis adapter.
 */
import { Cluster, type Redis, ReplyError } from 'ioredis';
import { AppError } from '../errors.js';
import type { StateOptions } from './index.js';
import { checkBucket, checkIncrement, checkTtl } from './memory.js';
import {
  closeClient,
  createClient,
  describeNodes,
  instrument,
  parseNodes,
  type RedisClient,
  redisMetrics,
  waitUntilReady,
  watchShardedSubscribers,
} from './redis-connection.js';
import type {
  KeyValueStore,
  PubSub,
  RateDecision,
  RateLimiter,
  SharedState,
  StateHealth,
  Unsubscribe,
} from './types.js';

/**
 * The token bucket of `takeTokens` (memory.ts), step for step, on the Redis server's clock so that
 * nodes with skewed clocks share one bucket correctly. The bucket expires once it would be full
 * again: a full bucket and no bucket mean the same.
 */
const TAKE_TOKENS = `
local capacity = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = capacity / period
local tokens = capacity
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if b[1] and b[2] then
  tokens = math.min(capacity, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) * rate)
end
local allowed = 0
if tokens >= cost then
  allowed = 1
  tokens = tokens - cost
end
local retry = 0
if allowed == 0 then retry = math.ceil((cost - tokens) / rate) end
local reset = math.ceil((capacity - tokens) / rate)
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], reset + 1000)
return { allowed, math.floor(tokens), retry, reset }
`;

/** INCRBY, and the TTL only when this call created the key (as the in-process driver does). */
const INCREMENT = `
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if existed == 0 and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return v
`;

/**
 * PUBLISH routed by a key: a cluster sends a keyless PUBLISH to any node, so two messages of one
 * channel could take different routes and overtake each other. Naming the channel as the key pins
 * every message of a channel to one node, whose bus link to the others keeps the order.
 */
const PUBLISH = `return redis.call('PUBLISH', KEYS[1], ARGV[1])`;

interface ScriptedClient {
  nexusTakeTokens(key: string, capacity: number, periodMs: number, cost: number): Promise<number[]>;
  nexusIncrement(key: string, by: number, ttlMs: number): Promise<number>;
  nexusPublish(channel: string, message: string): Promise<number>;
}

function defineScripts(client: RedisClient): RedisClient & ScriptedClient {
  // defineCommand sends EVALSHA and falls back to EVAL after a NOSCRIPT (a restarted server).
  client.defineCommand('nexusTakeTokens', { numberOfKeys: 1, lua: TAKE_TOKENS });
  client.defineCommand('nexusIncrement', { numberOfKeys: 1, lua: INCREMENT });
  client.defineCommand('nexusPublish', { numberOfKeys: 1, lua: PUBLISH });
  return client as RedisClient & ScriptedClient;
}

/**
 * Connection failures and timeouts are the store being unavailable (503, retryable). A reply error
 * (a wrong type, a script error) or a programming error is a bug and stays what it is.
 */
async function guarded<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof ReplyError || err instanceof TypeError || err instanceof ReferenceError) throw err;
    if (err instanceof RangeError || err instanceof SyntaxError) throw err;
    throw new AppError('UNAVAILABLE', undefined, undefined, { cause: err });
  }
}

/** 0 means no expiry, as in the in-process driver; PX takes whole milliseconds. */
function ttlArg(ttlMs: number | undefined): number {
  checkTtl(ttlMs);
  return ttlMs ? Math.max(1, Math.ceil(ttlMs)) : 0;
}

class RedisKeyValueStore implements KeyValueStore {
  constructor(
    private readonly client: RedisClient & ScriptedClient,
    private readonly prefix: string,
  ) {}

  get(key: string): Promise<string | null> {
    return guarded(() => this.client.get(this.prefix + key));
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    const ttl = ttlArg(ttlMs);
    await guarded(() =>
      ttl ? this.client.set(this.prefix + key, value, 'PX', ttl) : this.client.set(this.prefix + key, value),
    );
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const ttl = ttlArg(ttlMs);
    const reply = await guarded(() =>
      ttl
        ? this.client.set(this.prefix + key, value, 'PX', ttl, 'NX')
        : this.client.set(this.prefix + key, value, 'NX'),
    );
    return reply === 'OK';
  }

  async delete(key: string): Promise<boolean> {
    return (await guarded(() => this.client.del(this.prefix + key))) > 0;
  }

  async increment(key: string, by = 1, ttlMs?: number): Promise<number> {
    checkIncrement(by);
    const ttl = ttlArg(ttlMs);
    return Number(await guarded(() => this.client.nexusIncrement(this.prefix + key, by, ttl)));
  }
}

class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly client: RedisClient & ScriptedClient,
    private readonly prefix: string,
  ) {}

  async consume(key: string, capacity: number, periodMs: number, cost = 1): Promise<RateDecision> {
    checkBucket(capacity, periodMs, cost);
    const [allowed, remaining, retryAfterMs, resetMs] = await guarded(() =>
      this.client.nexusTakeTokens(`${this.prefix}rl:${key}`, capacity, periodMs, cost),
    );
    return { allowed: allowed === 1, remaining, limit: capacity, retryAfterMs, resetMs };
  }
}

/** One SUBSCRIBE per channel however many local handlers listen; ioredis re-subscribes after a reconnect. */
class RedisPubSub implements PubSub {
  private readonly handlers = new Map<string, Set<(m: string) => void>>();
  // The SUBSCRIBE or UNSUBSCRIBE last sent for a channel, so that a later call waits for it.
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly pub: RedisClient & ScriptedClient,
    private readonly sub: RedisClient,
    private readonly prefix: string,
  ) {
    sub.on('message', (channel: string, message: string) => {
      if (!channel.startsWith(prefix)) return;
      for (const fn of this.handlers.get(channel.slice(prefix.length)) ?? []) {
        try {
          fn(message);
        } catch {
          // A subscriber's failure is its own.
        }
      }
    });
  }

  async publish(channel: string, message: string): Promise<void> {
    const name = this.prefix + channel;
    await guarded(() =>
      this.pub instanceof Cluster ? this.pub.nexusPublish(name, message) : this.pub.publish(name, message),
    );
  }

  private after(channel: string, op: () => Promise<unknown>): Promise<unknown> {
    const next = (this.pending.get(channel) ?? Promise.resolve()).catch(() => {}).then(op);
    this.pending.set(channel, next);
    void next
      .catch(() => {})
      .finally(() => {
        if (this.pending.get(channel) === next) this.pending.delete(channel);
      });
    return next;
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe> {
    const fn = (m: string) => onMessage(m);
    const existing = this.handlers.get(channel);
    const first = !existing;
    const set = existing ?? new Set<(m: string) => void>();
    if (first) this.handlers.set(channel, set);
    set.add(fn);
    try {
      await this.after(channel, () =>
        first ? guarded(() => this.sub.subscribe(this.prefix + channel)) : Promise.resolve(),
      );
    } catch (err) {
      set.delete(fn);
      if (set.size === 0 && this.handlers.get(channel) === set) this.handlers.delete(channel);
      throw err;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      set.delete(fn);
      if (set.size > 0 || this.handlers.get(channel) !== set) return;
      this.handlers.delete(channel);
      await this.after(channel, () =>
        // Someone subscribed again meanwhile: the channel stays.
        this.handlers.has(channel)
          ? Promise.resolve()
          : guarded(() => this.sub.unsubscribe(this.prefix + channel)),
      );
    };
  }

  clear(): void {
    this.handlers.clear();
  }
}

export interface RedisSharedState extends SharedState {
  readonly redisClients: { pub: Redis | Cluster; sub: Redis | Cluster };
}

export function createRedisState(opts: StateOptions): RedisSharedState {
  const nodes = parseNodes(opts.nodes);
  const conn = {
    nodes: opts.nodes,
    cluster: opts.cluster,
    tls: opts.tls,
    password: opts.password,
    tlsRejectUnauthorized: opts.tlsRejectUnauthorized,
    tlsCaFile: opts.tlsCaFile,
    commandTimeoutMs: opts.commandTimeoutMs,
  };
  const log = opts.log.child({ redis: describeNodes(nodes), cluster: opts.cluster });
  const metrics = opts.registry ? redisMetrics(opts.registry, opts.metricPrefix ?? 'nexus') : undefined;
  const pub = defineScripts(createClient(conn, `${opts.metricPrefix ?? 'nexus'}-commands`));
  const sub = createClient(conn, `${opts.metricPrefix ?? 'nexus'}-subscriber`);
  const untrack = [
    instrument(pub, 'command', log, metrics),
    instrument(sub, 'subscriber', log, metrics),
    watchShardedSubscribers(sub, log),
  ];
  const pubsub = new RedisPubSub(pub, sub, opts.keyPrefix);
  const status = (c: RedisClient) => c.status.toUpperCase();

  let closed = false;
  // When either connection left the ready state (or was created): cleared once both are ready.
  let unreadySince: number | undefined = Date.now();
  const onDown = () => {
    unreadySince ??= Date.now();
  };
  const onUp = () => {
    if (pub.status === 'ready' && sub.status === 'ready') unreadySince = undefined;
  };
  for (const c of [pub, sub]) {
    c.on('close', onDown);
    c.on('reconnecting', onDown);
    c.on('ready', onUp);
  }
  const health: StateHealth = {
    get state() {
      if (closed) return 'END';
      // The command connection speaks for the store; a lagging subscriber shows through.
      return pub.status !== 'ready' ? status(pub) : status(sub);
    },
    get ready() {
      return !closed && pub.status === 'ready' && sub.status === 'ready';
    },
    get unreadySince() {
      if (this.ready) return undefined;
      // A status change without an event seen here still counts from now on.
      unreadySince ??= Date.now();
      return unreadySince;
    },
    async ping() {
      // A queued PING would wait for the reconnect: answer at once when not connected.
      if (pub.status !== 'ready') throw new AppError('UNAVAILABLE', `Redis is ${status(pub)}.`);
      const t = performance.now();
      await guarded(() => pub.ping());
      return Math.round((performance.now() - t) * 100) / 100;
    },
  };

  let closing: Promise<void> | undefined;
  const state: RedisSharedState = {
    kind: 'redis',
    kv: new RedisKeyValueStore(pub, opts.keyPrefix),
    rateLimiter: new RedisRateLimiter(pub, opts.keyPrefix),
    pubsub,
    health,
    redisClients: { pub, sub },
    async start() {
      const timeout = opts.connectTimeoutMs ?? 10_000;
      try {
        await Promise.all([
          waitUntilReady(pub, opts.nodes, timeout),
          waitUntilReady(sub, opts.nodes, timeout),
        ]);
      } catch (err) {
        // Nothing keeps retrying behind a failed start.
        await state.close();
        throw err;
      }
      log.info('redis ready');
    },
    close() {
      closing ??= (async () => {
        closed = true;
        pubsub.clear();
        await Promise.all([closeClient(sub), closeClient(pub)]);
        for (const u of untrack) u();
      })();
      return closing;
    },
  };
  return state;
}
