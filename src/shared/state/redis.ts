import type { StateOptions } from './index.js';
import type { SharedState } from './types.js';

// Placeholder replaced by the Redis driver in the next commit.
export function createRedisState(_opts: StateOptions): SharedState {
  throw new Error('the Redis driver is not in this build yet');
}
