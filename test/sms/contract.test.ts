/**
 * ONE contract suite run against every SMS provider (Async, Portico, Kaleyra/mGage, Twilio), each
 * against its fake, on both engines: inbound verified and parsed into a conversation, a forged
 * inbound refused with nothing stored, a retried inbound stored once, a reply sent (a 5xx retried
 * then delivered, a 4xx dead-lettered), internal notes kept in, receipts mapped to delivery states.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Participant } from '../../src/gateway/chat/events.js';
import { putEndpoint } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { HARNESSES, phone, type SmsHarness } from './providers.js';
import { eventually } from './wait.js';

const AGENT: Participant = { participantId: 'agent-contract', type: 'Agent', nickname: 'Agent' };

describe.each(engines())('SMS provider contract on %s engines', (engine) => {
  let t: TestNexus;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { routing: { sweepMs: 500 } } });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const q = async (sql: string, params: unknown[]) => (await t.nexus.db.query(sql, params)).rows;

  describe.each(HARNESSES.map((make) => [make().name, make] as const))('%s', (_name, make) => {
    let h: SmsHarness;
    beforeAll(async () => {
      h = make();
      await h.start();
    });
    afterAll(async () => {
      await h?.close();
    });

    async function setup(): Promise<{ tenant: TestTenant; channelId: string }> {
      const tenant = await createTenant(t);
      await putEndpoint(t, tenant, 'sms', { queue: 'sms' });
      const channelId = phone();
      await h.provision(t, tenant, channelId);
      return { tenant, channelId };
    }

    async function conversationOf(ccid: string, providerId: string): Promise<string> {
      const rows = await q(
        'SELECT conversation_id FROM sms_inbound WHERE ccid = $1 AND provider_message_id = $2',
        [ccid, providerId],
      );
      expect(rows).toHaveLength(1);
      return rows[0].conversation_id;
    }

    async function customerMessages(conversationId: string) {
      return q(
        "SELECT text FROM messages WHERE conversation_id = $1 AND from_type = 'Customer' ORDER BY seq",
        [conversationId],
      );
    }

    async function outbound(ccid: string, messageId: string) {
      return (
        await q('SELECT * FROM sms_outbound WHERE ccid = $1 AND message_id = $2', [ccid, messageId])
      )[0];
    }

    async function outbox(ccid: string, messageId: string) {
      return (
        await q('SELECT * FROM outbox WHERE ccid = $1 AND dedupe_key = $2', [ccid, `sms:${messageId}`])
      )[0];
    }

    /** An inbound SMS and the conversation it opened. */
    async function conversation(tenant: TestTenant, channelId: string, from = phone()) {
      const id = `in-${randomUUID()}`;
      const r = await h.inbound(t, tenant, channelId, { id, from, text: 'hello from my phone' });
      expect(r.status).toBe(200);
      return { conversationId: await conversationOf(tenant.ccid, id), from };
    }

    it('verifies and parses an inbound SMS into an SMS conversation on the channel endpoint', async () => {
      const { tenant, channelId } = await setup();
      const { conversationId, from } = await conversation(tenant, channelId);
      const conv = await t.nexus.chat.get(conversationId, tenant.ccid);
      expect(conv).toMatchObject({ channel: 'sms', endpoint: 'sms', ccid: tenant.ccid });
      expect(conv?.customer.phone?.replace(/\D/g, '')).toBe(from);
      expect(await customerMessages(conversationId)).toEqual([{ text: 'hello from my phone' }]);
    });

    it('refuses a forged inbound request with 401 and stores nothing', async () => {
      const { tenant, channelId } = await setup();
      const id = `forged-${randomUUID()}`;
      const r = await h.forged(t, tenant, channelId, { id, from: phone(), text: 'forged' });
      expect(r.status).toBe(401);
      expect(await q('SELECT 1 FROM sms_inbound WHERE ccid = $1', [tenant.ccid])).toHaveLength(0);
      expect(await q('SELECT 1 FROM conversations WHERE ccid = $1', [tenant.ccid])).toHaveLength(0);
    });

    it('stores a retried inbound message (same provider id) once', async () => {
      const { tenant, channelId } = await setup();
      const m = { id: `retry-${randomUUID()}`, from: phone(), text: 'only once please' };
      const [a, b] = await Promise.all([
        h.inbound(t, tenant, channelId, m),
        h.inbound(t, tenant, channelId, m),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect((await h.inbound(t, tenant, channelId, m)).status).toBe(200);
      const conversationId = await conversationOf(tenant.ccid, m.id);
      expect(await customerMessages(conversationId)).toEqual([{ text: 'only once please' }]);
      expect(await q('SELECT 1 FROM conversations WHERE ccid = $1', [tenant.ccid])).toHaveLength(1);
    });

    it('sends a reply; a 5xx answer is retried and the SMS then delivered; receipts map to states', async () => {
      const { tenant, channelId } = await setup();
      const { conversationId, from } = await conversation(tenant, channelId);
      const before = h.accepted().length;
      const attemptsBefore = h.server.requests.length;
      h.server.failNext(1, 503);
      const sent = await t.nexus.chat.append(conversationId, { from: AGENT, text: 'Hi, how can I help?' });
      const [rec] = (await h.server.until((r) => h.accepted().includes(r), before + 1)).slice(-1);
      expect(h.server.requests.length - attemptsBefore).toBeGreaterThanOrEqual(2);
      const got = h.read(rec);
      expect(got.text).toBe('Hi, how can I help?');
      expect(got.to.replace(/\D/g, '')).toBe(from);
      expect(got.from.replace(/\D/g, '')).toBe(channelId);
      await eventually(async () => expect((await outbound(tenant.ccid, sent.id))?.state).toBe('sent'));
      expect((await outbound(tenant.ccid, sent.id)).provider_message_id).toBe(got.providerId);
      expect((await outbox(tenant.ccid, sent.id)).attempts).toBeGreaterThanOrEqual(2);

      const r = await h.receipt(t, tenant, channelId, got.providerId, 'delivered');
      expect(r.status).toBe(200);
      expect((await outbound(tenant.ccid, sent.id)).state).toBe('delivered');
      // A late or repeated receipt never moves the state back.
      expect((await h.receipt(t, tenant, channelId, got.providerId, 'delivered')).status).toBe(200);
      expect((await outbound(tenant.ccid, sent.id)).state).toBe('delivered');
    });

    it('dead-letters a reply the provider refuses with a 4xx and marks the conversation undelivered', async () => {
      const { tenant, channelId } = await setup();
      const { conversationId } = await conversation(tenant, channelId);
      h.server.failNext(1, 400);
      const sent = await t.nexus.chat.append(conversationId, { from: AGENT, text: 'this one is refused' });
      await eventually(async () => expect((await outbox(tenant.ccid, sent.id))?.state).toBe('dead'));
      expect((await outbox(tenant.ccid, sent.id)).attempts).toBe(1);
      await eventually(async () => expect((await outbound(tenant.ccid, sent.id))?.state).toBe('failed'));
      await eventually(async () =>
        expect((await t.nexus.chat.get(conversationId))?.state).toBe('undelivered'),
      );
    });

    it('maps a failure receipt to its state and marks the conversation undelivered', async () => {
      const { tenant, channelId } = await setup();
      const { conversationId } = await conversation(tenant, channelId);
      const before = h.accepted().length;
      const sent = await t.nexus.chat.append(conversationId, { from: AGENT, text: 'to a dead phone' });
      const [rec] = (await h.server.until((r) => h.accepted().includes(r), before + 1)).slice(-1);
      await eventually(async () => expect((await outbound(tenant.ccid, sent.id))?.state).toBe('sent'));
      const state = h.name === 'Portico' || h.name === 'mGage' ? 'undelivered' : 'failed';
      expect((await h.receipt(t, tenant, channelId, h.read(rec).providerId, state)).status).toBe(200);
      expect((await outbound(tenant.ccid, sent.id)).state).toBe(state);
      await eventually(async () =>
        expect((await t.nexus.chat.get(conversationId))?.state).toBe('undelivered'),
      );
    });

    it('never sends internal notes or customer messages', async () => {
      const { tenant, channelId } = await setup();
      const { conversationId } = await conversation(tenant, channelId);
      const before = h.accepted().length;
      const note = await t.nexus.chat.append(conversationId, {
        from: AGENT,
        text: 'internal note',
        visibility: 'agents',
      });
      const visible = await t.nexus.chat.append(conversationId, { from: AGENT, text: 'visible answer' });
      await h.server.until((r) => h.accepted().includes(r), before + 1);
      expect(
        h
          .accepted()
          .slice(before)
          .map((r) => h.read(r).text),
      ).toEqual(['visible answer']);
      expect(await outbox(tenant.ccid, note.id)).toBeUndefined();
      expect(await outbox(tenant.ccid, visible.id)).toBeDefined();
    });
  });
});
