/**
 * Durable customer presence (routing/presence.ts, migration 0031): a customer who leaves puts the
 * conversation on async hold even when no node's memory knows of it: a REST-only customer who
 * stops polling, a customer whose node went away in the grace period (a second node on the real
 * engines; a restart of the only one on the embedded engine). A customer who stays, on a socket or
 * polling, is never moved. Timings are small: marks every ~333 ms, absent after 4 s. The absence
 * limit is twelve mark intervals so that marks held up by a loaded machine do not make a customer
 * who stays look absent: on a 2-core machine with a load of 8, the newest mark of a staying
 * customer was up to 1.17 s old (0.4 s in most runs), against the 1.3 s this file used to allow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { newSession, socketFor, type TestSession } from './helpers.js';
import { interaction, putAgent, putEndpoint, TestAgent } from './routing-helpers.js';

const GRACE_MS = 3000;
const TTL_MS = 1000;
/** How long nobody may have seen a customer before the sweep lets go. */
const ABSENT_MS = GRACE_MS + TTL_MS;
/** A "nothing moves" window: past the absence limit of every conversation in it, by a margin. */
const STAY_MS = ABSENT_MS + 1000;
const ROUTING = { customerGraceMs: GRACE_MS, presenceTtlMs: TTL_MS, sweepMs: 100 };

type Gateway = Pick<TestNexus, 'url'>;

/** Polls the conversation's state (an absence sends no event), bounded. */
async function untilState(t: Gateway, tenant: TestTenant, id: string, state: string, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const c = await interaction(t, tenant, id);
    if (c.state === state) return c;
    if (Date.now() > end) throw new Error(`${id} is ${c.state}, not ${state}, after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const poll = (t: Gateway, s: TestSession) =>
  api(t.url, 'GET', `${s.selfUri}/messages`, { headers: { 'x-nexus-client-key': s.clientToken } });

/** A tenant with endpoint `web` (on a queue of its own) and a ready agent on it. */
async function setup(t: TestNexus, agentNode: Gateway = t, endpoint: Record<string, unknown> = {}) {
  const tenant = await createTenant(t);
  await putEndpoint(t, tenant, 'web', { queue: 'presence', ...endpoint });
  await putAgent(t, tenant, 'ava', { name: 'Ava', queues: ['presence'], capacity: 2 });
  const agent = await TestAgent.connect(agentNode, tenant, 'ava');
  await agent.ready();
  return { tenant, agent };
}

describe.each(engines())('durable customer presence on %s engines', (engine) => {
  let t: TestNexus;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { routing: ROUTING } });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('holds the conversation of a REST-only customer who stops polling', async () => {
    const { tenant, agent } = await setup(t);
    const s = await newSession(t, tenant, 'data[firstName]=Rest&data[endpoint]=web');
    await agent.nth(1);
    // Polling for longer than the absence limit keeps it assigned.
    const end = Date.now() + STAY_MS;
    while (Date.now() < end) {
      expect((await poll(t, s)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect((await interaction(t, tenant, s.conversationId)).state).toBe('assigned');
    // Then the customer just goes away: no socket, no end, nothing in any node's memory.
    await agent.until(
      () => agent.updated.find((c) => c.id === s.conversationId && c.state === 'asynchold'),
      'async hold',
      ABSENT_MS + 10_000,
    );
    expect(await interaction(t, tenant, s.conversationId)).toMatchObject({
      state: 'asynchold',
      agentId: 'ava',
    });
    agent.close();
  }, 60_000);

  it('ends a queued conversation of an absent customer on an endpoint without async hold', async () => {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'nobody', asyncHold: false });
    const s = await newSession(t, tenant, 'data[firstName]=Gone&data[endpoint]=web');
    expect((await interaction(t, tenant, s.conversationId)).state).toBe('queued');
    await untilState(t, tenant, s.conversationId, 'done', ABSENT_MS + 10_000);
  }, 30_000);

  it('never moves a customer who stays, on a socket (on another node) or polling', async () => {
    // On the real engines the socket is on a second node while the first one sweeps too.
    const other = engine === 'real' ? await startNexus({ shareWith: t }) : undefined;
    try {
      const { tenant, agent } = await setup(t);
      const onSocket = await newSession(t, tenant, 'data[firstName]=Sock&data[endpoint]=web');
      const socket = await socketFor((other ?? t).url, '/consumer', { clientToken: onSocket.clientToken });
      const polling = await newSession(t, tenant, 'data[firstName]=Poll&data[endpoint]=web');
      await agent.nth(2);
      // Nothing may happen: wait out the absence limit (an absence has no event to await).
      const end = Date.now() + STAY_MS;
      while (Date.now() < end) {
        expect((await poll(other ?? t, polling)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 150));
      }
      for (const s of [onSocket, polling]) {
        expect((await interaction(t, tenant, s.conversationId)).state, s.conversationId).toBe('assigned');
      }
      expect(agent.updated.filter((c) => c.state === 'asynchold')).toEqual([]);
      // The sweep was watching all along: the poller stops, and is let go.
      await untilState(t, tenant, polling.conversationId, 'asynchold', ABSENT_MS + 10_000);
      expect((await interaction(t, tenant, onSocket.conversationId)).state).toBe('assigned');
      socket.close();
      agent.close();
    } finally {
      await other?.close();
    }
  }, 60_000);

  it('holds the conversation of a customer whose node went away in the grace period', async () => {
    // Real engines: the customer on node A, which shuts down (its grace timers go with it) while
    // node B sweeps. Embedded (one node): the only node restarts; the new one knows nothing. Its
    // first boot on disk and the restart took 26 s and 11 s on a loaded 2-core machine: 90 s.
    const own =
      engine === 'real' ? undefined : await startNexus({ engine, onDisk: true, nexus: { routing: ROUTING } });
    let b: TestNexus = own ?? t;
    const a = own ?? (await startNexus({ shareWith: t }));
    try {
      const { tenant, agent } = await setup(b, a);
      const s = await newSession(a, tenant, 'data[firstName]=Node&data[endpoint]=web');
      const socket = await socketFor(a.url, '/consumer', { clientToken: s.clientToken });
      await agent.nth(1);
      const gone = new Promise((r) => socket.once('disconnect', r));
      if (own) b = await own.restart();
      else await a.close();
      await gone;
      agent.close();
      const held = await untilState(b, tenant, s.conversationId, 'asynchold', ABSENT_MS + 10_000);
      expect(held.agentId).toBe('ava');
    } finally {
      if (own) await b.cleanup();
      else await a.close();
    }
  }, 90_000);
});
