/**
 * The sweep's heartbeat of a node's agent sockets (AgentStore.heartbeat). A sweep lists the node's
 * sockets when it starts; an agent who connects meanwhile has its row written by the connect and
 * then removed by that sweep's delete of "sockets no longer here". The next sweep must write it
 * again: a connected, ready agent whose row stays missing is never routed to (a CI run saw an agent
 * get no assignment for 10 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStore } from '../../src/gateway/agents/store.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant } from '../helpers/tenants.js';
import { putAgent } from './routing-helpers.js';

describe.each(engines())('agent heartbeat on %s engines', (engine) => {
  let t: TestNexus;

  beforeAll(async () => {
    t = await startNexus({ engine });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const rows = async (socketId: string) =>
    (
      await t.nexus.db.query<{ live: boolean }>(
        'SELECT expires_at > now() AS live FROM agent_connections WHERE socket_id = $1',
        [socketId],
      )
    ).rows;

  it('writes again the row of a socket that a sweep started before its connect removed', async () => {
    const tenant = await createTenant(t);
    await putAgent(t, tenant, 'ava', { name: 'Ava', queues: ['q'], capacity: 1 });
    const store = new AgentStore(t.nexus.db);
    const node = 'node-heartbeat';
    const socket = { socketId: `sock-${tenant.ccid}`, ccid: tenant.ccid, agentId: 'ava' };

    await store.connect(socket.socketId, tenant.ccid, 'ava', node, 60_000);
    expect((await store.get(tenant.ccid, 'ava'))?.connected).toBe(true);
    // The sweep that listed the node's sockets before this one connected.
    await store.heartbeat(node, [], 60_000);
    expect(await rows(socket.socketId)).toEqual([]);
    // The next sweep lists it.
    await store.heartbeat(node, [socket], 60_000);
    expect(await rows(socket.socketId)).toEqual([{ live: true }]);
    expect((await store.get(tenant.ccid, 'ava'))?.connected).toBe(true);
  });

  it('skips the socket of an agent deleted meanwhile and keeps the others', async () => {
    const tenant = await createTenant(t);
    await putAgent(t, tenant, 'bo', { name: 'Bo', queues: ['q'], capacity: 1 });
    const store = new AgentStore(t.nexus.db);
    const node = 'node-deleted';
    const bo = { socketId: `bo-${tenant.ccid}`, ccid: tenant.ccid, agentId: 'bo' };
    const gone = { socketId: `gone-${tenant.ccid}`, ccid: tenant.ccid, agentId: 'gone' };
    await store.heartbeat(node, [gone, bo], 60_000);
    expect(await rows(bo.socketId)).toEqual([{ live: true }]);
    expect(await rows(gone.socketId)).toEqual([]);
  });
});
