/** The interactions API: list, read, transcript, route (external router), done; credentials and tenants. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSession, type TestSession } from './chat/helpers.js';
import { putAgent, putEndpoint, TestAgent } from './chat/routing-helpers.js';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createApiKey, createTenant, type TestTenant } from './helpers/tenants.js';

describe.each(engines())('interactions API on %s engines', (engine) => {
  let t: TestNexus;
  let a: TestTenant;
  let b: TestTenant;
  const agents: TestAgent[] = [];
  const key = (x: TestTenant) => ({ 'x-api-key': x.apiKey });

  beforeAll(async () => {
    t = await startNexus({ engine });
    a = await createTenant(t);
    b = await createTenant(t);
    await putEndpoint(t, a, 'web', { queue: 'front' });
    await putEndpoint(t, b, 'web', { queue: 'front' });
  });
  afterAll(async () => {
    for (const x of agents) x.close();
    await t?.cleanup();
  });

  const session = (x: TestTenant): Promise<TestSession> =>
    newSession(t, x, `data[firstName]=Ann&data[email]=ann%40example.com&data[endpoint]=web`);

  async function agent(
    x: TestTenant,
    agentId: string,
    queues: string[],
    capacity: number,
  ): Promise<TestAgent> {
    await putAgent(t, x, agentId, { name: agentId, queues, capacity });
    const ag = await TestAgent.connect(t, x, agentId);
    agents.push(ag);
    await ag.ready();
    return ag;
  }

  const get = (path: string, headers: Record<string, string>) => api(t.url, 'GET', path, { headers });
  const post = (path: string, headers: Record<string, string>, json?: unknown) =>
    api(t.url, 'POST', path, { headers, json });

  it('lists interactions by state and reads one with its contact, for its own tenant only', async () => {
    const s = await session(a);
    const other = await session(b);
    const queued = await get('/nexus/v3/interactions?state=queued', key(a));
    expect(queued.status).toBe(200);
    const ids = queued.body.data.interactions.map((i: { id: string }) => i.id);
    expect(ids).toContain(s.conversationId);
    expect(ids).not.toContain(other.conversationId);
    expect((await get('/nexus/v3/interactions?state=done', key(a))).body.data.interactions).toEqual([]);
    const two = await get('/nexus/v3/interactions?state=queued,assigned&limit=1', key(a));
    expect(two.body.data.interactions).toHaveLength(1);

    const one = await get(`/nexus/v3/interactions/${s.conversationId}`, key(a));
    expect(one.status).toBe(200);
    expect(one.body.data).toMatchObject({
      id: s.conversationId,
      ccid: a.ccid,
      state: 'queued',
      queue: 'front',
      channel: 'chat',
      endpoint: 'web',
      contact: { email: 'ann@example.com' },
    });

    // Another tenant's interaction does not exist for this key, whatever the path.
    for (const path of [
      `/nexus/v3/interactions/${other.conversationId}`,
      `/nexus/v3/interactions/${other.conversationId}/messages`,
      `/nexus/v3/interactions/${randomUUID()}`,
      '/nexus/v3/interactions/not-a-uuid',
    ]) {
      const r = await get(path, key(a));
      expect(r.status, path).toBe(404);
      expect(r.body.status.code).toBe(4102);
    }
  });

  it('refuses bad queries with a 400 naming the field', async () => {
    for (const [q, field] of [
      ['state=bogus', 'query.state.0'],
      ['limit=0', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['before=yesterday', 'query.before'],
      // Well-formed ISO text that PostgreSQL cannot take as a time (an offset beyond ±15:59, year 0).
      ['before=2020-01-01T00:00:00.000%2B99:99', 'query.before'],
      ['before=0000-01-01T00:00:00Z', 'query.before'],
      ['colour=red', 'query.colour'],
    ]) {
      const r = await get(`/nexus/v3/interactions?${q}`, key(a));
      expect(r.status, q).toBe(400);
      expect(r.body.status.details.field).toBe(field);
    }
  });

  it('serves the agent-audience transcript, internal notes included', async () => {
    const s = await session(a);
    const nora = await agent(a, 'nora', ['front'], 5);
    await nora.until(() => nora.assigned.find((x) => x.conversation.id === s.conversationId), 'assignment');
    const note = await nora.ack('message.send', {
      conversationId: s.conversationId,
      clientMessageId: randomUUID(),
      text: 'customer is a VIP',
      visibility: 'agents',
    });
    expect(note.ok).toBe(true);
    const r = await get(`/nexus/v3/interactions/${s.conversationId}/messages`, key(a));
    expect(r.status).toBe(200);
    const texts = r.body.data.messages.map((m: { text?: string }) => m.text);
    expect(texts).toContain('customer is a VIP');
    expect(r.body.data.messages.at(-1).seq).toBe(note.seq);
    const from = await get(
      `/nexus/v3/interactions/${s.conversationId}/messages?from=${note.seq - 1}`,
      key(a),
    );
    expect(from.body.data.messages.map((m: { seq: number }) => m.seq)).toEqual([note.seq]);
    // The customer's own transcript never has it.
    const customer = await api(t.url, 'GET', `${s.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': s.clientToken },
    });
    expect(customer.body.data.messages.map((m: { text?: string }) => m.text)).not.toContain(
      'customer is a VIP',
    );
    nora.close();
  });

  it('lets an external router place interactions on a queue or an agent, within capacity', async () => {
    const vip = await agent(a, 'vip-agent', ['vip'], 1);
    const s = await session(a);
    const toQueue = await post(`/nexus/v3/interactions/${s.conversationId}/route`, key(a), { queue: 'vip' });
    expect(toQueue.status).toBe(200);
    const got = await vip.until(
      () => vip.assigned.find((x) => x.conversation.id === s.conversationId),
      'vip',
    );
    expect(got.conversation).toMatchObject({ queue: 'vip', agentId: 'vip-agent' });

    // The agent is full: placing another conversation on it is refused and changes nothing.
    const s2 = await session(a);
    const full = await post(`/nexus/v3/interactions/${s2.conversationId}/route`, key(a), {
      agentId: 'vip-agent',
    });
    expect(full.status).toBe(409);
    expect(full.body.status.code).toBe(4106);
    const unknown = await post(`/nexus/v3/interactions/${s2.conversationId}/route`, key(a), {
      agentId: 'ghost',
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.status.code).toBe(4101);
    for (const body of [{}, { queue: 'q', agentId: 'x' }, { queue: 'q', priority: 1 }, { queue: '' }]) {
      const r = await post(`/nexus/v3/interactions/${s2.conversationId}/route`, key(a), body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    const still = await get(`/nexus/v3/interactions/${s2.conversationId}`, key(a));
    expect(still.body.data).toMatchObject({ state: 'queued', queue: 'front' });

    // Placed directly on an agent with room (ready or not).
    await putAgent(t, a, 'late', { name: 'late', queues: [], capacity: 1 });
    const toAgent = await post(`/nexus/v3/interactions/${s2.conversationId}/route`, key(a), {
      agentId: 'late',
    });
    expect(toAgent.status).toBe(200);
    expect(toAgent.body.data).toMatchObject({ state: 'assigned', agentId: 'late' });
  });

  it('marks an interaction done once; another tenant can neither see nor finish it', async () => {
    const s = await session(a);
    const foreign = await post(`/nexus/v3/interactions/${s.conversationId}/done`, key(b));
    expect(foreign.status).toBe(404);
    const foreignRoute = await post(`/nexus/v3/interactions/${s.conversationId}/route`, key(b), {
      queue: 'x',
    });
    expect(foreignRoute.status).toBe(404);
    expect((await get(`/nexus/v3/interactions/${s.conversationId}`, key(a))).body.data.state).toBe('queued');

    const done = await post(`/nexus/v3/interactions/${s.conversationId}/done`, key(a));
    expect(done.status).toBe(200);
    expect(done.body.data.state).toBe('done');
    const again = await post(`/nexus/v3/interactions/${s.conversationId}/done`, key(a));
    expect(again.status).toBe(409);
    expect(again.body.status.code).toBe(4104);
    const reroute = await post(`/nexus/v3/interactions/${s.conversationId}/route`, key(a), {
      queue: 'front',
    });
    expect(reroute.body.status.code).toBe(4104);
    const listed = await get('/nexus/v3/interactions?state=done', key(a));
    expect(listed.body.data.interactions.map((i: { id: string }) => i.id)).toContain(s.conversationId);
  });

  it('accepts the interactions and designer permissions, cluster keys with x-ccid, and the admin token', async () => {
    const s = await session(a);
    const path = `/nexus/v3/interactions/${s.conversationId}`;
    const read = await createApiKey(t, { tenant: a.ccid, permissions: ['nexus:interactions:read'] });
    expect((await get(path, { 'x-api-key': read.apiKey })).status).toBe(200);
    const readOnlyRoute = await post(`${path}/route`, { 'x-api-key': read.apiKey }, { queue: 'x' });
    expect(readOnlyRoute.status).toBe(403);

    const designer = await createApiKey(t, { tenant: a.ccid, permissions: ['nexus:designer:chat'] });
    expect((await get(path, { 'x-api-key': designer.apiKey })).status).toBe(200);
    expect((await post(`${path}/route`, { 'x-api-key': designer.apiKey }, { queue: 'desk' })).status).toBe(
      200,
    );

    const chatOnly = await createApiKey(t, { tenant: a.ccid, permissions: ['nexus:consumer:chat'] });
    expect((await get(path, { 'x-api-key': chatOnly.apiKey })).status).toBe(403);
    expect((await get(path, {})).status).toBe(401);

    const cluster = await createApiKey(t, { tenant: '*', permissions: ['nexus:cluster:interactions:*'] });
    expect((await get(path, { 'x-api-key': cluster.apiKey, 'x-ccid': a.ccid })).status).toBe(200);
    expect((await get(path, { 'x-api-key': cluster.apiKey, 'x-ccid': b.ccid })).status).toBe(404);
    const noCcid = await get(path, { 'x-api-key': cluster.apiKey });
    expect(noCcid.status).toBe(400);
    expect(noCcid.body.status.name).toBe('CCID_REQUIRED');

    const admin = { authorization: `Bearer ${t.adminToken}` };
    expect((await get(path, { ...admin, 'x-ccid': a.ccid })).status).toBe(200);
    expect((await get(path, admin)).status).toBe(400);
    // A tenant key cannot reach another tenant through x-ccid.
    expect((await get(path, { ...key(b), 'x-ccid': a.ccid })).status).toBe(403);
  });
});
