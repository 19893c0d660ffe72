/**
 * `PUT|GET|DELETE /nexus/v3/provisioning/agents/{ccid}/{agentId}`, the list
 * `GET /nexus/v3/provisioning/agents/{ccid}`, and `POST …/{agentId}/tokens` → `data.token`, an agent
 * token for the `/agent` socket namespace. Permission `nexus:provisioning:agents` or the admin token.
 */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { GatewayDeps } from '../deps.js';
import type { Routing } from '../routing/router.js';
import { name, param, parse } from '../routing/validate.js';
import type { AgentStore } from './store.js';

export const AGENT_PERMISSION = 'nexus:provisioning:agents';

const agentBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    queues: z
      .array(name('queue'))
      .max(100)
      .refine((q) => new Set(q).size === q.length, 'queues must not repeat'),
    capacity: z.number().int().min(0).max(1000),
  })
  .strict();

const tokenBody = z
  .object({
    /** Lifetime in seconds; default one day. */
    ttl: z
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .optional(),
  })
  .strict();

export interface AgentRouteDeps {
  agents: AgentStore;
  routing: Routing;
  /** Signs an agent token (chat's tokens.ts). */
  signToken: (claims: { ccid: string; agentId: string }, ttlSeconds: number) => Promise<string>;
}

const BASE = '/nexus/v3/provisioning/agents';

export function agentRoutes(router: Router, deps: GatewayDeps, own: AgentRouteDeps): void {
  const { agents, routing } = own;

  const access = async (ctx: HttpContext) => {
    const ccid = param(ctx.params.ccid, 'ccid');
    await deps.auth.require(ctx, { permission: AGENT_PERMISSION, ccid });
    return ccid;
  };

  router.get(`${BASE}/:ccid`, async (ctx) => {
    const ccid = await access(ctx);
    return { data: { agents: await agents.list(ccid) } };
  });

  router.get(`${BASE}/:ccid/:agentId`, async (ctx) => {
    const ccid = await access(ctx);
    const found = await agents.get(ccid, param(ctx.params.agentId, 'agentId'));
    if (!found) throw new AppError('AGENT_NOT_FOUND');
    return { data: found };
  });

  router.put(`${BASE}/:ccid/:agentId`, async (ctx) => {
    const ccid = await access(ctx);
    const agentId = param(ctx.params.agentId, 'agentId');
    const input = parse(agentBody, ctx.body ?? {});
    let r: Awaited<ReturnType<AgentStore['put']>>;
    try {
      r = await agents.put(ccid, agentId, input);
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new AppError('TENANT_NOT_FOUND');
      throw err;
    }
    // More capacity or new queues may let waiting conversations through.
    routing.kick(ccid);
    return { status: r.created ? 201 : 200, data: r.agent };
  });

  router.delete(`${BASE}/:ccid/:agentId`, async (ctx) => {
    const ccid = await access(ctx);
    if (!(await routing.removeAgent(ccid, param(ctx.params.agentId, 'agentId'))))
      throw new AppError('AGENT_NOT_FOUND');
    return { data: {} };
  });

  router.post(`${BASE}/:ccid/:agentId/tokens`, async (ctx) => {
    const ccid = await access(ctx);
    const agentId = param(ctx.params.agentId, 'agentId');
    const { ttl = 86_400 } = parse(tokenBody, ctx.body ?? {});
    if (!(await agents.get(ccid, agentId))) throw new AppError('AGENT_NOT_FOUND');
    const token = await own.signToken({ ccid, agentId }, ttl);
    return { status: 201, data: { token, agentId, expiresIn: ttl } };
  });
}
