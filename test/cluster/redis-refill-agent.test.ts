/**
 * What an agent console on a node that subscribes late must see again, besides messages and
 * assignments (redis-refill.test.ts): `conversation.updated` (a conversation of the agent changing
 * state) and `queue.updated` (what waits in the agent's queues). Both go once, through the
 * adapter, to the sockets that hold the conversation or watch the queue, on every node; a node
 * that is not subscribed then never tells its sockets, and the console shows a conversation on
 * hold as assigned, a conversation gone from the queue as waiting, and never the one that came.
 *
 * Two nodes; the agent's console on B is the real console client (web/console/agent-client.ts),
 * which keeps what a page shows. It holds C1, C2 and C3 (assigned to the agent), and watches its
 * queue, where Q1 waits. Redis goes down and comes back while B is frozen (SIGSTOP: held between
 * Redis coming back and its adapter subscribing again, as in redis-resubscribe.test.ts);
 * meanwhile, on A, C1's customer leaves (C1 goes on async hold), C2 is marked Done, C3 is placed
 * with another agent, who writes in it, Q1 is marked Done (it leaves the queue) and Q2 is opened
 * (it waits there). A second console of the agent, on A, hears each of them. B resumes and
 * subscribes again, and nothing else happens: the console on B, never reconnected, must show what
 * the database holds, and must not get what was written in C3 once it was no longer its agent's.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../web/console/agent-client.js';
import { newSession } from '../chat/helpers.js';
import { agentToken, putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';
import { api } from '../helpers/nexus.js';
import type { TestTenant } from '../helpers/tenants.js';
import { type Deployment, type GatewayNode, startDeployment, until, untilHealth } from './nodes.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  type RedisForm,
  startPostgres,
  startRedis,
} from './servers.js';

/** How long B's console may take to be consistent once B has refilled. */
const REFILL_MS = 10_000;

const green = (n: GatewayNode) => untilHealth(n, 'green');
const red = (n: GatewayNode) => untilHealth(n, 'red');

/** Resolves when `test()` holds for the console, re-checked on each of its changes. */
function consoleUntil<T>(c: AgentClient, test: () => T | undefined | false, what: string, ms = 20_000) {
  return new Promise<T>((resolve, reject) => {
    let off = () => {};
    const timer = setTimeout(() => {
      off();
      reject(new Error(`console: no ${what} within ${ms} ms`));
    }, ms);
    const check = () => {
      const v = test();
      if (!v) return;
      clearTimeout(timer);
      off();
      resolve(v);
    };
    off = c.on('change', check);
    check();
  });
}

/** What the console shows: its conversations' states and agents, and what waits in its queues. */
const shown = (c: AgentClient) => ({
  states: Object.fromEntries(
    [...c.conversations].map(([id, x]) => [id, `${x.summary.state} ${x.summary.agentId ?? '-'}`]),
  ),
  queued: [...c.queued.keys()].sort(),
});

