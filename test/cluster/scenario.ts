/**
 * A conversation routed across nodes: a tenant with an endpoint and a queue, an agent whose console
 * socket is on one node and goes ready, a customer whose session is opened on another node; the
 * embedded router (on whichever node) assigns it to the agent. Then both sides as Parties.
 */
import { newSession, type TestSession } from '../chat/helpers.js';
import { agentToken, putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';
import type { TestTenant } from '../helpers/tenants.js';
import type { Deployment, GatewayNode } from './nodes.js';
import { Party } from './parties.js';

export interface ProvisionedAgent {
  agentId: string;
  token: string;
  /** The agent console (keeps the agent connected and ready; records its assignments). */
  console: TestAgent;
}

export async function provision(
  dep: Deployment,
  opts: { capacity?: number } = {},
): Promise<{ tenant: TestTenant; agent: (node: GatewayNode, agentId: string) => Promise<ProvisionedAgent> }> {
  const tenant = await dep.tenant();
  const first = dep.nodes[0];
  await putEndpoint(first, tenant, 'web', { queue: 'support' });
  return {
    tenant,
    agent: async (node, agentId) => {
      await putAgent(node, tenant, agentId, {
        name: agentId,
        queues: ['support'],
        capacity: opts.capacity ?? 5,
      });
      const token = await agentToken(node, tenant, agentId);
      const console = await TestAgent.connect(node, tenant, agentId, token);
      await console.ready();
      return { agentId, token, console };
    },
  };
}

/** A session opened on `customerNode` and assigned to `agent` (awaited on its console). */
export async function routedConversation(
  customerNode: GatewayNode,
  tenant: TestTenant,
  agent: ProvisionedAgent,
): Promise<TestSession> {
  const session = await newSession(customerNode, tenant);
  await agent.console.until(
    () => agent.console.assigned.some((a) => a.conversation.id === session.conversationId),
    `assignment of ${session.conversationId}`,
    20_000,
  );
  return session;
}

/** The customer and the agent of a conversation as Parties, connected in preference order. */
export async function parties(
  session: TestSession,
  agent: ProvisionedAgent,
  urls: { customer: () => string[]; agent: () => string[] },
): Promise<{ customer: Party; agent: Party }> {
  const customer = new Party({
    kind: 'customer',
    conversationId: session.conversationId,
    auth: { clientToken: session.clientToken },
    urls: urls.customer,
  });
  const agentParty = new Party({
    kind: 'agent',
    conversationId: session.conversationId,
    auth: { token: agent.token },
    urls: urls.agent,
  });
  await Promise.all([customer.connect(), agentParty.connect()]);
  return { customer, agent: agentParty };
}

/** Every stored message of a conversation with a clientMessageId: clientMessageId → seq. */
export async function storedSeqs(
  query: (sql: string, params: unknown[]) => Promise<{ rows: any[] }>,
  conversationId: string,
): Promise<Map<string, number>> {
  const r = await query(
    'SELECT client_message_id AS id, seq::int AS seq FROM messages WHERE conversation_id = $1 AND client_message_id IS NOT NULL',
    [conversationId],
  );
  return new Map(r.rows.map((x) => [x.id, x.seq]));
}

export const alive = (nodes: GatewayNode[]) => () =>
  nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.url);
