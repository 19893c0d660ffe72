import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testDatabase } from '../../test/helpers/db.js';
import { engines } from '../../test/helpers/engines.js';
import type { Database } from '../shared/db/pool.js';
import { createLogger } from '../shared/logger.js';
import { EventBus, matches } from './bus.js';
import { Outbox } from './outbox/outbox.js';
import type { BusEvent } from './types.js';

const log = createLogger({ level: 'silent' });
const ev = (type: BusEvent['type'], ccid = 'cc1', channelType: BusEvent['channelType'] = 'chat'): BusEvent =>
  ({
    id: `${type}-${ccid}`,
    type,
    ccid,
    channelType,
    conversationId: 'c1',
    timestamp: new Date().toISOString(),
    data: {},
  }) as BusEvent;

describe('bus filters', () => {
  it('match by type, tenant and channel type', () => {
    expect(matches({}, ev('message.created'))).toBe(true);
    expect(matches({ types: ['conversation.created'] }, ev('message.created'))).toBe(false);
    expect(matches({ ccid: 'cc2' }, ev('message.created'))).toBe(false);
    expect(matches({ channelTypes: ['sms'] }, ev('message.created', 'cc1', 'sms'))).toBe(true);
    expect(matches({ channelTypes: ['sms'] }, ev('message.created'))).toBe(false);
  });
});

describe.each(engines())('bus on %s engine', (engine) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let outbox: Outbox;
  beforeEach(async () => {
    ({ db, cleanup } = await testDatabase(engine));
    outbox = new Outbox({ db, log, pollMs: 20 });
  });
  afterEach(async () => {
    await outbox.close();
    await cleanup();
  });

  it('writes durable deliveries in the producing transaction, and none when it rolls back', async () => {
    const bus = new EventBus(outbox, log);
    bus.plan('sms-out', { types: ['message.created'], channelTypes: ['sms'] }, (e) => [
      {
        ccid: e.ccid,
        orderingKey: e.conversationId!,
        kind: 'sms',
        target: 'mGageSMS',
        payload: { event: e.id },
      },
    ]);
    await expect(
      db.tx(async (q) => {
        await bus.publishInTx(q, [ev('message.created', 'cc1', 'sms')]);
        throw new Error('the message did not commit');
      }),
    ).rejects.toThrow();
    expect(await outbox.list('cc1', undefined)).toHaveLength(0);
    const n = await db.tx((q) =>
      bus.publishInTx(q, [ev('message.created', 'cc1', 'sms'), ev('message.created', 'cc1', 'chat')]),
    );
    expect(n).toBe(1);
    expect((await outbox.list('cc1', undefined)).map((r) => r.target)).toEqual(['mGageSMS']);
  });

  it('isolates live subscribers: one that throws or hangs does not stop the others', async () => {
    const bus = new EventBus(outbox, log, undefined, 100);
    const got: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => {
      done = r;
    });
    bus.subscribe('thrower', {}, () => {
      throw new Error('bad plugin');
    });
    bus.subscribe('hanger', {}, () => new Promise(() => undefined));
    bus.subscribe('good', { ccid: 'cc1' }, (e) => {
      got.push(e.type);
      if (got.length === 2) done();
    });
    await bus.publish(db, [ev('conversation.created'), ev('message.created'), ev('message.created', 'cc2')]);
    await finished;
    expect(got).toEqual(['conversation.created', 'message.created']);
  });

  it('events a planner publishes in the transaction follow their cause to live subscribers, after the commit', async () => {
    const bus = new EventBus(outbox, log);
    // A durable subscriber that changes state of its own and publishes that change's event.
    bus.plan('receipt-applier', { types: ['delivery.receipt'] }, async (e, q) => {
      await bus.publishInTx(q, [{ ...ev('conversation.state-changed'), id: `${e.id}:applied` }]);
      return [];
    });
    bus.plan('state-webhook', { types: ['conversation.state-changed'] }, (e) => [
      { ccid: e.ccid, orderingKey: 'k', kind: 'webhook', target: 'W', payload: { event: e.id } },
    ]);
    const heard: string[] = [];
    bus.subscribe('recorder', {}, (e) => void heard.push(e.id));
    const receipt = { ...ev('delivery.receipt'), id: 'r1' };

    await expect(
      db.tx(async (q) => {
        await bus.publishInTx(q, [receipt]);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await outbox.list('cc1', undefined)).toEqual([]);

    const again = { ...ev('delivery.receipt'), id: 'r2' };
    const n = await db.tx((q) => bus.publishInTx(q, [again]));
    // The follow-up's delivery was written in the same transaction (counted with the follow-up).
    expect(n).toBe(0);
    expect((await outbox.list('cc1', undefined)).map((r) => r.payload.event)).toEqual(['r2:applied']);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([]);
    bus.published([again], n);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(['r2', 'r2:applied']);
    // Announced once.
    bus.published([again], n);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(['r2', 'r2:applied', 'r2']);
  });
});
