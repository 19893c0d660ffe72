/**
 * Several nodes in every form the deployment guide supports: two gateway processes on standalone
 * Redis, on a 3-master Redis Cluster (the sharded socket.io adapter), on Redis over TLS (a
 * certificate made by the test, verified by the gateway), on the cluster over TLS, and on
 * PostgreSQL over SSL. For each: the agent's console is on node B, the customer opens the chat on
 * node A, the router assigns it across nodes, and both write at once: every acked message reaches
 * both sides once, in order.
 * The API key's rate limit is one bucket shared by both nodes.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilDisconnected } from '../chat/routing-helpers.js';
import { api } from '../helpers/nexus.js';
import { createApiKey, keyHeaders } from '../helpers/tenants.js';
import { type Deployment, startDeployment } from './nodes.js';
import { tally } from './parties.js';
import { alive, parties, provision, routedConversation, storedSeqs } from './scenario.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  type RedisForm,
  startPostgres,
  startRedis,
} from './servers.js';

const FORMS: Array<{ name: string; redis: RedisForm; pgSsl: boolean }> = [
  { name: 'standalone Redis', redis: 'standalone', pgSsl: false },
  { name: 'Redis Cluster (3 masters)', redis: 'cluster', pgSsl: false },
  { name: 'Redis over TLS', redis: 'tls', pgSsl: false },
  { name: 'Redis Cluster over TLS', redis: 'cluster-tls', pgSsl: false },
  { name: 'PostgreSQL over SSL', redis: 'standalone', pgSsl: true },
];

describe.runIf(clusterToolsAvailable()).each(FORMS)(
  'two gateway processes on $name',
  ({ redis: form, pgSsl }) => {
    let pg: Postgres;
    let redis: RedisDeployment;
    let dep: Deployment;

    beforeAll(async () => {
      [pg, redis] = await Promise.all([startPostgres({ ssl: pgSsl }), startRedis(form)]);
      dep = await startDeployment({ pg, redis, nodes: 2 });
    });

    afterAll(async () => {
      await dep?.destroy();
      await Promise.all([redis?.destroy(), pg?.destroy()]);
    });

    it('routes a customer on A to an agent on B, and both see every message once, in order', async () => {
      const [a, b] = dep.nodes;
      const { tenant, agent } = await provision(dep);
      const ag = await agent(b, 'agent-b');
      // Presence is shared: node A sees the agent whose socket is on B as connected.
      const seen = await api(a.url, 'GET', `/nexus/v3/provisioning/agents/${tenant.ccid}/agent-b`, {
        headers: { 'x-api-key': tenant.apiKey },
      });
      expect(seen.body.data).toMatchObject({ connected: true, state: 'ready' });
      const session = await routedConversation(a, tenant, ag);
      const { customer, agent: agentSide } = await parties(session, ag, {
        customer: () => [a.url],
        agent: () => [b.url],
      });
      try {
        await Promise.all([
          ...Array.from({ length: 15 }, (_, i) => customer.send(`c${i}`, `from the customer ${i}`)),
          ...Array.from({ length: 15 }, (_, i) => agentSide.send(`a${i}`, `from the agent ${i}`)),
        ]);
        const seqs = [...customer.acked.values(), ...agentSide.acked.values()];
        await Promise.all([customer.holds(seqs), agentSide.holds(seqs)]);
        const c = await pg.client(dep.database);
        let stored: Map<string, number>;
        try {
          stored = await storedSeqs((sql, p) => c.query(sql, p), session.conversationId);
        } finally {
          await c.end();
        }
        const t = tally([customer, agentSide], stored);
        expect(t).toEqual({ acked: 30, lost: [], duplicated: 0, outOfOrder: 0, mismatched: [] });
        // No send needed a retry: cross-node delivery is not a fault.
        expect(customer.refusals).toEqual([]);
        expect(agentSide.refusals).toEqual([]);
        expect(customer.received.map((m) => m.seq)).toEqual(
          [...customer.received.map((m) => m.seq)].sort((x, y) => x - y),
        );
        if (form === 'cluster' || form === 'cluster-tls') {
          // The sharded adapter: socket.io's channels are shard channels, spread over the masters.
          const pattern = `${dep.env.NEXUS_REDIS_KEY_PREFIX}socket.io*`;
          let sharded = 0;
          let classic = 0;
          for (const url of redis.env.NEXUS_REDIS_NODES.split(',')) {
            const ca = redis.env.NEXUS_REDIS_TLS_CA_FILE;
            const r = new Redis(url, ca ? { tls: { ca: readFileSync(ca) } } : {});
            try {
              sharded += ((await r.call('PUBSUB', 'SHARDCHANNELS', pattern)) as string[]).length;
              classic += ((await r.call('PUBSUB', 'CHANNELS', pattern)) as string[]).length;
            } finally {
              r.disconnect();
            }
          }
          expect(sharded).toBeGreaterThan(0);
          expect(classic).toBe(0);
        }
      } finally {
        customer.close();
        agentSide.close();
        ag.console.close();
      }
      // And node A sees the agent go when its sockets on B close.
      await untilDisconnected(a, tenant, 'agent-b', 10_000);
    });

    it('shares one rate-limit bucket per API key between the nodes', async () => {
      const [a, b] = dep.nodes;
      const tenant = await dep.tenant();
      const key = await createApiKey(
        { url: a.url, adminToken: dep.adminToken },
        { tenant: tenant.ccid, permissions: ['nexus:*'], capacity: 4, frequency: 3600 },
      );
      const statuses: number[] = [];
      for (const node of [a, b, a, b, a]) {
        const r = await api(node.url, 'GET', `/nexus/v3/provisioning/endpoints/${tenant.ccid}`, {
          headers: keyHeaders(key.apiKey),
        });
        statuses.push(r.status);
      }
      expect(statuses.slice(0, 4).every((s) => s !== 429)).toBe(true);
      expect(statuses[4]).toBe(429);
    });
  },
);
