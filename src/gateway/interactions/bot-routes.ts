/**
 * The AI connector's side of the interactions API, and what athena reads from the gateway:
 *
 * - `POST /nexus/v3/interactions/{id}/messages` — a bot reply, posted as the Bot participant, and/or
 *   a handoff notice (`handoff: { queue?, reason }`, a System notice agents see). Refused with
 *   BOT_NOT_IN_CONTROL unless a bot owns the conversation (state `bot`): once an agent has it, the
 *   bot is silent. athena then moves it with `POST /interactions/{id}/route`. A `transcript` (what
 *   a customer's voice message said, as the bot or speech-to-text heard it) becomes a `transcript:`
 *   notice agents see; alone it is taken while the conversation is not done (agent assist too).
 * - `POST /nexus/v3/interactions/{id}/suggestions` — agent-assist suggestions, to the `suggestion`
 *   socket event of the agents of the conversation only; never stored as a message, never sent to
 *   a customer. Refused with NO_AGENT_OWNER unless an agent owns the conversation. Each is kept
 *   (table `suggestions`) with the agent it was offered to, so that agent's `suggestion.feedback`
 *   can be checked against it (SUGGESTION_NOT_FOUND for any other id).
 * - `GET /nexus/v3/ai/bots/{name}` — a tenant's `Bot-<name>` service; the secret only for a
 *   credential granted `nexus:ai:*` (or a cluster key).
 * - `GET /nexus/v3/ai/connector` — where the tenant's AI connector target points and the key its
 *   webhooks are signed with: cluster keys only (athena's).
 *
 * Access: `nexus:ai:messages`, `nexus:ai:suggestions`, `nexus:ai:config` (a grant of `nexus:ai:*`
 * covers them), or a cluster key naming the tenant with `x-ccid`.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import { aiConnectorOf } from '../../plugins/webhooks/transport-target.js';
import { PERMISSIONS } from '../auth/permissions.js';
import type { Participant, RichContent, Suggestion } from '../chat/events.js';
import { isUuid } from '../chat/store.js';
import type { Conversation } from '../chat/types.js';
import type { GatewayDeps } from '../deps.js';
import { name, param, parse } from '../routing/validate.js';

const text = (max: number) => z.string().min(1).max(max);

const button = z
  .object({ text: text(256), payload: text(1024).optional(), url: z.string().url().max(2048).optional() })
  .strict();
const content = z
  .object({
    quickReplies: z
      .array(z.object({ text: text(256), payload: text(1024).optional() }).strict())
      .max(20)
      .optional(),
    cards: z
      .array(
        z
          .object({
            title: text(256),
            subtitle: text(1024).optional(),
            imageUrl: z.string().url().max(2048).optional(),
            buttons: z.array(button).max(10).optional(),
          })
          .strict(),
      )
      .max(10)
      .optional(),
    attachments: z
      .array(
        z
          .object({
            url: z.string().url().max(2048),
            mediaType: text(128).optional(),
            name: text(256).optional(),
          })
          .strict(),
      )
      .max(10)
      .optional(),
    custom: z.record(z.unknown()).optional(),
  })
  .strict();

const botMessage = z
  .object({
    /** Retries with the same id fold onto the first message (athena: `<customer message id>:<n>`). */
    clientMessageId: text(128).optional(),
    text: text(10_000).optional(),
    content: content.optional(),
    /** The bot's display name; the participant id is `bot:<bot>`. */
    nickname: text(64).optional(),
    bot: name('bot').optional(),
    handoff: z
      .object({ queue: name('queue').optional(), reason: text(500) })
      .strict()
      .optional(),
    transcript: z
      .object({ messageId: text(128), text: text(10_000) })
      .strict()
      .optional(),
  })
  .strict()
  .refine(
    (b) =>
      b.text !== undefined ||
      b.content !== undefined ||
      b.handoff !== undefined ||
      b.transcript !== undefined,
    {
      message: 'send text, content, a handoff or a transcript',
      path: ['text'],
    },
  );

