/**
 * Async SMS: the third-party messaging API. The tenant's `Async` service lists its channels (sender
 * ids) with the webhook URL, and per channel two secrets: `api.secret` signs what the third party
 * sends us, `webhook.secret` signs what we send it (`X-Hub-Signature: sha1=<hex HMAC-SHA1 of the
 * raw body>`). Static `header:<name>` properties of the service go out as headers.
 *
 * Inbound (verified here before anything is read): `POST /nexus/v3/channels/{channelId}/messages`
 * (`{ messages: [ { id, type, text, content?, channel: { from: { id } } } ] }` or one such
 * message), `/media` (a multipart upload, see routes.ts) and `/receipts`
 * (`{ receipts: [ { messageId, status, error? } ] }` or one receipt; status in our vocabulary).
 * The message and receipt shapes are not public: these are our documented contract.
 *
 * Outbound: the webhook, answered within 10 s with a 2xx and `{ messageId }` (kept to match
 * receipts); a 5xx asks for a redelivery.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { channelKey } from '../../gateway/channels/schema.js';
import { retryableStatus } from '../http-client.js';
import { definePlugin, secret } from '../sdk.js';
import type { Attachment, InboundEvent, InboundRequest, OutboundSms, SendResult } from '../types.js';
import { PluginError } from '../types.js';
import { hubSignature, refused, unreadable, verifyHubSignature } from './signatures.js';
import { ownState } from './states.js';
import { jsonObject, optStr, str } from './wire.js';

const config = z.object({
  url: z.string().optional(),
  data: z
    .object({
      channels: z.array(
        z
          .object({
            channelId: z.string().min(1),
            webhook: z.object({ url: z.string().url() }).passthrough(),
          })
          .passthrough(),
      ),
    })
    .catchall(z.unknown()),
  secret: secret(
    z.object({
      channels: z.array(
        z
          .object({
            channelId: z.string().min(1),
            webhook: z.object({ secret: z.string().min(1) }),
            api: z.object({ secret: z.string().min(1) }),
          })
          .passthrough(),
      ),
    }),
  ),
});

export const ASYNC_WEBHOOK_TIMEOUT_MS = 10_000;

/** `/nexus/v3/channels/{channelId}/{messages|media|receipts}` → its parts. */
export function asyncPath(url: string): { channelId: string; kind: string } | undefined {
  const path = new URL(url, 'http://x').pathname;
  const m = /\/channels\/([^/]+)\/(messages|media|receipts)\/?$/.exec(path);
  return m ? { channelId: decodeURIComponent(m[1]), kind: m[2] } : undefined;
}

/** The webhook body of one outgoing SMS (the `OutgoingSmsMessage` of the messaging API). */
export function asyncSmsBody(msg: OutboundSms, channelId: string): Record<string, unknown> {
  return {
    messages: [
      {
        id: msg.messageId,
        type: msg.media?.length ? 'RichMedia' : 'Text',
        channel: { id: channelId, type: 'sms', from: { id: msg.from }, to: { id: msg.to } },
        text: msg.text,
        ...(msg.media?.length
          ? { content: msg.media.map((m) => ({ url: m.url, mimetype: m.mediaType, filename: m.name })) }
          : {}),
        ...(msg.conversationId ? { conversationId: msg.conversationId } : {}),
      },
    ],
  };
}

function list(body: Record<string, unknown>, key: string): Record<string, unknown>[] {
  const items = Array.isArray(body[key]) ? (body[key] as unknown[]) : [body];
  if (items.length === 0 || items.length > 100) throw unreadable(`${key} must hold 1 to 100 entries`);
  return items.map((x) => {
    if (!x || typeof x !== 'object' || Array.isArray(x)) throw unreadable(`each of ${key} must be an object`);
    return x as Record<string, unknown>;
  });
}

