/**
 * `kill -9` of a gateway node under chat traffic. Three nodes share PostgreSQL and Redis. Three
 * conversations are opened on node A and assigned to an agent whose console is on B; the agent
 * writes from C; two more conversations opened on A wait in the queue. While both sides of every
 * conversation write, A is SIGKILLed: its customers reconnect to B with the last seq they hold and
 * resend what was not acked. Counted by seq: 0 lost, 0 duplicated, nothing out of order. The
 * waiting conversations A had queued are assigned by the surviving nodes to an agent who comes
 * ready on C.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSession } from '../chat/helpers.js';
import { type Deployment, startDeployment } from './nodes.js';
import { type Party, tally } from './parties.js';
import { alive, parties, provision, routedConversation, storedSeqs } from './scenario.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  startPostgres,
  startRedis,
} from './servers.js';

const PER_SIDE = 40;

describe.runIf(clusterToolsAvailable())('kill -9 of a gateway node under chat traffic', () => {
  let pg: Postgres;
  let redis: RedisDeployment;
  let dep: Deployment;
  const open: Party[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis('standalone')]);
    dep = await startDeployment({ pg, redis, nodes: 3 });
  });

  afterAll(async () => {
    for (const p of open) p.close();
    await dep?.destroy();
    await Promise.all([redis?.destroy(), pg?.destroy()]);
  });

  it('loses and repeats nothing, and the survivors route what the dead node had queued', async () => {
    const [a, b, c] = dep.nodes;
    const { tenant, agent } = await provision(dep, { capacity: 3 });
    const ag1 = await agent(b, 'agent-1');
    const sessions = [];
    for (let i = 0; i < 3; i++) sessions.push(await routedConversation(a, tenant, ag1));
    // agent-1 is full: these two wait in the queue that A put them in.
    const queued = [await newSession(a, tenant), await newSession(a, tenant)];

    const live = alive(dep.nodes);
    const convs = await Promise.all(
      sessions.map((s) =>
        parties(s, ag1, {
          customer: live, // A first while it lives, then B
          agent: () => live().reverse(), // C
        }),
      ),
    );
    for (const p of convs) open.push(p.customer, p.agent);
    expect(convs.every((p) => p.customer.url?.startsWith(a.url))).toBe(true);

    let acked = 0;
    let onProgress: () => void = () => undefined;
    const traffic = convs.flatMap(({ customer, agent: agentSide }, k) =>
      [customer, agentSide].map(async (party) => {
        for (let i = 0; i < PER_SIDE; i++) {
          await party.send(`${party.kind}-${k}-${i}`, `${party.kind} ${k} #${i}`);
          acked++;
          onProgress();
        }
      }),
    );
    // A dies with sends in flight, a third of the way through.
    await new Promise<void>((resolve) => {
      onProgress = () => {
        if (acked >= (convs.length * 2 * PER_SIDE) / 3) resolve();
      };
    });
    const killedAt = acked;
    expect(await a.kill('SIGKILL')).toBe('SIGKILL');
    await Promise.all(traffic);
    expect(killedAt).toBeLessThan(convs.length * 2 * PER_SIDE);

    // Every customer of A came back, on B.
    for (const { customer } of convs) {
      expect(customer.reconnects).toBeGreaterThanOrEqual(1);
      expect(customer.url?.startsWith(b.url)).toBe(true);
    }
    const db = await pg.client(dep.database);
    try {
      for (const [k, { customer, agent: agentSide }] of convs.entries()) {
        const seqs = [...customer.acked.values(), ...agentSide.acked.values()];
        await Promise.all([customer.holds(seqs), agentSide.holds(seqs)]);
        const stored = await storedSeqs((sql, p) => db.query(sql, p), sessions[k].conversationId);
        expect(tally([customer, agentSide], stored)).toEqual({
          acked: 2 * PER_SIDE,
          lost: [],
          duplicated: 0,
          outOfOrder: 0,
          mismatched: [],
        });
      }
    } finally {
      await db.end();
    }

    // The conversations A had queued are routed by the surviving nodes.
    const ag2 = await agent(c, 'agent-2');
    await ag2.console.nth(queued.length, 20_000);
    expect(new Set(ag2.console.assigned.map((x) => x.conversation.id))).toEqual(
      new Set(queued.map((q) => q.conversationId)),
    );
    ag1.console.close();
    ag2.console.close();
  });
});
