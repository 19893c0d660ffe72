/** Chat events on the plugin bus: durable planners run in the message's own transaction. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BusEvent } from '../../src/plugins/types.js';
import { newSession } from '../chat/helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant } from '../helpers/tenants.js';

describe.each(engines())('chat on the plugin bus (%s engines)', (engine) => {
  let t: TestNexus;
  beforeAll(async () => {
    t = await startNexus({ engine });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('turns a customer message into an outbox delivery, delivered after the commit; live subscribers hear every event', async () => {
    const tenant = await createTenant(t);
    const live: BusEvent[] = [];
    const delivered: Array<{ text: string; seq: number }> = [];
    let notify!: () => void;
    const gotIt = new Promise<void>((r) => {
      notify = r;
    });
    const { bus, outbox } = t.nexus.plugins;
    const offLive = bus.subscribe('test-live', { ccid: tenant.ccid }, (e) => void live.push(e));
    const offPlan = bus.plan(
      'test-plan',
      { types: ['message.created'], ccid: tenant.ccid, channelTypes: ['chat'] },
      (e) => {
        const m = e.data.message as {
          from: { type: string };
          text?: string;
          seq: number;
          conversationId: string;
        };
        if (m.from.type !== 'Customer' || !m.text) return [];
        return [
          {
            ccid: e.ccid,
            orderingKey: m.conversationId,
            kind: 'test-bridge',
            target: 'T',
            payload: { text: m.text, seq: m.seq },
          },
        ];
      },
    );
    outbox.handle('test-bridge', async (row) => {
      delivered.push(row.payload as { text: string; seq: number });
      if (delivered.length === 2) notify();
    });
    try {
      const s = await newSession(t, tenant);
      for (const [i, text] of ['first', 'second'].entries()) {
        const r = await api(t.url, 'POST', `${s.selfUri}/messages`, {
          headers: { 'x-nexus-client-key': s.clientToken },
          form: `data[type]=Text&data[text]=${text}&data[clientMessageId]=c-${i}`,
        });
        expect(r.status).toBe(200);
      }
      await gotIt;
      expect(delivered.map((d) => d.text)).toEqual(['first', 'second']);
      expect(delivered[1].seq).toBe(delivered[0].seq + 1);
      // The handler returned; the outbox records `done` right after.
      await vi.waitFor(async () => expect(await outbox.list(tenant.ccid, 'done')).toHaveLength(2), {
        timeout: 10_000,
      });
      expect(live.map((e) => e.type)).toContain('conversation.created');
      expect(live.filter((e) => e.type === 'message.created').every((e) => e.channelType === 'chat')).toBe(
        true,
      );
    } finally {
      offLive();
      offPlan();
    }
  });
});
