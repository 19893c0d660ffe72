/**
 * SparkPost (`SparkPostEmail`): `POST {url}/api/v1/transmissions` with the raw API key in the
 * `Authorization` header. The guide's service is `{ url: $sparkpostURL, secret: { apikey } }`; the
 * url may be the host (`https://api.sparkpost.com`) or already end in `/api/v1`.
 */
import { z } from 'zod';
import { retryableStatus } from '../http-client.js';
import { definePlugin, secret } from '../sdk.js';
import { type OutboundEmail, PluginError, type SendResult } from '../types.js';

const config = z.object({
  url: z.string().url(),
  data: z.record(z.unknown()).default({}),
  secret: z.object({ apikey: secret(z.string().min(1)) }),
});

export function transmissionsUrl(base: string): string {
  const b = base.replace(/\/+$/, '');
  return /\/api\/v1$/.test(b) ? `${b}/transmissions` : `${b}/api/v1/transmissions`;
}

/** The transmission body for one recipient with inline content. */
export function transmission(msg: OutboundEmail): Record<string, unknown> {
  return {
    recipients: [{ address: { email: msg.to } }],
    content: {
      from: msg.fromName ? { email: msg.from, name: msg.fromName } : msg.from,
      subject: msg.subject,
      ...(msg.text !== undefined ? { text: msg.text } : {}),
      ...(msg.html !== undefined ? { html: msg.html } : {}),
      ...(msg.replyTo ? { reply_to: msg.replyTo } : {}),
    },
    // Our id travels with the message so SparkPost's event webhooks can name it.
    metadata: {
      messageId: msg.messageId,
      ...(msg.conversationId ? { conversationId: msg.conversationId } : {}),
    },
  };
}

export const sparkPostEmail = definePlugin({
  name: 'sparkpost-email',
  kind: 'email',
  version: '1.0.0',
  config,
  create(ctx) {
    const url = transmissionsUrl(ctx.config.url);
    return {
      async send(msg: OutboundEmail): Promise<SendResult> {
        const res = await ctx.http.request(url, {
          method: 'POST',
          headers: {
            authorization: ctx.config.secret.apikey,
            'content-type': 'application/json',
            accept: 'application/json',
          },
          body: JSON.stringify(transmission(msg)),
        });
        if (res.status < 200 || res.status >= 300) {
          throw new PluginError(`SparkPost answered ${res.status}: ${errorText(res.text)}`, {
            retryable: retryableStatus(res.status),
            status: res.status,
          });
        }
        let id: unknown;
        try {
          id = res.json<{ results?: { id?: unknown } }>().results?.id;
        } catch {
          id = undefined;
        }
        if (typeof id !== 'string' && typeof id !== 'number')
          throw new PluginError('SparkPost accepted the transmission without a results.id', {
            retryable: false,
          });
        return { providerMessageId: String(id), state: 'sent' };
      },
    };
  },
});

/** SparkPost's `errors[].message`, or the start of the body: never the request (it has the key). */
function errorText(text: string): string {
  try {
    const errors = (JSON.parse(text) as { errors?: Array<{ message?: string; description?: string }> })
      .errors;
    if (errors?.length)
      return errors
        .map((e) => e.description ?? e.message)
        .join('; ')
        .slice(0, 300);
  } catch {
    // not JSON
  }
  return text.slice(0, 200);
}
