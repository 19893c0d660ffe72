/**
 * Portico email (`PorticoEmail`): outbound email through the Genesys Cloud messaging aggregation,
 * as an agentless email (`POST {url}/api/v2/conversations/emails/agentless`) with a bearer token
 * from the tenant's `PurecloudIDP` service. The service's `url` is the Genesys Cloud API URL.
 */
import { z } from 'zod';
import { retryableStatus } from '../http-client.js';
import { PurecloudTokens, purecloudIdpConfig } from '../purecloud-idp.js';
import { definePlugin } from '../sdk.js';
import { type OutboundEmail, PluginError, type SendResult } from '../types.js';

const config = z.object({
  url: z.string().url(),
  data: z.record(z.unknown()).default({}),
  secret: z.record(z.unknown()).default({}),
  services: z.object({ PurecloudIDP: purecloudIdpConfig }),
});

export function agentlessEmail(msg: OutboundEmail): Record<string, unknown> {
  return {
    senderType: 'Outbound',
    fromAddress: { email: msg.from, ...(msg.fromName ? { name: msg.fromName } : {}) },
    toAddresses: [{ email: msg.to }],
    ...(msg.replyTo ? { replyToAddress: { email: msg.replyTo } } : {}),
    subject: msg.subject,
    ...(msg.text !== undefined ? { textBody: msg.text } : {}),
    ...(msg.html !== undefined ? { htmlBody: msg.html } : {}),
  };
}

export const porticoEmail = definePlugin({
  name: 'portico-email',
  kind: 'email',
  version: '1.0.0',
  config,
  create(ctx) {
    const tokens = new PurecloudTokens(ctx.config.services.PurecloudIDP, ctx.http, ctx.kv);
    const url = `${ctx.config.url.replace(/\/+$/, '')}/api/v2/conversations/emails/agentless`;
    const body = (msg: OutboundEmail) => JSON.stringify(agentlessEmail(msg));
    const post = async (msg: OutboundEmail) =>
      ctx.http.request(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${await tokens.token()}`, 'content-type': 'application/json' },
        body: body(msg),
      });
    return {
      async send(msg: OutboundEmail): Promise<SendResult> {
        let res = await post(msg);
        if (res.status === 401) {
          // The cached token was revoked or expired early: fetch a fresh one once.
          await tokens.drop();
          res = await post(msg);
        }
        if (res.status < 200 || res.status >= 300) {
          throw new PluginError(`the messaging aggregation answered ${res.status}`, {
            retryable: retryableStatus(res.status),
            status: res.status,
          });
        }
        let answer: { id?: unknown; conversationId?: unknown } = {};
        try {
          answer = res.json();
        } catch {
          // an empty answer still means accepted
        }
        const id = answer.id ?? answer.conversationId;
        return { ...(typeof id === 'string' && id ? { providerMessageId: id } : {}), state: 'sent' };
      },
    };
  },
});
