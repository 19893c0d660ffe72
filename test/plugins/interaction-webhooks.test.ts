/**
 * Interaction webhooks on both engines: a chat conversation that is queued sends STARTED, one that
 * is done sends FINISHED, to every `InteractionWebhook-*` service of its tenant only, in the
 * EventsPayload shape, signed with the service's signing key, with a B3 trace id; a receiver that
 * does not answer 200 gets the same notification again until it does.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FakeServer, type RecordedRequest, startFakeServer } from '../../src/plugins/testing.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';

const CRM_KEY = 'crm-signing-key-0b7e';
const BI_KEY = 'bi-signing-key-41aa';

function verify(req: RecordedRequest, key: string): void {
  const expected = `sha1=${createHmac('sha1', key).update(req.body).digest('hex')}`;
  expect(req.headers['x-hub-signature']).toBe(expected);
  expect(req.headers['content-type']).toMatch(/^application\/json/);
  expect(req.headers['x-b3-traceid']).toMatch(/^[0-9a-f]{32}$/);
}

describe.each(engines())('interaction webhooks (%s)', (engine) => {
  let t: TestNexus;
  let crm: FakeServer;
  let bi: FakeServer;
  let tenant: TestTenant;
  let other: TestTenant;
  let biCalls = 0;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { fqdn: 'digital.example.com' } });
    crm = await startFakeServer(() => ({ status: 200, body: { status: { code: 0 }, data: { ids: [] } } }));
    // Answers 202, then 503, then 200 to each notification: only the 200 counts.
    bi = await startFakeServer(() => {
      biCalls++;
      const n = biCalls % 3;
      return n === 1
        ? { status: 202, body: {} }
        : n === 2
          ? { status: 503, body: 'busy' }
          : { status: 200, body: {} };
    });
    tenant = await createTenant(t);
    other = await createTenant(t);
    const admin = { authorization: `Bearer ${t.adminToken}` };
    for (const [name, url, key] of [
      ['InteractionWebhook-crm', `${crm.url}/some/interactions/webhook/path`, CRM_KEY],
      ['InteractionWebhook-bi', `${bi.url}/hook`, BI_KEY],
    ]) {
      const r = await api(t.url, 'POST', `/nexus/v3/provisioning/services/${tenant.ccid}/${name}`, {
        headers: admin,
        json: { url, secret: { signingKey: key }, data: {} },
      });
      expect(r.status).toBeLessThan(300);
    }
  });
  afterAll(async () => {
    await t?.cleanup();
    await crm?.close();
    await bi?.close();
  });

  it('the service needs a URL and a signing key, and never shows the key', async () => {
    const admin = { authorization: `Bearer ${t.adminToken}` };
    const bad = await api(
      t.url,
      'POST',
      `/nexus/v3/provisioning/services/${tenant.ccid}/InteractionWebhook-x`,
      {
        headers: admin,
        json: { url: 'https://x.example.com', secret: {} },
      },
    );
    expect([bad.status, bad.body.status.code]).toEqual([400, 1004]);
    const read = await api(
      t.url,
      'GET',
      `/nexus/v3/provisioning/services/${tenant.ccid}/InteractionWebhook-crm`,
      {
        headers: admin,
      },
    );
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain(CRM_KEY);
  });

  it('STARTED when queued and FINISHED when done, signed, to each webhook, retried until 200', async () => {
    // Another tenant's conversation must reach neither webhook.
    await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: keyHeaders(other.apiKey),
      json: { data: { nickname: 'Someone else' } },
    });
    const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: keyHeaders(tenant.apiKey),
      json: { data: { nickname: 'Ada', email: 'ada@example.org' } },
    });
    expect(s.status).toBe(200);
    const id = s.body.data.conversationId;

    const [started] = await crm.waitForRequests(1);
    expect(started.method).toBe('POST');
    expect(started.path).toBe('/some/interactions/webhook/path');
    verify(started, CRM_KEY);
    const body = started.json();
    expect(body).toEqual({
      operationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      data: {
        entities: [
          {
            event: 'STARTED',
            entity: {
              id,
              mediaType: 'chat',
              interactionSubtype: 'InboundNew',
              selfUri: `https://digital.example.com/nexus/v3/interactions/${id}`,
            },
          },
        ],
      },
    });

    // The failing receiver: the same signed notification three times, the third answered 200.
    const biStarted = await bi.waitForRequests(3);
    for (const r of biStarted) {
      verify(r, BI_KEY);
      expect(r.body).toBe(biStarted[0].body);
      expect(r.headers['x-b3-traceid']).toBe(biStarted[0].headers['x-b3-traceid']);
    }
    expect(biStarted[0].json().data.entities[0].event).toBe('STARTED');

    const done = await api(t.url, 'POST', `/nexus/v3/interactions/${id}/done`, {
      headers: keyHeaders(tenant.apiKey),
    });
    expect(done.status).toBe(200);
    const [, finished] = await crm.waitForRequests(2);
    verify(finished, CRM_KEY);
    expect(finished.json().data.entities).toEqual([
      { event: 'FINISHED', entity: body.data.entities[0].entity },
    ]);
    expect(finished.json().operationId).not.toBe(body.operationId);

    const biAll = await bi.waitForRequests(6);
    expect(biAll.slice(3).map((r) => r.json().data.entities[0].event)).toEqual([
      'FINISHED',
      'FINISHED',
      'FINISHED',
    ]);

    // Each notification was delivered once it got its 200: nothing pending, nothing dead.
    // (The outbox records `done` right after the receiver's 200.)
    const admin = { authorization: `Bearer ${t.adminToken}` };
    let list: Awaited<ReturnType<typeof api>> | undefined;
    await vi.waitFor(
      async () => {
        list = await api(t.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=done`, { headers: admin });
        const webhooks = list.body.data.entries.filter((e: any) => e.kind === 'interaction-webhook');
        expect(webhooks.map((e: any) => [e.target, e.attempts]).sort()).toEqual([
          ['InteractionWebhook-bi', 3],
          ['InteractionWebhook-bi', 3],
          ['InteractionWebhook-crm', 1],
          ['InteractionWebhook-crm', 1],
        ]);
      },
      { timeout: 10_000 },
    );
    // "Retried until a 200": days of attempts (2,000 at up to 5 minutes apart), not the default 8.
    const { rows: limits } = await t.nexus.db.query(
      `SELECT DISTINCT max_attempts FROM outbox WHERE ccid = $1 AND kind = 'interaction-webhook'`,
      [tenant.ccid],
    );
    expect(limits).toEqual([{ max_attempts: 2000 }]);
    expect(JSON.stringify(list?.body)).not.toContain(CRM_KEY);
    expect(crm.requests).toHaveLength(2);
  });
});
