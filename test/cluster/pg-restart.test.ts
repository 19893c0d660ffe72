/**
 * PostgreSQL restarted under two nodes (an immediate stop: a crash as far as the gateway can tell).
 * While it is down a send is refused with a retryable error and is NOT acked or stored, on the
 * socket and on REST; the widget's retry loop (same clientMessageId) gets each message acked once
 * PostgreSQL is back. Nothing acked is lost, nothing is stored twice, and cross-node delivery
 * carries on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitAck, socketFor } from '../chat/helpers.js';
import { api } from '../helpers/nexus.js';
import { type Deployment, healthState, startDeployment, until } from './nodes.js';
import { type Party, tally } from './parties.js';
import { parties, provision, routedConversation, storedSeqs } from './scenario.js';
import {
  clusterToolsAvailable,
  type Postgres,
  type RedisDeployment,
  startPostgres,
  startRedis,
} from './servers.js';

describe.runIf(clusterToolsAvailable())('PostgreSQL restarted under two nodes', () => {
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

  it('refuses sends retryably while it is down, and every retried message is acked once after', async () => {
    const [a, b] = dep.nodes;
    const { tenant, agent } = await provision(dep);
    const ag = await agent(b, 'agent-1');
    const session = await routedConversation(a, tenant, ag);
    const { customer, agent: agentSide } = await parties(session, ag, {
      customer: () => [a.url],
      agent: () => [b.url],
    });
    open.push(customer, agentSide);
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => customer.send(`c-before-${i}`, `before ${i}`)),
      ...Array.from({ length: 5 }, (_, i) => agentSide.send(`a-before-${i}`, `before ${i}`)),
    ]);

    // A probe on its own socket: the refusal is explicit and retryable, never an ack.
    const probe = await socketFor(a.url, '/consumer', {
      clientToken: session.clientToken,
      lastSeq: 1_000_000,
    });
    await pg.stop();
    const refused = await emitAck(probe, 'message.send', { clientMessageId: 'probe-1', text: 'while down' });
    expect(refused).toMatchObject({ ok: false, error: { code: 9001, name: 'UNAVAILABLE', retryable: true } });
    probe.close();
    // A new connection cannot be authenticated meanwhile: a retryable connect error.
    const connectError = await socketFor(a.url, '/consumer', { clientToken: session.clientToken }).then(
      (s) => {
        s.close();
        return undefined;
      },
      (err: { data?: unknown }) => err.data,
    );
    expect(connectError).toMatchObject({ code: 9001, name: 'UNAVAILABLE', retryable: true });
    const rest = await api(a.url, 'POST', `${session.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': session.clientToken },
      form: 'data[type]=Text&data[text]=rest%20while%20down&data[clientMessageId]=probe-rest',
    });
    expect(rest.status).toBe(503);
    expect(rest.body.status).toMatchObject({ code: 9001 });
    expect((await healthState(a)).state).toBe('red');

    // The widget keeps sending meanwhile: refused, retried with the same clientMessageId.
    const during = Promise.all([
      ...Array.from({ length: 5 }, (_, i) => customer.send(`c-during-${i}`, `during ${i}`, 90_000)),
      ...Array.from({ length: 5 }, (_, i) => agentSide.send(`a-during-${i}`, `during ${i}`, 90_000)),
    ]);
    await until('a refused send', async () => customer.refusals.length > 0 && agentSide.refusals.length > 0);
    await pg.start();
    await during;
    for (const n of [a, b])
      await until(`${n.name} green`, async () => (await healthState(n)).state === 'green');
    expect(new Set([...customer.refusals, ...agentSide.refusals])).toEqual(new Set(['UNAVAILABLE']));

    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => customer.send(`c-after-${i}`, `after ${i}`)),
      ...Array.from({ length: 5 }, (_, i) => agentSide.send(`a-after-${i}`, `after ${i}`)),
    ]);
    const seqs = [...customer.acked.values(), ...agentSide.acked.values()];
    await Promise.all([customer.holds(seqs), agentSide.holds(seqs)]);
    const db = await pg.client(dep.database);
    try {
      const stored = await storedSeqs((sql, p) => db.query(sql, p), session.conversationId);
      expect(tally([customer, agentSide], stored)).toEqual({
        acked: 30,
        lost: [],
        duplicated: 0,
        outOfOrder: 0,
        mismatched: [],
      });
      // The refused probes were never stored.
      expect(stored.has('probe-1')).toBe(false);
      expect(stored.has('probe-rest')).toBe(false);
      const n = await db.query('SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1', [
        session.conversationId,
      ]);
      const max = await db.query('SELECT last_seq::int AS s FROM conversations WHERE id = $1', [
        session.conversationId,
      ]);
      // No gap in the seqs: nothing half-written by a failed commit.
      expect(n.rows[0].n).toBe(max.rows[0].s);
    } finally {
      await db.end();
    }
    ag.console.close();
  });
});
