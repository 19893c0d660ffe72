/**
 * `/health/detail` in the deployment guide's shape: `state` is green only when the database and the
 * cache are ready, red otherwise with the reasons. `/health/live` answers while the process runs;
 * `/health/ready` answers 200 only when the node should receive traffic.
 *
 * Readiness rides out a Redis blip: Redis is shared by every replica, so failing readiness at once
 * would take every pod out of its Service together, although each node keeps serving its own
 * sockets while Redis is away (only cross-node delivery waits). `/health/detail` goes red at once;
 * `/health/ready` goes 503 only once Redis has been unready for longer than `readinessGraceMs`.
 */
import type { Router } from '../../shared/http/router.js';
import { processHealth } from '../../shared/health.js';
import type { Database } from '../../shared/db/pool.js';
import { readyWithinGrace } from '../../shared/state/readiness.js';
import type { SharedState } from '../../shared/state/types.js';

export interface HealthDeps {
  db: Database;
  state: SharedState;
  startTime: Date;
  /** False while the node drains. */
  accepting: () => boolean;
  /** How long Redis may be unready before readiness fails (nexus.redis.readinessGraceMs). */
  readinessGraceMs: number;
}

const json = (status: number, body: unknown) => ({
  status,
  raw: JSON.stringify(body),
  contentType: 'application/json',
  headers: { 'cache-control': 'no-store' },
});

export async function healthDetail(deps: HealthDeps) {
  const reasons: string[] = [];
  let dbReady = deps.db.ready;
  try {
    await deps.db.ping();
    dbReady = true;
  } catch (err) {
    dbReady = false;
    reasons.push(`db: ${(err as Error).message}`);
  }
  const cacheReady = deps.state.health.ready;
  if (!cacheReady) reasons.push(`cache: ${deps.state.health.state}`);
  if (!deps.accepting()) reasons.push('node: draining');
  const green = dbReady && cacheReady && deps.accepting();
  return {
    ...processHealth(deps.startTime),
    cache: { ready: cacheReady, state: deps.state.health.state },
    db: { ready: dbReady },
    state: green ? 'green' : 'red',
    ...(green ? {} : { reasons }),
  };
}

export function healthRoutes(router: Router, deps: HealthDeps): void {
  router.get('/health/detail', async () => {
    const body = await healthDetail(deps);
    return json(body.state === 'green' ? 200 : 503, body);
  });
  router.get('/health/live', () => json(200, { state: 'alive' }));
  router.get('/health/ready', async () => {
    const body = await healthDetail(deps);
    const ready = body.state === 'green' || cacheBlipOnly(body, deps);
    return json(ready ? 200 : 503, {
      state: body.state,
      ready,
      ...(body.reasons ? { reasons: body.reasons } : {}),
    });
  });
}

/** Red only because Redis is unready, and not for longer than the grace. */
function cacheBlipOnly(body: Awaited<ReturnType<typeof healthDetail>>, deps: HealthDeps): boolean {
  if (!body.db.ready || !deps.accepting() || body.cache.ready) return false;
  return readyWithinGrace(deps.state.health, deps.readinessGraceMs);
}