describe.runIf(clusterToolsAvailable()).each<RedisForm>(['standalone', 'cluster'])(
  '%s Redis: the agent console of a node that subscribes late',
  (form) => {
    let pg: Postgres;
    let redis: RedisDeployment;
    let dep: Deployment;
    let tenant: TestTenant;
    const consoles: AgentClient[] = [];

    beforeAll(async () => {
      [pg, redis] = await Promise.all([startPostgres(), startRedis(form)]);
      dep = await startDeployment({ pg, redis, nodes: 2 });
      tenant = await dep.tenant();
      await putEndpoint(dep.nodes[0], tenant, 'web', { queue: 'support' });
    });

    afterAll(async () => {
      for (const c of consoles) c.disconnect();
      const b = dep?.nodes[1];
      if (b?.child.pid && b.child.exitCode === null) process.kill(b.child.pid, 'SIGCONT');
      await dep?.destroy();
      await Promise.all([redis?.destroy(), pg?.destroy()]);
    });

    const connect = async (node: GatewayNode, token: string) => {
      const c = new AgentClient(node.url, null);
      consoles.push(c);
      c.connect(token);
      // Connected and listed (the list names the queues it watches from then on).
      await consoleUntil(c, () => c.status === 'live' && c.queues.includes('support'), 'list');
      return c;
    };

    it('brings its conversations and queue up to date: on hold, Done, gone from the queue, new in it', async () => {
      const [a, b] = dep.nodes;
      await putAgent(b, tenant, 'agent-1', { name: 'agent-1', queues: ['support'], capacity: 5 });
      const token = await agentToken(b, tenant, 'agent-1');
      const onB = await connect(b, token);
      const statuses: string[] = [];
      onB.on('status', (s) => statuses.push(s));
      await onB.setState('ready');

      const assigned = async (c: AgentClient) => {
        const s = await newSession(a, tenant);
        await consoleUntil(
          c,
          () => c.conversations.get(s.conversationId)?.summary.state === 'assigned',
          `assignment of ${s.conversationId}`,
        );
        return s;
      };
      const c1 = await assigned(onB);
      const c2 = await assigned(onB);
      const c3 = await assigned(onB);
      await onB.setState('notready');
      // Another agent, on A, never ready (nothing is routed to it by itself).
      await putAgent(a, tenant, 'agent-2', { name: 'agent-2', queues: ['support'], capacity: 5 });
      const other = await TestAgent.connect(a, tenant, 'agent-2');
      const q1 = await newSession(a, tenant);
      await consoleUntil(onB, () => onB.queued.has(q1.conversationId), `${q1.conversationId} queued`);
      // The agent's second console, on A: it hears what happens on A while B is frozen.
      const onA = await connect(a, token);
      await consoleUntil(
        onA,
        () => onA.queued.has(q1.conversationId) && onA.conversations.size === 3,
        'the same view on A',
      );
      // Holding C1, C2 and C3 (joined: it gets their updates).
      await Promise.all([c1, c2, c3].map((c) => onA.join(c.conversationId)));

      const before = shown(onB);
      expect(before).toEqual({
        states: {
          [c1.conversationId]: 'assigned agent-1',
          [c2.conversationId]: 'assigned agent-1',
          [c3.conversationId]: 'assigned agent-1',
        },
        queued: [q1.conversationId],
      });
      const refills = () => b.output().split('sockets refilled from the database').length - 1;
      const refilled = refills();

      await redis.stop();
      await Promise.all([red(a), red(b)]);
      process.kill(b.child.pid!, 'SIGSTOP');
      await redis.start();
      await green(a);
      // On A while B holds no subscription.
      const left = await api(a.url, 'DELETE', c1.selfUri, {
        headers: { 'x-nexus-client-key': c1.clientToken },
      });
      expect(left.status).toBe(200);
      for (const id of [c2.conversationId, q1.conversationId]) {
        const r = await api(a.url, 'POST', `/nexus/v3/interactions/${id}/done`, {
          headers: { 'x-api-key': tenant.apiKey },
        });
        expect(r.status).toBe(200);
      }
      const placed = await api(a.url, 'POST', `/nexus/v3/interactions/${c3.conversationId}/route`, {
        headers: { 'x-api-key': tenant.apiKey },
        json: { agentId: 'agent-2' },
      });
      expect(placed.status).toBe(200);
      await other.until(
        () => other.assigned.some((x) => x.conversation.id === c3.conversationId),
        `assignment of ${c3.conversationId} to agent-2`,
      );
      const secret = 'for agent-2 and the customer only';
      const sent = await other.ack('message.send', {
        conversationId: c3.conversationId,
        clientMessageId: 'agent-2-1',
        type: 'Text',
        text: secret,
      });
      expect(sent.ok).toBe(true);
      const q2 = await newSession(a, tenant);
      const expected = {
        states: {
          [c1.conversationId]: 'asynchold agent-1',
          [c2.conversationId]: 'done agent-1',
          [c3.conversationId]: 'assigned agent-2',
        },
        queued: [q2.conversationId],
      };
      // Announced (and published) by A while B is frozen.
      await consoleUntil(onA, () => isDeepStrictEqual(shown(onA), expected), 'the changes on A');
      expect(shown(onB)).toEqual(before);

      process.kill(b.child.pid!, 'SIGCONT');
      await green(b);
      await until('B refilled', async () => refills() > refilled, 60_000);
      // Nothing else happens: only B's refill can tell its console.
      await consoleUntil(
        onB,
        () => isDeepStrictEqual(shown(onB), expected),
        'the database view',
        REFILL_MS,
      ).catch(() => undefined);
      expect(shown(onB)).toEqual(expected);
      // Let go of before its messages were refilled (what came after them is here by now).
      expect(onB.conversations.get(c3.conversationId)?.messages.map((m) => m.text)).not.toContain(secret);
      expect(onB.conversations.get(c3.conversationId)?.messages.length).toBeGreaterThan(0);
      other.close();
      // Told by the refill, not by a reconnect of its own (which lists everything again).
      expect(statuses).toEqual([]);
      expect(onB.conversations.get(c1.conversationId)?.summary.agentId).toBe('agent-1');
    });
  },
);
