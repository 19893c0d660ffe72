/** Provisioning of chat endpoints and agents, agent tokens, and agent presence. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitAck, socketFor } from './chat/helpers.js';
import { agentToken, putAgent, untilDisconnected } from './chat/routing-helpers.js';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';
import { createApiKey, createTenant, type TestTenant } from './helpers/tenants.js';

describe.each(engines())('endpoint and agent provisioning on %s engines', (engine) => {
  let t: TestNexus;
  let a: TestTenant;
  let b: TestTenant;
  const key = (x: TestTenant) => ({ 'x-api-key': x.apiKey });

  beforeAll(async () => {
    t = await startNexus({ engine });
    a = await createTenant(t);
    b = await createTenant(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('creates, reads, replaces, lists and deletes a chat endpoint', async () => {
    const path = `/nexus/v3/provisioning/endpoints/${a.ccid}/sales`;
    const created = await api(t.url, 'PUT', path, {
      headers: key(a),
      json: { queue: 'sales-q', bot: 'helper' },
    });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({
      endpoint: 'sales',
      queue: 'sales-q',
      bot: 'helper',
      asyncHold: true,
    });

    const replaced = await api(t.url, 'PUT', path, {
      headers: key(a),
      json: { queue: 'sales-2', asyncHold: false },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.data).toMatchObject({ queue: 'sales-2', asyncHold: false });
    expect(replaced.body.data.bot).toBeUndefined();

    expect((await api(t.url, 'GET', path, { headers: key(a) })).body.data.queue).toBe('sales-2');
    const list = await api(t.url, 'GET', `/nexus/v3/provisioning/endpoints/${a.ccid}`, { headers: key(a) });
    expect(list.body.data.endpoints.map((e: { endpoint: string }) => e.endpoint)).toEqual(['sales']);

    expect((await api(t.url, 'DELETE', path, { headers: key(a) })).status).toBe(200);
    const gone = await api(t.url, 'GET', path, { headers: key(a) });
    expect(gone.status).toBe(404);
    expect(gone.body.status.code).toBe(4100);
    expect((await api(t.url, 'DELETE', path, { headers: key(a) })).status).toBe(404);
  });

  it('refuses bad endpoint bodies with a 400 naming the field, storing nothing', async () => {
    const path = `/nexus/v3/provisioning/endpoints/${a.ccid}/bad`;
    const cases: Array<[unknown, string]> = [
      [{}, 'queue'],
      [{ queue: 7 }, 'queue'],
      [{ queue: 'q', extra: 1 }, 'extra'],
      [{ queue: 'q', asyncHold: 'yes' }, 'asyncHold'],
      [{ queue: 'has space' }, 'queue'],
      [{ queue: 'q', bot: '' }, 'bot'],
    ];
    for (const [json, field] of cases) {
      const r = await api(t.url, 'PUT', path, { headers: key(a), json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.status.code).toBe(1004);
      expect(r.body.status.details.field).toBe(field);
    }
    const bad = await api(t.url, 'PUT', `/nexus/v3/provisioning/endpoints/${a.ccid}/bad%20name`, {
      headers: key(a),
      json: { queue: 'q' },
    });
    expect(bad.status).toBe(400);
    expect((await api(t.url, 'GET', path, { headers: key(a) })).status).toBe(404);
  });

  it('creates, reads, replaces, lists and deletes an agent, with its presence', async () => {
    const path = `/nexus/v3/provisioning/agents/${a.ccid}/alice`;
    const created = await api(t.url, 'PUT', path, {
      headers: key(a),
      json: { name: 'Alice', queues: ['sales', 'support'], capacity: 3 },
    });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({
      agentId: 'alice',
      name: 'Alice',
      queues: ['sales', 'support'],
      capacity: 3,
      state: 'notready',
      connected: false,
    });
    const replaced = await api(t.url, 'PUT', path, {
      headers: key(a),
      json: { name: 'Alice B', queues: [], capacity: 1 },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.data).toMatchObject({ name: 'Alice B', queues: [], capacity: 1 });
    const list = await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${a.ccid}`, { headers: key(a) });
    expect(list.body.data.agents.map((x: { agentId: string }) => x.agentId)).toEqual(['alice']);
    expect((await api(t.url, 'DELETE', path, { headers: key(a) })).status).toBe(200);
    const gone = await api(t.url, 'GET', path, { headers: key(a) });
    expect(gone.status).toBe(404);
    expect(gone.body.status.code).toBe(4101);
  });

  it('refuses bad agent bodies with a 400 naming the field', async () => {
    const path = `/nexus/v3/provisioning/agents/${a.ccid}/bob`;
    const cases: Array<[unknown, string]> = [
      [{ queues: ['q'], capacity: 1 }, 'name'],
      [{ name: 'B', queues: 'q', capacity: 1 }, 'queues'],
      [{ name: 'B', queues: ['q', 'q'], capacity: 1 }, 'queues'],
      [{ name: 'B', queues: ['q'], capacity: -1 }, 'capacity'],
      [{ name: 'B', queues: ['q'], capacity: 1.5 }, 'capacity'],
      [{ name: 'B', queues: ['q'], capacity: 1, role: 'admin' }, 'role'],
    ];
    for (const [json, field] of cases) {
      const r = await api(t.url, 'PUT', path, { headers: key(a), json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.status.details.field).toBe(field);
    }
    expect((await api(t.url, 'GET', path, { headers: key(a) })).status).toBe(404);
  });

  it('keeps tenants apart and checks credentials and permissions', async () => {
    await putAgent(t, a, 'carol', { name: 'Carol', queues: ['q'], capacity: 1 });
    // Tenant B's key cannot read, change or delete tenant A's agents and endpoints.
    for (const [method, path, json] of [
      ['GET', `/nexus/v3/provisioning/agents/${a.ccid}/carol`, undefined],
      ['GET', `/nexus/v3/provisioning/agents/${a.ccid}`, undefined],
      ['PUT', `/nexus/v3/provisioning/agents/${a.ccid}/carol`, { name: 'x', queues: [], capacity: 9 }],
      ['DELETE', `/nexus/v3/provisioning/agents/${a.ccid}/carol`, undefined],
      ['POST', `/nexus/v3/provisioning/agents/${a.ccid}/carol/tokens`, undefined],
      ['PUT', `/nexus/v3/provisioning/endpoints/${a.ccid}/web`, { queue: 'stolen' }],
    ] as const) {
      const r = await api(t.url, method, path, { headers: key(b), json });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    expect(
      (await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${a.ccid}/carol`, { headers: key(a) })).body
        .data.capacity,
    ).toBe(1);

    expect((await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${a.ccid}`)).status).toBe(401);
    const chatOnly = await createApiKey(t, { tenant: a.ccid, permissions: ['nexus:consumer:chat'] });
    const r = await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${a.ccid}`, {
      headers: { 'x-api-key': chatOnly.apiKey },
    });
    expect(r.status).toBe(403);
    const scoped = await createApiKey(t, { tenant: a.ccid, permissions: ['nexus:provisioning:*'] });
    const ok = await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${a.ccid}`, {
      headers: { 'x-api-key': scoped.apiKey },
    });
    expect(ok.status).toBe(200);

    // The admin token provisions any tenant; an unknown tenant is a 404.
    const admin = { authorization: `Bearer ${t.adminToken}` };
    expect(
      (await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${a.ccid}`, { headers: admin })).status,
    ).toBe(200);
    const missing = await api(t.url, 'PUT', `/nexus/v3/provisioning/agents/${randomUUID()}/dan`, {
      headers: admin,
      json: { name: 'Dan', queues: [], capacity: 1 },
    });
    expect(missing.status).toBe(404);
    expect(missing.body.status.code).toBe(3000);
  });

  it('issues agent tokens that open the /agent namespace, and keeps presence in the database', async () => {
    await putAgent(t, a, 'erin', { name: 'Erin', queues: ['q'], capacity: 2 });
    const missing = await api(t.url, 'POST', `/nexus/v3/provisioning/agents/${a.ccid}/nobody/tokens`, {
      headers: key(a),
    });
    expect(missing.status).toBe(404);
    const badTtl = await api(t.url, 'POST', `/nexus/v3/provisioning/agents/${a.ccid}/erin/tokens`, {
      headers: key(a),
      json: { ttl: 5 },
    });
    expect(badTtl.status).toBe(400);

    const token = await agentToken(t, a, 'erin');
    const s = await socketFor(t.url, '/agent', { token });
    const read = async () =>
      (await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${a.ccid}/erin`, { headers: key(a) })).body
        .data;
    expect(await emitAck(s, 'agent.state', { state: 'ready' })).toEqual({ ok: true, state: 'ready' });
    expect(await read()).toMatchObject({ state: 'ready', connected: true });
    expect((await emitAck(s, 'agent.state', { state: 'bogus' })).ok).toBe(false);
    expect(await emitAck(s, 'agent.state', { state: 'notready' })).toEqual({ ok: true, state: 'notready' });
    expect((await read()).state).toBe('notready');

    s.close();
    await untilDisconnected(t, a, 'erin');
    expect((await read()).connected).toBe(false);

    // A token outlives its agent, but not the agent's rights.
    await api(t.url, 'DELETE', `/nexus/v3/provisioning/agents/${a.ccid}/erin`, { headers: key(a) });
    const again = await socketFor(t.url, '/agent', { token });
    const refused = await emitAck(again, 'agent.state', { state: 'ready' });
    expect(refused.ok).toBe(false);
    expect(refused.error.code).toBe(4101);
    again.close();
  });
});
