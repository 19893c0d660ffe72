/**
 * The Chat v3 REST flow (the suite's web widgets, and any client that cannot hold a socket):
 * `POST /nexus/v3/chat/sessions` with an API key, then `GET|POST {selfUri}/messages`,
 * `DELETE {selfUri}` or `POST {selfUri}/end` with the session's client token in
 * `x-nexus-client-key`. Bodies are form-encoded `data[field]` or JSON (`{ data: {...} }` or flat).
 */
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { GatewayDeps } from '../deps.js';
import type { ChatMessage, Participant } from './events.js';
import {
  MAX_USER_DATA_KEYS,
  MAX_USER_DATA_VALUE,
  parse,
  restMessageSchema,
  sessionKnownFields,
  sessionSchema,
} from './schemas.js';
import type { ChatService } from './service.js';
import type { ClientTokenClaims } from './tokens.js';

const BASE = '/nexus/v3/chat/sessions';

/** `{ data: {...} }` (form `data[x]` or JSON) or a flat JSON object. */
function dataOf(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('VALIDATION_FAILED', 'The body must be an object with a data field.', {
      field: 'data',
    });
  }
  const b = body as Record<string, unknown>;
  if ('data' in b) {
    if (typeof b.data !== 'object' || b.data === null || Array.isArray(b.data)) {
      throw new AppError('VALIDATION_FAILED', 'data must be an object.', { field: 'data' });
    }
    return b.data as Record<string, unknown>;
  }
  return b;
}

/** Custom keys (`data[ChatProfile]`, or a nested `data[userData][x]`) become the conversation's user data. */
function userDataOf(data: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (k: string, v: unknown) => {
    if (v === undefined || v === null) return;
    if (typeof v === 'object')
      throw new AppError('VALIDATION_FAILED', `data.${k}: must be a string`, { field: `data.${k}` });
    const s = String(v);
    if (k.length > 128)
      throw new AppError('VALIDATION_FAILED', 'a user data key is longer than 128 characters', {
        field: 'data',
      });
    if (s.length > MAX_USER_DATA_VALUE) {
      throw new AppError('VALIDATION_FAILED', `data.${k}: at most ${MAX_USER_DATA_VALUE} characters`, {
        field: `data.${k}`,
      });
    }
    out[k] = s;
  };
  for (const [k, v] of Object.entries(data)) {
    if (k in sessionKnownFields) continue;
    if (k === 'userData' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const [uk, uv] of Object.entries(v)) add(uk, uv);
    } else add(k, v);
  }
  if (Object.keys(out).length > MAX_USER_DATA_KEYS) {
    throw new AppError('VALIDATION_FAILED', `at most ${MAX_USER_DATA_KEYS} user data keys`, {
      field: 'data',
    });
  }
  return out;
}

/** The session named by the path (`:sessionId`), when the client token is its own. */
export async function sessionOf(chat: ChatService, ctx: HttpContext): Promise<ClientTokenClaims> {
  const claims = await chat.tokens.verifyClientToken(ctx.headers['x-nexus-client-key']);
  if (claims.sessionId !== ctx.params.sessionId) throw new AppError('SESSION_MISMATCH');
  return claims;
}

/**
 * One message from the session's budget, the same as a socket's, per session and shared by the
 * nodes: the REST fallback (or an upload) is no way around the socket's limit to flood a
 * conversation and its agent. MESSAGE_RATE_LIMITED with Retry-After when it is spent.
 */
export async function spendMessageBudget(deps: GatewayDeps, sessionId: string): Promise<void> {
  const { socketMessageBurst: burst, socketMessagesPerSecond: rate } = deps.config.chat;
  const budget = await deps.state.rateLimiter.consume(
    `chat:messages:${sessionId}`,
    burst,
    (burst / rate) * 1000,
  );
  if (budget.allowed) return;
  const retryAfter = Math.max(1, Math.ceil(budget.retryAfterMs / 1000));
  throw new AppError('MESSAGE_RATE_LIMITED', 'Too many messages in this chat session; slow down and retry.', {
    retryAfter,
    headers: { 'Retry-After': String(retryAfter) },
  });
}

