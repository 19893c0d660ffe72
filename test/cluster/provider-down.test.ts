/**
 * An SMS provider down, then back, under two nodes sharing PostgreSQL and Redis. Customers text in
 * through the Twilio fake's signed webhooks on both nodes; an agent on each node replies while the
 * provider answers 503. The replies wait in the durable outbox with their errors, retried by
 * whichever node's outbox worker claims them; once the provider answers, every reply is accepted
 * by it exactly once, in the order it was written per conversation, nothing is dead or pending,
 * and every reply's SMS row is `sent`. Which node delivers does not matter.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';
import { api } from '../helpers/nexus.js';
import { phone, twilioHarness } from '../sms/providers.js';
import { type Deployment, type GatewayNode, startDeployment, until } from './nodes.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  startPostgres,
  startRedis,
} from './servers.js';

const REPLIES_PER_CONVERSATION = 3;

describe.runIf(clusterToolsAvailable())('an SMS provider down under two nodes', () => {
  let pg: Postgres;
  let redis: RedisDeployment;
  let dep: Deployment;
  const twilio = twilioHarness();
  const agents: TestAgent[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis('standalone'), twilio.start()]);
    dep = await startDeployment({ pg, redis, nodes: 2 });
  });

  afterAll(async () => {
    for (const a of agents) a.close();
    await twilio.close();
    await dep?.destroy();
    await Promise.all([redis?.destroy(), pg?.destroy()]);
  });

  it('retries every reply while it is down and delivers each once, in order, once it is back', async () => {
    const [a, b] = dep.nodes;
    const tenant = await dep.tenant();
    const key = { 'x-api-key': tenant.apiKey };
    const channelId = phone();
    await putEndpoint(a, tenant, 'sms', { queue: 'sms' });
    // Enough attempts that the outage never exhausts them (the backoff starts at 1 s).
    await twilio.provision(a, tenant, channelId, { maxAttempts: 20 });

    // One agent on each node, each taking two conversations: replies are written on both nodes.
    const onNode = async (node: GatewayNode, agentId: string) => {
      await putAgent(node, tenant, agentId, { name: agentId, queues: ['sms'], capacity: 2 });
      const agent = await TestAgent.connect(node, tenant, agentId);
      agents.push(agent);
      await agent.ready();
      return agent;
    };
    const [ann, bob] = await Promise.all([onNode(a, 'ann'), onNode(b, 'bob')]);

    const customers = Array.from({ length: 4 }, () => phone());
    for (const [i, from] of customers.entries()) {
      const r = await twilio.inbound(i % 2 ? b : a, tenant, channelId, {
        id: `SM${randomUUID().replace(/-/g, '')}`,
        from,
        text: `customer ${i} writes`,
      });
      expect(r.status).toBe(200);
    }
    await Promise.all([ann.nth(2, 20_000), bob.nth(2, 20_000)]);
    const conversations = [...ann.assigned, ...bob.assigned].map((x) => x.conversation.id);
    expect(new Set(conversations).size).toBe(4);

    twilio.server.goDown(503);
    const refusedBefore = twilio.server.requests.length;
    /** Per conversation, the reply texts in the order they were acked. */
    const written = new Map<string, string[]>();
    await Promise.all(
      [ann, bob].flatMap((agent) =>
        agent.assigned.map(async ({ conversation }) => {
          const texts: string[] = [];
          written.set(conversation.id, texts);
          for (let i = 0; i < REPLIES_PER_CONVERSATION; i++) {
            const text = `${agent.agentId} to ${conversation.id} #${i}`;
            const ack = await agent.ack('message.send', {
              conversationId: conversation.id,
              clientMessageId: randomUUID(),
              text,
            });
            expect(ack.ok, JSON.stringify(ack)).toBe(true);
            texts.push(text);
          }
        }),
      ),
    );
    const total = 4 * REPLIES_PER_CONVERSATION;

    // Attempts fail against the 503s and are kept with their errors, not dropped or dead.
    const failing = await until('failed attempts recorded', async () => {
      const r = await api(b.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=pending`, { headers: key });
      const entries = (
        r.body.data.entries as Array<{ kind: string; attempts: number; lastError: string | null }>
      ).filter((e) => e.kind === 'sms');
      const failed = entries.filter((e) => e.attempts > 0 && e.lastError);
      return failed.length >= 2 && twilio.server.requests.length - refusedBefore >= 4 ? failed : undefined;
    });
    expect(failing.every((e) => typeof e.lastError === 'string' && e.lastError.length > 0)).toBe(true);
    expect(twilio.accepted().filter((r) => twilio.read(r).text.includes(' to '))).toEqual([]);

    twilio.server.recover();
    const accepted = async () =>
      twilio
        .accepted()
        .map((r) => twilio.read(r).text)
        .filter((text) => [...written.values()].some((texts) => texts.includes(text)));
    await until('every reply accepted', async () => (await accepted()).length >= total, 60_000);

    await until('the outbox drained', async () => {
      const r = await api(a.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}`, { headers: key });
      const entries = (r.body.data.entries as Array<{ kind: string; state: string }>).filter(
        (e) => e.kind === 'sms',
      );
      return entries.length > 0 && entries.every((e) => e.state === 'done') ? true : undefined;
    });
    // None lost, none twice, each conversation's replies in the order they were written.
    const got = await accepted();
    expect(got).toHaveLength(total);
    expect(new Set(got).size).toBe(total);
    for (const [id, texts] of written)
      expect(
        got.filter((t) => t.includes(` to ${id} `)),
        id,
      ).toEqual(texts);
    const dead = await api(b.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=dead`, { headers: key });
    expect(dead.body.data.entries).toEqual([]);

    const db = await pg.client(dep.database);
    try {
      const rows = await db.query('SELECT state FROM sms_outbound WHERE ccid = $1', [tenant.ccid]);
      expect(rows.rows).toHaveLength(total);
      expect(rows.rows.every((r) => r.state === 'sent')).toBe(true);
    } finally {
      await db.end();
    }
  });
});
