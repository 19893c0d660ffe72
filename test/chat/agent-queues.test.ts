/**
 * The console's queues panel at protocol level: `conversation.list` with `queued` answers the
 * conversations waiting in the agent's own queues (never another queue's, never another
 * tenant's), and `queue.updated` tells the agents of a queue when a conversation enters or leaves it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationSummary } from '../../src/gateway/chat/events.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { newSession, type TestSession } from './helpers.js';
import { putAgent, putEndpoint, TestAgent } from './routing-helpers.js';

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
});
