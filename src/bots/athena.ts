/**
 * The athena service (AI connector): the agent-assist webhook the gateway delivers conversation
 * messages to (`{prefix}/agent-assist-chat/messages` for every prefix of `athena.server.apiPrefix`),
 * the bot connectors that answer them, and the guide's health shape.
 *
 * The webhook: verify → parse → dispatch. A request whose `X-Hub-Signature` does not verify with
 * the tenant's key (read from the gateway, cached) is answered 200 with status
 * `PAYLOAD_SIGNATURE_CHECK_FAILED`, as the deployment guide describes, and nothing else happens.
 * A verified message is handled before the answer, so the gateway's outbox retries what athena
 * could not finish (503) and delivers the next message of the conversation only after it.
 *
 * Voice messages: athena fetches them (`voice.ts`) and, with `athena.google.speechApiKey` set,
 * transcribes them for bots without voice input (one Speech client for the process).
 */
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { createHttpClient } from '../plugins/http-client.js';
import type { HttpClient } from '../plugins/types.js';
import { hubSignature } from '../plugins/webhooks/transport-target.js';
import type { AthenaConfig } from '../shared/config.js';
import { ERRORS } from '../shared/errors.js';
import { Router } from '../shared/http/router.js';
import { HttpServer } from '../shared/http/server.js';
import type { HttpContext, RawReply } from '../shared/http/types.js';
import { processHealth } from '../shared/health.js';
import { readyWithinGrace } from '../shared/state/readiness.js';
import { Lifecycle } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { counter, createRegistry } from '../shared/metrics.js';
import { createSharedState } from '../shared/state/index.js';
import type { SharedState } from '../shared/state/types.js';
import { Database } from '../shared/db/pool.js';
import { NexusClient, NexusError } from './nexus-client.js';
import { TenantSettings } from './settings.js';
import { createGoogleSpeech, type GoogleSpeechOptions, type SpeechToText } from './speech/index.js';
import { type ServicesChanged, servicesChangedOnRedis } from './services-watch.js';
import { type AssistEvent, ConversationTurns } from './turns.js';
import { VoiceFetcher, type VoiceFetcherOptions } from './voice.js';

