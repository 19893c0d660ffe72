/**
 * Redis down for a while, then back, in every form: standalone, TLS (the handshake is redone on
 * every reconnect), the 3-master cluster and the cluster over TLS (all three masters killed at
 * once). Two nodes: the customer on A, the agent on B. While Redis is gone each node keeps serving
 * its own sockets (sends are committed and acked, each side sees its own messages),
 * `nexus_redis_connections_reconnecting` on the metrics port shows the outage and `/health/detail`
 * is red at once, while `/health/ready` stays 200 through the blip and turns 503 only once the
 * outage outlasts `readinessGraceMs`. Once Redis is back the nodes reconnect by themselves, health
 * and readiness are green again, and cross-node delivery resumes: each side ends up with every
 * acked message of the other, including those written during the outage, once and in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../helpers/nexus.js';
import { type Deployment, type GatewayNode, healthState, metric, startDeployment, until } from './nodes.js';
import { type Party, tally } from './parties.js';
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

const OUTAGE_MS = 6000;
/** Readiness grace under test: shorter than the outage, longer than it takes to see it. */
const GRACE_MS = 4000;

const ready = async (n: GatewayNode) => {
  const r = await api(n.url, 'GET', '/health/ready');
  return { status: r.status, body: r.body };
};

/** The suite, once per form (split over two files to keep each file's run short). */
export function redisOutageSuite(forms: RedisForm[]): void {
  describe.runIf(clusterToolsAvailable()).each(forms)('%s Redis restarted under two nodes', (form) => {
    let pg: Postgres;
    let redis: RedisDeployment;
    let dep: Deployment;
    const open: Party[] = [];

    beforeAll(async () => {
      [pg, redis] = await Promise.all([startPostgres(), startRedis(form)]);
      dep = await startDeployment({
        pg,
        redis,
        nodes: 2,
        env: { NEXUS_REDIS_READINESS_GRACE_MS: String(GRACE_MS) },
      });
    });

    afterAll(async () => {
      for (const p of open) p.close();
      await dep?.destroy();
      await Promise.all([redis?.destroy(), pg?.destroy()]);
    });

    it('keeps serving local sockets and stays ready through a blip, goes red and back to green, and delivers across nodes again', async () => {
      const [a, b] = dep.nodes;
      const { tenant, agent } = await provision(dep);
      const ag = await agent(b, 'agent-1');
      const session = await routedConversation(a, tenant, ag);
      const { customer, agent: agentSide } = await parties(session, ag, {
        customer: () => [a.url],
        agent: () => [b.url],
      });
      open.push(customer, agentSide);
      const round = async (tag: string) => {
        const seqs = await Promise.all([
          ...Array.from({ length: 5 }, (_, i) => customer.send(`c-${tag}-${i}`, `customer ${tag} ${i}`)),
          ...Array.from({ length: 5 }, (_, i) => agentSide.send(`a-${tag}-${i}`, `agent ${tag} ${i}`)),
        ]);
        return { customer: seqs.slice(0, 5), agent: seqs.slice(5) };
      };

      const before = await round('before');
      await Promise.all([customer.holds(before.agent), agentSide.holds(before.customer)]);
      for (const n of [a, b]) {
        expect(await metric(n, 'nexus_redis_connections_reconnecting')).toBe(0);
        expect((await healthState(n)).state).toBe('green');
      }
      const adapterChannels = `${dep.env.NEXUS_REDIS_KEY_PREFIX}socket.io*`;
      const subscribed = await subscriptions(redis, adapterChannels);
      expect(subscribed).toBeGreaterThan(0);

      const stopAt = Date.now();
      await redis.stop();
      const downAt = Date.now();
      await Promise.all(
        [a, b].map(async (n) => {
          const h = await until(`${n.name} red`, async () => {
            const s = await healthState(n);
            return s.state === 'red' ? s : undefined;
          });
          // Red in detail, still ready: a blip does not take the pod out of its Service.
          const r = await ready(n);
          expect(Date.now() - stopAt, 'seen within the grace').toBeLessThan(GRACE_MS);
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          expect(r.body).toMatchObject({ state: 'red', ready: true });
          expect(h.status).toBe(503);
          expect(h.body.cache.ready).toBe(false);
          expect(h.body.db.ready).toBe(true);
          await until(
            `${n.name} reconnecting`,
            async () => (await metric(n, 'nexus_redis_connections_reconnecting')) > 0,
          );
        }),
      );

      // Each node still serves its own sockets: committed, acked, and seen by the sender's side.
      const during = await round('during');
      await Promise.all([customer.holds(during.customer), agentSide.holds(during.agent)]);
      expect(customer.reconnects + agentSide.reconnects).toBe(0);
      // Long enough for the clients to give up on what they had queued (ioredis fails a pending
      // command after a few reconnect attempts) while more traffic comes: the outage itself is the
      // test, so this wait is deliberate.
      const more = await round('later');
      await Promise.all([customer.holds(more.customer), agentSide.holds(more.agent)]);
      // An outage longer than the grace: readiness fails, and not before the grace.
      for (const n of [a, b]) {
        const r = await until(`${n.name} not ready`, async () => {
          const x = await ready(n);
          return x.status === 503 ? x : undefined;
        });
        expect(Date.now() - stopAt).toBeGreaterThanOrEqual(GRACE_MS);
        expect(r.body).toMatchObject({ state: 'red', ready: false });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
      for (const n of [a, b]) expect((await healthState(n)).state).toBe('red');

      await redis.start();
      for (const n of [a, b]) {
        await until(`${n.name} green again`, async () => (await healthState(n)).state === 'green');
        expect((await ready(n)).status).toBe(200);
        await until(
          `${n.name} reconnected`,
          async () => (await metric(n, 'nexus_redis_connections_reconnecting')) === 0,
        );
      }
      // Every node's socket.io adapter subscribes again, counted on the servers. A node can be
      // green and never subscribe again: on the cluster, ioredis' (5.11) sharded subscriber group
      // can stay stuck in a reset whose subscriber connect lost its listeners when the cluster
      // client reconnected meanwhile (about one run in four of the cluster forms before
      // watchShardedSubscribers in redis-connection.ts); that node would receive nothing from the
      // other nodes. Subscribing follows readiness, so it is awaited before the last round.
      await until(
        'the adapters subscribed again',
        async () => (await subscriptions(redis, adapterChannels)) >= subscribed,
      );

      const after = await round('after');
      const all = [before, during, more, after].flatMap((r) => [...r.customer, ...r.agent]);
      await Promise.all([customer.holds(all), agentSide.holds(all)]);
      const db = await pg.client(dep.database);
      try {
        const stored = await storedSeqs((sql, p) => db.query(sql, p), session.conversationId);
        expect(tally([customer, agentSide], stored)).toEqual({
          acked: 40,
          lost: [],
          duplicated: 0,
          outOfOrder: 0,
          mismatched: [],
        });
      } finally {
        await db.end();
      }
      // Neither client had to reconnect: the outage was the nodes' business.
      expect(customer.reconnects + agentSide.reconnects).toBe(0);
      ag.console.close();
    });
  });
}
