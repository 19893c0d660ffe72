/**
 * Inbound details beyond the shared contract, on both engines: tenant isolation of sender ids,
 * cxcOnly channels, the Async media upload and x-ccid, Portico's cluster key and token cache,
 * Twilio checked against `nexus.fqdn`, early receipts, bad bodies, and no secret in the logs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Participant } from '../../src/gateway/chat/events.js';
import { agentToken, putAgent, putEndpoint } from '../chat/routing-helpers.js';
import { sign } from '../fakes/sms/async.js';
import { engines } from '../helpers/engines.js';
import { collectLogs } from '../helpers/logs.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createApiKey, createTenant } from '../helpers/tenants.js';
import { asyncHarness, phone, porticoHarness, type SmsHarness, twilioHarness } from './providers.js';
import { eventually } from './wait.js';

const AGENT: Participant = { participantId: 'agent-x', type: 'Agent', nickname: 'X' };

describe.each(engines())('SMS inbound details on %s engines', (engine) => {
  let t: TestNexus;
  const logs = collectLogs();
  const harnesses: SmsHarness[] = [];
  let asyncH: ReturnType<typeof asyncHarness>;
  let portico: ReturnType<typeof porticoHarness>;

  beforeAll(async () => {
    t = await startNexus({ engine, logDestination: logs.stream });
    asyncH = asyncHarness();
    portico = porticoHarness();
    harnesses.push(asyncH, portico);
    for (const h of harnesses) await h.start();
  });
  afterAll(async () => {
    await t?.cleanup();
    for (const h of harnesses) await h.close();
  });

  const q = async (sql: string, params: unknown[]) => (await t.nexus.db.query(sql, params)).rows;
  const stored = async (ccid: string) => ({
    inbound: (await q('SELECT 1 FROM sms_inbound WHERE ccid = $1', [ccid])).length,
    conversations: (await q('SELECT 1 FROM conversations WHERE ccid = $1', [ccid])).length,
  });

  async function tenantWith(h: SmsHarness, opts: { cxcOnly?: boolean } = {}) {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'sms', { queue: 'sms' });
    const channelId = phone();
    await h.provision(t, tenant, channelId, opts);
    return { tenant, channelId };
  }

  it("a tenant's credentials cannot deliver to another tenant's sender id", async () => {
    const a = await tenantWith(portico);
    const b = await tenantWith(portico);
    const r = await portico.inbound(t, b.tenant, a.channelId, { id: randomUUID(), from: phone(), text: 'x' });
    expect(r.status).toBe(404);
    expect(r.body.status.code).toBe(5000);
    expect(await stored(a.tenant.ccid)).toEqual({ inbound: 0, conversations: 0 });
    expect(await stored(b.tenant.ccid)).toEqual({ inbound: 0, conversations: 0 });

    // Async: the channel names its tenant; an x-ccid naming another one is refused.
    const c = await tenantWith(asyncH);
    const body = { messages: [{ id: 'm1', text: 'x', channel: { from: { id: phone() } } }] };
    const raw = JSON.stringify(body);
    const res = await fetch(`${t.url}/nexus/v3/channels/${c.channelId}/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-ccid': a.tenant.ccid,
        'x-hub-signature': sign(asyncH.fake.apiSecret, raw),
      },
      body: raw,
    });
    expect(res.status).toBe(401);
    expect(await stored(c.tenant.ccid)).toEqual({ inbound: 0, conversations: 0 });
  });

  it('a cxcOnly channel records the message and opens no conversation', async () => {
    const { tenant, channelId } = await tenantWith(asyncH, { cxcOnly: true });
    const m = { id: `cxc-${randomUUID()}`, from: phone(), text: 'STOP' };
    expect((await asyncH.inbound(t, tenant, channelId, m)).status).toBe(200);
    expect((await asyncH.inbound(t, tenant, channelId, m)).status).toBe(200);
    const rows = await q('SELECT text, conversation_id FROM sms_inbound WHERE ccid = $1', [tenant.ccid]);
    expect(rows).toEqual([{ text: 'STOP', conversation_id: null }]);
    expect((await stored(tenant.ccid)).conversations).toBe(0);
  });

  it('Async: media upload is verified over the raw multipart body and answers a genesys:// url', async () => {
    const { tenant, channelId } = await tenantWith(asyncH);
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('GIF89a-fake-image')], { type: 'image/gif' }), 'pic.gif');
    const req = new Request('http://x', { method: 'POST', body: form });
    const raw = Buffer.from(await req.arrayBuffer());
    const type = req.headers.get('content-type') ?? '';
    const secretOf = asyncH.fake.apiSecret;
    const send = (signature: string) =>
      fetch(`${t.url}/nexus/v3/channels/${channelId}/media`, {
        method: 'POST',
        headers: { 'content-type': type, 'x-ccid': tenant.ccid, 'x-hub-signature': signature },
        body: raw,
      });
    const forged = await send(sign('wrong', raw));
    expect(forged.status).toBe(401);
    expect(await q('SELECT 1 FROM sms_media WHERE ccid = $1', [tenant.ccid])).toHaveLength(0);
    const ok = await send(sign(secretOf, raw));
    expect(ok.status).toBe(200);
    const data = (await ok.json()).data;
    expect(data).toMatchObject({ filename: 'pic.gif', mimetype: 'image/gif', length: 17 });
    expect(data.url).toBe(`genesys://nexus/${data.mediaId}`);
    const m = { id: `media-${randomUUID()}`, from: phone(), text: '' };
    const raw2 = JSON.stringify({
      messages: [
        {
          id: m.id,
          type: 'RichMedia',
          content: [{ url: data.url, mimetype: 'image/gif' }],
          channel: { from: { id: m.from } },
        },
      ],
    });
    const r = await fetch(`${t.url}/nexus/v3/channels/${channelId}/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-ccid': tenant.ccid,
        'x-hub-signature': sign(secretOf, raw2),
      },
      body: raw2,
    });
    expect(r.status).toBe(200);
    const [row] = await q(
      'SELECT m.content FROM messages m JOIN sms_inbound i ON i.message_id = m.id WHERE i.ccid = $1 AND i.provider_message_id = $2',
      [tenant.ccid, m.id],
    );
    // Stored with the URL the tenant's agents fetch it at.
    const path = `/nexus/v3/sms/${tenant.ccid}/media/${data.mediaId}`;
    expect(row.content.attachments).toEqual([{ url: path, mediaType: 'image/gif' }]);
    await putAgent(t, tenant, 'ann', { name: 'Ann', queues: ['sms'], capacity: 1 });
    const token = await agentToken(t, tenant, 'ann');
    const asAgent = await fetch(t.url + path, { headers: { authorization: `Bearer ${token}` } });
    expect(asAgent.status).toBe(200);
    expect(asAgent.headers.get('content-type')).toBe('image/gif');
    expect(Buffer.from(await asAgent.arrayBuffer()).toString()).toBe('GIF89a-fake-image');
    const other = await createTenant(t);
    expect((await fetch(t.url + path, { headers: { 'x-api-key': other.apiKey } })).status).toBe(403);
    const otherPath = `/nexus/v3/sms/${other.ccid}/media/${data.mediaId}`;
    expect((await fetch(t.url + otherPath, { headers: { 'x-api-key': other.apiKey } })).status).toBe(404);
    expect((await fetch(t.url + path)).status).toBe(401);
  });

  it('Portico: the guide cluster key works; a key without the permission, or none, is refused', async () => {
    const { tenant, channelId } = await tenantWith(portico);
    const cluster = await createApiKey(t, {
      tenant: '*',
      name: 'Portico Cluster API Key',
      permissions: ['nexus:cluster:*'],
    });
    const narrow = await createApiKey(t, { tenant: tenant.ccid, permissions: ['nexus:consumer:chat'] });
    const post = (password: string, id: string) =>
      fetch(`${t.url}/nexus/v3/sms/message`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${tenant.ccid}:${password}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          type: 'MO',
          message_id: id,
          shortcode: channelId,
          phone_number: phone(),
          message: 'hi',
        }).toString(),
      });
    expect((await post(cluster.apiKey, `c-${randomUUID()}`)).status).toBe(200);
    expect((await post(narrow.apiKey, `n-${randomUUID()}`)).status).toBe(403);
    const none = await fetch(`${t.url}/nexus/v3/sms/message`, { method: 'POST', body: 'type=MO' });
    expect(none.status).toBe(401);
    expect((await stored(tenant.ccid)).inbound).toBe(1);
  });

  it('Portico: the PurecloudIDP token is fetched once, reused, and fetched again when refused', async () => {
    const { tenant, channelId } = await tenantWith(portico);
    const id = `tok-${randomUUID()}`;
    await portico.inbound(t, tenant, channelId, { id, from: phone(), text: 'hi' });
    const [{ conversation_id: conv }] = await q(
      'SELECT conversation_id FROM sms_inbound WHERE provider_message_id = $1',
      [id],
    );
    const fake = portico.server;
    const tokenCalls = () =>
      fake.requests.filter((r) => r.path === '/oauth/token' && r.status === 200).length;
    const before = tokenCalls();
    const mts = () => fake.requests.filter((r) => r.path === '/httpapi/receiver' && r.status === 200).length;
    const m0 = mts();
    await t.nexus.chat.append(conv, { from: AGENT, text: 'one' });
    await t.nexus.chat.append(conv, { from: AGENT, text: 'two' });
    await fake.until((r) => r.path === '/httpapi/receiver' && r.status === 200, m0 + 2);
    expect(tokenCalls() - before).toBe(1);
    expect(fake.requests.filter((r) => r.path === '/httpapi/receiver').at(-1)?.headers.authorization).toMatch(
      /^Bearer /,
    );
    portico.fake.revokeTokens();
    await t.nexus.chat.append(conv, { from: AGENT, text: 'three' });
    await fake.until((r) => r.path === '/httpapi/receiver' && r.status === 200, m0 + 3);
    expect(tokenCalls() - before).toBe(2);
  });

  it('Twilio: the signature is checked against nexus.fqdn when it is set', async () => {
    const fqdn = 'https://nexus.example.com';
    const g = await startNexus({ engine, nexus: { fqdn } });
    const h = twilioHarness();
    await h.start();
    try {
      const tenant = await createTenant(g);
      await putEndpoint(g, tenant, 'sms', { queue: 'sms' });
      const channelId = phone();
      await h.provision(g, tenant, channelId);
      const fake = h.fake;
      const params = {
        MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
        AccountSid: fake.accountSid,
        From: `+${phone()}`,
        To: `+${channelId}`,
        Body: 'signed for the public URL',
      };
      const twilio = (await import('twilio')).default;
      const post = (signedUrl: string) =>
        fetch(`${g.url}/nexus/v3/sms/twilio/${tenant.ccid}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature': twilio.getExpectedTwilioSignature(fake.authToken, signedUrl, params),
          },
          body: new URLSearchParams(params).toString(),
        });
      // Signed for the URL the gateway is reached at through its public name: accepted.
      const ok = await post(`${fqdn}/nexus/v3/sms/twilio/${tenant.ccid}`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('<Response>');
      // Signed for the node's own address: not the public URL, refused.
      expect((await post(`${g.url}/nexus/v3/sms/twilio/${tenant.ccid}`)).status).toBe(401);
      expect(
        (await g.nexus.db.query('SELECT 1 FROM sms_inbound WHERE ccid = $1', [tenant.ccid])).rows,
      ).toHaveLength(1);
    } finally {
      await g.cleanup();
      await h.close();
    }
    // With a gateway of its own: an embedded boot took over 30 s on 2 cores under a load of 8.
  }, 90_000);

  it('a receipt that overtakes the send answer is applied when the send is recorded', async () => {
    const { tenant, channelId } = await tenantWith(portico);
    const id = `early-${randomUUID()}`;
    await portico.inbound(t, tenant, channelId, { id, from: phone(), text: 'hi' });
    const [{ conversation_id: conv }] = await q(
      'SELECT conversation_id FROM sms_inbound WHERE provider_message_id = $1',
      [id],
    );
    portico.server.goDown(503);
    const sent = await t.nexus.chat.append(conv, { from: AGENT, text: 'racing' });
    await portico.server.until((r) => r.status === 503);
    // Portico's provider id is our message id, so a receipt can name it before the send is recorded.
    expect((await portico.receipt(t, tenant, channelId, sent.id, 'delivered')).status).toBe(200);
    portico.server.recover();
    await eventually(async () => {
      const [row] = await q('SELECT state FROM sms_outbound WHERE message_id = $1', [sent.id]);
      expect(row.state).toBe('delivered');
    });
  });

  it('answers bad bodies with a 4xx catalog code and stores nothing', async () => {
    const { tenant, channelId } = await tenantWith(asyncH);
    const secret = asyncH.fake.apiSecret;
    const bad = [
      'not json',
      '[]',
      '{"messages":[]}',
      '{"messages":[{"text":"no id"}]}',
      '{"messages":[{"id":"x","channel":{"from":{"id":"1"}}}]}',
    ];
    for (const raw of bad) {
      const r = await fetch(`${t.url}/nexus/v3/channels/${channelId}/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-ccid': tenant.ccid,
          'x-hub-signature': sign(secret, raw),
        },
        body: raw,
      });
      expect([400, 415], raw).toContain(r.status);
    }
    const receipts = await fetch(`${t.url}/nexus/v3/channels/${channelId}/receipts`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-ccid': tenant.ccid,
        'x-hub-signature': sign(secret, '{"messageId":"a","status":"read"}'),
      },
      body: '{"messageId":"a","status":"read"}',
    });
    expect(receipts.status).toBe(400);
    expect((await receipts.json()).status.code).toBe(5002);
    const unknown = await api(t.url, 'POST', `/nexus/v3/channels/${phone()}/messages`, {
      headers: { 'x-ccid': tenant.ccid },
      json: {},
    });
    expect(unknown.status).toBe(404);
    const noTenant = await api(t.url, 'POST', `/nexus/v3/sms/kaleyra/${randomUUID()}`, { json: { id: '1' } });
    expect(noTenant.status).toBe(404);
    const badCcid = await api(t.url, 'POST', '/nexus/v3/sms/twilio/..%2F..', { form: 'a=b' });
    expect(badCcid.status).toBeGreaterThanOrEqual(400);
    expect(badCcid.status).toBeLessThan(500);
    expect(await stored(tenant.ccid)).toEqual({ inbound: 0, conversations: 0 });
  });

  it("lists a conversation's delivery states to its tenant only; a customer text lifts undelivered", async () => {
    const { tenant, channelId } = await tenantWith(asyncH);
    const other = await createTenant(t);
    const from = phone();
    const id = `d-${randomUUID()}`;
    await asyncH.inbound(t, tenant, channelId, { id, from, text: 'hi' });
    const [{ conversation_id: conv }] = await q(
      'SELECT conversation_id FROM sms_inbound WHERE provider_message_id = $1',
      [id],
    );
    asyncH.server.failNext(1, 400);
    const sent = await t.nexus.chat.append(conv, { from: AGENT, text: 'refused' });
    await eventually(async () => expect((await t.nexus.chat.get(conv))?.state).toBe('undelivered'));
    const path = `/nexus/v3/sms/${tenant.ccid}/conversations/${conv}/deliveries`;
    const r = await api(t.url, 'GET', path, { headers: { 'x-api-key': tenant.apiKey } });
    expect(r.status).toBe(200);
    expect(r.body.data.deliveries).toEqual([
      expect.objectContaining({ messageId: sent.id, seq: sent.seq, service: 'Async', state: 'failed' }),
    ]);
    expect((await api(t.url, 'GET', path, { headers: { 'x-api-key': other.apiKey } })).status).toBe(403);
    const otherPath = `/nexus/v3/sms/${other.ccid}/conversations/${conv}/deliveries`;
    expect((await api(t.url, 'GET', otherPath, { headers: { 'x-api-key': other.apiKey } })).status).toBe(404);

    expect(
      (await asyncH.inbound(t, tenant, channelId, { id: `d-${randomUUID()}`, from, text: 'still there?' }))
        .status,
    ).toBe(200);
    expect((await t.nexus.chat.get(conv))?.state).not.toBe('undelivered');
  });

  it("re-opens the customer's async-held conversation, and opens a new one after Done", async () => {
    const { tenant, channelId } = await tenantWith(asyncH);
    const from = phone();
    const text = async (body: string) => {
      const id = `t-${randomUUID()}`;
      expect((await asyncH.inbound(t, tenant, channelId, { id, from, text: body })).status).toBe(200);
      return (await q('SELECT conversation_id FROM sms_inbound WHERE provider_message_id = $1', [id]))[0]
        .conversation_id as string;
    };
    const first = await text('one');
    await t.nexus.chat.setState(first, { state: 'asynchold' });
    expect(await text('two')).toBe(first);
    await eventually(async () => expect((await t.nexus.chat.get(first))?.state).not.toBe('asynchold'));

    const done = await api(t.url, 'POST', `/nexus/v3/interactions/${first}/done`, {
      headers: { 'x-api-key': tenant.apiKey },
      json: {},
    });
    expect(done.status).toBe(200);
    const second = await text('three');
    expect(second).not.toBe(first);
    expect((await t.nexus.chat.get(second))?.channel).toBe('sms');
  });

  it('never writes a provider secret to the log', async () => {
    const text = logs.text();
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [asyncH.fake.apiSecret, asyncH.fake.webhookSecret, portico.fake.clientSecret]) {
      expect(text).not.toContain(secret);
    }
  });
});
