/**
 * A campaign email whose provider is down when the gateway restarts: the delivery survives the
 * restart in the outbox and is sent, once, when the provider is back (both engines; the embedded
 * database on disk).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startSparkPostFake } from '../fakes/email/sparkpost.js';
import type { EmailFake } from '../fakes/email/types.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders } from '../helpers/tenants.js';
import { receipts } from './receipts.js';

describe.each(engines())('outbound across a restart (%s)', (engine) => {
  let t: TestNexus | undefined;
  let fake: EmailFake | undefined;
  afterAll(async () => {
    await t?.cleanup();
    await fake?.close();
  });

  it('a delivery being retried when the gateway restarts is sent once afterwards', async () => {
    fake = await startSparkPostFake('key-1');
    t = await startNexus({ engine, onDisk: true });
    const tenant = await createTenant(t);
    const admin = { authorization: `Bearer ${t.adminToken}` };
    const put = async (path: string, json: unknown) => {
      const r = await api(t!.url, 'PUT', `/nexus/v3/provisioning/${path}`, { headers: admin, json });
      expect(r.status).toBeLessThan(300);
    };
    await put(`services/${tenant.ccid}/SparkPostEmail`, { url: fake.url, secret: { apikey: 'key-1' } });
    await put(`services/${tenant.ccid}/Email`, {
      url: 'N/A',
      data: { provider: 'SparkPost', maxAttempts: 20 },
    });
    await put(`channels/${tenant.ccid}/cxc.News`, { channelId: 'news.example.com' });

    fake.server.failAll({ status: 503, body: { errors: [{ message: 'down' }] } });
    const r = await api(t.url, 'POST', `/nexus/v3/outbound/${tenant.ccid}/messages`, {
      headers: keyHeaders(tenant.apiKey),
      json: { channelId: 'news.example.com', to: 'reader@example.org', subject: 'Issue 12', text: 'News.' },
    });
    expect(r.status).toBe(202);
    const id = r.body.data.messageId;
    await fake.server.waitForRequests(1);

    t = await t.restart();
    const events = receipts(t);
    fake.server.recover();
    const sent = await events.wait(id, 'sent', 30_000);
    expect(sent.data.providerMessageId).toBe(fake.accepted[0].providerId);
    expect(fake.accepted).toHaveLength(1);
    const read = await api(t.url, 'GET', `/nexus/v3/outbound/${tenant.ccid}/messages/${id}`, {
      headers: keyHeaders(tenant.apiKey),
    });
    expect(read.body.data.state).toBe('sent');
    expect(read.body.data.attempts).toBeGreaterThanOrEqual(2);
    // Embedded: a first boot on disk and a restart (23 s in all with six busy cores beside it on 2;
    // the first boot alone took up to 26 s in the customer-presence suite under a load of 8).
  }, 90_000);
});
