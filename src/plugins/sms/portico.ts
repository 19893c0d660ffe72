/**
 * Portico SMS: the SMS aggregation service behind Genesys Cloud. `PorticoSMS` holds the API URL;
 * the OAuth client credentials come from the tenant's `PurecloudIDP` service (the host gives them
 * to this plugin as `services.PurecloudIDP`), and the client-credentials token is cached in the
 * plugin's key-value store until a minute before `expires_in`.
 *
 * Outbound MT: `POST {url}/httpapi/receiver` with `Authorization: Bearer <token>` and the
 * aggregation API's form parameters (`phone_number`, `sender`, `message`, `message_id`,
 * `receipt=TRUE`, `conversation_id`, `priority`). Our message id is the MT's `message_id`, which
 * receipts echo, so it is also the provider id. (The path of the MT call behind the Genesys Cloud
 * API URL is not public: this is our documented contract with it.)
 *
 * Inbound MO (`POST /nexus/v3/sms/message`) and receipts (`POST /nexus/v3/sms/receipt`) are
 * form-encoded (JSON accepted too). Their credentials (HTTP Basic ccid / API key) are checked by the
 * route before this plugin parses them.
 */
import { z } from 'zod';
import { retryableStatus } from '../http-client.js';
import { PurecloudTokens, purecloudIdpConfig } from '../purecloud-idp.js';
import { definePlugin } from '../sdk.js';
import type { Attachment, InboundEvent, InboundRequest, OutboundSms, SendResult } from '../types.js';
import { PluginError } from '../types.js';
import { unreadable } from './signatures.js';
import { porticoState } from './states.js';
import { digitsOnly, fields, optStr, str } from './wire.js';

const config = z.object({
  url: z.string().url(),
  data: z
    .object({
      priority: z.enum(['BULK_LOW', 'BULK', 'INTERACTIVE_LOW', 'INTERACTIVE']).default('INTERACTIVE'),
      appId: z.string().optional(),
    })
    .passthrough()
    .default({}),
  secret: z.record(z.unknown()).default({}),
  services: z.object({ PurecloudIDP: purecloudIdpConfig }),
});

export const PORTICO_MT_PATH = '/httpapi/receiver';

/** MMS parts of an MO: `mms_attachment[n].content_type` and `.content` (base64) → data URLs. */
function mmsParts(f: Record<string, unknown>): Attachment[] | undefined {
  const out: Attachment[] = [];
  for (let n = 0; n < 10; n++) {
    const content = optStr(f, `mms_attachment[${n}].content`);
    if (!content) continue;
    const type = optStr(f, `mms_attachment[${n}].content_type`) ?? 'application/octet-stream';
    if (!/^[\w.+-]+\/[\w.+-]+$/.test(type) || !/^[A-Za-z0-9+/=\s]+$/.test(content)) continue;
    out.push({ url: `data:${type};base64,${content.replace(/\s+/g, '')}`, mediaType: type });
  }
  return out.length ? out : undefined;
}

export const porticoSms = definePlugin({
  name: 'portico-sms',
  kind: 'sms',
  version: '1.0.0',
  config,
  create(ctx) {
    const tokens = new PurecloudTokens(ctx.config.services.PurecloudIDP, ctx.http, ctx.kv);
    const base = ctx.config.url.replace(/\/+$/, '');

    return {
      async send(msg: OutboundSms): Promise<SendResult> {
        const token = await tokens.token();
        const form = new URLSearchParams({
          phone_number: digitsOnly(msg.to),
          sender: digitsOnly(msg.from),
          message: msg.text,
          message_id: msg.messageId,
          receipt: 'TRUE',
          priority: ctx.config.data.priority,
          ...(msg.conversationId ? { conversation_id: msg.conversationId } : {}),
          ...(ctx.config.data.appId ? { app_id: ctx.config.data.appId } : {}),
        });
        const res = await ctx.http.request(base + PORTICO_MT_PATH, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: form.toString(),
        });
        if (res.status === 401) {
          // The token was revoked or expired early: fetch a new one on the next attempt.
          await tokens.drop();
          throw new PluginError('the aggregation API refused the token', { retryable: true, status: 401 });
        }
        if (res.status < 200 || res.status >= 300) {
          throw new PluginError(`the aggregation API answered ${res.status}`, {
            retryable: retryableStatus(res.status),
            status: res.status,
          });
        }
        return { providerMessageId: msg.messageId, state: 'sent' };
      },

      async parseInbound(req: InboundRequest): Promise<InboundEvent[]> {
        const f = fields(req.rawBody, req.headers['content-type']);
        const path = new URL(req.url, 'http://x').pathname;
        const type = (optStr(f, 'type') ?? '').toLowerCase();
        if (path.endsWith('/receipt') || type === 'receipt') {
          const code = str(f, 'message_state');
          const state = porticoState(code);
          if (!state) throw unreadable(`message_state ${code.slice(0, 10)} is not a known state`);
          const result = optStr(f, 'result_code');
          return [
            {
              type: 'receipt',
              providerMessageId: str(f, 'message_id'),
              state,
              ...(result && result !== '0' ? { error: `result_code ${result}` } : {}),
            },
          ];
        }
        const media = mmsParts(f);
        const text = optStr(f, 'message') ?? '';
        if (!text && !media) throw unreadable('message is required');
        return [
          {
            type: 'message',
            providerMessageId: str(f, 'message_id'),
            channelId: str(f, 'shortcode'),
            from: str(f, 'phone_number'),
            text,
            ...(media ? { media } : {}),
          },
        ];
      },
    };
  },
});
