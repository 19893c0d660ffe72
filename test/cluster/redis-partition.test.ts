/**
 * One node cut off from Redis while the others keep it. Node A's connections are closed and
 * refused (its Redis user switched off, then its clients killed) while node B stays connected and
 * subscribed. The agent on B writes, which A misses while unsubscribed; then the customer on A
 * writes: committed and acked, but A's publish is refused once ioredis stops holding it, so B's
 * sockets never hear of it, and B has no reconnect of its own that would make it look. Then A
 * is let back in; nothing more is written. A must ask the other nodes to refill (its publishes
 * failed) and refill its own sockets (it subscribed again): every acked message at every party,
 * once, in order.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Deployment, type GatewayNode, healthState, metric, startDeployment, until } from './nodes.js';
import { Party, tally } from './parties.js';
import { parties, provision, routedConversation, storedSeqs } from './scenario.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  startPostgres,
  startRedis,
} from './servers.js';

/** How long the parties may take to receive the refills once A is green again. */
const REFILL_MS = 10_000;

describe.runIf(clusterToolsAvailable())('one node cut off from Redis, the other not', () => {
  let pg: Postgres;
  let redis: RedisDeployment;
  let admin: Redis;
  let dep: Deployment;
  const open: Party[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis('standalone')]);
    const url = new URL(redis.env.NEXUS_REDIS_NODES);
    admin = new Redis(url.toString());
    await admin.call('ACL', 'SETUSER', 'node-a', 'on', '>node-a-pass', '~*', '&*', '+@all');
    url.username = 'node-a';
    url.password = 'node-a-pass';
    // A connects as its own Redis user; B (added below) as the default user.
    dep = await startDeployment({ pg, redis, nodes: 1, env: { NEXUS_REDIS_NODES: url.toString() } });
    await dep.addNode('B', { NEXUS_REDIS_NODES: redis.env.NEXUS_REDIS_NODES });
  });

  afterAll(async () => {
    for (const p of open) p.close();
    admin?.disconnect();
    await dep?.destroy();
    await Promise.all([redis?.destroy(), pg?.destroy()]);
  });

  const state = async (n: GatewayNode) => (await healthState(n)).state;

  it('refills both ways once the node is back: nothing lost or repeated', async () => {
    const [a, b] = dep.nodes;
    const { tenant, agent } = await provision(dep);
    const ag = await agent(b, 'agent-1');
    const session = await routedConversation(a, tenant, ag);
    const { customer, agent: agentSide } = await parties(session, ag, {
      customer: () => [a.url],
      agent: () => [b.url],
    });
    const secondTab = new Party({
      kind: 'customer',
      conversationId: session.conversationId,
      auth: { clientToken: session.clientToken },
      urls: () => [b.url],
    });
    open.push(customer, agentSide, secondTab);
    await secondTab.connect();
    const everyone = [customer, agentSide, secondTab];
    const warm = [
      await customer.send('c-warm', 'customer warm'),
      await agentSide.send('a-warm', 'agent warm'),
    ];
    await Promise.all(everyone.map((p) => p.holds(warm)));

    const errorsBefore = await metric(a, 'nexus_redis_errors_total');
    await admin.call('ACL', 'SETUSER', 'node-a', 'off');
    await admin.call('CLIENT', 'KILL', 'USER', 'node-a');
    await until('A red', async () => (await state(a)) === 'red');
    expect(await state(b)).toBe('green');

    // The agent's first: B's sockets take it, and a later message of B's own would show them the
    // gap before it and fill it from the database; the customer's is the last word.
    const cut = [
      await agentSide.send('a-cut', 'agent while A is cut off'),
      await customer.send('c-cut', 'customer while A is cut off'),
    ];
    await Promise.all([agentSide.holds([cut[0]]), secondTab.holds([cut[0]]), customer.holds([cut[1]])]);
    // ioredis fails what it holds for a connection after its fourth failed reconnect attempt
    // (maxRetriesPerRequest 3); each attempt is an error on A's metrics (two connections). Past
    // that, A's publish of c-cut has failed for good: only a refill can bring it to B.
    await until(
      'A gave up its queued publishes',
      async () => (await metric(a, 'nexus_redis_errors_total')) - errorsBefore >= 16,
    );

    await admin.call('ACL', 'SETUSER', 'node-a', 'on');
    await until('A green again', async () => (await state(a)) === 'green');
    const all = [...warm, ...cut];
    // Nothing else is written: what a party still lacks can only come from a refill.
    await Promise.all(everyone.map((p) => p.holds(all, REFILL_MS).catch(() => undefined)));

    const db = await pg.client(dep.database);
    try {
      const stored = await storedSeqs((sql, p) => db.query(sql, p), session.conversationId);
      expect(tally(everyone, stored)).toEqual({
        acked: 4,
        lost: [],
        duplicated: 0,
        outOfOrder: 0,
        mismatched: [],
      });
    } finally {
      await db.end();
    }
    expect(customer.reconnects + agentSide.reconnects + secondTab.reconnects).toBe(0);
    ag.console.close();
  });
});
