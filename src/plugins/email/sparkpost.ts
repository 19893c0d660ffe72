/**
 * SparkPost (`SparkPostEmail`): `POST {url}/api/v1/transmissions` with the raw API key in the
 * `Authorization` header. The guide's service is `{ url: $sparkpostURL, secret: { apikey } }`; the
 * url may be the host (`https://api.sparkpost.com`) or already end in `/api/v1`.
 */
import { z } from 'zod';
import { retryableStatus } from '../http-client.js';
import { definePlugin, secret } from '../sdk.js';
import {
  type DeliveryState,
  type InboundEvent,
  type InboundRequest,
  type OutboundEmail,
  PluginError,
  type SendResult,
} from '../types.js';

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

/** SparkPost message events → our delivery states (the others, e.g. `delay`, change nothing). */
const EVENT_STATES: Record<string, DeliveryState> = {
  injection: 'sent',
  delivery: 'delivered',
  bounce: 'undelivered',
  out_of_band: 'undelivered',
  policy_rejection: 'failed',
  generation_failure: 'failed',
  generation_rejection: 'failed',
};

/**
 * A SparkPost event webhook batch: `[{ msys: { message_event: { type, transmission_id, … } } }]`.
 * The transmission id is the provider id `send` reported. (The route verifies the caller first.)
 */
export function parseSparkPostEvents(body: unknown): InboundEvent[] {
  if (!Array.isArray(body))
    throw new PluginError('a SparkPost event batch is a JSON array', { retryable: false, status: 400 });
  const out: InboundEvent[] = [];
  for (const item of body.slice(0, 10_000)) {
    const msys = (item as { msys?: Record<string, any> } | null)?.msys;
    const e = msys?.message_event;
    if (!e || typeof e !== 'object') continue; // other event groups, and the empty test batch
    const state = EVENT_STATES[e.type];
    const id = e.transmission_id;
    if (!state || (typeof id !== 'string' && typeof id !== 'number')) continue;
    const reason =
      typeof e.raw_reason === 'string' ? e.raw_reason : typeof e.reason === 'string' ? e.reason : undefined;
    out.push({
      type: 'receipt',
      providerMessageId: String(id),
      state,
      ...(reason && state !== 'delivered' && state !== 'sent' ? { error: reason.slice(0, 300) } : {}),
      ...(typeof e.timestamp === 'string' ? { timestamp: e.timestamp } : {}),
    });
  }
  return out;
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
      async parseInbound(req: InboundRequest): Promise<InboundEvent[]> {
        return parseSparkPostEvents(req.body);
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
  // Not SparkPost's error shape: the URL may not be SparkPost at all (a tenant sets it), so none of
  // the answer is echoed back to the tenant through the outbox's lastError.
  return '(no SparkPost error body)';
}
