/**
 * `WebhookTransportTarget-<name>`: conversation events delivered as signed webhooks, and the bus
 * planner that sends a conversation's customer messages to the AI connector
 * (`WebhookTransportTarget-ai-connector`, i.e. athena) through the durable outbox.
 *
 * Wire: `POST <url>` with the JSON event, `X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>`,
 * `X-B3-TraceId` and `x-ccid`. The signing key is the service's `secret.signingKey`; a target
 * registered with a URL only (as the deployment guide does) signs with a key the gateway derives
 * for that tenant and target, which athena reads back with its cluster key.
 *
 * Which messages go to the AI connector: a customer's (never an agent's, a bot's or an internal
 * note) in a conversation that a bot owns (state `bot`: bot mode), or that an agent owns when the
 * conversation's bot has `data.agentAssist: true` (agent-assist mode). The planner runs inside the
 * message's commit transaction; the outbox delivers in order per conversation and retries.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ChatMessage } from '../../gateway/chat/events.js';
import type { SecretBox } from '../../gateway/secret-box.js';
import type { ServiceReader } from '../../gateway/services/types.js';
import type { Queryable } from '../../shared/db/pool.js';
import type { Logger } from '../../shared/logger.js';
import { createHttpClient, retryableStatus } from '../http-client.js';
import type { PluginRuntime } from '../runtime.js';
import { definePlugin, secret } from '../sdk.js';
import { type BusEvent, type HttpClient, PluginError, type WebhookTarget } from '../types.js';

export const AI_CONNECTOR_SERVICE = 'WebhookTransportTarget-ai-connector';
export const TRANSPORT_PREFIX = 'WebhookTransportTarget-';
/** The outbox kind whose handler delivers to webhook transport targets. */
export const TRANSPORT_KIND = 'webhook-transport';

/** `sha1=<hex>` of the raw body, as X-Hub-Signature carries it. */
export function hubSignature(body: string | Buffer, key: string): string {
  return `sha1=${createHmac('sha1', key).update(body).digest('hex')}`;
}

const config = z.object({
  url: z.string().url(),
  data: z
    .object({ timeoutMs: z.number().int().min(100).max(60_000).optional() })
    .passthrough()
    .default({}),
  secret: z.object({ signingKey: secret(z.string().min(1)) }).passthrough(),
});

/** Builds the sender; the plugin and the outbox handler share it. */
export function createTransportTarget(opts: {
  url: string;
  signingKey: string;
  http: HttpClient;
  timeoutMs?: number;
}): WebhookTarget {
  return {
    async deliver(event: BusEvent) {
      const body = JSON.stringify(event);
      const res = await opts.http.request(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature': hubSignature(body, opts.signingKey),
          'x-b3-traceid': randomBytes(16).toString('hex'),
          'x-ccid': event.ccid,
        },
        body,
        timeoutMs: opts.timeoutMs,
      });
      if (res.status < 200 || res.status >= 300) {
        throw new PluginError(`${new URL(opts.url).host} answered HTTP ${res.status}`, {
          retryable: retryableStatus(res.status),
          status: res.status,
        });
      }
    },
  };
}

export const webhookTransportTarget = definePlugin({
  name: 'webhook-transport-target',
  kind: 'webhook',
  version: '1.0.0',
  config,
  create(ctx) {
    return createTransportTarget({
      url: ctx.config.url,
      signingKey: ctx.config.secret.signingKey,
      http: ctx.http,
      timeoutMs: ctx.config.data.timeoutMs,
    });
  },
});

/** A target athena listens at, with the key it verifies (the all-in-one process sets one up). */
export interface DefaultTarget {
  url: string;
  signingKey: string;
}

export interface ResolvedTarget extends DefaultTarget {
  /** `tenant`: the tenant's own service; `default`: the all-in-one process's. */
  source: 'tenant' | 'default';
  timeoutMs?: number;
}

export interface AiConnectorDeps {
  services: ServiceReader;
  secrets: SecretBox;
  log: Logger;
  http?: HttpClient;
}