export interface Athena {
  readonly port: number;
  readonly url: string;
  /** The webhook's prefixes (`athena.server.apiPrefix`). */
  readonly prefixes: string[];
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface AthenaOptions {
  /** A database to share (the all-in-one process passes the gateway's); otherwise athena.db.* is used when a host is set. */
  db?: Database;
  /** Overrides of `athena.nexus.url` / `apiKey` (the all-in-one process mints its own cluster key). */
  nexus?: { url?: string; apiKey?: string };
  /** Where athena can hear the gateway's `services:changed` notices (the all-in-one process). */
  servicesChanged?: ServicesChanged;
  /**
   * The gateway's `nexus.redis.keyPrefix` (athena on its own, `src/bin/athena.ts`): with
   * `athena.redis.nodes` set, athena hears the gateway's `services:changed` notices on that Redis
   * under this prefix, so it must be the gateway's Redis. Ignored when `servicesChanged` is given.
   */
  gatewayKeyPrefix?: string;
  /** The HTTP client of the bot connectors and of the gateway client (tests). */
  http?: HttpClient;
  /** How long cached tenant settings live (default 60 s). */
  settingsTtlMs?: number;
  /** Where speech-to-text is (an emulator, a test fake); the key is `athena.google.speechApiKey`. */
  speech?: Pick<GoogleSpeechOptions, 'apiEndpoint' | 'port' | 'plaintext' | 'languageCode'>;
  /** Voice message fetching: the size limit, and provider URLs on private addresses (tests). */
  voice?: Pick<VoiceFetcherOptions, 'maxBytes' | 'allowPrivateAddresses'>;
}

/** The prefixes of `athena.server.apiPrefix`, each with one leading slash and none trailing. */
export function apiPrefixes(apiPrefix: string): string[] {
  const out = apiPrefix
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    // `/` is the root: the webhook is then `/agent-assist-chat/messages`.
    .map((p) => `/${p.replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, ''));
  return [...new Set(out)];
}

const eventSchema = z
  .object({
    id: z.string(),
    type: z.literal('message.created'),
    ccid: z.string().min(1),
    conversationId: z.string().uuid(),
    data: z
      .object({
        mode: z.enum(['bot', 'assist']),
        bot: z.string().nullable(),
        conversation: z
          .object({
            id: z.string(),
            state: z.string(),
            endpoint: z.string(),
            queue: z.string().nullable(),
            agentId: z.string().nullable(),
            channel: z.string(),
          })
          .passthrough(),
        message: z.object({ id: z.string(), text: z.string().optional() }).passthrough(),
      })
      .passthrough(),
  })
  .passthrough();

const SIGNATURE_RE = /^sha1=[0-9a-f]{40}$/i;

function json(status: number, body: unknown): RawReply {
  return { status, raw: JSON.stringify(body), contentType: 'application/json' };
}

export function createAthena(config: AthenaConfig, log: Logger, opts: AthenaOptions = {}): Athena {
  const registry = createRegistry('athena');
  const lifecycle = new Lifecycle(log);
  const startTime = new Date();
  const router = new Router();
  let state!: SharedState;
  const ownDb =
    !opts.db && config.db.host
      ? new Database({
          host: config.db.host,
          port: config.db.port,
          user: config.db.user,
          password: config.db.password,
          database: config.db.database,
          ssl: config.db.ssl,
          poolSize: 5,
          log: log.child({ component: 'db' }),
          registry,
          metricPrefix: 'athena',
        })
      : undefined;
  const db = opts.db ?? ownDb;

  const http = opts.http ?? createHttpClient(config.nexus.timeout);
  const nexusClient = new NexusClient({
    url: opts.nexus?.url ?? config.nexus.url,
    apiPrefix: config.nexus.apiPrefix,
    apiKey: opts.nexus?.apiKey ?? config.nexus.apiKey,
    timeoutMs: config.nexus.timeout,
    http,
  });
  let settings!: TenantSettings;
  let turns!: ConversationTurns;
  let speech: SpeechToText | undefined;
  const voice = new VoiceFetcher({
    nexusUrl: opts.nexus?.url ?? config.nexus.url,
    apiKey: opts.nexus?.apiKey ?? config.nexus.apiKey,
    timeoutMs: config.nexus.timeout,
    ...opts.voice,
  });
  const handled = counter(
    registry,
    'athena_messages_total',
    'Messages the agent-assist webhook received, by outcome.',
    ['outcome'],
  );

  const signatureFailed = () => {
    handled.inc({ outcome: 'signature_failed' });
    return json(200, {
      status: {
        code: 'PAYLOAD_SIGNATURE_CHECK_FAILED',
        errorCode: ERRORS.PAYLOAD_SIGNATURE_CHECK_FAILED.code,
        message: ERRORS.PAYLOAD_SIGNATURE_CHECK_FAILED.message,
      },
    });
  };

  /** Timing-safe; a stale cached key gets one fresh look (a rotated key works at once). */
  const verified = async (ccid: string, raw: Buffer, signature: string): Promise<boolean> => {
    const check = (key: string | undefined) =>
      !!key &&
      timingSafeEqual(
        Buffer.from(hubSignature(raw, key).toLowerCase()),
        Buffer.from(signature.toLowerCase()),
      );
    if (check(await settings.signingKey(ccid))) return true;
    if (!settings.mayRefresh(ccid)) return false;
    return check(await settings.signingKey(ccid, { fresh: true }));
  };

  const webhook = async (ctx: HttpContext): Promise<RawReply> => {
    const ccid = ctx.headers['x-ccid']?.trim() ?? '';
    const signature = ctx.headers['x-hub-signature']?.trim() ?? '';
    if (!ccid || ccid.length > 128 || !SIGNATURE_RE.test(signature)) return signatureFailed();
    let ok: boolean;
    try {
      ok = await verified(ccid, ctx.rawBody, signature);
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message, ccid }, 'cannot read the signing key from the gateway');
      return json(503, { status: { code: 'UNAVAILABLE', message: 'The gateway cannot be reached; retry.' } });
    }
    if (!ok) return signatureFailed();
    let event: AssistEvent;
    try {
      const parsed = eventSchema.safeParse(JSON.parse(ctx.rawBody.toString('utf8')));
      if (!parsed.success || parsed.data.ccid !== ccid) throw new Error('not an AI connector event');
      event = parsed.data as unknown as AssistEvent;
    } catch {
      handled.inc({ outcome: 'bad_request' });
      return json(400, {
        status: { code: 'BAD_REQUEST', message: 'The body is not an AI connector event.' },
      });
    }
    try {
      const outcome = await turns.handle(event);
      handled.inc({ outcome });
      return json(200, { status: { code: 0 }, data: { outcome } });
    } catch (err) {
      const transient = !(err instanceof NexusError) || err.transient;
      handled.inc({ outcome: transient ? 'retry' : 'failed' });
      ctx.log.warn(
        { err: (err as Error).message, ccid, conversationId: event.conversationId },
        'agent-assist message not handled',
      );
      // 503: the outbox retries later; 422: it will never work, dead-letter it.
      return json(transient ? 503 : 422, {
        status: { code: transient ? 'UNAVAILABLE' : 'UNPROCESSABLE', message: (err as Error).message },
      });
    }
  };
  const prefixes = apiPrefixes(config.server.apiPrefix);
  for (const prefix of prefixes)
    router.post(`${prefix}/agent-assist-chat/messages`, webhook, { body: ['raw'] });

  router.get('/health/detail', async () => {
    let redisLatency: number | null = null;
    try {
      redisLatency = await state.health.ping();
    } catch {
      redisLatency = null;
    }
    let dbLatency: number | null = null;
    if (db) {
      try {
        dbLatency = await db.ping();
      } catch {
        dbLatency = null;
      }
    }
    const redisReady = state.health.ready && redisLatency !== null;
    const dbReady = db ? dbLatency !== null : true;
    const isReady = redisReady && dbReady;
    const body = {
      ...processHealth(startTime),
      redis: { state: state.health.state, ready: redisReady, latency: redisLatency },
      db: { ready: dbReady, latency: dbLatency },
      isReady,
      state: isReady ? 'green' : 'red',
    };
    return { status: isReady ? 200 : 503, raw: JSON.stringify(body), contentType: 'application/json' };
  });
  router.get('/health/live', () => ({ raw: '{"state":"alive"}', contentType: 'application/json' }));
  // Scraped by the athena chart's ServiceMonitor (monitoring.enabled) on the service port.
  router.get('/metrics', async () => ({ raw: await registry.metrics(), contentType: registry.contentType }));
  // As the gateway's: a Redis blip does not take every replica out of its Service at once
  // (/health/detail is red at once; readiness fails once Redis is gone longer than the grace).
  router.get('/health/ready', async () => {
    const ok = (!db || db.ready) && readyWithinGrace(state.health, config.redis.readinessGraceMs);
    const redis = { ready: state.health.ready, state: state.health.state };
    return {
      status: ok ? 200 : 503,
      raw: JSON.stringify({ isReady: ok, redis }),
      contentType: 'application/json',
    };
  });

  const server = new HttpServer(router, {
    host: config.host,
    port: config.port,
    bodyLimit: 1_048_576,
    corsOrigins: '',
    log: log.child({ component: 'http' }),
    registry,
    metricPrefix: 'athena',
  });

  if (ownDb) lifecycle.add(ownDb);
  // athena's own state and the watch of the gateway's notices reach the same Redis.
  const redisConnection = {
    nodes: config.redis.nodes,
    cluster: config.redis.cluster,
    tls: config.redis.tls,
    password: config.redis.password,
    tlsRejectUnauthorized: config.redis.tlsRejectUnauthorized,
    tlsCaFile: config.redis.tlsCaFile || undefined,
  };
  lifecycle.add({
    name: 'state',
    start: async () => {
      state = await createSharedState({
        ...redisConnection,
        keyPrefix: 'athena:',
        log: log.child({ component: 'redis' }),
        registry,
        metricPrefix: 'athena',
      });
      await state.start();
    },
    close: () => state?.close(),
  });
  let stopWatching: (() => Promise<void>) | undefined;
  lifecycle.add({
    name: 'bots',
    start: async () => {
      const settingsLog = log.child({ component: 'settings' });
      settings = new TenantSettings({
        nexus: nexusClient,
        kv: state.kv,
        cacheSecret: opts.nexus?.apiKey ?? config.nexus.apiKey,
        log: settingsLog,
        ttlMs: opts.settingsTtlMs,
      });
      if (config.google.speechApiKey) {
        speech = createGoogleSpeech({
          apiKey: config.google.speechApiKey,
          timeoutMs: config.nexus.timeout,
          streamPace: config.google.speechStreamPace,
          ...opts.speech,
        });
        await speech.ready();
      }
      turns = new ConversationTurns({
        nexus: nexusClient,
        settings,
        log: log.child({ component: 'bots' }),
        http,
        voice,
        ...(speech ? { speech } : {}),
      });
      if (!nexusClient.configured)
        log.warn('athena.nexus.url or athena.nexus.apiKey is not set: no message can be handled');
      const watch =
        opts.servicesChanged ??
        (opts.gatewayKeyPrefix === undefined
          ? undefined
          : servicesChangedOnRedis({
              ...redisConnection,
              gatewayKeyPrefix: opts.gatewayKeyPrefix,
              log: log.child({ component: 'services-watch' }),
            }));
      try {
        stopWatching = await watch?.((c) => {
          void settings
            .invalidate(c.ccid, c.name)
            .then(() =>
              settingsLog.debug({ ccid: c.ccid, service: c.name }, 'service changed: cache dropped'),
            )
            .catch((err: unknown) =>
              settingsLog.warn(
                { err: (err as Error).message, ccid: c.ccid, service: c.name },
                'could not drop the cached settings of a changed service',
              ),
            );
        });
      } catch (err) {
        // The cached settings still expire (settingsTtlMs): changes are then noticed late, not never.
        log.warn(
          { err: (err as Error).message },
          "cannot listen to the gateway's service changes: changed bots are noticed when their cache expires",
        );
      }
    },
    close: async () => {
      await stopWatching?.();
      stopWatching = undefined;
      await turns?.close();
      await speech
        ?.close()
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'closing speech-to-text failed'));
      speech = undefined;
    },
  });
  lifecycle.add({
    name: 'http',
    start: async () => void (await server.listen()),
    close: () => server.close(),
  });

  return {
    get port() {
      return server.port;
    },
    get url() {
      return `http://127.0.0.1:${server.port}`;
    },
    prefixes,
    start: () => lifecycle.start(),
    close: () => lifecycle.close(),
  };
}
