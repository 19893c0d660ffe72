/**
 * Provider receipts of campaign SMS (the outbound API), on both engines: a receipt's state change
 * commits in the receipt's own transaction, so a node gone right after that commit (nothing runs
 * after it: no live subscriber, no notification) loses none; and a receipt that overtakes the send's
 * answer is applied when the answer is recorded. Each moves the message's state once, and its
 * `delivery.receipt` event reaches live subscribers after the commit that made it. A receipt that
 * matches no conversation SMS is kept in `sms_early_receipts` only until it is applied (in either
 * order); one that nothing ever claims is deleted once it is older than seven days, by a later one.
 */
import { randomUUID } from 'node:crypto';
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

  /** The tenant's kept receipts, by provider id. */
  const kept = async (tenant: TestTenant) =>
    (
      await t.nexus.db.query(
        'SELECT provider_message_id, state FROM sms_early_receipts WHERE ccid = $1 ORDER BY provider_message_id',
        [tenant.ccid],
      )
    ).rows;

  /** The states told for a campaign message. */
  const told = (id: string) => events.seen.filter((e) => e.data.messageId === id).map((e) => e.data.state);

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
    // Kept until the answer applies it, and then gone.
    expect(await kept(tenant)).toEqual([{ provider_message_id: id, state: 'delivered' }]);
    expect((await read(tenant, id)).state).toBe('queued');
    h.server.recover();
    await events.wait(id, 'delivered');
    expect(await read(tenant, id)).toMatchObject({ state: 'delivered', providerMessageId: id });
    expect(await kept(tenant)).toEqual([]);
    expect(told(id)).toEqual(['queued', 'sent', 'delivered']);
  });

  it('a receipt after the send answer is applied once and kept nowhere, also when the provider sends it again', async () => {
    const { h, tenant, channelId } = await campaign(twilioHarness);
    const r = await send(tenant, channelId, 'Your order is ready.');
    expect(r.status).toBe(202);
    const id = r.body.data.messageId;
    await events.wait(id, 'sent');
    const providerId = h.read(h.accepted()[0]).providerId;
    expect((await h.receipt(t, tenant, channelId, providerId, 'delivered')).status).toBe(200);
    expect(await read(tenant, id)).toMatchObject({ state: 'delivered', providerMessageId: providerId });
    expect(await kept(tenant)).toEqual([]);
    // The provider did not hear our 200 and sends it again: nothing moves, nothing is kept.
    expect((await h.receipt(t, tenant, channelId, providerId, 'delivered')).status).toBe(200);
    expect(await read(tenant, id)).toMatchObject({ state: 'delivered' });
    expect(await kept(tenant)).toEqual([]);
    await events.wait(id, 'delivered');
    expect(told(id)).toEqual(['queued', 'sent', 'delivered']);
  });

  it('a receipt nothing claims is deleted after seven days by a later one, and not before', async () => {
    const { h, tenant, channelId } = await campaign(twilioHarness);
    const [old, recent, fresh] = ['a', 'b', 'c'].map((p) => `${p}-SM${randomUUID().replace(/-/g, '')}`);
    for (const id of [old, recent]) {
      const r = await h.receipt(t, tenant, channelId, id, 'delivered');
      expect(r.status).toBe(200);
    }
    const age = (id: string, days: number) =>
      t.nexus.db.query(
        `UPDATE sms_early_receipts SET created_at = now() - $3::int * interval '1 day'
          WHERE ccid = $1 AND provider_message_id = $2`,
        [tenant.ccid, id, days],
      );
    await age(old, 8);
    await age(recent, 6);
    expect((await kept(tenant)).map((k) => k.provider_message_id)).toEqual([old, recent]);
    expect((await h.receipt(t, tenant, channelId, fresh, 'undelivered')).status).toBe(200);
    expect(await kept(tenant)).toEqual([
      { provider_message_id: recent, state: 'delivered' },
      { provider_message_id: fresh, state: 'undelivered' },
    ]);
  });
});