interface PlanRow {
  state: string;
  endpoint: string;
  queue: string | null;
  agent_id: string | null;
  channel: string;
  bot: string | null;
  assist: boolean;
  has_target: boolean;
}

/** The AI connector wiring of one gateway: targets, the planner and the outbox handler. */
export class AiConnector {
  private fallback: DefaultTarget | undefined;
  private readonly http: HttpClient;
  /**
   * What the planner read in one transaction (a `q` is one): whether a tenant has a target, and each
   * conversation's row. A batch of messages reads each once; nothing the reads depend on changes
   * between the planner's calls of one transaction.
   */
  private readonly perTx = new WeakMap<
    Queryable,
    { targets: Map<string, Promise<boolean>>; convs: Map<string, Promise<PlanRow | undefined>> }
  >();

  constructor(private readonly deps: AiConnectorDeps) {
    this.http = deps.http ?? createHttpClient(30_000);
  }

  /** The all-in-one process's target; a tenant's own service overrides it. */
  setDefault(target: DefaultTarget | undefined): void {
    this.fallback = target;
  }

  get hasDefault(): boolean {
    return !!this.fallback;
  }

  /** Where a tenant's `WebhookTransportTarget-<name>` points and the key it signs with. */
  async resolve(ccid: string, service = AI_CONNECTOR_SERVICE): Promise<ResolvedTarget | undefined> {
    const svc = await this.deps.services.getWithSecret<Record<string, unknown>>(ccid, service);
    if (svc?.url) {
      const own = svc.secret.signingKey;
      const timeout = (svc.data as { timeoutMs?: unknown }).timeoutMs;
      return {
        url: svc.url,
        signingKey:
          typeof own === 'string' && own
            ? own
            : this.deps.secrets.derive(`webhook-signing:${ccid}/${service}`),
        source: 'tenant',
        ...(typeof timeout === 'number' ? { timeoutMs: timeout } : {}),
      };
    }
    if (service === AI_CONNECTOR_SERVICE && this.fallback) return { ...this.fallback, source: 'default' };
    return undefined;
  }

  /** Registers the plugin, the outbox handler and the planner on a node's plugin runtime. */
  install(rt: PluginRuntime): void {
    rt.onStart((runtime) => {
      // The built-in table may already bind the prefix; one plugin serves it either way.
      if (!runtime.host.definitionFor(`${TRANSPORT_PREFIX}x`, 'webhook')) {
        runtime.host.register(webhookTransportTarget);
        runtime.host.bind(TRANSPORT_PREFIX, webhookTransportTarget.name);
      }
      runtime.outbox.handle(TRANSPORT_KIND, async (row) => {
        const target = await this.resolve(row.ccid, row.target);
        if (!target) {
          throw new PluginError(`${row.target} is not provisioned for tenant ${row.ccid}`, {
            retryable: false,
          });
        }
        const sender = createTransportTarget({ ...target, http: this.http });
        await sender.deliver(row.payload as unknown as BusEvent);
        return { url: target.url, source: target.source };
      });
      runtime.bus.plan('ai-connector', { types: ['message.created'] }, (event, q) => this.plan(event, q));
    });
  }

