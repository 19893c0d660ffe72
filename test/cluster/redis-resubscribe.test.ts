/**
 * The live push after Redis comes back. A message committed while a node's socket.io adapter is
 * not subscribed (Redis down, or back but that node not yet subscribed again) is in PostgreSQL but
 * was never pushed to that node's sockets; with no later message in the conversation they would
 * not get it until they reconnect. The node must refill its sockets once it has subscribed again.
 *
 * Two nodes; the customer on A, the agent and a second customer socket of the same session (a
 * second tab) on B. Both sides write while Redis is down. Then B is frozen (SIGSTOP), which holds
 * it in the window between Redis coming back and its adapter subscribing again for as long as the
 * test needs, deterministically (a node slow to reconnect: ioredis backs off up to 2 s, a cluster's
 * sharded subscribers take a slot refresh). Redis is started, A is green again, and the customer
 * writes on A: published while B has no subscription, the message can only reach B's sockets from
 * the database. B resumes, reconnects and subscribes again (counted on the Redis servers), and
 * nothing more is written: every acked message must be at every party once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Deployment, type GatewayNode, startDeployment, until, untilHealth } from './nodes.js';
import { Party, tally } from './parties.js';
import { parties, provision, routedConversation, storedSeqs } from './scenario.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  type RedisForm,
  startPostgres,
  startRedis,
  subscriptions,
} from './servers.js';

/** How long B's parties may take to receive the refill once B has subscribed again. */
const REFILL_MS = 10_000;

const green = (n: GatewayNode) => untilHealth(n, 'green');
const red = (n: GatewayNode) => untilHealth(n, 'red');

describe.runIf(clusterToolsAvailable()).each<RedisForm>(['standalone', 'cluster'])(
  '%s Redis: a node that subscribes late',
  (form) => {
    let pg: Postgres;
    let redis: RedisDeployment;
    let dep: Deployment;
    const open: Party[] = [];

    beforeAll(async () => {
      [pg, redis] = await Promise.all([startPostgres(), startRedis(form)]);
      dep = await startDeployment({ pg, redis, nodes: 2 });
    });

    afterAll(async () => {
      for (const p of open) p.close();
      const b = dep?.nodes[1];
      if (b?.child.pid && b.child.exitCode === null) process.kill(b.child.pid, 'SIGCONT');
      await dep?.destroy();
      await Promise.all([redis?.destroy(), pg?.destroy()]);
    });

    it('refills its sockets from the database: nothing committed meanwhile is lost or repeated', async () => {
      const [a, b] = dep.nodes;
      const { tenant, agent } = await provision(dep);
      const ag = await agent(b, 'agent-1');
      const session = await routedConversation(a, tenant, ag);
      const { customer, agent: agentSide } = await parties(session, ag, {
        customer: () => [a.url],
        agent: () => [b.url],
      });
      // The same session in a second tab, on B: the /consumer side of B's refill.
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
      const adapterChannels = `${dep.env.NEXUS_REDIS_KEY_PREFIX}socket.io*`;
      const subscribed = await subscriptions(redis, adapterChannels);
      expect(subscribed).toBeGreaterThan(0);

      await redis.stop();
      await Promise.all([red(a), red(b)]);
      // Written while Redis is down: committed and acked, pushed on the writer's node only.
      const during = [
        await customer.send('c-during', 'customer during the outage'),
        await agentSide.send('a-during', 'agent during the outage'),
      ];
      await Promise.all([customer.holds([during[0]]), agentSide.holds([during[1]])]);

      process.kill(b.child.pid!, 'SIGSTOP');
      await redis.start();
      await green(a);
      // Redis is back and A publishes; B holds no subscription.
      const gap = await customer.send('c-gap', 'customer before B subscribed again');
      await customer.holds([gap]);

      process.kill(b.child.pid!, 'SIGCONT');
      await green(b);
      await until(
        'B subscribed again',
        async () => (await subscriptions(redis, adapterChannels)) >= subscribed,
        60_000,
      );
      const all = [...warm, ...during, gap];
      // Nothing else is written: what B's parties still lack now can only come from a refill.
      await Promise.all(everyone.map((p) => p.holds(all, REFILL_MS).catch(() => undefined)));

      const db = await pg.client(dep.database);
      try {
        const stored = await storedSeqs((sql, p) => db.query(sql, p), session.conversationId);
        expect(tally(everyone, stored)).toEqual({
          acked: 5,
          lost: [],
          duplicated: 0,
          outOfOrder: 0,
          mismatched: [],
        });
      } finally {
        await db.end();
      }
      // The refill is the node's business: no client reconnected to get there.
      expect(customer.reconnects + agentSide.reconnects + secondTab.reconnects).toBe(0);
      expect(b.output()).toContain('sockets refilled from the database');
      ag.console.close();
    });
  },
);
