/**
 * Campaign SMS through the outbound API, on both engines, against every SMS provider's fake (the
 * SMS suites' harnesses): the provider gets the SMS from the channel's sender id, the state reads
 * `sent` with the provider's id, the provider's own receipt (through its inbound route) moves it to
 * `delivered`; and a provider that is down is retried to the limit, failed, and re-driven.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxOutcome, receipts } from '../email/receipts.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { HARNESSES, phone, type SmsHarness } from '../sms/providers.js';

describe.each(engines())('outbound SMS campaigns (%s)', (engine) => {
  let t: TestNexus;
  let events: ReturnType<typeof receipts>;
  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { plugins: { circuitFailures: 50 } } });
    events = receipts(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  describe.each(HARNESSES.map((h) => [h().name, h] as const))('through %s', (_name, make) => {
    let h: SmsHarness;
    let tenant: TestTenant;
    const channelId = phone();
    beforeAll(async () => {
      h = make();
      await h.start();
      tenant = await createTenant(t);
      await h.provision(t, tenant, channelId, { maxAttempts: 3 });
    });
    afterAll(async () => {
      await h?.close();
    });
    const send = (json: unknown) =>
      api(t.url, 'POST', `/nexus/v3/outbound/${tenant.ccid}/messages`, {
        headers: keyHeaders(tenant.apiKey),
        json,
      });

    it('sends from the sender id, reads sent, and the provider receipt makes it delivered', async () => {
      const r = await send({ channelId, to: '+1 (650) 555-0199', text: 'Your appointment is at 10:00.' });
      expect(r.status).toBe(202);
      const id = r.body.data.messageId;
      const sent = await events.wait(id, 'sent');
      expect(sent.channelType).toBe('sms');
      const accepted = h.accepted();
      expect(accepted).toHaveLength(1);
      const got = h.read(accepted[0]);
      expect(got.text).toBe('Your appointment is at 10:00.');
      expect(got.to.replace(/^\+/, '')).toBe('16505550199');
      expect(got.from.replace(/^\+/, '')).toBe(channelId);
      const read = await api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(read.body.data).toMatchObject({
        state: 'sent',
        channelType: 'sms',
        to: '+16505550199',
        providerMessageId: got.providerId,
      });

      const receipt = await h.receipt(t, tenant, channelId, got.providerId, 'delivered');
      expect(receipt.status).toBeLessThan(300);
      await events.wait(id, 'delivered');
    });

    it('email-only fields are refused for an SMS channel', async () => {
      const r = await send({ channelId, to: '+16505550199', text: 'x', subject: 'no' });
      expect([r.status, r.body.status.code]).toEqual([400, 1004]);
      const bad = await send({ channelId, to: 'someone@example.org', text: 'x' });
      expect([bad.status, bad.body.status.code]).toEqual([400, 1004]);
    });

    it('a provider that is down: retried to the SMS maxAttempts, failed, re-driven once it is back', async () => {
      const before = h.server.requests.length;
      h.server.goDown(503);
      const r = await send({ channelId, to: '+16505550100', text: 'retry me' });
      const id = r.body.data.messageId;
      await events.wait(id, 'failed');
      expect(h.server.requests.length - before).toBe(3);
      h.server.recover();
      const dead = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=dead`, {
        headers: keyHeaders(tenant.apiKey),
      });
      const entry = dead.body.data.entries.find((e: any) => e.payload.messageId === id);
      expect(entry).toMatchObject({ kind: 'outbound', target: h.service, attempts: 3, maxAttempts: 3 });
      const done = outboxOutcome(t, entry.id);
      const redrive = await api(t.url, 'POST', `/nexus/v3/outbox/${tenant.ccid}/${entry.id}/redrive`, {
        headers: keyHeaders(tenant.apiKey),
      });
      expect(redrive.status).toBe(200);
      await events.wait(id, 'sent');
      expect(await done).toBe('done');
    });
  });
});
