/**
 * conversation-notifier: a webhook plugin for the nexus gateway, in one file.
 *
 * It tells a team chat (any "incoming webhook" that takes `{ "text": "..." }`, as Slack,
 * Mattermost and Rocket.Chat do) when a conversation starts and when it is done. The gateway hands
 * it every event of the tenant it is provisioned for; it keeps the two it cares about.
 *
 * Load it:      NEXUS_PLUGINS_MODULES=./examples/conversation-notifier/conversation-notifier.mjs
 * Provision it: PUT /nexus/v3/provisioning/services/{ccid}/Plugin-conversation-notifier
 *               { "url": "https://chat.example.com/hooks/abc", "data": { "channel": "#care" },
 *                 "secret": { "token": "..." } }
 */
import { definePlugin, PluginError, secret, z } from 'nexus-gateway/sdk';

export default definePlugin({
  name: 'conversation-notifier',
  kind: 'webhook',
  version: '1.0.0',
  // The service's { url, data, secret }, checked when the plugin is first used for a tenant.
  config: z.object({
    url: z.string().url(),
    data: z.object({ channel: z.string().optional() }).default({}),
    // secret(): encrypted at rest by the gateway, never logged, never returned by its API.
    secret: z.object({ token: secret(z.string().min(1)) }),
  }),

  create(ctx) {
    const { url, data, secret: keys } = ctx.config;
    return {
      async deliver(event) {
        const text = describe(event);
        if (!text) return; // not an event this plugin tells anyone about

        // The gateway delivers at least once: remember what was posted, so a retry is not a repost.
        const seen = `posted:${event.id}`;
        if (await ctx.kv.get(seen)) return;

        const res = await ctx.http.request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.token}` },
          body: JSON.stringify({ text, ...(data.channel ? { channel: data.channel } : {}) }),
          timeoutMs: 5000,
        });
        if (res.status >= 500 || res.status === 429) {
          // Retryable: the gateway tries again later, with backoff, then dead-letters it.
          throw new PluginError(`the chat webhook answered ${res.status}`, {
            retryable: true,
            status: res.status,
          });
        }
        if (res.status >= 300) {
          // Not retryable: the same request would be refused again (a revoked token, a bad URL).
          throw new PluginError(`the chat webhook refused the post (${res.status})`, {
            retryable: false,
            status: res.status,
          });
        }
        await ctx.kv.set(seen, '1', 24 * 3600 * 1000);
        ctx.log.debug({ event: event.type, conversationId: event.conversationId }, 'posted');
      },
    };
  },
});

/**
 * The line to post for an event, or nothing.
 * @param {import('nexus-gateway/sdk').BusEvent} event
 * @returns {string | undefined}
 */
export function describe(event) {
  // Narrowing on the type gives `data` its shape: these two events carry the conversation.
  if (event.type !== 'conversation.created' && event.type !== 'conversation.state-changed') return undefined;
  const c = event.data.conversation;
  const who = c.customer?.nickname ?? c.customer?.email ?? c.customer?.phone ?? 'a customer';
  if (event.type === 'conversation.created')
    return `New ${c.channel} conversation with ${who} (${c.state}${c.queue ? `, queue ${c.queue}` : ''}) ${c.id}`;
  if (c.state === 'done' && event.data.previous?.state !== 'done')
    return `Conversation with ${who} is done ${c.id}`;
  return undefined;
}
