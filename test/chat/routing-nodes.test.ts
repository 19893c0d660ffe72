/**
 * Routing across gateways (two on the real engines, sharing PostgreSQL and Redis; one on the
 * embedded engine): customer on one node, agent on the other; a customer who reconnects
 * elsewhere within the grace period keeps the conversation assigned; one who stays away puts it
 * on async hold, and writing again from the other node re-opens it to the same agent.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNexus, type Nexus } from '../../src/gateway/nexus.js';
import { createLogger } from '../../src/shared/logger.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { emitAck, newSession, socketFor } from './helpers.js';
import { interaction, putAgent, putEndpoint, TestAgent } from './routing-helpers.js';

const GRACE_MS = 1500;

describe.each(engines())('routing across gateways on %s engines', (engine) => {
  let t: TestNexus;
  let second: Nexus | undefined;
  let customerNode: string;
  let agentNode: string;
  let tenant: TestTenant;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { routing: { customerGraceMs: GRACE_MS } } });
    customerNode = t.url;
    agentNode = t.url;
    if (engine === 'real') {
      second = createNexus(t.config, createLogger({ level: t.config.logLevel }));
      await second.start();
      agentNode = second.url;
    }
    tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'nodes' });
  });
  afterAll(async () => {
    await second?.close();
    await t?.cleanup();
  });

  it('holds and re-opens a conversation whose customer and agent are on different nodes', async () => {
    await putAgent(t, tenant, 'rae', { name: 'Rae', queues: ['nodes'], capacity: 1 });
    const rae = await TestAgent.connect({ url: agentNode }, tenant, 'rae');
    await rae.ready();
    const s = await newSession({ url: customerNode }, tenant, 'data[firstName]=Sam&data[endpoint]=web');
    const first = await socketFor(customerNode, '/consumer', { clientToken: s.clientToken });
    await rae.nth(1);

    // A short drop: back within the grace period, on the agent's node.
    first.close();
    const again = await socketFor(agentNode, '/consumer', { clientToken: s.clientToken, lastSeq: 0 });
    // Nothing may happen when the grace period runs out: wait it out (an absence has no event).
    await new Promise((r) => setTimeout(r, GRACE_MS + 500));
    expect((await interaction(t, tenant, s.conversationId)).state).toBe('assigned');

    // Gone for good: async hold, with the agent told.
    again.close();
    await rae.until(
      () => rae.updated.find((c) => c.id === s.conversationId && c.state === 'asynchold'),
      'async hold',
      GRACE_MS + 10_000,
    );

    // Back on the first node: the same agent, on the other node, has it again.
    const back = await socketFor(customerNode, '/consumer', { clientToken: s.clientToken, lastSeq: 0 });
    const sent = await emitAck(back, 'message.send', {
      clientMessageId: randomUUID(),
      text: 'it is me again',
    });
    expect(sent.ok).toBe(true);
    const reopened = await rae.until(
      () => rae.assigned.filter((a) => a.conversation.id === s.conversationId)[1],
      're-opening',
    );
    expect(reopened.conversation).toMatchObject({ state: 'assigned', agentId: 'rae' });
    expect(reopened.transcript.some((m) => m.text === 'it is me again')).toBe(true);
    back.close();
    rae.close();
  }, 30_000);
});
