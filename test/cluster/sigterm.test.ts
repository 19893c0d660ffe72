/**
 * SIGTERM of a node under chat traffic (a rolling update). Node A stops taking connections, tells
 * its sockets to reconnect elsewhere (the `reconnect` event, then a disconnect), commits what was
 * in flight, and exits 0 within 10 s. Its customer moves to node B and resends what was not acked:
 * nothing acked is lost, nothing is duplicated. A burst sent on another socket right before the
 * signal gets an answer for every message (its in-flight commits finish before its sockets are let
 * go), every `ok` answer is stored, and any other is retryable and stored nowhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socketFor } from '../chat/helpers.js';
import { api } from '../helpers/nexus.js';
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

const PER_SIDE = 30;

describe.runIf(clusterToolsAvailable())('SIGTERM of a gateway node under chat traffic', () => {
  let pg: Postgres;
  let redis: RedisDeployment;
  let dep: Deployment;
  const open: Party[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis('standalone')]);
    dep = await startDeployment({ pg, redis, nodes: 2 });
  });

  afterAll(async () => {
    for (const p of open) p.close();
    await dep?.destroy();
    await Promise.all([redis?.destroy(), pg?.destroy()]);
  });

  it('drains: reconnect told, in-flight sends answered and stored, exit 0 within 10 s, nothing lost', async () => {
    const [a, b] = dep.nodes;
    const { tenant, agent } = await provision(dep);
    const ag = await agent(b, 'agent-1');
    const session = await routedConversation(a, tenant, ag);
    const { customer, agent: agentSide } = await parties(session, ag, {
      customer: alive(dep.nodes),
      agent: () => [b.url],
    });
    open.push(customer, agentSide);
    const burstSocket = await socketFor(a.url, '/consumer', {
      clientToken: session.clientToken,
      lastSeq: session.base,
    });
    const told = new Promise((resolve) => burstSocket.once('reconnect', resolve));

    let acked = 0;
    let onProgress: () => void = () => undefined;
    const traffic = [customer, agentSide].map(async (party) => {
      for (let i = 0; i < PER_SIDE; i++) {
        await party.send(`${party.kind}-${i}`, `${party.kind} #${i}`);
        acked++;
        onProgress();
      }
    });
    await new Promise<void>((resolve) => {
      onProgress = () => {
        if (acked >= (2 * PER_SIDE) / 3) resolve();
      };
    });

    // A burst on its own socket, then the signal while it is in flight.
    const burst = Array.from({ length: 10 }, (_, i) =>
      burstSocket
        .timeout(10_000)
        .emitWithAck('message.send', { clientMessageId: `burst-${i}`, text: `burst ${i}` })
        .catch(() => ({ ok: false, error: { name: 'NO_ACK' } })),
    );
    // The node has read the burst (one answer is back); the rest may still be committing.
    await burst[0];
    const signalledAt = Date.now();
    const exit = a.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(await told).toMatchObject({ reason: expect.any(String) });
    const answers = await Promise.all(burst);

    // Stopped taking connections: the port is closed.
    await expect(api(a.url, 'GET', '/health/live')).rejects.toThrow();

    await Promise.all(traffic);
    expect(customer.events.some((e) => e.event === 'reconnect')).toBe(true);
    expect(customer.url?.startsWith(b.url)).toBe(true);
    const db = await pg.client(dep.database);
    try {
      const stored = await storedSeqs((sql, p) => db.query(sql, p), session.conversationId);
      const seqs = [...customer.acked.values(), ...agentSide.acked.values()];
      await Promise.all([customer.holds(seqs), agentSide.holds(seqs)]);
      expect(tally([customer, agentSide], stored)).toEqual({
        acked: 2 * PER_SIDE,
        lost: [],
        duplicated: 0,
        outOfOrder: 0,
        mismatched: [],
      });
      // Every burst message is answered before the node lets its socket go: acked ok and stored
      // with the acked seq, or refused retryably (it came after the last commit) and not stored.
      for (const [i, r] of answers.entries()) {
        expect(r.error?.name).not.toBe('NO_ACK');
        if (r.ok) expect(stored.get(`burst-${i}`)).toBe(r.seq);
        else {
          expect(r.error.retryable).toBe(true);
          expect(stored.has(`burst-${i}`)).toBe(false);
        }
      }
      expect(answers[0].ok).toBe(true);
    } finally {
      await db.end();
      burstSocket.close();
    }
    ag.console.close();
  });
});