  /** Inside the message's transaction: the outbox item for athena, or nothing. */
  async plan(event: BusEvent, q: Queryable) {
    const message = event.data.message as ChatMessage | undefined;
    if (!message || !event.conversationId) return [];
    if (message.from.type !== 'Customer' || message.visibility !== 'all') return [];
    if (message.type !== 'Text' && message.type !== 'File' && message.type !== 'Rich') return [];
    let memo = this.perTx.get(q);
    if (!memo) {
      memo = { targets: new Map(), convs: new Map() };
      this.perTx.set(q, memo);
    }
    const { ccid, conversationId } = event;
    // Without a default target, a tenant that registered none sends nothing: one look-up per tenant
    // and transaction instead of the conversation's query for every customer message.
    if (!this.fallback) {
      let has = memo.targets.get(ccid);
      if (!has) {
        has = q
          .query<{ has: boolean }>(
            'SELECT EXISTS (SELECT 1 FROM services WHERE ccid = $1 AND name = $2) AS has',
            [ccid, AI_CONNECTOR_SERVICE],
          )
          .then((r) => r.rows[0].has);
        memo.targets.set(ccid, has);
      }
      if (!(await has)) {
        this.deps.log.debug({ ccid }, 'no AI connector registered; message not sent to a bot');
        return [];
      }
    }
    // One round trip inside the commit per conversation: the conversation, its bot (the bot it was
    // routed back to, named by a System notice, wins over the endpoint's), the bot's agent-assist
    // flag, and whether the tenant registered a target. Tenant data is compared as JSON, never
    // cast: a bad value must not fail the message's transaction.
    const convKey = `${ccid}\u0000${conversationId}`;
    let row = memo.convs.get(convKey);
    if (!row) {
      row = q
        .query<PlanRow>(
          `SELECT c.state, c.endpoint, c.queue, c.agent_id, c.channel, b.bot,
              EXISTS (SELECT 1 FROM services s WHERE s.ccid = c.ccid AND s.name = 'Bot-' || b.bot
                         AND s.data->'agentAssist' = 'true'::jsonb) AS assist,
              EXISTS (SELECT 1 FROM services s WHERE s.ccid = c.ccid AND s.name = $3) AS has_target
         FROM conversations c
         LEFT JOIN chat_endpoints e ON e.ccid = c.ccid AND e.endpoint = c.endpoint
         CROSS JOIN LATERAL (
           SELECT COALESCE((SELECT m.content->>'bot' FROM messages m
                             WHERE m.conversation_id = c.id AND m.type = 'Notice' AND m.from_type = 'System'
                               AND m.content->>'notice' = 'bot'
                             ORDER BY m.seq DESC LIMIT 1), e.bot) AS bot
         ) b
        WHERE c.id = $1 AND c.ccid = $2 AND c.state IN ('bot', 'assigned')`,
          [conversationId, ccid, AI_CONNECTOR_SERVICE],
        )
        .then((r) => r.rows[0]);
      memo.convs.set(convKey, row);
    }
    const c = await row;
    if (!c) return [];
    const mode: 'bot' | 'assist' | undefined =
      c.state === 'bot' ? 'bot' : c.state === 'assigned' && c.bot && c.assist ? 'assist' : undefined;
    if (!mode) return [];
    if (!c.has_target && !this.fallback) {
      this.deps.log.debug({ ccid: event.ccid }, 'no AI connector registered; message not sent to a bot');
      return [];
    }
    const payload: BusEvent = {
      id: randomUUID(),
      type: 'message.created',
      ccid: event.ccid,
      conversationId: event.conversationId,
      channelType: c.channel as BusEvent['channelType'],
      timestamp: event.timestamp,
      data: {
        mode,
        bot: c.bot,
        conversation: {
          id: event.conversationId,
          state: c.state,
          endpoint: c.endpoint,
          queue: c.queue,
          agentId: c.agent_id,
          channel: c.channel,
        },
        message,
      },
    };
    return [
      {
        ccid: event.ccid,
        orderingKey: `ai-connector:${event.conversationId}`,
        kind: TRANSPORT_KIND,
        target: AI_CONNECTOR_SERVICE,
        payload: payload as unknown as Record<string, unknown>,
        dedupeKey: `ai-connector:${message.id}`,
      },
    ];
  }
}

const installed = new WeakMap<PluginRuntime, AiConnector>();

/** Installs the AI connector on a runtime once; later calls return the same one. */
export function aiConnectorOf(rt: PluginRuntime, deps: AiConnectorDeps): AiConnector {
  let ai = installed.get(rt);
  if (!ai) {
    ai = new AiConnector(deps);
    ai.install(rt);
    installed.set(rt, ai);
  }
  return ai;
}

/** The all-in-one process points the gateway at its in-process athena. */
export function setDefaultAiConnector(rt: PluginRuntime, target: DefaultTarget): void {
  const ai = installed.get(rt);
  if (!ai) throw new Error('the AI connector is not installed on this gateway');
  ai.setDefault(target);
}
