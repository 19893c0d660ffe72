/**
 * Beyond messages: what a node that subscribes late must still tell its sockets. An assignment is
 * announced once, through the adapter, to every socket of the agent on every node
 * (`conversation.assigned`); a node not subscribed then never tells its agent, who never sees the
 * conversation while the customer waits. After its adapter resubscribes, the node announces to
 * its agent sockets the assigned conversations they were not told of (realtime-refill.ts).
 *
 * Two nodes; the agent's console on B, ready. Redis goes down and comes back while B is frozen
 * (SIGSTOP: held between Redis coming back and its adapter subscribing again, as in
 * redis-resubscribe.test.ts); a customer opens a chat on A, which is assigned to the agent while B
 * is still frozen (announced then: a second console tab of the agent, on A, hears it). B resumes and subscribes again, and nothing else
 * happens: the console on B must get the conversation, with its transcript, once.
 *
 * The same for `session.ended`: a customer socket on B of a session ended on A in that window must
 * be told and disconnected, as a live one is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_NAMESPACE } from '../../src/gateway/chat/events.js';
import { newSession, socketFor } from '../chat/helpers.js';
import { api } from '../helpers/nexus.js';
import { type Deployment, type GatewayNode, startDeployment, until, untilHealth } from './nodes.js';
import { provision } from './scenario.js';
import { TestAgent } from '../chat/routing-helpers.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  type RedisForm,
  startPostgres,
  startRedis,
  subscriptions,
} from './servers.js';

/** How long B's console may take to be told once B has subscribed again. */
const REFILL_MS = 10_000;

const green = (n: GatewayNode) => untilHealth(n, 'green');
const red = (n: GatewayNode) => untilHealth(n, 'red');

describe.runIf(clusterToolsAvailable()).each<RedisForm>(['standalone', 'cluster'])(
  '%s Redis: a node that subscribes late',
  (form) => {
    let pg: Postgres;
    let redis: RedisDeployment;
    let dep: Deployment;
    let tenant: Awaited<ReturnType<typeof provision>>['tenant'];
    let agent: Awaited<ReturnType<typeof provision>>['agent'];

    beforeAll(async () => {
      [pg, redis] = await Promise.all([startPostgres(), startRedis(form)]);
      dep = await startDeployment({ pg, redis, nodes: 2 });
      ({ tenant, agent } = await provision(dep));
    });

    afterAll(async () => {
      const b = dep?.nodes[1];
      if (b?.child.pid && b.child.exitCode === null) process.kill(b.child.pid, 'SIGCONT');
      await dep?.destroy();
      await Promise.all([redis?.destroy(), pg?.destroy()]);
    });

    it('announces to its agent the conversation assigned while it was not subscribed', async () => {
      const [a, b] = dep.nodes;
      const ag = await agent(b, 'agent-1');
      // The same agent's console in a second tab, on A: it hears the notice when A sends it.
      const witness = await TestAgent.connect(a, tenant, 'agent-1', ag.token);
      const adapterChannels = `${dep.env.NEXUS_REDIS_KEY_PREFIX}socket.io*`;
      const subscribed = await subscriptions(redis, adapterChannels);
      expect(subscribed).toBeGreaterThan(0);
      const db = await pg.client(dep.database);
      try {
        await redis.stop();
        await Promise.all([red(a), red(b)]);
        process.kill(b.child.pid!, 'SIGSTOP');
        await redis.start();
        await green(a);
        // Redis is back; B holds no subscription. The chat opened on A goes to the agent on B.
        const session = await newSession(a, tenant);
        // Announced (and published) by A while B is frozen.
        await witness.until(
          () => witness.assigned.some((x) => x.conversation.id === session.conversationId),
          `assignment of ${session.conversationId} on A`,
          30_000,
        );
        expect(ag.console.assigned).toEqual([]);

        process.kill(b.child.pid!, 'SIGCONT');
        await green(b);
        await until(
          'B subscribed again',
          async () => (await subscriptions(redis, adapterChannels)) >= subscribed,
          60_000,
        );
        // Nothing else happens: the notice can only come from B's refill.
        const told = await ag.console.until(
          () => ag.console.assigned.find((x) => x.conversation.id === session.conversationId),
          `assignment of ${session.conversationId}`,
          REFILL_MS,
        );
        expect(told.conversation.state).toBe('assigned');
        expect(told.conversation.agentId).toBe('agent-1');
        const stored = await db.query(
          'SELECT seq::int AS seq FROM messages WHERE conversation_id = $1 ORDER BY seq',
          [session.conversationId],
        );
        // The transcript as the router sends it (agent audience: every message so far).
        expect(told.transcript.map((m) => m.seq)).toEqual(stored.rows.map((r) => r.seq));
        expect(ag.console.assigned).toHaveLength(1);
        expect(b.output()).toMatch(/sockets refilled from the database/);
      } finally {
        await db.end();
        ag.console.close();
        witness.close();
      }
    });

    it('tells and disconnects its customer sockets of a session ended while it was not subscribed', async () => {
      const [a, b] = dep.nodes;
      const session = await newSession(a, tenant);
      const auth = { clientToken: session.clientToken };
      // The customer's socket on B, and a second tab on A (it hears the end when A sends it).
      const onB = await socketFor(b.url, CONSUMER_NAMESPACE, auth);
      const onA = await socketFor(a.url, CONSUMER_NAMESPACE, auth);
      const endedOn = (s: typeof onB) => {
        const heard: unknown[] = [];
        s.on('session.ended', (p) => heard.push(p));
        const closed = new Promise<string>((resolve) => s.on('disconnect', (reason) => resolve(reason)));
        return { heard, closed };
      };
      const atB = endedOn(onB);
      const atA = endedOn(onA);
      // B's refills so far (in a Redis Cluster the adapter holds a channel per room, so counting
      // subscriptions says little once the session's rooms are left on A).
      const refills = () => b.output().split('sockets refilled from the database').length - 1;
      const before = refills();
      try {
        await redis.stop();
        await Promise.all([red(a), red(b)]);
        process.kill(b.child.pid!, 'SIGSTOP');
        await redis.start();
        await green(a);
        // Ended on A while B holds no subscription.
        const r = await api(a.url, 'DELETE', session.selfUri, {
          headers: { 'x-nexus-client-key': session.clientToken },
        });
        expect(r.status).toBe(200);
        expect(await atA.closed).toBe('io server disconnect');
        expect(atA.heard).toEqual([{ conversationId: session.conversationId, reason: 'customer' }]);
        expect(atB.heard).toEqual([]);
        expect(onB.connected).toBe(true);

        process.kill(b.child.pid!, 'SIGCONT');
        await green(b);
        await until('B refilled', async () => refills() > before, 60_000);
        // Nothing else happens: only B's refill can end its socket.
        const reason = await Promise.race([
          atB.closed,
          new Promise<string>((resolve) => setTimeout(() => resolve('still open'), REFILL_MS).unref()),
        ]);
        expect(reason).toBe('io server disconnect');
        expect(atB.heard).toEqual([{ conversationId: session.conversationId }]);
      } finally {
        onA.close();
        onB.close();
      }
    });
  },
);
