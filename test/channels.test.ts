/**
 * Channels (sender ids and email domains) through the public API, on both engines: the options
 * of the guide's "Provision sender IDs" and "email domains" sections, bad input, one owner per
 * channelId across tenants, and the inbound lookup.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelByChannelId, createChannelStore } from '../src/gateway/channels/store.js';
import type { ChannelChange } from '../src/gateway/channels/types.js';
import { createLogger } from '../src/shared/logger.js';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from './helpers/tenants.js';

/** A sender id no other test (or engine run) uses. */
const tfn = () => `1650${randomBytes(4).readUInt32BE(0).toString().padStart(10, '0').slice(0, 7)}`;

describe.each(engines())('channels on %s engines', (engine) => {
  let t: TestNexus;
  let a: TestTenant;
  let b: TestTenant;

  const path = (ccid: string, section?: string) =>
    `/nexus/v3/provisioning/channels/${ccid}${section ? `/${section}` : ''}`;
  const put = (who: TestTenant, section: string, json: unknown) =>
    api(t.url, 'PUT', path(who.ccid, section), { headers: keyHeaders(who.apiKey, who.ccid), json });
  const get = (who: TestTenant, section?: string) =>
    api(t.url, 'GET', path(who.ccid, section), { headers: keyHeaders(who.apiKey, who.ccid) });
  const del = (who: TestTenant, section: string) =>
    api(t.url, 'DELETE', path(who.ccid, section), { headers: keyHeaders(who.apiKey, who.ccid) });

  beforeAll(async () => {
    t = await startNexus({ engine, onDisk: true });
    a = await createTenant(t);
    b = await createTenant(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("provisions a sender id with the guide's options, as JSON or as form strings", async () => {
    const id = tfn();
    const options = {
      channelId: id,
      channelType: 'sms',
      endpoint: 'chat.SMSRouting',
      interactionSubtype: 'SMS',
      interactionType: 'Inbound',
      media: 'chat',
      cxcOnly: false,
    };
    const r = await put(a, 'chat.SMS_Main_Corporate', options);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.data).toEqual({
      ccid: a.ccid,
      section: 'chat.SMS_Main_Corporate',
      ...options,
      // The guide: Portico when no provider is set.
      provider: 'Portico',
      created: expect.any(String),
      updated: expect.any(String),
    });
    expect((await get(a, 'chat.SMS_Main_Corporate')).body.data).toEqual(r.body.data);

    const id2 = tfn();
    const form = await api(t.url, 'PUT', path(a.ccid, 'chat.SMS_CustomerSupport'), {
      headers: keyHeaders(a.apiKey, a.ccid),
      form: new URLSearchParams({
        channelId: id2,
        channelType: 'sms',
        endpoint: 'chat.Support',
        interactionSubtype: 'SMS',
        interactionType: 'Inbound',
        media: 'chat',
        cxcOnly: 'true',
        provider: 'Async',
      }).toString(),
    });
    expect(form.status, JSON.stringify(form.body)).toBe(201);
    expect(form.body.data).toMatchObject({ channelId: id2, cxcOnly: true, provider: 'Async' });

    const list = await get(a);
    expect(list.status).toBe(200);
    expect(list.body.data.channels.map((c: { section: string }) => c.section)).toEqual([
      'chat.SMS_CustomerSupport',
      'chat.SMS_Main_Corporate',
    ]);
  });

  it("provisions an email domain with the guide's options", async () => {
    const domain = `promo-${randomBytes(3).toString('hex')}.company.com`;
    const r = await put(a, 'cxc.Corporate_Promotions', {
      channelId: domain,
      channelType: 'email',
      provider: 'Async',
    });
    expect(r.status).toBe(201);
    expect(r.body.data).toMatchObject({
      channelId: domain,
      channelType: 'email',
      provider: 'Async',
      cxcOnly: false,
    });
    // Without a provider, the tenant's Email service chooses.
    const other = `news-${randomBytes(3).toString('hex')}.company.com`;
    const plain = await put(a, 'cxc.Newsletter', { channelId: other, channelType: 'email' });
    expect(plain.body.data.provider).toBeNull();
    expect((await del(a, 'cxc.Newsletter')).status).toBe(200);
  });

  it('finds the tenant of a sender id or domain for inbound routing', async () => {
    const id = tfn();
    await put(a, 'chat.Lookup', {
      channelId: id,
      channelType: 'sms',
      provider: 'mGage',
      endpoint: 'chat.Lookup',
    });
    const found = await channelByChannelId(t.nexus.db, id);
    expect(found).toMatchObject({
      ccid: a.ccid,
      section: 'chat.Lookup',
      provider: 'mGage',
      endpoint: 'chat.Lookup',
    });
    // Providers write numbers with or without '+'; domains in any case.
    expect((await channelByChannelId(t.nexus.db, `+${id}`))?.ccid).toBe(a.ccid);
    const domain = `Case-${randomBytes(3).toString('hex')}.Example.COM`;
    await put(a, 'cxc.Case', { channelId: domain, channelType: 'email' });
    expect((await channelByChannelId(t.nexus.db, domain.toLowerCase()))?.section).toBe('cxc.Case');
    expect(await channelByChannelId(t.nexus.db, 'unknown-domain.example')).toBeUndefined();
    expect(await channelByChannelId(t.nexus.db, '')).toBeUndefined();

    await del(a, 'chat.Lookup');
    expect(await channelByChannelId(t.nexus.db, id)).toBeUndefined();
  });

  it('lets one section only own a channelId, across tenants, without telling whose it is', async () => {
    const id = tfn();
    expect((await put(a, 'chat.Owned', { channelId: id, channelType: 'sms' })).status).toBe(201);

    for (const claim of [id, `+${id}`]) {
      const r = await put(b, 'chat.Stolen', { channelId: claim, channelType: 'sms' });
      expect(r.status).toBe(409);
      expect(r.body.status.code).toBe(3101);
      expect(r.body.status.details.field).toBe('channelId');
      expect(JSON.stringify(r.body)).not.toContain(a.ccid);
      expect(JSON.stringify(r.body)).not.toContain('chat.Owned');
    }
    expect((await get(b, 'chat.Stolen')).status).toBe(404);

    // Within the tenant the owner is named, since it is the caller's own.
    const same = await put(a, 'chat.Duplicate', { channelId: id, channelType: 'sms' });
    expect(same.status).toBe(409);
    expect(same.body.status.details.section).toBe('chat.Owned');

    // Re-putting the owning section is a replace, not a conflict; moving it frees the old id.
    const moved = tfn();
    expect((await put(a, 'chat.Owned', { channelId: id, channelType: 'sms', media: 'chat' })).status).toBe(
      200,
    );
    expect((await put(a, 'chat.Owned', { channelId: moved, channelType: 'sms' })).status).toBe(200);
    expect((await put(b, 'chat.Stolen', { channelId: id, channelType: 'sms' })).status).toBe(201);
    expect((await channelByChannelId(t.nexus.db, id))?.ccid).toBe(b.ccid);
  });

  it('gives a channelId claimed by two tenants at once to exactly one', async () => {
    const id = tfn();
    const results = await Promise.all([
      put(a, 'chat.Race', { channelId: id, channelType: 'sms' }),
      put(b, 'chat.Race', { channelId: id, channelType: 'sms' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = results[0].status === 201 ? a : b;
    expect((await channelByChannelId(t.nexus.db, id))?.ccid).toBe(winner.ccid);
  });

  it('refuses bad sections and bodies naming the field, storing nothing', async () => {
    const before = (await get(a)).body.data.channels;
    for (const section of ['SMS_Main', 'chat.with space', 'email.x', 'chat.']) {
      const r = await api(t.url, 'PUT', path(a.ccid, encodeURIComponent(section)), {
        headers: keyHeaders(a.apiKey, a.ccid),
        json: { channelId: tfn(), channelType: 'sms' },
      });
      expect(r.status, section).toBe(400);
      expect(r.body.status.code).toBe(1004);
      expect(r.body.status.details.field).toBe('section');
    }
    const cases: Array<[unknown, string]> = [
      [{}, 'channelId'],
      [{ channelId: tfn(), channelType: 'fax' }, 'channelType'],
      [{ channelId: tfn(), cxcOnly: 'sometimes' }, 'cxcOnly'],
      [{ channelId: tfn(), provider: 'Nexmo' }, 'provider'],
      [{ channelId: tfn(), color: 'blue' }, 'color'],
      [{ channelId: 'not a number' }, 'channelType'],
      ['text', 'body'],
    ];
    for (const [json, field] of cases) {
      const r = await put(a, 'chat.Bad', json);
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.status.code).toBe(1004);
      expect(r.body.status.details.field).toBe(field);
    }
    const malformed = await api(t.url, 'PUT', path(a.ccid, 'chat.Bad'), {
      headers: { ...keyHeaders(a.apiKey, a.ccid), 'content-type': 'application/json' },
      body: '{"channelId": "1"',
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.status.code).toBe(1001);
    expect((await get(a)).body.data.channels).toEqual(before);
  });

  it('answers 404 for a missing section (3100) and a missing tenant (3000)', async () => {
    for (const r of [await get(a, 'chat.Nothing'), await del(a, 'chat.Nothing')]) {
      expect(r.status).toBe(404);
      expect(r.body.status.code).toBe(3100);
    }
    const ghost = { ccid: `ghost-${randomBytes(4).toString('hex')}`, apiKey: '' };
    const admin = { authorization: `Bearer ${t.adminToken}` };
    for (const [method, section] of [
      ['PUT', 'chat.X'],
      ['GET', 'chat.X'],
      ['DELETE', 'chat.X'],
      ['GET', undefined],
    ] as const) {
      const r = await api(t.url, method, path(ghost.ccid, section), {
        headers: admin,
        ...(method === 'PUT' ? { json: { channelId: tfn() } } : {}),
      });
      expect(r.status, method).toBe(404);
      expect(r.body.status.code).toBe(3000);
    }
  });

  it('announces changes so inbound caches can drop stale routes', async () => {
    const store = createChannelStore({
      db: t.nexus.db,
      state: t.nexus.state,
      log: createLogger({ level: 'silent' }),
    });
    const seen: ChannelChange[] = [];
    let done: () => void = () => undefined;
    const all = new Promise<void>((r) => {
      done = r;
    });
    const stop = await store.onChange((c) => {
      if (c.ccid !== a.ccid || c.section !== 'chat.Notice') return;
      seen.push(c);
      if (seen.length === 2) done();
    });
    const id = tfn();
    await put(a, 'chat.Notice', { channelId: `+${id}` });
    await del(a, 'chat.Notice');
    await all;
    await stop();
    expect(seen).toEqual([
      { ccid: a.ccid, section: 'chat.Notice', channelKey: id, op: 'created' },
      { ccid: a.ccid, section: 'chat.Notice', channelKey: id, op: 'deleted' },
    ]);
  });

  it('keeps channels across a restart', async () => {
    const before = (await get(a)).body.data.channels;
    expect(before.length).toBeGreaterThan(0);
    t = await t.restart();
    expect((await get(a)).body.data.channels).toEqual(before);
  });
});
