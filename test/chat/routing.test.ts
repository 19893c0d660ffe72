/**
 * The embedded router with real socket.io agents and customers: queueing with a notice, the
 * longest-idle agent, capacity and Done, async hold and re-open, transfer, contact history.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { collect, emitAck, newSession, socketFor, type TestSession } from './helpers.js';
import { interaction, putAgent, putEndpoint, TestAgent, untilDisconnected } from './routing-helpers.js';

describe.each(engines())('routing on %s engines', (engine) => {
  let t: TestNexus;
  let open: TestAgent[] = [];
  const sockets: Array<{ close(): void }> = [];

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { routing: { customerGraceMs: 150, sweepMs: 500 } } });
  });
  afterEach(() => {
    for (const a of open) a.close();
    for (const s of sockets.splice(0)) s.close();
    open = [];
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  /** A tenant with endpoint `web` on `queue`. */
  async function tenantOn(queue: string): Promise<TestTenant> {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue });
    return tenant;
  }

  async function agent(
    tenant: TestTenant,
    agentId: string,
    queues: string[],
    capacity: number,
    ready = true,
  ) {
    await putAgent(t, tenant, agentId, { name: `Agent ${agentId}`, queues, capacity });
    const a = await TestAgent.connect(t, tenant, agentId);
    open.push(a);
    if (ready) await a.ready();
    return a;
  }

  function session(tenant: TestTenant, who: { email?: string; name?: string } = {}): Promise<TestSession> {
    const form = new URLSearchParams({
      'data[firstName]': who.name ?? 'Ada',
      'data[endpoint]': 'web',
      ...(who.email ? { 'data[email]': who.email } : {}),
    }).toString();
    return newSession(t, tenant, form);
  }

  /** Which of the agents is given the conversation. */
  function whoGets(agents: TestAgent[], conversationId: string): Promise<string> {
    return Promise.race(
      agents.map((a) =>
        a
          .until(
            () => a.assigned.find((x) => x.conversation.id === conversationId),
            `assignment of ${conversationId}`,
          )
          .then(() => a.agentId),
      ),
    );
  }

  const state = async (tenant: TestTenant, id: string) => (await interaction(t, tenant, id)).state;

  it('queues a new chat with a notice, then gives it to a ready agent with the transcript', async () => {
    const tenant = await tenantOn('sales');
    const alice = await agent(tenant, 'alice', ['sales'], 2);
    const s = await session(tenant);
    const got = await alice.nth(1);
    expect(got.conversation).toMatchObject({
      id: s.conversationId,
      state: 'assigned',
      agentId: 'alice',
      queue: 'sales',
    });
    const kinds = got.transcript.map((m) => `${m.type}:${m.text ?? ''}`);
    expect(kinds).toContain('Notice:queued');
    expect(kinds).toContain('ParticipantJoined:');

    // The customer sees the notice too (REST transcript).
    const r = await api(t.url, 'GET', `${s.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': s.clientToken },
    });
    expect(
      r.body.data.messages.some(
        (m: { type: string; text?: string }) => m.type === 'Notice' && m.text === 'queued',
      ),
    ).toBe(true);

    // The router's work is visible on the metrics port.
    const metrics = await (await fetch(`http://127.0.0.1:${t.nexus.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/nexus_routing_transitions_total\{to="assigned"\} [1-9]/);
    expect(metrics).toContain('nexus_routing_queue_wait_seconds_bucket');
  });

  it('keeps a conversation queued until an agent of its queue is ready', async () => {
    const tenant = await tenantOn('support');
    const other = await agent(tenant, 'other', ['sales'], 5);
    const bob = await agent(tenant, 'bob', ['support'], 1, false);
    const s = await session(tenant);
    // Nobody of its queue is ready: it waits (an agent of another queue never gets it).
    expect(await state(tenant, s.conversationId)).toBe('queued');
    await bob.ready();
    await bob.nth(1);
    expect(other.assigned).toHaveLength(0);
    expect(await state(tenant, s.conversationId)).toBe('assigned');
  });

  it('gives each conversation to the longest-idle ready agent', async () => {
    const tenant = await tenantOn('li');
    const x = await agent(tenant, 'x', ['li'], 3, false);
    const y = await agent(tenant, 'y', ['li'], 3, false);
    const z = await agent(tenant, 'z', ['li'], 3, false);
    // Ready in the order y, z, x: y has been idle longest.
    await y.ready();
    await z.ready();
    await x.ready();
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const s = await session(tenant);
      order.push(await whoGets([x, y, z], s.conversationId));
    }
    // Being given a conversation restarts an agent's idle time: y again after x.
    expect(order).toEqual(['y', 'z', 'x', 'y']);
  });

  it('never gives an agent more than its capacity; Done frees room and is final', async () => {
    const tenant = await tenantOn('cap');
    const carl = await agent(tenant, 'carl', ['cap'], 2);
    const s1 = await session(tenant);
    const s2 = await session(tenant);
    const s3 = await session(tenant);
    await carl.nth(2);
    expect(carl.assigned.map((a) => a.conversation.id).sort()).toEqual(
      [s1.conversationId, s2.conversationId].sort(),
    );
    expect(await state(tenant, s3.conversationId)).toBe('queued');
    const listed = await carl.ack('conversation.list', {});
    expect(listed.conversations.map((c: { id: string }) => c.id).sort()).toEqual(
      [s1.conversationId, s2.conversationId].sort(),
    );

    expect(await carl.ack('conversation.done', { conversationId: s1.conversationId })).toEqual({ ok: true });
    const third = await carl.nth(3);
    expect(third.conversation.id).toBe(s3.conversationId);
    expect(await state(tenant, s1.conversationId)).toBe('done');

    // Done is final: the agent cannot return to it, nor finish it twice.
    const join = await carl.ack('conversation.join', { conversationId: s1.conversationId });
    expect(join.ok).toBe(false);
    expect(join.error.code).toBe(4104);
    expect((await carl.ack('conversation.done', { conversationId: s1.conversationId })).error.code).toBe(
      4104,
    );
    // The customer's session ended with it: a new message is refused (a new session starts a new conversation).
    const r = await api(t.url, 'POST', `${s1.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': s1.clientToken },
      json: { data: { type: 'Text', text: 'still there?' } },
    });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
  });

  it('puts a conversation on async hold when the customer leaves, and re-opens it to the same agent', async () => {
    const tenant = await tenantOn('async');
    const dana = await agent(tenant, 'dana', ['async'], 1);
    const s = await session(tenant);
    const customer = await socketFor(t.url, '/consumer', { clientToken: s.clientToken });
    await dana.nth(1);

    customer.close();
    await dana.until(
      () => dana.updated.find((c) => c.id === s.conversationId && c.state === 'asynchold'),
      'async hold',
    );
    // On hold the agent may still return to the conversation (until Done)...
    const join = await dana.ack('conversation.join', { conversationId: s.conversationId, lastSeq: 0 });
    expect(join.ok).toBe(true);
    expect(join.conversation.state).toBe('asynchold');
    // ...and the held conversation does not use the agent's only slot.
    const other = await session(tenant);
    await dana.until(
      () => dana.assigned.find((a) => a.conversation.id === other.conversationId),
      'second chat',
    );
    await dana.ack('conversation.done', { conversationId: other.conversationId });

    // The customer comes back and writes: the same agent has it again.
    const back = await socketFor(t.url, '/consumer', { clientToken: s.clientToken, lastSeq: 0 });
    sockets.push(back);
    const danaMessages = collect(dana.socket);
    const sent = await emitAck(back, 'message.send', { clientMessageId: randomUUID(), text: 'I am back' });
    expect(sent.ok).toBe(true);
    await dana.until(
      () => dana.assigned.filter((a) => a.conversation.id === s.conversationId).length === 2,
      're-assignment',
    );
    const last = dana.assigned.filter((a) => a.conversation.id === s.conversationId)[1];
    expect(last.conversation).toMatchObject({ state: 'assigned', agentId: 'dana' });
    await danaMessages.waitFor(1);
    expect(danaMessages.messages.some((m) => m.text === 'I am back')).toBe(true);
  });

  it('re-opens a held conversation to its queue when its agent is not ready', async () => {
    const tenant = await tenantOn('hold2');
    const erin = await agent(tenant, 'erin', ['hold2'], 1);
    const s = await session(tenant);
    const customer = await socketFor(t.url, '/consumer', { clientToken: s.clientToken });
    await erin.nth(1);
    customer.close();
    await erin.until(
      () => erin.updated.find((c) => c.id === s.conversationId && c.state === 'asynchold'),
      'hold',
    );
    await erin.ack('agent.state', { state: 'notready' });
    const fred = await agent(tenant, 'fred', ['hold2'], 1);

    const back = await socketFor(t.url, '/consumer', { clientToken: s.clientToken, lastSeq: 0 });
    sockets.push(back);
    expect((await emitAck(back, 'message.send', { clientMessageId: randomUUID(), text: 'hello?' })).ok).toBe(
      true,
    );
    const got = await fred.nth(1);
    expect(got.conversation).toMatchObject({ id: s.conversationId, agentId: 'fred', state: 'assigned' });
    expect(got.transcript.some((m) => m.text === 'hello?')).toBe(true);
  });

  it('transfers to a queue and to an agent, within capacity', async () => {
    const tenant = await tenantOn('front');
    const gus = await agent(tenant, 'gus', ['front'], 2);
    const hal = await agent(tenant, 'hal', ['billing'], 1);
    const ivy = await agent(tenant, 'ivy', ['nobody'], 1);
    const s = await session(tenant);
    await gus.nth(1);

    // To a queue: the longest-idle agent of that queue takes it.
    const toQueue = await gus.ack('conversation.transfer', {
      conversationId: s.conversationId,
      queue: 'billing',
    });
    expect(toQueue.ok).toBe(true);
    const atHal = await hal.nth(1);
    expect(atHal.conversation).toMatchObject({ id: s.conversationId, agentId: 'hal', queue: 'billing' });
    await gus.until(
      () => gus.updated.find((c) => c.id === s.conversationId && c.agentId !== 'gus'),
      'handover',
    );
    // The previous agent no longer holds it.
    expect((await gus.ack('conversation.join', { conversationId: s.conversationId })).ok).toBe(false);
    expect(
      (await gus.ack('conversation.transfer', { conversationId: s.conversationId, queue: 'x' })).ok,
    ).toBe(false);

    // To an agent: refused when that agent is full or unknown, given when there is room.
    const s2 = await session(tenant);
    await gus.until(() => gus.assigned.find((a) => a.conversation.id === s2.conversationId), 'second chat');
    const full = await gus.ack('conversation.transfer', {
      conversationId: s2.conversationId,
      agentId: 'hal',
    });
    expect(full.error.code).toBe(4106);
    const unknown = await gus.ack('conversation.transfer', {
      conversationId: s2.conversationId,
      agentId: 'nobody',
    });
    expect(unknown.error.code).toBe(4101);
    expect(await state(tenant, s2.conversationId)).toBe('assigned');
    const toIvy = await hal.ack('conversation.transfer', {
      conversationId: s.conversationId,
      agentId: 'ivy',
    });
    expect(toIvy.ok).toBe(true);
    expect(toIvy.conversation).toMatchObject({ agentId: 'ivy', state: 'assigned' });
    expect((await ivy.nth(1)).conversation.id).toBe(s.conversationId);

    // Not both, not neither.
    const bad = await ivy.ack('conversation.transfer', {
      conversationId: s.conversationId,
      queue: 'a',
      agentId: 'gus',
    });
    expect(bad.ok).toBe(false);
  });

  it('matches customers to contacts by email and shows the agent their earlier conversations', async () => {
    const tenant = await tenantOn('crm');
    const jo = await agent(tenant, 'jo', ['crm'], 5);
    const first = await session(tenant, { email: 'grace@example.com', name: 'Grace' });
    const a1 = await jo.nth(1);
    expect(a1.history).toEqual([]);
    await jo.ack('conversation.done', { conversationId: first.conversationId });

    const second = await session(tenant, { email: 'Grace@Example.com', name: 'Grace' });
    const a2 = await jo.until(
      () => jo.assigned.find((a) => a.conversation.id === second.conversationId),
      'second',
    );
    expect(a2.conversation.contactId).toBe(a1.conversation.contactId);
    expect(a2.history?.map((c) => c.id)).toEqual([first.conversationId]);
    expect(a2.history?.[0].state).toBe('done');

    const stranger = await session(tenant, { email: 'someone@example.com' });
    const a3 = await jo.until(
      () => jo.assigned.find((a) => a.conversation.id === stranger.conversationId),
      'third',
    );
    expect(a3.conversation.contactId).not.toBe(a1.conversation.contactId);
    expect(a3.history).toEqual([]);

    const read = await interaction(t, tenant, second.conversationId);
    expect(read.contact).toMatchObject({ id: a1.conversation.contactId, email: 'grace@example.com' });
    expect(read.history.map((c: { id: string }) => c.id)).toEqual([first.conversationId]);

    // The agent reads the earlier conversation itself, internal notes included.
    await jo.ack('message.send', {
      conversationId: second.conversationId,
      clientMessageId: 'n1',
      text: 'Asked about the refund again',
      visibility: 'agents',
    });
    const past = await jo.ack('contact.history', {
      conversationId: second.conversationId,
      historyId: first.conversationId,
    });
    expect(past.ok, JSON.stringify(past)).toBe(true);
    expect(past.conversation).toMatchObject({ id: first.conversationId, state: 'done' });
    expect(past.transcript.map((m: { seq: number }) => m.seq)).toEqual(
      past.transcript.map((_: unknown, i: number) => i + 1),
    );
    expect(past.transcript.length).toBeGreaterThan(0);

    // Only through a conversation the agent holds, and only the same contact's.
    const refusals = [
      { conversationId: stranger.conversationId, historyId: first.conversationId },
      { conversationId: second.conversationId, historyId: stranger.conversationId },
      { conversationId: second.conversationId, historyId: second.conversationId },
      { conversationId: second.conversationId, historyId: randomUUID() },
      { conversationId: first.conversationId, historyId: second.conversationId },
    ];
    for (const p of refusals.slice(1)) {
      const r = await jo.ack('contact.history', p);
      expect(r.ok, JSON.stringify(p)).toBe(false);
      expect(r.error.name, JSON.stringify(p)).toMatch(/^(INTERACTION_NOT_FOUND|INTERACTION_DONE)$/);
    }
    // The stranger's conversation is jo's too, but of another contact: the contact's history is not
    // reachable through it.
    const cross = await jo.ack('contact.history', refusals[0]);
    expect(cross.ok).toBe(false);
    expect(cross.error.name).toBe('INTERACTION_NOT_FOUND');
    // Another agent of the tenant, who holds nothing of Grace's, cannot read it.
    const kim = await agent(tenant, 'kim', ['crm'], 1, false);
    const kimRead = await kim.ack('contact.history', {
      conversationId: second.conversationId,
      historyId: first.conversationId,
    });
    expect(kimRead.ok).toBe(false);
    expect(kimRead.error.name).toBe('NOT_ASSIGNED_AGENT');
    // Another tenant's agent cannot either, even naming both ids.
    const other = await tenantOn('crm');
    const eve = await agent(other, 'eve', ['crm'], 1, false);
    const eveRead = await eve.ack('contact.history', {
      conversationId: second.conversationId,
      historyId: first.conversationId,
    });
    expect(eveRead.ok).toBe(false);
    expect(eveRead.error.name).toBe('INTERACTION_NOT_FOUND');
    // Malformed: an error ack, nothing else.
    const bad = await jo.ack('contact.history', { conversationId: second.conversationId, historyId: 'x' });
    expect(bad.ok).toBe(false);
    expect(bad.error.name).toBe('VALIDATION_FAILED');
  });

  it("keeps presence in the database: a reconnecting ready agent is served, a dead node's agent is not", async () => {
    const tenant = await tenantOn('pres');
    const lee = await agent(tenant, 'lee', ['pres'], 1);
    // A ghost: ready, longest idle, but its only socket was on a node that died (row expired).
    await putAgent(t, tenant, 'ghost', { name: 'ghost', queues: ['pres'], capacity: 5 });
    await t.nexus.db.query(
      `UPDATE agents SET state = 'ready', idle_since = now() - interval '1 hour' WHERE ccid = $1 AND agent_id = 'ghost'`,
      [tenant.ccid],
    );
    await t.nexus.db.query(
      `INSERT INTO agent_connections (socket_id, ccid, agent_id, node_id, expires_at)
       VALUES ($1, $2, 'ghost', 'dead-node', now() - interval '1 second')`,
      [randomUUID(), tenant.ccid],
    );
    const s1 = await session(tenant);
    expect((await lee.nth(1)).conversation.id).toBe(s1.conversationId);
    await lee.ack('conversation.done', { conversationId: s1.conversationId });

    // Lee drops off: a new chat waits; Lee comes back (still ready in the database) and gets it.
    lee.close();
    await untilDisconnected(t, tenant, 'lee');
    const s2 = await session(tenant);
    const lee2 = await TestAgent.connect(t, tenant, 'lee');
    open.push(lee2);
    expect((await lee2.nth(1)).conversation.id).toBe(s2.conversationId);
    expect(await state(tenant, s1.conversationId)).toBe('done');
  });

  it('picks up work another node left behind on its periodic sweep', async () => {
    const tenant = await tenantOn('sweep');
    const mo = await agent(tenant, 'mo', ['sweep'], 1, false);
    const s = await session(tenant);
    // Another node marked Mo ready and crashed before running assignment.
    await t.nexus.db.query(`UPDATE agents SET state = 'ready' WHERE ccid = $1 AND agent_id = 'mo'`, [
      tenant.ccid,
    ]);
    expect((await mo.nth(1)).conversation.id).toBe(s.conversationId);
  });

  it('ends the conversation when the customer leaves an endpoint without async hold', async () => {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'sync', asyncHold: false });
    const nia = await agent(tenant, 'nia', ['sync'], 1);
    const s = await session(tenant);
    const customer = await socketFor(t.url, '/consumer', { clientToken: s.clientToken });
    await nia.nth(1);
    customer.close();
    await nia.until(() => nia.updated.find((c) => c.id === s.conversationId && c.state === 'done'), 'done');
  });

  it('leaves a conversation on a bot endpoint to the bot until it is routed', async () => {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'after-bot', bot: 'helper' });
    const ola = await agent(tenant, 'ola', ['after-bot'], 1);
    const s = await session(tenant);
    expect(await state(tenant, s.conversationId)).toBe('bot');
    // The bot hands over through the interactions API (as an external router would).
    const r = await api(t.url, 'POST', `/nexus/v3/interactions/${s.conversationId}/route`, {
      headers: { 'x-api-key': tenant.apiKey },
      json: { queue: 'after-bot' },
    });
    expect(r.status).toBe(200);
    expect((await ola.nth(1)).conversation.id).toBe(s.conversationId);
  });

  it("puts a deleted agent's conversations back on their queue", async () => {
    const tenant = await tenantOn('del');
    const pat = await agent(tenant, 'pat', ['del'], 1);
    const s = await session(tenant);
    await pat.nth(1);
    const quinn = await agent(tenant, 'quinn', ['del'], 1);
    const r = await api(t.url, 'DELETE', `/nexus/v3/provisioning/agents/${tenant.ccid}/pat`, {
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(r.status).toBe(200);
    expect((await quinn.nth(1)).conversation).toMatchObject({ id: s.conversationId, agentId: 'quinn' });
  });

  it('makes one contact when the same new customer arrives several times at once', async () => {
    const tenant = await tenantOn('crm2');
    const email = `${randomUUID()}@example.com`;
    const burst = await Promise.all(Array.from({ length: 5 }, () => session(tenant, { email })));
    const contacts = new Set<string>();
    for (const s of burst) contacts.add((await interaction(t, tenant, s.conversationId)).contactId);
    expect(contacts.size).toBe(1);
    const rows = await t.nexus.db.query('SELECT count(*)::int AS n FROM contacts WHERE ccid = $1', [
      tenant.ccid,
    ]);
    expect(rows.rows[0].n).toBe(1);
  });

  it('refuses feedback on a suggestion never offered, and bad agent payloads, with error acks', async () => {
    const tenant = await tenantOn('fb');
    const kim = await agent(tenant, 'kim', ['fb'], 1);
    // Feedback on offered suggestions is recorded: test/athena/e2e.test.ts.
    expect(await kim.ack('suggestion.feedback', { suggestionId: 's-1', action: 'used' })).toMatchObject({
      ok: false,
      error: { name: 'SUGGESTION_NOT_FOUND' },
    });
    const rows = await t.nexus.db.query('SELECT agent_id, action FROM suggestion_feedback WHERE ccid = $1', [
      tenant.ccid,
    ]);
    expect(rows.rows).toEqual([]);
    for (const [event, payload] of [
      ['suggestion.feedback', { suggestionId: 's-1', action: 'loved' }],
      ['conversation.transfer', { conversationId: 'not-a-uuid', queue: 'q' }],
      ['conversation.done', { conversationId: randomUUID() }],
      ['conversation.join', { conversationId: randomUUID() }],
      ['agent.state', null],
    ] as const) {
      const r = await kim.ack(event, payload);
      expect(r.ok, `${event} ${JSON.stringify(payload)}`).toBe(false);
      expect(r.error.code).toBeGreaterThanOrEqual(1000);
    }
    expect((await kim.ack('agent.state', { state: 'ready' })).ok).toBe(true);
  });
});