export function chatRoutes(router: Router, deps: GatewayDeps): void {
  const chat: ChatService = deps.chat;
  const session = (ctx: HttpContext) => sessionOf(chat, ctx);

  const liveSession = async (ctx: HttpContext) => {
    const claims = await session(ctx);
    const row = await chat.session(claims.sessionId);
    if (!row) throw new AppError('SESSION_NOT_FOUND');
    // The customer is here: routing's next presence mark says so (no query now; routing/presence.ts).
    chat.customerSeen(claims.conversationId);
    return { claims, row };
  };

  router.post(BASE, async (ctx) => {
    const access = await deps.auth.require(ctx, { permission: 'nexus:consumer:chat' });
    if (!access.ccid || access.ccid === '*') throw new AppError('CCID_REQUIRED');
    const data = dataOf(ctx.body);
    const known = parse(sessionSchema, data, 'data');
    const userData = userDataOf(data);
    const customer = Object.fromEntries(
      (['nickname', 'firstName', 'lastName', 'email', 'phone'] as const)
        .filter((k) => known[k])
        .map((k) => [k, known[k] as string]),
    );
    if (!customer.nickname && (customer.firstName || customer.lastName)) {
      customer.nickname = [customer.firstName, customer.lastName].filter(Boolean).join(' ');
    }
    if (known.subject) userData.subject = known.subject;
    if (known.stream) userData.stream = known.stream;
    const s = await chat.createSession({
      ccid: access.ccid,
      channel: 'chat',
      endpoint: known.endpoint ?? 'default',
      customer,
      userData,
    });
    return {
      data: {
        id: s.sessionId,
        sessionId: s.sessionId,
        selfUri: s.selfUri,
        clientToken: s.clientToken,
        participantId: s.participantId,
        transportId: s.transportId,
        conversationId: s.conversation.id,
        endpoint: s.conversation.endpoint,
        state: s.conversation.state,
      },
    };
  });

  router.get(`${BASE}/:sessionId`, async (ctx) => {
    const { claims, row } = await liveSession(ctx);
    const conv = await chat.get(claims.conversationId, claims.ccid);
    if (!conv) throw new AppError('SESSION_NOT_FOUND');
    return {
      data: {
        id: row.id,
        selfUri: `${BASE}/${row.id}`,
        conversationId: conv.id,
        participantId: row.participant_id,
        state: conv.state,
        lastSeq: conv.lastSeq,
        chatEnded: row.ended_at !== null,
      },
    };
  });

  /** `?from=<seq>`: messages with seq >= from (default 1); `nextPosition` is the next `from`. */
  router.get(`${BASE}/:sessionId/messages`, async (ctx) => {
    const { claims, row } = await liveSession(ctx);
    const fromRaw = ctx.query.get('from');
    let from = 1;
    if (fromRaw !== null && fromRaw !== '') {
      if (!/^\d{1,15}$/.test(fromRaw)) {
        throw new AppError('VALIDATION_FAILED', 'from: a seq (a whole number)', { field: 'from' });
      }
      from = Math.max(1, Number(fromRaw));
    }
    const limitRaw = ctx.query.get('limit');
    const limit =
      limitRaw && /^\d{1,4}$/.test(limitRaw) ? Math.min(1000, Math.max(1, Number(limitRaw))) : 1000;
    // Read past internal notes too, so that nextPosition moves over them.
    const all = await chat.store.transcript(claims.conversationId, {
      afterSeq: from - 1,
      audience: 'all',
      limit,
    });
    const messages: ChatMessage[] = all.filter((m) => m.visibility === 'all');
    const last = all.length ? all[all.length - 1].seq : from - 1;
    return { data: { messages, nextPosition: last + 1, chatEnded: row.ended_at !== null } };
  });

  router.post(`${BASE}/:sessionId/messages`, async (ctx) => {
    const { claims, row } = await liveSession(ctx);
    if (row.ended_at) throw new AppError('SESSION_ENDED');
    const p = parse(restMessageSchema, dataOf(ctx.body), 'data');
    const from: Participant = {
      participantId: claims.participantId,
      type: 'Customer',
      ...(row.nickname ? { nickname: row.nickname } : {}),
    };
    if (p.type !== 'Text') {
      const tps = deps.config.chat.typingPerSecond;
      const burst = Math.max(1, Math.ceil(tps));
      const d = await deps.state.rateLimiter.consume(
        `chat:typing:${claims.sessionId}`,
        burst,
        (burst / tps) * 1000,
      );
      // Typing is volatile: an excess one is dropped, not an error.
      if (d.allowed) chat.typingFromCustomer(claims.conversationId, from, p.type === 'TypingStarted');
      return { data: { type: p.type, delivered: d.allowed } };
    }
    await spendMessageBudget(deps, claims.sessionId);
    const r = await chat.append(
      claims.conversationId,
      {
        type: 'Text',
        from,
        text: p.text,
        ...(p.content ? { content: p.content } : {}),
        clientMessageId: p.clientMessageId,
        visibility: 'all',
      },
      { ccid: claims.ccid },
    );
    return { data: { id: r.id, seq: r.seq, duplicate: r.duplicate, message: r.message } };
  });

  const end = async (ctx: HttpContext) => {
    const { claims } = await liveSession(ctx);
    await chat.endSession(claims.sessionId, 'customer');
    return { data: { id: claims.sessionId, chatEnded: true } };
  };
  router.post(`${BASE}/:sessionId/end`, end);
  router.delete(`${BASE}/:sessionId`, end);
}
