/**
 * The one-click demo tenant behind /ux/demo: a tenant, a chat endpoint, an agent and its token,
 * made through the gateway's own public REST routes (called in process with the admin token, so
 * the demo exercises exactly what an operator's provisioning script does, and the admin token never
 * leaves the process). One demo tenant per node, made on first use.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { NexusConfig } from '../../shared/config.js';
import { AppError, isAppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import { type HttpContext, isRaw } from '../../shared/http/types.js';
import type { Logger } from '../../shared/logger.js';

export interface DemoTenant {
  ccid: string;
  customername: string;
  apiKey: string;
  endpoint: string;
  queue: string;
  agentId: string;
  agentName: string;
  agentToken: string;
}

/** `auto` means: on only on the embedded defaults, i.e. a local `npm start`. */
export function demoEnabled(config: Pick<NexusConfig, 'ux' | 'db' | 'redis'>): boolean {
  if (config.ux.demo === 'on') return true;
  if (config.ux.demo === 'off') return false;
  return !config.db.host && !(config.redis.enabled && config.redis.nodes);
}

type Call = (method: string, path: string, body?: unknown) => Promise<any>;

/** Runs a route of the router in process, as the admin. */
export function inProcessCaller(router: Router, adminToken: string, log: Logger): Call {
  return async (method, path, body) => {
    const found = router.match(method, path);
    if (!found || 'allowed' in found) throw new Error(`demo: no route for ${method} ${path}`);
    const raw = Buffer.from(body === undefined ? '' : JSON.stringify(body));
    const ctx: HttpContext = {
      method,
      path,
      params: found.params,
      query: new URLSearchParams(),
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      rawBody: raw,
      body,
      ip: '127.0.0.1',
      traceId: randomBytes(8).toString('hex'),
      operationId: randomUUID(),
      log,
      state: {},
    };
    const reply = await found.route.handler(ctx);
    // The API key routes answer their record as a raw JSON body (the guide's top-level fields).
    if (isRaw(reply)) return JSON.parse(String(reply.raw)).data;
    return reply.data;
  };
}

export class DemoProvisioner {
  private pending: Promise<DemoTenant> | undefined;

  constructor(
    private readonly call: Call,
    private readonly log: Logger,
  ) {}

  /** The demo tenant, made once; a failure is not cached, so the next visit tries again. */
  get(): Promise<DemoTenant> {
    if (!this.pending) {
      this.pending = this.provision().catch((err) => {
        this.pending = undefined;
        this.log.error({ err }, 'demo provisioning failed');
        throw isAppError(err) && err.http < 500
          ? new AppError(
              'UX_DEMO_PROVISIONING_FAILED',
              `The demo tenant could not be provisioned: ${err.message}`,
              undefined,
              { cause: err },
            )
          : new AppError('UX_DEMO_PROVISIONING_FAILED', undefined, undefined, { cause: err });
      });
    }
    return this.pending;
  }

  private async provision(): Promise<DemoTenant> {
    const ccid = `demo-${randomBytes(4).toString('hex')}`;
    const customername = 'Northwind Outfitters';
    const endpoint = 'web';
    const queue = 'support';
    const agentId = 'alex';
    const agentName = 'Alex Morgan';
    await this.call('POST', '/nexus/v3/provisioning/tenants', {
      id: ccid,
      name: customername,
      type: 'PureEngage',
    });
    await this.call('PUT', `/nexus/v3/provisioning/endpoints/${ccid}/${endpoint}`, { queue });
    await this.call('PUT', `/nexus/v3/provisioning/agents/${ccid}/${agentId}`, {
      name: agentName,
      queues: [queue],
      capacity: 5,
    });
    const token = await this.call('POST', `/nexus/v3/provisioning/agents/${ccid}/${agentId}/tokens`, {});
    // The shop page is public: its widget gets a key that can open chats and nothing else (the
    // tenant's own key would read every transcript, internal notes included, and provision).
    const widgetKey = await this.call('POST', '/nexus/v3/apikeys', {
      tenant: ccid,
      name: 'Demo widget',
      permissions: ['nexus:consumer:chat'],
    });
    this.log.info({ ccid }, 'demo tenant provisioned');
    return {
      ccid,
      customername,
      apiKey: widgetKey.id,
      endpoint,
      queue,
      agentId,
      agentName,
      agentToken: token.token,
    };
  }
}
