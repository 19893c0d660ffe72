/**
 * Async email: the third-party messaging webhook for email domains. The tenant's `Async` service
 * lists its channels (a sender id or an email domain each) with the webhook URL, and per channel
 * the webhook secret that signs what we send (`X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body>`).
 * Static `header:<name>` properties of the service are sent as headers. The gateway must answer
 * within 10 s; a 5xx asks for a redelivery; the answer's `messageId` matches later receipts.
 * (The SMS side of the same service is `src/plugins/sms/async.ts`.)
 */
import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { retryableStatus } from '../http-client.js';
import { definePlugin, secret } from '../sdk.js';
import { type OutboundEmail, PluginError, type SendResult } from '../types.js';

const config = z.object({
  url: z.string().optional(),
  data: z
    .object({
      channels: z.array(
        z.object({ channelId: z.string(), webhook: z.object({ url: z.string().url() }) }).passthrough(),
      ),
    })
    .catchall(z.unknown()),
  // All of it is secret (the redaction of logged configs does not look inside arrays).
  secret: secret(
    z.object({
      channels: z.array(
        z
          .object({
            channelId: z.string(),
            webhook: z.object({ secret: secret(z.string().min(1)) }),
          })
          .passthrough(),
      ),
    }),
  ),
});

export const ASYNC_TIMEOUT_MS = 10_000;

/** The email domain of an address (`news@company.com` → `company.com`). */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** The webhook body: one outgoing email message. */
export function asyncEmailBody(msg: OutboundEmail, channelId: string): Record<string, unknown> {
  return {
    messages: [
      {
        id: msg.messageId,
        type: 'Text',
        channel: {
          id: channelId,
          type: 'email',
          from: { id: msg.from, ...(msg.fromName ? { nickname: msg.fromName } : {}) },
          to: { id: msg.to },
        },
        subject: msg.subject,
        ...(msg.text !== undefined ? { text: msg.text } : {}),
        ...(msg.html !== undefined ? { html: msg.html } : {}),
        ...(msg.replyTo ? { replyTo: msg.replyTo } : {}),
        ...(msg.conversationId ? { conversationId: msg.conversationId } : {}),
      },
    ],
  };
}

export const asyncEmail = definePlugin({
  name: 'async-email',
  kind: 'email',
  version: '1.0.0',
  config,
  create(ctx) {
    const staticHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.config.data)) {
      if (k.startsWith('header:') && typeof v === 'string') staticHeaders[k.slice('header:'.length)] = v;
    }
    return {
      async send(msg: OutboundEmail): Promise<SendResult> {
        const domain = domainOf(msg.from);
        const channel = ctx.config.data.channels.find((c) => c.channelId.toLowerCase() === domain);
        const key = ctx.config.secret.channels.find((c) => c.channelId.toLowerCase() === domain);
        if (!channel || !key)
          throw new PluginError(`the Async service has no channel for the email domain ${domain}`, {
            retryable: false,
          });
        const body = JSON.stringify(asyncEmailBody(msg, channel.channelId));
        const res = await ctx.http.request(channel.webhook.url, {
          method: 'POST',
          timeoutMs: ASYNC_TIMEOUT_MS,
          headers: {
            ...staticHeaders,
            'content-type': 'application/json',
            'x-hub-signature': `sha1=${createHmac('sha1', key.webhook.secret).update(body).digest('hex')}`,
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
        // Without a messageId the email is still sent; receipts just cannot be matched to it.
        return {
          ...(typeof id === 'string' && id ? { providerMessageId: id } : {}),
          state: 'sent',
        };
      },
    };
  },
});
