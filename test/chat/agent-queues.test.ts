/**
 * The console's queues panel at protocol level: `conversation.list` with `queued` answers the
 * conversations waiting in the agent's own queues (never another queue's, never another
 * tenant's), and `queue.updated` tells the agents of a queue when a conversation enters or leaves it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import type { ConversationSummary } from '../../src/gateway/chat/events.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { newSession, type TestSession } from './helpers.js';
import { putAgent, putEndpoint, TestAgent } from './routing-helpers.js';

type QueueUpdate = { queue: string; conversation: ConversationSummary };

/** Every `queue.updated` a socket receives, and a wait for one that matches. */
function queueUpdates(s: Socket) {
  const got: QueueUpdate[] = [];
  const waiters: Array<() => void> = [];
  s.on('queue.updated', (u: QueueUpdate) => {
    got.push(u);
    for (const w of waiters.splice(0)) w();
  });
  return {
    got,
    until(test: (u: QueueUpdate) => boolean, what: string, ms = 10_000): Promise<QueueUpdate> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no queue.updated ${what} within ${ms} ms`)), ms);
        const check = () => {
          const u = got.find(test);
          if (u) {
            clearTimeout(timer);
            resolve(u);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

describe.each(engines())('agent queues on %s engines', (engine) => {
  let t: TestNexus;
  let open: TestAgent[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { routing: { sweepMs: 500 } } });
  });
  afterEach(() => {
    for (const a of open) a.close();
    open = [];
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  async function agent(tenant: TestTenant, agentId: string, queues: string[], capacity = 2) {
    await putAgent(t, tenant, agentId, { name: `Agent ${agentId}`, queues, capacity });
    const a = await TestAgent.connect(t, tenant, agentId);
    open.push(a);
    return a;
  }

  function session(tenant: TestTenant, endpoint: string, name: string): Promise<TestSession> {
    const form = new URLSearchParams({ 'data[firstName]': name, 'data[endpoint]': endpoint }).toString();
    return newSession(t, tenant, form);
  }

  async function listed(a: TestAgent, states?: string[]): Promise<ConversationSummary[]> {
    const ack = await a.ack('conversation.list', states ? { states } : {});
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    return ack.conversations;
  }

  it('lists the conversations waiting in the queues the agent serves, in the order they are served', async () => {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'sales' });
    await putEndpoint(t, tenant, 'help', { queue: 'support' });
    // Nobody is ready: everything waits.
    const alice = await agent(tenant, 'alice', ['sales']);
    const bob = await agent(tenant, 'bob', ['support', 'sales']);
    const carol = await agent(tenant, 'carol', ['billing']);
    const s1 = await session(tenant, 'web', 'Ada');
    const s2 = await session(tenant, 'help', 'Grace');
    const s3 = await session(tenant, 'web', 'Linus');

    // Another tenant with a queue of the same name: never listed to this tenant's agents.
    const other = await createTenant(t);
    await putEndpoint(t, other, 'web', { queue: 'sales' });
    const o1 = await session(other, 'web', 'Eve');
    const mallory = await agent(other, 'mallory', ['sales']);

    const forAlice = await listed(alice, ['queued']);
    expect(forAlice.map((c) => c.id)).toEqual([s1.conversationId, s3.conversationId]);
    expect(forAlice.every((c) => c.state === 'queued' && c.queue === 'sales' && c.ccid === tenant.ccid)).toBe(
      true,
    );
    expect(forAlice[0].customer.firstName).toBe('Ada');
    // The widget's custom data stays inside, as on every summary an agent gets.
    expect(forAlice[0]).not.toHaveProperty('userData');

    const forBob = await listed(bob, ['queued']);
    expect(forBob.map((c) => c.id).sort()).toEqual(
      [s1.conversationId, s2.conversationId, s3.conversationId].sort(),
    );
    expect(await listed(carol, ['queued'])).toEqual([]);
    expect((await listed(mallory, ['queued'])).map((c) => c.id)).toEqual([o1.conversationId]);

    // The default list (assigned and on hold) holds none of them: they are nobody's yet.
    expect(await listed(alice)).toEqual([]);

    // Taken by an agent: no longer waiting, and listed as the taker's own.
    await alice.ready();
    const got = await alice.nth(1);
    expect(got.conversation.id).toBe(s1.conversationId);
    await alice.until(() => alice.assigned.length >= 2, 'second assignment');
    expect((await listed(bob, ['queued'])).map((c) => c.id)).toEqual([s2.conversationId]);
    expect((await listed(alice, ['assigned', 'queued'])).map((c) => c.id).sort()).toEqual(
      [s1.conversationId, s3.conversationId].sort(),
    );
  });

  it('tells the agents of a queue, and only them, when a conversation enters or leaves it', async () => {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'sales' });
    await putEndpoint(t, tenant, 'help', { queue: 'support' });
    const alice = await agent(tenant, 'alice', ['sales']);
    const bob = await agent(tenant, 'bob', ['support']);
    // Listed nothing queued: not watching any queue.
    const dave = await agent(tenant, 'dave', ['sales']);
    const other = await createTenant(t);
    await putEndpoint(t, other, 'web', { queue: 'sales' });
    const mallory = await agent(other, 'mallory', ['sales']);
    const forAlice = queueUpdates(alice.socket);
    const forBob = queueUpdates(bob.socket);
    const forDave = queueUpdates(dave.socket);
    const forMallory = queueUpdates(mallory.socket);
    for (const a of [alice, bob, mallory]) {
      const ack = await a.ack('conversation.list', { states: ['assigned', 'asynchold', 'queued'] });
      expect(ack.ok).toBe(true);
      expect(ack.queues).toEqual(a === bob ? ['support'] : ['sales']);
    }
    // The default list names no queues (and watches none).
    expect((await dave.ack('conversation.list', {})).queues).toBeUndefined();

    const s1 = await session(tenant, 'web', 'Ada');
    const entered = await forAlice.until((u) => u.conversation.id === s1.conversationId, 'for s1');
    expect(entered.queue).toBe('sales');
    expect(entered.conversation).toMatchObject({ state: 'queued', queue: 'sales', ccid: tenant.ccid });
    expect(entered.conversation.customer.firstName).toBe('Ada');
    expect(entered.conversation).not.toHaveProperty('userData');
    expect(entered).not.toHaveProperty('transcript');

    // Bob's queue gets its own.
    const s2 = await session(tenant, 'help', 'Grace');
    await forBob.until((u) => u.conversation.id === s2.conversationId && u.queue === 'support', 'for s2');

    // Taken: it leaves the queue, and the queue's watchers hear so.
    await alice.ready();
    await alice.nth(1);
    const left = await forAlice.until(
      (u) => u.conversation.id === s1.conversationId && u.conversation.state === 'assigned',
      'when s1 is assigned',
    );
    expect(left).toMatchObject({ queue: 'sales', conversation: { agentId: 'alice' } });

    // Bob's support conversation is assigned to him: by then every sales update has gone out too.
    await bob.ready();
    await bob.nth(1);
    await forBob.until(
      (u) => u.conversation.id === s2.conversationId && u.conversation.state === 'assigned',
      'when s2 is assigned',
    );
    expect(forBob.got.every((u) => u.queue === 'support' && u.conversation.id === s2.conversationId)).toBe(
      true,
    );
    expect(forAlice.got.every((u) => u.queue === 'sales' && u.conversation.id === s1.conversationId)).toBe(
      true,
    );
    expect(forDave.got).toEqual([]);
    expect(forMallory.got).toEqual([]);
  });
});
