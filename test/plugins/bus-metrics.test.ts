/**
 * The plugin bus's metrics, read from the gateway's own /metrics after real traffic on both
 * engines: `nexus_bus_events_total` counts each published event by type (exactly what live
 * subscribers hear), and `nexus_bus_subscriber_failures_total` counts each call of a live
 * subscriber that threw or rejected, by subscriber, while its peers keep hearing every event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../../src/plugins/types.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders } from '../helpers/tenants.js';
import { eventually } from '../sms/wait.js';

/** The samples of one metric from a Prometheus text exposition, by their label set. */
function samples(text: string, metric: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${metric}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}

describe.each(engines())('bus metrics (%s)', (engine) => {
  let t: TestNexus;
  beforeAll(async () => {
    t = await startNexus({ engine });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const scrape = async () => {
    const r = await fetch(`http://127.0.0.1:${t.nexus.metricsPort}/metrics`);
    expect(r.status).toBe(200);
    const text = await r.text();
    return {
      events: samples(text, 'nexus_bus_events_total'),
      failures: samples(text, 'nexus_bus_subscriber_failures_total'),
    };
  };

  it('count published events by type and failing live subscribers by name', async () => {
    const { bus } = t.nexus.plugins;
    const heard: BusEvent[] = [];
    const off = [
      bus.subscribe('test-recorder', {}, (e) => void heard.push(e)),
      bus.subscribe('test-throws', { types: ['message.created'] }, () => {
        throw new Error('plugin bug');
      }),
      bus.subscribe('test-rejects', { types: ['conversation.created'] }, async () => {
        throw new Error('plugin bug, later');
      }),
    ];
    try {
      const before = await scrape();
      const tenant = await createTenant(t);
      const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
        headers: keyHeaders(tenant.apiKey),
        json: { data: { nickname: 'Ada' } },
      });
      expect(s.status).toBe(200);
      for (const text of ['one', 'two', 'three']) {
        const r = await api(t.url, 'POST', `${s.body.data.selfUri}/messages`, {
          headers: { 'x-nexus-client-key': s.body.data.clientToken },
          json: { data: { type: 'Text', text } },
        });
        expect(r.status).toBe(200);
      }
      const typed = (type: string) => heard.filter((e) => e.type === type).length;
      await eventually(() => expect(typed('message.created')).toBeGreaterThanOrEqual(3));
      expect(typed('conversation.created')).toBe(1);

      // Every failure is counted once the failing calls have settled; the recorder heard all.
      await eventually(async () => {
        const after = await scrape();
        const failed = (name: string) =>
          (after.failures.get(`{subscriber="${name}"}`) ?? 0) -
          (before.failures.get(`{subscriber="${name}"}`) ?? 0);
        expect(failed('test-throws')).toBe(typed('message.created'));
        expect(failed('test-rejects')).toBe(1);
        expect(failed('test-recorder')).toBe(0);
        for (const type of new Set(heard.map((e) => e.type))) {
          const key = `{type="${type}"}`;
          expect((after.events.get(key) ?? 0) - (before.events.get(key) ?? 0), type).toBe(typed(type));
        }
      });
    } finally {
      for (const f of off) f();
    }
  });
});
