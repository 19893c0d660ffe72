/**
 * Where athena hears the gateway's `services:changed` notices (published by the gateway's service
 * store on its shared pub/sub whenever a service is created, replaced or deleted), so that an
 * edited `Bot-<name>` or AI connector target is read afresh on the next turn instead of when the
 * cached copy expires:
 *
 * - the all-in-one process: the gateway's own pub/sub (`in-process.ts`);
 * - athena on its own: the gateway's Redis, when `athena.redis.nodes` is that Redis. The gateway
 *   prefixes its channels with `nexus.redis.keyPrefix` (athena keeps its own keys under `athena:`),
 *   so athena subscribes with a second connection under the gateway's prefix.
 *
 * Pub/sub delivers at most once: a notice sent while athena is disconnected is lost, and the cached
 * entry then lives out its TTL.
 */
import { SERVICES_CHANGED } from '../gateway/services/types.js';
import type { Logger } from '../shared/logger.js';
import { createSharedState, type StateOptions } from '../shared/state/index.js';
import type { PubSub } from '../shared/state/types.js';

export interface ServiceChangeNotice {
  ccid: string;
  name: string;
}

/** Subscribes `listener` to change notices; resolves with the function that stops it. */
export type ServicesChanged = (
  listener: (change: ServiceChangeNotice) => void,
) => Promise<() => Promise<void>>;

/** A notice as the gateway publishes it (`{ ccid, name, op }`), or undefined. */
export function parseServiceChange(message: string): ServiceChangeNotice | undefined {
  try {
    const c = JSON.parse(message) as { ccid?: unknown; name?: unknown };
    if (typeof c?.ccid === 'string' && typeof c?.name === 'string') return { ccid: c.ccid, name: c.name };
  } catch {
    // not a notice
  }
  return undefined;
}

/** Notices on a pub/sub that already carries the gateway's prefix (the gateway's own state). */
export function servicesChangedOn(pubsub: PubSub): ServicesChanged {
  return (listener) =>
    pubsub.subscribe(SERVICES_CHANGED, (message) => {
      const change = parseServiceChange(message);
      if (change) listener(change);
    });
}

/**
 * Notices on the gateway's Redis under its key prefix, with connections of their own (opened on
 * subscribe, closed on stop). Undefined without Redis nodes: athena's in-process state is not the
 * gateway's, and nothing would ever arrive.
 */
export function servicesChangedOnRedis(
  opts: Omit<StateOptions, 'keyPrefix' | 'log'> & { gatewayKeyPrefix: string; log: Logger },
): ServicesChanged | undefined {
  if (!opts.nodes.trim()) return undefined;
  const { gatewayKeyPrefix, ...rest } = opts;
  return async (listener) => {
    const state = await createSharedState({ ...rest, keyPrefix: gatewayKeyPrefix });
    try {
      await state.start();
      const stop = await servicesChangedOn(state.pubsub)(listener);
      opts.log.info(
        { channel: `${gatewayKeyPrefix}${SERVICES_CHANGED}` },
        "listening to the gateway's service changes",
      );
      return async () => {
        await stop().catch(() => undefined);
        await state.close();
      };
    } catch (err) {
      await state.close().catch(() => undefined);
      throw err;
    }
  };
}
