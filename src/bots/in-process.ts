/**
 * athena inside the all-in-one process: it talks to the gateway of the same process over HTTP like
 * a separate athena would, with a cluster API key minted for it at start (unless
 * `athena.nexus.apiKey` is set), hears the gateway's `services:changed` notices, and becomes the
 * gateway's default AI connector target with a signing key generated for this run. A tenant's own
 * `WebhookTransportTarget-ai-connector` service overrides that default.
 */
import { randomBytes } from 'node:crypto';
import { ApiKeyStore } from '../gateway/auth/api-keys.js';
import type { Nexus } from '../gateway/nexus.js';
import { setDefaultAiConnector } from '../plugins/webhooks/transport-target.js';
import type { AthenaConfig } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { type Athena, type AthenaOptions, createAthena } from './athena.js';
import { servicesChangedOn } from './services-watch.js';

const KEY_NAME = 'athena (all-in-one)';

/** Starts athena next to a started gateway and wires the two together. */
export async function startAthenaWithNexus(
  nexus: Nexus,
  config: AthenaConfig,
  log: Logger,
  extra: Pick<AthenaOptions, 'http' | 'settingsTtlMs' | 'speech' | 'voice'> = {},
): Promise<Athena> {
  let apiKey = config.nexus.apiKey;
  if (!apiKey) {
    const keys = new ApiKeyStore(nexus.db);
    // One live key per process: the previous run's is revoked rather than left behind.
    for (const k of await keys.list('*')) if (k.name === KEY_NAME && !k.revoked) await keys.revoke(k.keyId);
    const created = await keys.create({
      tenant: '*',
      name: KEY_NAME,
      permissions: ['nexus:cluster:*'],
      enabled: true,
      expires: null,
      // Every tenant's bot traffic goes through this one key.
      capacity: 100_000,
      frequency: 60,
      createdby: 'all-in-one',
    });
    apiKey = created.value;
  }
  const athena = createAthena(config, log, {
    db: nexus.db,
    nexus: { url: config.nexus.url || nexus.url, apiKey },
    servicesChanged: servicesChangedOn(nexus.state.pubsub),
    ...extra,
  });
  await athena.start();
  setDefaultAiConnector(nexus.plugins, {
    url: `${athena.url}${athena.prefixes[0] ?? ''}/agent-assist-chat/messages`,
    signingKey: randomBytes(32).toString('base64url'),
  });
  return athena;
}
