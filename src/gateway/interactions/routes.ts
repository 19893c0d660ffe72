/**
 * The interactions API (a conversation on any channel), for external routers and reporting:
 *
 * - `GET  /nexus/v3/interactions?state=queued,assigned&limit=&before=` → `data.interactions[]`
 * - `GET  /nexus/v3/interactions/{id}` → the interaction with its contact and earlier conversations
 * - `GET  /nexus/v3/interactions/{id}/messages?from=<seq>` → the agent-audience transcript
 * - `POST /nexus/v3/interactions/{id}/route` `{ queue } | { agentId } | { bot }` → an external router places
 *   it (`bot`: back to a provisioned `Bot-<name>`, which answers the customer again)
 * - `POST /nexus/v3/interactions/{id}/done`
 *
 * Access: a tenant key with `nexus:interactions:read` (GET) or `nexus:interactions:write` (POST),
 * or with `nexus:designer:chat`; a cluster key names the tenant with `x-ccid`; the admin token too,
 * with `x-ccid`. Another tenant's interaction is a 404, as if it did not exist.
 */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import { hasPermission, PERMISSIONS } from '../auth/permissions.js';
import type { Principal } from '../auth/types.js';
import type { ConversationState } from '../chat/events.js';
import { type ConversationRow, isUuid, toConversation } from '../chat/store.js';
import type { ContactStore } from '../contacts/store.js';
import type { GatewayDeps } from '../deps.js';
import { summary } from '../routing/agent-view.js';
import type { Routing } from '../routing/router.js';
import type { ChatPort } from '../routing/types.js';
import { name, parse } from '../routing/validate.js';

const STATES = ['bot', 'queued', 'assigned', 'asynchold', 'undelivered', 'done'] as const;

const listQuery = z
  .object({
    state: z
      .string()
      .transform((s) => s.split(',').map((x) => x.trim()))
      .pipe(z.array(z.enum(STATES)).min(1).max(STATES.length))
      .optional(),
    queue: name('queue').optional(),
    agentId: name('agentId').optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    /** Paging: only interactions updated before this ISO time. */
    before: z
      .string()
      .datetime({ offset: true })
      // ISO-shaped is not enough: PostgreSQL refuses year 0 and offsets past ±15:59 (a 500 otherwise).
      .transform((s) => new Date(s))
      .refine((d) => {
        const year = d.getUTCFullYear();
        return Number.isFinite(d.getTime()) && year >= 1 && year <= 9999;
      }, 'must be a time between the years 1 and 9999')
      .transform((d) => d.toISOString())
      .optional(),
  })
  .strict();

const routeBody = z
  .object({
    queue: name('queue').optional(),
    agentId: name('agentId').optional(),
    bot: name('bot').optional(),
  })
  .strict()
  .refine((b) => [b.queue, b.agentId, b.bot].filter(Boolean).length === 1, {
    message: 'name one of a queue, an agentId or a bot',
    path: ['queue'],
  });

const messagesQuery = z.object({ from: z.coerce.number().int().min(0).default(0) }).strict();

export interface InteractionRouteDeps {
  routing: Routing;
  contacts: ContactStore;
  chat: () => ChatPort;
}

export function interactionRoutes(router: Router, deps: GatewayDeps, own: InteractionRouteDeps): void {
  const { routing, contacts } = own;

  /** Either permission of the pair will do; the tenant must be named for cluster and admin use. */
  const access = async (ctx: HttpContext, write: boolean): Promise<string> => {
    const permission = write ? PERMISSIONS.interactionsWrite : PERMISSIONS.interactionsRead;
    let ccid: string;
    try {
      ccid = (await deps.auth.require(ctx, { permission })).ccid;
    } catch (err) {
      const p = ctx.state.principal as Principal | undefined;
      const forbidden = err instanceof AppError && err.errorName === 'FORBIDDEN';
      if (!forbidden || !p || !hasPermission(p.permissions, PERMISSIONS.designerChat)) throw err;
      ccid = (await deps.auth.require(ctx, { permission: PERMISSIONS.designerChat })).ccid;
    }
    if (ccid === '*') throw new AppError('CCID_REQUIRED');
    return ccid;
  };

  const load = async (ccid: string, id: string | undefined) => {
    const c = id && isUuid(id) ? await own.chat().get(id, ccid) : undefined;
    if (!c) throw new AppError('INTERACTION_NOT_FOUND');
    return c;
  };

  router.get('/nexus/v3/interactions', async (ctx) => {
    const ccid = await access(ctx, false);
    const q = parse(listQuery, Object.fromEntries(ctx.query), 'query');
    const params: unknown[] = [ccid];
    const where = ['ccid = $1'];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (q.state) add('state = ANY(?::text[])', q.state as ConversationState[]);
    if (q.queue) add('queue = ?', q.queue);
    if (q.agentId) add('agent_id = ?', q.agentId);
    if (q.before) add('updated_at < ?', q.before);
    params.push(q.limit);
    const r = await deps.db.query<ConversationRow>(
      `SELECT * FROM conversations WHERE ${where.join(' AND ')} ORDER BY updated_at DESC, id LIMIT $${params.length}`,
      params,
    );
    return { data: { interactions: r.rows.map((row) => summary(toConversation(row))) } };
  });

  router.get('/nexus/v3/interactions/:id', async (ctx) => {
    const ccid = await access(ctx, false);
    const c = await load(ccid, ctx.params.id);
    const [contact, history] = await Promise.all([
      c.contactId ? contacts.get(ccid, c.contactId) : undefined,
      routing.history(c),
    ]);
    return { data: { ...c, ...(contact ? { contact } : {}), history } };
  });

  router.get('/nexus/v3/interactions/:id/messages', async (ctx) => {
    const ccid = await access(ctx, false);
    const { from } = parse(messagesQuery, Object.fromEntries(ctx.query), 'query');
    const c = await load(ccid, ctx.params.id);
    return { data: { messages: await own.chat().transcript(c.id, from), lastSeq: c.lastSeq } };
  });

  router.post('/nexus/v3/interactions/:id/route', async (ctx) => {
    const ccid = await access(ctx, true);
    const body = parse(routeBody, ctx.body ?? {});
    const c = await load(ccid, ctx.params.id);
    if (body.bot) {
      // Back to a bot (`Bot-<name>`, provisioned): the AI connector answers the customer again.
      if (!(await deps.services.get(ccid, `Bot-${body.bot}`)))
        throw new AppError('BOT_NOT_FOUND', undefined, { bot: body.bot });
      return { data: summary(await routing.place(ccid, c.id, { bot: body.bot }, { requireReady: false })) };
    }
    // An external router may place an agent's conversation on an agent who is not ready yet
    // (the agent sees it at next connect), but never beyond that agent's capacity.
    const after = await routing.place(
      ccid,
      c.id,
      body.queue ? { queue: body.queue } : { agentId: body.agentId as string },
      {
        requireReady: false,
      },
    );
    return { data: summary(after) };
  });

  router.post('/nexus/v3/interactions/:id/done', async (ctx) => {
    const ccid = await access(ctx, true);
    const c = await load(ccid, ctx.params.id);
    return { data: summary(await routing.finish(ccid, c.id, { reason: 'done by API' })) };
  });
}
