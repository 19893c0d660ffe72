/**
 * The AI connector down, then answering 503, then back, under two nodes. Customers write into
 * bot-owned conversations on both nodes; every message is planned into the durable outbox in its
 * commit and delivered to the tenant's `WebhookTransportTarget-ai-connector` (a plain HTTP server
 * here, standing in for athena). While the target refuses connections or answers 503 the entries
 * stay pending with their error and back off; once it answers, every message arrives, in seq order
 * per conversation, none lost, none twice, and nothing is left pending or dead.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSession } from '../chat/helpers.js';
import { putEndpoint } from '../chat/routing-helpers.js';
import { api } from '../helpers/nexus.js';
import { freePort } from '../helpers/redis-server.js';
import { type Deployment, startDeployment, until } from './nodes.js';
import { Party } from './parties.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  startPostgres,
  startRedis,
} from './servers.js';

interface Delivery {
  conversationId: string;
  seq: number;
  clientMessageId: string;
}

/** The AI connector stand-in: refuses connections until `listen`, then answers `status()`. */
class Target {
  readonly deliveries: Delivery[] = [];
  refused503 = 0;
  private server: Server | undefined;
  constructor(
    readonly port: number,
    private readonly status: () => number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/athena/v1/agent-assist-chat/messages`;
  }

  listen(): Promise<void> {
    this.server = createServer((req, res) => {
      void body(req).then((text) => {
        const code = this.status();
        if (code === 200) {
          const event = JSON.parse(text);
          const m = event.data.message;
          this.deliveries.push({
            conversationId: m.conversationId,
            seq: m.seq,
            clientMessageId: m.clientMessageId,
          });
        } else this.refused503++;
        res.writeHead(code).end();
      });
    });
    return new Promise((resolve) => this.server!.listen(this.port, '127.0.0.1', () => resolve()));
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (d) => {
      s += d;
    });
    req.on('end', () => resolve(s));
  });
}

describe.runIf(clusterToolsAvailable())('the AI connector down under two nodes', () => {
  let pg: Postgres;
  let redis: RedisDeployment;
  let dep: Deployment;
  let target: Target;
  const open: Party[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis('standalone')]);
    dep = await startDeployment({ pg, redis, nodes: 2 });
  });

  afterAll(async () => {
    for (const p of open) p.close();
    await target?.close();
    await dep?.destroy();
    await Promise.all([redis?.destroy(), pg?.destroy()]);
  });

  it('keeps every message in the outbox while it is down, and delivers all of them in order after', async () => {
    const [a, b] = dep.nodes;
    const tenant = await dep.tenant();
    const admin = { authorization: `Bearer ${dep.adminToken}` };
    let answered503 = 0;
    target = new Target(await freePort(), () => (answered503++ < 3 ? 503 : 200));
    const svc = await api(
      a.url,
      'PUT',
      `/nexus/v3/provisioning/services/${tenant.ccid}/WebhookTransportTarget-ai-connector`,
      {
        headers: admin,
        json: { url: target.url },
      },
    );
    expect([200, 201]).toContain(svc.status);
    // A bot owns these conversations: every customer message goes to the AI connector.
    await putEndpoint(a, tenant, 'web', { queue: 'support', bot: 'helper' });

    const conversations: Array<{ node: typeof a; party: Party; id: string }> = [];
    for (const node of [a, b]) {
      const s = await newSession(node, tenant);
      const party = new Party({
        kind: 'customer',
        conversationId: s.conversationId,
        auth: { clientToken: s.clientToken },
        urls: () => [node.url],
      });
      await party.connect();
      open.push(party);
      conversations.push({ node, party, id: s.conversationId });
    }
    // Down: nothing listens on the target's port.
    await Promise.all(
      conversations.map(({ party }, k) =>
        Promise.all(Array.from({ length: 6 }, (_, i) => party.send(`m-${k}-${i}`, `hello ${i}`))),
      ),
    );
    const pending = await until('failed attempts recorded', async () => {
      const r = await api(a.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}?state=pending`, { headers: admin });
      const entries = r.body.data.entries as Array<{ attempts: number; lastError: string | null }>;
      // (An entry being attempted right now has its attempt counted and no error yet.)
      const failed = entries.filter((e) => e.attempts > 0 && e.lastError);
      return failed.length >= 2 && entries.length === 12 ? failed : undefined;
    });
    expect(pending.every((e) => typeof e.lastError === 'string' && e.lastError.length > 0)).toBe(true);
    expect(target.deliveries).toEqual([]);

    // Up, but the first answers are 503: still retried, then delivered.
    await target.listen();
    await until(
      'every message delivered',
      async () => (target.deliveries.length >= 12 ? true : undefined),
      60_000,
    );
    expect(target.refused503).toBe(3);

    for (const { party, id } of conversations) {
      const got = target.deliveries.filter((d) => d.conversationId === id);
      const sent = [...party.acked.entries()].sort((x, y) => x[1] - y[1]);
      // In seq order, each once, exactly the acked messages.
      expect(got.map((d) => d.seq)).toEqual(sent.map(([, seq]) => seq));
      expect(got.map((d) => d.clientMessageId)).toEqual(sent.map(([cid]) => cid));
    }
    await until('outbox drained', async () => {
      const r = await api(b.url, 'GET', `/nexus/v3/outbox/${tenant.ccid}`, { headers: admin });
      const entries = r.body.data.entries as Array<{ state: string }>;
      return entries.length === 12 && entries.every((e) => e.state === 'done') ? true : undefined;
    });
    expect(target.deliveries.length).toBe(12);
  });
});
