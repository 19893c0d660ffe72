/**
 * Provider receipts of campaign SMS (the outbound API), on both engines: a receipt's state change
 * commits in the receipt's own transaction, so a node gone right after that commit (nothing runs
 * after it: no live subscriber, no notification) loses none; and a receipt that overtakes the send's
 * answer is applied when the answer is recorded. Each moves the message's state once, and its
 * `delivery.receipt` event reaches live subscribers after the commit that made it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventBus } from '../../src/plugins/bus.js';
import { receipts } from '../email/receipts.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { phone, porticoHarness, type SmsHarness, twilioHarness } from '../sms/providers.js';

/** Everything a node does with the bus after a commit fails, as if the node died right there. */
function breakPublishPath(bus: EventBus): () => void {
  const { publish, published } = bus;
  bus.publish = async () => {
    throw new Error('node gone after the commit');
  };
  bus.published = () => {
    throw new Error('node gone after the commit');
  };
  return () => {
    bus.publish = publish;
    bus.published = published;
  };
}

describe.each(engines())('campaign SMS receipts (%s)', (engine) => {
  let t: TestNexus;
  let events: ReturnType<typeof receipts>;
  const harnesses: SmsHarness[] = [];
  beforeAll(async () => {
    t = await startNexus({ engine });
    events = receipts(t);
  });
  afterAll(async () => {
    await t?.cleanup();
    for (const h of harnesses) await h.close();
  });

  async function campaign(make: () => SmsHarness) {
    const h = make();
    harnesses.push(h);
    await h.start();
    const tenant = await createTenant(t);
    const channelId = phone();
    await h.provision(t, tenant, channelId, { maxAttempts: 5 });
    return { h, tenant, channelId };
  }

  const send = (tenant: TestTenant, channelId: string, text: string) =>
    api(t.url, 'POST', `/nexus/v3/outbound/${tenant.ccid}/messages`, {
      headers: keyHeaders(tenant.apiKey),
      json: { channelId, to: '+16505550199', text },
    });

  const read = async (tenant: TestTenant, id: string) =>
    (
      await api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
        headers: keyHeaders(tenant.apiKey),
      })
    ).body.data;

  it('a node gone right after a receipt commits: the message is delivered all the same', async () => {
    const { h, tenant, channelId } = await campaign(twilioHarness);
    const r = await send(tenant, channelId, 'Your order is ready.');
    expect(r.status).toBe(202);
    const id = r.body.data.messageId;
    await events.wait(id, 'sent');
    const providerId = h.read(h.accepted()[0]).providerId;
    const restore = breakPublishPath(t.nexus.plugins.bus);
    try {
      expect((await h.receipt(t, tenant, channelId, providerId, 'delivered')).status).toBe(200);
    } finally {
      restore();
    }
    expect(await read(tenant, id)).toMatchObject({ state: 'delivered', providerMessageId: providerId });
    // Told to live subscribers only by the node that committed it: none here.
    expect(events.seen.filter((e) => e.data.messageId === id).map((e) => e.data.state)).toEqual([
      'queued',
      'sent',
    ]);
  });

  it('a receipt that overtakes the send answer is applied when the answer is recorded, and told once', async () => {
    const { h, tenant, channelId } = await campaign(porticoHarness);
    h.server.goDown(503);
    const r = await send(tenant, channelId, 'Your table is ready.');
    expect(r.status).toBe(202);
    const id = r.body.data.messageId;
    await h.server.until((x) => x.status === 503);
    // Portico's provider id is the message id we send, so its receipt can name it before the answer.
    expect((await h.receipt(t, tenant, channelId, id, 'delivered')).status).toBe(200);
    expect((await read(tenant, id)).state).toBe('queued');
    h.server.recover();
    await events.wait(id, 'delivered');
    expect(await read(tenant, id)).toMatchObject({ state: 'delivered', providerMessageId: id });
    expect(events.seen.filter((e) => e.data.messageId === id).map((e) => e.data.state)).toEqual([
      'queued',
      'sent',
      'delivered',
    ]);
  });
});
