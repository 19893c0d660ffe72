/**
 * Kaleyra (formerly mGage), the `mGageSMS` service: `url` is the account's API base (the guide's
 * example `http://directtext.mgage.com`; on Kaleyra.io `https://api.<pod>.kaleyra.io/v1/<SID>`),
 * `secret.username` / `secret.password` the account's credentials.
 *
 * Outbound: `POST {url}/sms` (Kaleyra.io's send call), form-encoded `to`, `sender`, `body`, `type`
 * and `callback` (our delivery URL), with the credentials as HTTP Basic. The provider id is the
 * answer's `data[0].message_id` (or `id`).
 *
 * Inbound and delivery callbacks arrive at `POST /nexus/v3/sms/kaleyra/{ccid}` from a Kaleyra
 * callback profile (JSON or form). How Kaleyra authenticates callbacks is not public beyond
 * "static headers or Basic auth" per profile, so our rule is: the callback profile sends HTTP Basic
 * with the tenant's own mGageSMS username and password, compared in constant time; anything else
 * is refused before the body is read. A callback with `message` is an inbound SMS (`source`,
 * `recipient`, `message`, `id`); one with `status` is a delivery report (`id`, `status`,
 * `description`).
 */
import { z } from 'zod';
import { retryableStatus } from '../http-client.js';
import { definePlugin, secret } from '../sdk.js';
import type { InboundEvent, InboundRequest, OutboundSms, SendResult } from '../types.js';
import { PluginError } from '../types.js';
import { basicCredentials, basicHeader, refused, safeEqual, unreadable } from './signatures.js';
import { kaleyraState } from './states.js';
import { digitsOnly, fields, optStr, str } from './wire.js';

const config = z.object({
  url: z.string().url(),
  data: z
    .object({ type: z.string().min(1).default('TXN') })
    .passthrough()
    .default({}),
  secret: z.object({ username: z.string().min(1), password: secret(z.string().min(1)) }),
});

function providerId(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const first = Array.isArray(b.data) ? (b.data[0] as Record<string, unknown> | undefined) : undefined;
  for (const v of [first?.message_id, first?.id, b.message_id, b.id]) {
    if (typeof v === 'string' && v) return v;
    if (typeof v === 'number') return String(v);
  }
  return undefined;
}

export const kaleyraSms = definePlugin({
  name: 'kaleyra-sms',
  kind: 'sms',
  version: '1.0.0',
  config,
  create(ctx) {
    const { username, password } = ctx.config.secret;
    const base = ctx.config.url.replace(/\/+$/, '');

    return {
      async send(msg: OutboundSms): Promise<SendResult> {
        const form = new URLSearchParams({
          to: `+${digitsOnly(msg.to)}`,
          sender: msg.from,
          body: msg.text,
          type: ctx.config.data.type,
          ...(msg.callbackUrl ? { callback: msg.callbackUrl } : {}),
        });
        const res = await ctx.http.request(`${base}/sms`, {
          method: 'POST',
          headers: {
            authorization: basicHeader(username, password),
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: form.toString(),
        });
        if (res.status < 200 || res.status >= 300) {
          throw new PluginError(`Kaleyra answered ${res.status}`, {
            retryable: retryableStatus(res.status),
            status: res.status,
          });
        }
        let body: unknown;
        try {
          body = res.json();
        } catch {
          body = undefined;
        }
        const id = providerId(body);
        return { ...(id ? { providerMessageId: id } : {}), state: 'sent' };
      },

      async parseInbound(req: InboundRequest): Promise<InboundEvent[]> {
        const given = basicCredentials(req.headers.authorization);
        // Both halves are always compared, so a right user name is not faster to find.
        const userOk = safeEqual(given?.user ?? '', username);
        const passOk = safeEqual(given?.password ?? '', password);
        if (!given || !userOk || !passOk) throw refused('the callback credentials are not the mGageSMS ones');
        const f = fields(req.rawBody, req.headers['content-type']);
        const message = optStr(f, 'message');
        if (message !== undefined || optStr(f, 'source')) {
          return [
            {
              type: 'message',
              providerMessageId: str(f, 'id'),
              channelId: str(f, 'recipient'),
              from: str(f, 'source'),
              text: message ?? '',
              ...(optStr(f, 'timestamp') ? { timestamp: optStr(f, 'timestamp') } : {}),
            },
          ];
        }
        const status = str(f, 'status');
        const state = kaleyraState(status);
        if (!state) throw unreadable(`status ${status.slice(0, 40)} is not a known delivery status`);
        const error = optStr(f, 'description');
        return [
          {
            type: 'receipt',
            providerMessageId: str(f, 'id'),
            state,
            ...(error && state !== 'delivered' && state !== 'sent' ? { error } : {}),
          },
        ];
      },
    };
  },
});