const suggestionsBody = z
  .object({
    suggestions: z
      .array(
        z
          .object({
            text: text(10_000),
            content: content.optional(),
            confidence: z.number().min(0).max(1).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(10),
    /** Which bot or model suggested them (shown to the agent). */
    source: text(128).optional(),
  })
  .strict();

const SYSTEM: Participant = { participantId: 'system', type: 'System', nickname: 'System' };

export function botRoutes(router: Router, deps: GatewayDeps): void {
  const ai = aiConnectorOf(deps.plugins, {
    services: deps.services,
    secrets: deps.secrets,
    log: deps.log.child({ component: 'ai-connector' }),
  });

  /** The tenant the request acts on: a tenant key's own, or a cluster key's `x-ccid`. */
  const access = async (ctx: HttpContext, permission: string) => {
    const { ccid, principal } = await deps.auth.require(ctx, { permission });
    if (ccid === '*') throw new AppError('CCID_REQUIRED');
    return { ccid, principal };
  };

  const load = async (ccid: string, id: string | undefined): Promise<Conversation> => {
    const c = id && isUuid(id) ? await deps.chat.get(id, ccid) : undefined;
    if (!c) throw new AppError('INTERACTION_NOT_FOUND');
    return c;
  };

  router.post(
    '/nexus/v3/interactions/:id/messages',
    async (ctx) => {
      const { ccid } = await access(ctx, PERMISSIONS.aiMessages);
      const body = parse(botMessage, ctx.body ?? {});
      const c = await load(ccid, ctx.params.id);
      const speaks = body.text !== undefined || body.content !== undefined || body.handoff !== undefined;
      if (speaks ? c.state !== 'bot' : c.state === 'done')
        throw new AppError('BOT_NOT_IN_CONTROL', undefined, { state: c.state });
      const out: Record<string, unknown> = {};
      if (body.transcript) {
        // Before the bot's answer, so the agent reads what was said, then what the bot made of it.
        const r = await deps.chat.append(
          c.id,
          {
            type: 'Notice',
            from: SYSTEM,
            text: `transcript: ${body.transcript.text}`,
            content: {
              notice: 'transcript',
              messageId: body.transcript.messageId,
              transcript: body.transcript.text,
              ...(body.bot ? { bot: body.bot } : {}),
            },
            ...(body.clientMessageId ? { clientMessageId: `${body.clientMessageId}:transcript` } : {}),
            visibility: 'agents',
          },
          { ccid },
        );
        out.transcript = { id: r.id, seq: r.seq };
      }
      if (body.text !== undefined || body.content !== undefined) {
        const from: Participant = {
          participantId: body.bot ? `bot:${body.bot}` : 'bot',
          type: 'Bot',
          nickname: body.nickname ?? body.bot ?? 'Bot',
        };
        const r = await deps.chat.append(
          c.id,
          {
            type: body.content ? 'Rich' : 'Text',
            from,
            ...(body.text !== undefined ? { text: body.text } : {}),
            ...(body.content ? { content: body.content as RichContent } : {}),
            ...(body.clientMessageId ? { clientMessageId: body.clientMessageId } : {}),
            visibility: 'all',
          },
          { ccid },
        );
        out.message = { id: r.id, seq: r.seq, duplicate: r.duplicate };
      }
      if (body.handoff) {
        // Agents see why the bot let go; the customer sees routing's own "queued" notice.
        const r = await deps.chat.append(
          c.id,
          {
            type: 'Notice',
            from: SYSTEM,
            text: `handoff: ${body.handoff.reason}`,
            content: {
              notice: 'handoff',
              reason: body.handoff.reason,
              ...(body.handoff.queue ? { queue: body.handoff.queue } : {}),
              ...(body.bot ? { bot: body.bot } : {}),
            },
            ...(body.clientMessageId ? { clientMessageId: `${body.clientMessageId}:handoff` } : {}),
            visibility: 'agents',
          },
          { ccid },
        );
        out.handoff = { id: r.id, seq: r.seq, queue: body.handoff.queue ?? c.queue ?? null };
      }
      return { data: out };
    },
    { body: ['json', 'form'] },
  );

  router.post(
    '/nexus/v3/interactions/:id/suggestions',
    async (ctx) => {
      const { ccid } = await access(ctx, PERMISSIONS.aiSuggestions);
      const body = parse(suggestionsBody, ctx.body ?? {});
      const c = await load(ccid, ctx.params.id);
      if (!c.agentId || (c.state !== 'assigned' && c.state !== 'asynchold'))
        throw new AppError('NO_AGENT_OWNER', undefined, { state: c.state });
      const createdAt = new Date().toISOString();
      const suggestions: Array<Suggestion & { confidence?: number }> = body.suggestions.map((s) => ({
        id: randomUUID(),
        conversationId: c.id,
        text: s.text,
        ...(s.content ? { content: s.content as RichContent } : {}),
        ...(s.confidence !== undefined ? { confidence: s.confidence } : {}),
        ...(body.source ? { source: body.source } : {}),
        createdAt,
      }));
      // Kept as offered, to the agent who owns the conversation: the agent's feedback names one.
      await deps.db.query(
        `INSERT INTO suggestions (id, ccid, conversation_id, agent_id, text, content, confidence, source, created_at)
         SELECT s.id, $1, $2, $3, s.text, s.content, s.confidence, $4, $5
           FROM jsonb_to_recordset($6::jsonb) AS s(id uuid, text text, content jsonb, confidence real)`,
        [
          ccid,
          c.id,
          c.agentId,
          body.source ?? null,
          createdAt,
          JSON.stringify(
            suggestions.map((s) => ({
              id: s.id,
              text: s.text,
              content: s.content ?? null,
              confidence: s.confidence ?? null,
            })),
          ),
        ],
      );
      // The agent namespace only: the customer's sockets are never in these rooms.
      for (const s of suggestions) await deps.chat.notifier.notifyConversation(c.id, 'suggestion', s);
      return { data: { suggestions } };
    },
    { body: ['json'] },
  );

  router.get('/nexus/v3/ai/bots/:name', async (ctx) => {
    const { ccid, principal } = await access(ctx, PERMISSIONS.aiConfig);
    const botName = param(ctx.params.name, 'name');
    // Credentials of bots leave the gateway only for athena's cluster key or an explicit AI grant.
    const withSecret =
      (principal.kind === 'apikey' && principal.tenant === '*') ||
      principal.permissions.includes('nexus:ai:*');
    const service = `Bot-${botName}`;
    const svc = withSecret
      ? await deps.services.getWithSecret(ccid, service)
      : await deps.services.get(ccid, service);
    if (!svc) throw new AppError('BOT_NOT_FOUND', undefined, { bot: botName });
    return {
      data: {
        name: botName,
        ccid,
        provider: (svc.data as { provider?: string }).provider,
        url: svc.url,
        data: svc.data,
        ...('secret' in svc ? { secret: svc.secret } : { secretFields: svc.secretFields }),
        version: svc.updated,
      },
    };
  });

  router.get('/nexus/v3/ai/connector', async (ctx) => {
    const { ccid, principal } = await access(ctx, PERMISSIONS.aiConfig);
    if (principal.kind !== 'apikey' || principal.tenant !== '*') throw new AppError('CLUSTER_KEY_REQUIRED');
    const target = await ai.resolve(ccid);
    if (!target) throw new AppError('AI_CONNECTOR_NOT_REGISTERED');
    return { data: { url: target.url, signingKey: target.signingKey, source: target.source } };
  });
}
