import type { StateHealth } from './types.js';

/**
 * Whether shared state that is not ready should still count as ready for a readiness probe: Redis
 * is shared by every replica, so failing readiness at once would take every pod out of its Service
 * together over a blip each of them rides out. True while ready, and while unready for no longer
 * than `graceMs` (0: never).
 */
export function readyWithinGrace(health: StateHealth, graceMs: number, now = Date.now()): boolean {
  if (health.ready) return true;
  const since = health.unreadySince;
  return since !== undefined && now - since <= graceMs;
}
