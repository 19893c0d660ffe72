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
