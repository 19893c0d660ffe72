/**
 * An agent token is bound to the agent it was issued for: deleting the agent, or its tenant, and
 * provisioning the same ids again (a ccid handed to someone else, an agent id reused for a new
 * person) leaves the old tokens useless. Otherwise a token of the deleted tenant, valid for up to
 * 30 days, would read and write the new tenant's conversations.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_NAMESPACE } from '../../src/gateway/chat/events.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { emitAck, socketFor } from './helpers.js';

/** Token times are whole seconds: what was issued in an earlier second is older than what follows. */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1001 - (Date.now() % 1000)));

describe.each(engines())('agent tokens after re-provisioning on %s engines', (engine) => {
  let t: TestNexus;
  const ccid = `reuse-${randomUUID()}`;
  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });

  const provisionAgent = async (tenant: TestTenant): Promise<string> => {
    const put = await api(t.url, 'PUT', `/nexus/v3/provisioning/agents/${ccid}/alice`, {
      headers: keyHeaders(tenant.apiKey, ccid),
      json: { name: 'Alice', queues: ['q'], capacity: 2 },
    });
    expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
    const tok = await api(t.url, 'POST', `/nexus/v3/provisioning/agents/${ccid}/alice/tokens`, {
      headers: keyHeaders(tenant.apiKey, ccid),
      json: {},
    });
    expect(tok.status, JSON.stringify(tok.body)).toBe(201);
    return tok.body.data.token;
  };

  beforeAll(async () => {
    t = await startNexus({ engine });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it("refuses the deleted tenant's agent token on the socket; the new tenant's agent is served", async () => {
    const first = await createTenant(t, ccid);
    const oldToken = await provisionAgent(first);
    const del = await api(t.url, 'DELETE', `/nexus/v3/provisioning/tenants/${ccid}`, { headers: admin() });
    expect(del.status, JSON.stringify(del.body)).toBeLessThan(300);
    await nextSecond();

    // The ccid provisioned again, with an agent of the same id holding a conversation.
    const second = await createTenant(t, ccid);
    const newToken = await provisionAgent(second);
    const s = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: keyHeaders(second.apiKey, ccid),
      json: { data: { nickname: 'New customer' } },
    });
    expect(s.status, JSON.stringify(s.body)).toBeLessThan(300);
    const conversationId = s.body.data.conversationId;
    const placed = await api(t.url, 'POST', `/nexus/v3/interactions/${conversationId}/route`, {
      headers: keyHeaders(second.apiKey, ccid),
      json: { agentId: 'alice' },
    });
    expect(placed.status, JSON.stringify(placed.body)).toBe(200);

    const refused = await socketFor(t.url, AGENT_NAMESPACE, { token: oldToken }).then(
      (sock) => {
        sock.close();
        return undefined;
      },
      (err: { data?: { name?: string } }) => err.data,
    );
    expect(refused?.name).toBe('INVALID_AGENT_TOKEN');

    const agent = await socketFor(t.url, AGENT_NAMESPACE, { token: newToken });
    try {
      const join = await emitAck(agent, 'conversation.join', { conversationId });
      expect(join.ok, JSON.stringify(join)).toBe(true);
    } finally {
      agent.close();
    }
  });
});
