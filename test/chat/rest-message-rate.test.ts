/**
 * REST messages of a chat session are rate-limited like a socket's (`chat.socketMessageBurst`,
 * `chat.socketMessagesPerSecond`), per session and on every node: a customer cannot flood a
 * conversation, and its agent, through the fallback. A refused message is not stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { newSession } from './helpers.js';

describe.each(engines())('REST chat message rate limit on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  beforeAll(async () => {
    t = await startNexus({
      engine,
      nexus: { chat: { socketMessageBurst: 3, socketMessagesPerSecond: 0.1 } },
    });
    tenant = await createTenant(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const send = (s: { selfUri: string; clientToken: string }, i: number) =>
    api(t.url, 'POST', `${s.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': s.clientToken },
      json: { data: { type: 'Text', text: `m${i}`, clientMessageId: `c${i}` } },
    });

  it('answers 429 MESSAGE_RATE_LIMITED past the burst, stores nothing of it, and leaves other sessions alone', async () => {
    const s = await newSession(t, tenant);
    for (let i = 0; i < 3; i++) expect((await send(s, i)).status).toBe(200);
    const refused = await send(s, 3);
    expect(refused.status).toBe(429);
    expect(refused.body.status.name).toBe('MESSAGE_RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const stored = await api(t.url, 'GET', `${s.selfUri}/messages?from=${s.base + 1}`, {
      headers: { 'x-nexus-client-key': s.clientToken },
    });
    expect(stored.body.data.messages.map((m: { text: string }) => m.text)).toEqual(['m0', 'm1', 'm2']);
    // Another customer's session has its own bucket.
    const other = await newSession(t, tenant);
    expect((await send(other, 0)).status).toBe(200);
  });
});
