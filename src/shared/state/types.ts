import type { Cluster, Redis } from 'ioredis';

/**
 * Small interfaces for the realtime state that several nodes share. Each has an in-process driver
 * (the embedded default, one node only) and a Redis driver; one contract suite runs against both.
 */

export interface KeyValueStore {
  get(key: string): Promise<string | null>;
  /** Sets the value; with `ttlMs` it expires. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Sets only when absent; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  /** Adds `by` to an integer value (0 when absent) and returns the result; `ttlMs` applies when created. */
  increment(key: string, by?: number, ttlMs?: number): Promise<number>;
}

export interface RateDecision {
  allowed: boolean;
  /** Tokens left after this request. */
  remaining: number;
  limit: number;
  /** Milliseconds until a token is available again (0 when allowed). */
  retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
}

export interface RateLimiter {
  /** Token bucket: `capacity` tokens refilled evenly over `periodMs`; takes `cost` tokens. */
  consume(key: string, capacity: number, periodMs: number, cost?: number): Promise<RateDecision>;
}

export type Unsubscribe = () => Promise<void>;

export interface PubSub {
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe>;
}

export interface StateHealth {
  /** READY, CONNECTING, RECONNECTING, END (the ioredis states), or READY for in-process. */
  readonly state: string;
  readonly ready: boolean;
  /**
   * While not ready: when the store stopped being ready (ms since the epoch), so readiness can
   * tell a short blip from an outage. Undefined while ready.
   */
  readonly unreadySince?: number;
  /** Round trip of a PING, in ms. */
  ping(): Promise<number>;
}

/** The bundle a service receives; `kind` says which driver made it. */
export interface SharedState {
  readonly kind: 'memory' | 'redis';
  readonly kv: KeyValueStore;
  readonly rateLimiter: RateLimiter;
  readonly pubsub: PubSub;
  readonly health: StateHealth;
  /** The Redis driver's connections (commands, subscriptions), for the socket.io Redis adapter. */
  readonly redisClients?: { readonly pub: Redis | Cluster; readonly sub: Redis | Cluster };
  start(): Promise<void>;
  close(): Promise<void>;
}
