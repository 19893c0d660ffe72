/**
 * Capacity under concurrent assignment, three ways: 3 agents of capacity 2 and 30 conversations
 * created at once (across TWO gateways sharing PostgreSQL and Redis on the real engines) with
 * agents finishing work and toggling ready/not ready, checked at every step; rounds in which both
 * gateways fill the same agents at the same moment; and several routers with their own database
 * pools running the decision for one tenant at once. No agent ever holds more than its capacity,
 * no conversation is given twice, every conversation is eventually assigned.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStore } from '../../src/gateway/agents/store.js';
import { ContactStore } from '../../src/gateway/contacts/store.js';
import { EndpointStore } from '../../src/gateway/endpoints/store.js';
import { createNexus, type Nexus } from '../../src/gateway/nexus.js';
import { Routing } from '../../src/gateway/routing/router.js';
import type { ChatPort } from '../../src/gateway/routing/types.js';
import { Database } from '../../src/shared/db/pool.js';
import { createLogger } from '../../src/shared/logger.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { newSession } from './helpers.js';
import { putAgent, putEndpoint, TestAgent } from './routing-helpers.js';

const AGENTS = 3;
const CAPACITY = 2;
const CONVERSATIONS = 30;

describe.each(engines())('routing capacity under concurrency on %s engines', (engine) => {
  let t: TestNexus;
  /** The second gateway (real engines only: PGlite is one process's database). */
  let second: Nexus | undefined;
  let urls: string[];
  let tenant: TestTenant;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { routing: { sweepMs: 300 } } });
    urls = [t.url];
    if (engine === 'real') {
      second = createNexus(t.config, createLogger({ level: t.config.logLevel }));
      await second.start();
      urls.push(second.url);
    }
    tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'stress' });
  });
  afterAll(async () => {
    await second?.close();
    await t?.cleanup();
  });

  /** The database's view: assigned conversations per agent. */
  async function loads(): Promise<Record<string, number>> {
    const r = await t.nexus.db.query<{ agent_id: string; n: number }>(
      `SELECT agent_id, count(*)::int AS n FROM conversations
       WHERE ccid = $1 AND state = 'assigned' GROUP BY agent_id`,
      [tenant.ccid],
    );
    return Object.fromEntries(r.rows.map((x) => [x.agent_id, x.n]));
  }

  it('never exceeds an agent capacity and assigns every conversation exactly once', async () => {
    const agents: TestAgent[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const id = `agent${i}`;
      await putAgent(t, tenant, id, { name: id, queues: ['stress'], capacity: CAPACITY });
      // Agents are spread over the gateways, like the customers.
      agents.push(await TestAgent.connect({ url: urls[i % urls.length] }, tenant, id));
    }

    // What each agent holds, as it sees it: assignments in, Done out (removed before it is sent).
    const held = new Map(agents.map((a) => [a.agentId, new Set<string>()]));
    const violations: string[] = [];
    const given = new Map<string, string[]>();
    let wake: Array<() => void> = [];
    for (const a of agents) {
      a.socket.on('conversation.assigned', (p: { conversation: { id: string } }) => {
        const mine = held.get(a.agentId) as Set<string>;
        mine.add(p.conversation.id);
        if (mine.size > CAPACITY) violations.push(`${a.agentId} holds ${mine.size}`);
        given.set(p.conversation.id, [...(given.get(p.conversation.id) ?? []), a.agentId]);
        for (const w of wake.splice(0)) w();
      });
    }
    const check = async (when: string) => {
      for (const [agentId, n] of Object.entries(await loads())) {
        if (n > CAPACITY) violations.push(`${when}: ${agentId} has ${n} assigned in the database`);
      }
    };
    const untilGiven = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${given.size} of ${n} assigned`)), 30_000);
        const test = () => {
          if (given.size >= n) {
            clearTimeout(timer);
            resolve();
          } else wake.push(test);
        };
        test();
      });

    for (const a of agents) await a.ready();

    // 30 customers at once, alternating gateways.
    const sessions = await Promise.all(
      Array.from({ length: CONVERSATIONS }, (_, i) =>
        newSession({ url: urls[i % urls.length] }, tenant, `data[firstName]=c${i}&data[endpoint]=web`),
      ),
    );
    expect(new Set(sessions.map((s) => s.conversationId)).size).toBe(CONVERSATIONS);

    // Everyone full, the rest waiting.
    await untilGiven(AGENTS * CAPACITY);
    await check('after the burst');
    const full = await loads();
    expect(Object.values(full).reduce((x, y) => x + y, 0)).toBe(AGENTS * CAPACITY);

    // Each agent works through what it is given; every third conversation it steps away
    // (not ready) before finishing, and comes back.
    const work = async (a: TestAgent) => {
      const mine = held.get(a.agentId) as Set<string>;
      let finished = 0;
      for (;;) {
        if (mine.size === 0) {
          if (given.size >= CONVERSATIONS) return finished;
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`${a.agentId} starved at ${given.size}`)),
              30_000,
            );
            const test = () => {
              if (mine.size > 0 || given.size >= CONVERSATIONS) {
                clearTimeout(timer);
                resolve();
              } else wake.push(test);
            };
            test();
          });
          continue;
        }
        const id = mine.values().next().value as string;
        mine.delete(id);
        if (finished % 3 === 2) {
          expect((await a.ack('agent.state', { state: 'notready' })).ok).toBe(true);
          await check(`${a.agentId} not ready`);
          expect((await a.ack('agent.state', { state: 'ready' })).ok).toBe(true);
        }
        const done = await a.ack('conversation.done', { conversationId: id });
        expect(done, `done ${id}`).toEqual({ ok: true });
        finished++;
        await check(`${a.agentId} finished ${id}`);
      }
    };
    const finished = await Promise.all(agents.map(work));

    expect(violations).toEqual([]);
    expect(finished.reduce((x, y) => x + y, 0)).toBe(CONVERSATIONS);
    // Every conversation was given exactly once, and is done.
    expect(given.size).toBe(CONVERSATIONS);
    for (const [id, to] of given) expect(to, id).toHaveLength(1);
    const states = await t.nexus.db.query<{ state: string; n: number }>(
      'SELECT state, count(*)::int AS n FROM conversations WHERE ccid = $1 GROUP BY state',
      [tenant.ccid],
    );
    expect(states.rows).toEqual([{ state: 'done', n: CONVERSATIONS }]);
    for (const a of agents) a.close();
    wake = [];
  }, 90_000);
  it('holds capacity when both gateways assign to the same agents at once, round after round', async () => {
    const other = await createTenant(t);
    await putEndpoint(t, other, 'web', { queue: 'rounds' });
    const agents: TestAgent[] = [];
    for (let i = 0; i < AGENTS; i++) {
      await putAgent(t, other, `r${i}`, { name: `r${i}`, queues: ['rounds'], capacity: CAPACITY });
      agents.push(await TestAgent.connect({ url: urls[i % urls.length] }, other, `r${i}`));
    }
    for (const a of agents) await a.ready();
    const loadsOf = async () => {
      const r = await t.nexus.db.query<{ agent_id: string; n: number }>(
        `SELECT agent_id, count(*)::int AS n FROM conversations
         WHERE ccid = $1 AND state = 'assigned' GROUP BY agent_id`,
        [other.ccid],
      );
      return r.rows;
    };
    const slots = AGENTS * CAPACITY;
    let assignedSoFar = 0;
    const total = () => agents.reduce((n, a) => n + a.assigned.length, 0);
    // The assignment that completes the count arrives at some agent, whose waiter then resolves.
    const until = (n: number) =>
      Promise.race(agents.map((a) => a.until(() => total() >= n || undefined, `${n} assignments`)));
    for (let round = 0; round < 4; round++) {
      // Twice as many customers as there are slots, arriving on both gateways at once.
      await Promise.all(
        Array.from({ length: 2 * slots }, (_, i) =>
          newSession(
            { url: urls[i % urls.length] },
            other,
            `data[firstName]=r${round}c${i}&data[endpoint]=web`,
          ),
        ),
      );
      for (let wave = 0; wave < 2; wave++) {
        assignedSoFar += slots;
        await until(assignedSoFar);
        for (const row of await loadsOf())
          expect(row.n, `round ${round} wave ${wave} ${row.agent_id}`).toBeLessThanOrEqual(CAPACITY);
        // Every agent finishes everything it holds at the same time: both gateways assign the next wave.
        await Promise.all(
          agents.map(async (a) => {
            const held = (await a.ack('conversation.list', {})).conversations as Array<{ id: string }>;
            expect(held.length).toBeLessThanOrEqual(CAPACITY);
            await Promise.all(held.map((c) => a.ack('conversation.done', { conversationId: c.id })));
          }),
        );
      }
    }
    const given = agents.flatMap((a) => a.assigned.map((x) => x.conversation.id));
    expect(new Set(given).size).toBe(given.length);
    for (const a of agents) a.close();
  }, 90_000);
  it('keeps the capacity when many routers, each with its own connections, decide at once', async () => {
    // The decision itself, hammered: several routers (on the real engine each with its own pool,
    // as separate processes would be) run assignment for the same tenant at the same moment,
    // round after round, over the same agents. Only the database is shared between them.
    const other = await createTenant(t);
    const log = createLogger({ level: 'silent' });
    const pools: Database[] = [];
    const routers: Routing[] = [];
    const quiet: ChatPort = {
      get: async () => undefined,
      transcript: async () => [],
      append: async () => undefined,
      stateChanged: async () => undefined,
      endSessions: async () => undefined,
      notifier: {
        notifyAgent: async () => undefined,
        notifyConversation: async () => undefined,
        removeAgent: async () => undefined,
      },
    };
    for (let i = 0; i < 4; i++) {
      let db = t.nexus.db;
      if (engine === 'real') {
        const c = t.config.db;
        db = new Database({ ...c, ssl: false, log, poolSize: 4 });
        await db.start();
        pools.push(db);
      }
      const r = new Routing({
        db,
        agents: new AgentStore(db),
        endpoints: new EndpointStore(db),
        contacts: new ContactStore(db),
        log,
      });
      r.attach(quiet);
      routers.push(r);
    }
    try {
      for (let i = 0; i < AGENTS; i++) {
        await putAgent(t, other, `p${i}`, { name: `p${i}`, queues: ['prop'], capacity: CAPACITY });
        await t.nexus.db.query(`UPDATE agents SET state = 'ready' WHERE ccid = $1 AND agent_id = $2`, [
          other.ccid,
          `p${i}`,
        ]);
        await t.nexus.db.query(
          `INSERT INTO agent_connections (socket_id, ccid, agent_id, node_id, expires_at)
           VALUES ($1, $2, $3, 'prop', now() + interval '1 hour')`,
          [randomUUID(), other.ccid, `p${i}`],
        );
      }
      for (let i = 0; i < 20; i++) {
        await t.nexus.db.query(
          `INSERT INTO conversations (id, ccid, endpoint, state, queue, queued_at) VALUES ($1, $2, 'web', 'queued', 'prop', now())`,
          [randomUUID(), other.ccid],
        );
      }
      for (let round = 0; round < (engine === 'real' ? 15 : 5); round++) {
        await Promise.all(routers.flatMap((r) => [r.kick(other.ccid), r.kick(other.ccid)]));
        const loads = await t.nexus.db.query<{ agent_id: string; n: number }>(
          `SELECT agent_id, count(*)::int AS n FROM conversations WHERE ccid = $1 AND state = 'assigned' GROUP BY agent_id`,
          [other.ccid],
        );
        expect(
          loads.rows.reduce((n, x) => n + x.n, 0),
          `round ${round}`,
        ).toBe(AGENTS * CAPACITY);
        for (const x of loads.rows) expect(x.n, `round ${round} ${x.agent_id}`).toBe(CAPACITY);
        // Everyone's work goes back to the queue for the next round.
        await t.nexus.db.query(
          `UPDATE conversations SET state = 'queued', agent_id = NULL WHERE ccid = $1 AND state = 'assigned'`,
          [other.ccid],
        );
      }
    } finally {
      for (const r of routers) await r.close();
      for (const p of pools) await p.close();
    }
  }, 60_000);
});
