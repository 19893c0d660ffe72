/**
 * athena on its own (`src/bin/athena.ts`), built from the whole configuration: the `athena:`
 * section, and the gateway's `nexus.redis.keyPrefix` (default `nexus:`, `NEXUS_REDIS_KEY_PREFIX`)
 * so that, with `athena.redis.nodes` on the gateway's Redis, athena hears the gateway's
 * `services:changed` notices there and an edited bot is used on its next turn.
 */
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { type Athena, type AthenaOptions, createAthena } from './athena.js';

export function createStandaloneAthena(
  config: Readonly<Config>,
  log: Logger,
  extra: Pick<AthenaOptions, 'http' | 'settingsTtlMs' | 'speech' | 'voice'> = {},
): Athena {
  return createAthena(config.athena, log, { gatewayKeyPrefix: config.nexus.redis.keyPrefix, ...extra });
}