function media(m: Record<string, unknown>): Attachment[] | undefined {
  if (!Array.isArray(m.content)) return undefined;
  const out: Attachment[] = [];
  for (const c of m.content.slice(0, 10)) {
    if (!c || typeof c !== 'object') continue;
    const o = c as Record<string, unknown>;
    const url = optStr(o, 'url');
    if (!url) continue;
    const mediaType = optStr(o, 'mimetype') ?? optStr(o, 'mediaType');
    const name = optStr(o, 'filename') ?? optStr(o, 'name');
    out.push({ url, ...(mediaType ? { mediaType } : {}), ...(name ? { name } : {}) });
  }
  return out.length ? out : undefined;
}

export const asyncSms = definePlugin({
  name: 'async-sms',
  kind: 'sms',
  version: '1.0.0',
  config,
  create(ctx) {
    const staticHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.config.data)) {
      if (k.startsWith('header:') && typeof v === 'string') staticHeaders[k.slice('header:'.length)] = v;
    }
    const channelOf = (id: string) =>
      ctx.config.data.channels.find((c) => channelKey(c.channelId) === channelKey(id));
    const keysOf = (id: string) =>
      ctx.config.secret.channels.find((c) => channelKey(c.channelId) === channelKey(id));

    return {
      async send(msg: OutboundSms): Promise<SendResult> {
        const channel = channelOf(msg.from);
        const keys = keysOf(msg.from);
        if (!channel || !keys)
          throw new PluginError(`the Async service has no channel ${msg.from}`, { retryable: false });
        const body = JSON.stringify(asyncSmsBody(msg, channel.channelId));
        const res = await ctx.http.request(channel.webhook.url, {
          method: 'POST',
          timeoutMs: ASYNC_WEBHOOK_TIMEOUT_MS,
          headers: {
            ...staticHeaders,
            'content-type': 'application/json',
            'x-hub-signature': hubSignature(keys.webhook.secret, body),
            'x-b3-traceid': randomBytes(16).toString('hex'),
          },
          body,
        });
        if (res.status < 200 || res.status >= 300) {
          throw new PluginError(`the Async webhook answered ${res.status}`, {
            retryable: retryableStatus(res.status),
            status: res.status,
          });
        }
        let id: unknown;
        try {
          id = res.json<{ messageId?: unknown }>().messageId;
        } catch {
          id = undefined;
        }
        return { ...(typeof id === 'string' && id ? { providerMessageId: id } : {}), state: 'sent' };
      },

      async parseInbound(req: InboundRequest): Promise<InboundEvent[]> {
        const where = asyncPath(req.url);
        if (!where) throw unreadable('not a third-party messaging path');
        const keys = keysOf(where.channelId);
        // Verify before reading anything: a channel without keys verifies nothing.
        if (!keys || !verifyHubSignature(keys.api.secret, req.rawBody, req.headers['x-hub-signature']))
          throw refused('X-Hub-Signature does not verify');
        if (where.kind === 'media') return [];
        const body = jsonObject(req.rawBody);
        if (where.kind === 'receipts') {
          return list(body, 'receipts').map((r) => {
            const status = str(r, 'status');
            const state = ownState(status);
            if (!state)
              throw unreadable(
                `status ${status.slice(0, 40)} is not one of queued, sent, delivered, failed, undelivered`,
              );
            const error = optStr(r, 'error');
            return {
              type: 'receipt' as const,
              providerMessageId: str(r, 'messageId'),
              state,
              ...(error ? { error } : {}),
            };
          });
        }
        return list(body, 'messages').map((m) => {
          const channel = (m.channel && typeof m.channel === 'object' ? m.channel : {}) as Record<
            string,
            unknown
          >;
          const from = (channel.from && typeof channel.from === 'object' ? channel.from : {}) as Record<
            string,
            unknown
          >;
          const att = media(m);
          const text = optStr(m, 'text') ?? '';
          if (!text && !att) throw unreadable('a message needs text or content');
          return {
            type: 'message' as const,
            providerMessageId: str(m, 'id'),
            channelId: where.channelId,
            from: str(from, 'id'),
            text,
            ...(att ? { media: att } : {}),
          };
        });
      },
    };
  },
});
