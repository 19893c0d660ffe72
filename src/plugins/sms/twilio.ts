/**
 * Twilio, the `TwilioSMS` service: `data.accountSid`, `secret.authToken`, and optionally `url` (the
 * API base, `https://api.twilio.com` when absent).
 *
 * Outbound: the Messages API, `POST {url}/2010-04-01/Accounts/{sid}/Messages.json`, HTTP Basic
 * `sid:token`, form `To`, `From`, `Body`, `MediaUrl`, `StatusCallback`; the answer's `sid` is the
 * provider id.
 *
 * Inbound messages and status callbacks arrive at `POST /nexus/v3/sms/twilio/{ccid}` and carry
 * `X-Twilio-Signature`: HMAC-SHA1 keyed with the auth token over the public URL Twilio called
 * followed by the sorted form parameters, base64. The route passes the URL the gateway is reached at
 * (`nexus.fqdn`, else the request's own); it is tried with and without the scheme's default port,
 * as Twilio's own libraries do.
 */
import { z } from 'zod';
import { retryableStatus } from '../http-client.js';
import { definePlugin, secret } from '../sdk.js';
import type { Attachment, InboundEvent, InboundRequest, OutboundSms, SendResult } from '../types.js';
import { PluginError } from '../types.js';
import { basicHeader, refused, safeEqual, twilioSignature, unreadable } from './signatures.js';
import { twilioState } from './states.js';
import { e164, formParams, optStr, str } from './wire.js';

const config = z.object({
  url: z.string().url().optional(),
  data: z.object({ accountSid: z.string().min(1) }).passthrough(),
  secret: z.object({ authToken: secret(z.string().min(1)) }),
});

export const TWILIO_API = 'https://api.twilio.com';

/** The URL as given and with the scheme's default port toggled (Twilio may sign either). */
function urlVariants(url: string): string[] {
  try {
    const u = new URL(url);
    const port = u.protocol === 'https:' ? '443' : '80';
    if (u.port) return [url, url.replace(`${u.host}`, u.hostname)];
    const withPort = `${u.protocol}//${u.username ? `${u.username}:${u.password}@` : ''}${u.hostname}:${port}${u.pathname}${u.search}`;
    return [url, withPort];
  } catch {
    return [url];
  }
}

export const twilioSms = definePlugin({
  name: 'twilio-sms',
  kind: 'sms',
  version: '1.0.0',
  config,
  create(ctx) {
    const sid = ctx.config.data.accountSid;
    const token = ctx.config.secret.authToken;
    const base = (ctx.config.url ?? TWILIO_API).replace(/\/+$/, '');

    return {
      async send(msg: OutboundSms): Promise<SendResult> {
        const form = new URLSearchParams({ To: e164(msg.to), From: e164(msg.from), Body: msg.text });
        for (const m of msg.media ?? []) if (/^https?:\/\//i.test(m.url)) form.append('MediaUrl', m.url);
        if (msg.callbackUrl) form.set('StatusCallback', msg.callbackUrl);
        const res = await ctx.http.request(
          `${base}/2010-04-01/Accounts/${encodeURIComponent(sid)}/Messages.json`,
          {
            method: 'POST',
            headers: {
              authorization: basicHeader(sid, token),
              'content-type': 'application/x-www-form-urlencoded',
              accept: 'application/json',
            },
            body: form.toString(),
          },
        );
        if (res.status < 200 || res.status >= 300) {
          let detail = '';
          try {
            const e = res.json<{ code?: unknown; message?: unknown }>();
            if (e.code !== undefined) detail = ` (code ${String(e.code).slice(0, 10)})`;
          } catch {
            // not JSON
          }
          throw new PluginError(`Twilio answered ${res.status}${detail}`, {
            retryable: retryableStatus(res.status),
            status: res.status,
          });
        }
        let providerMessageId: string | undefined;
        try {
          const b = res.json<{ sid?: unknown }>();
          if (typeof b.sid === 'string' && b.sid) providerMessageId = b.sid;
        } catch {
          providerMessageId = undefined;
        }
        return { ...(providerMessageId ? { providerMessageId } : {}), state: 'sent' };
      },

      async parseInbound(req: InboundRequest): Promise<InboundEvent[]> {
        const header = req.headers['x-twilio-signature'] ?? '';
        const params = formParams(req.rawBody);
        let ok = false;
        for (const url of urlVariants(req.url)) {
          // Every variant is computed and compared: no early exit that times which one matched.
          ok = safeEqual(header, twilioSignature(token, url, params)) || ok;
        }
        if (!header || !ok) throw refused('X-Twilio-Signature does not verify');
        const f: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(params)) f[k] = Array.isArray(v) ? v[0] : v;
        if (optStr(f, 'AccountSid') && !safeEqual(optStr(f, 'AccountSid')!, sid))
          throw refused('the request is for another Twilio account');
        const status = optStr(f, 'MessageStatus');
        if (status && status.toLowerCase() !== 'received') {
          const state = twilioState(status);
          if (!state) throw unreadable(`MessageStatus ${status.slice(0, 40)} is not a known status`);
          const code = optStr(f, 'ErrorCode');
          return [
            {
              type: 'receipt',
              providerMessageId: optStr(f, 'MessageSid') ?? str(f, 'SmsSid'),
              state,
              ...(code ? { error: `ErrorCode ${code.slice(0, 10)}` } : {}),
            },
          ];
        }
        const media: Attachment[] = [];
        const n = Math.min(Number(optStr(f, 'NumMedia') ?? '0') || 0, 10);
        for (let i = 0; i < n; i++) {
          const url = optStr(f, `MediaUrl${i}`);
          const type = optStr(f, `MediaContentType${i}`);
          if (url) media.push({ url, ...(type ? { mediaType: type } : {}) });
        }
        const text = optStr(f, 'Body') ?? '';
        if (!text && !media.length) throw unreadable('Body is required');
        return [
          {
            type: 'message',
            providerMessageId: optStr(f, 'MessageSid') ?? str(f, 'SmsSid'),
            channelId: str(f, 'To'),
            from: str(f, 'From'),
            text,
            ...(media.length ? { media } : {}),
          },
        ];
      },
    };
  },
});
