import type { Logger } from '../logger.js';
import type { Registry } from '../metrics.js';
import { createMemoryState } from './memory.js';
import type { SharedState } from './types.js';

export type { KeyValueStore, PubSub, RateLimiter, SharedState } from './types.js';

export interface StateOptions {
  /** Comma-separated redis:// or rediss:// URLs; empty selects the in-process driver. */
  nodes: string;
  cluster: boolean;
  tls: boolean;
  password: string;
  /** Verify the Redis server's certificate (default true); false accepts a self-signed one. */
  tlsRejectUnauthorized?: boolean;
  /** PEM file of a private CA that signed the Redis server's certificate. */
  tlsCaFile?: string;
  /** How long `start()` waits for Redis (default 10 s). */
  connectTimeoutMs?: number;
  /** A Redis command without a reply after this long fails as UNAVAILABLE (default 5 s). */
  commandTimeoutMs?: number;
  keyPrefix: string;
  log: Logger;
  registry?: Registry;
  /** Metric name prefix (`nexus`). */
  metricPrefix?: string;
}

/** The in-process driver when no Redis node is configured, the Redis driver otherwise. */
export async function createSharedState(opts: StateOptions): Promise<SharedState> {
  if (!opts.nodes.trim()) return createMemoryState();
  const { createRedisState } = await import('./redis.js');
  return createRedisState(opts);
}
