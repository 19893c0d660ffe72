/**
 * Capacity under concurrent assignment: 3 agents of capacity 2, 30 conversations created at once
 * (across TWO gateways sharing PostgreSQL and Redis on the real engines), agents finishing work
 * and toggling ready/not ready. At every step no agent holds more than its capacity, no
 * conversation is given twice, and every conversation is eventually assigned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNexus, type Nexus } from '../../src/gateway/nexus.js';
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
});
