/**
 * Routing test helpers: endpoints and agents through the provisioning API, agents as real
 * socket.io clients that record what they are given, customers through the Chat v3 REST flow.
 */
import type { Socket } from 'socket.io-client';
import type { ConversationSummary } from '../../src/gateway/chat/events.js';
import { api, type TestNexus } from '../helpers/nexus.js';
import type { TestTenant } from '../helpers/tenants.js';
import { emitAck, socketFor } from './helpers.js';

type Gateway = Pick<TestNexus, 'url'>;

export async function putEndpoint(
  t: Gateway,
  tenant: TestTenant,
  endpoint: string,
  body: Record<string, unknown>,
): Promise<void> {
  const r = await api(t.url, 'PUT', `/nexus/v3/provisioning/endpoints/${tenant.ccid}/${endpoint}`, {
    headers: { 'x-api-key': tenant.apiKey },
    json: body,
  });
  if (r.status !== 200 && r.status !== 201)
    throw new Error(`endpoint: HTTP ${r.status} ${JSON.stringify(r.body)}`);
}

export async function putAgent(
  t: Gateway,
  tenant: TestTenant,
  agentId: string,
  body: { name: string; queues: string[]; capacity: number },
): Promise<void> {
  const r = await api(t.url, 'PUT', `/nexus/v3/provisioning/agents/${tenant.ccid}/${agentId}`, {
    headers: { 'x-api-key': tenant.apiKey },
    json: body,
  });
  if (r.status !== 200 && r.status !== 201)
    throw new Error(`agent: HTTP ${r.status} ${JSON.stringify(r.body)}`);
}

export async function agentToken(t: Gateway, tenant: TestTenant, agentId: string): Promise<string> {
  const r = await api(t.url, 'POST', `/nexus/v3/provisioning/agents/${tenant.ccid}/${agentId}/tokens`, {
    headers: { 'x-api-key': tenant.apiKey },
  });
  if (r.status !== 201) throw new Error(`token: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data.token;
}

export interface Assigned {
  conversation: ConversationSummary;
  transcript: Array<{ seq: number; type: string; text?: string; visibility: string }>;
  history?: ConversationSummary[];
}

/** An agent on a real socket: every `conversation.assigned` it receives, and waiters on them. */
export class TestAgent {
  readonly assigned: Assigned[] = [];
  readonly updated: ConversationSummary[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    readonly agentId: string,
    readonly socket: Socket,
  ) {
    socket.on('conversation.assigned', (p: Assigned) => {
      this.assigned.push(p);
      this.wake();
    });
    socket.on('conversation.updated', (p: { conversation: ConversationSummary }) => {
      this.updated.push(p.conversation);
      this.wake();
    });
  }

  static async connect(t: Gateway, tenant: TestTenant, agentId: string, token?: string): Promise<TestAgent> {
    const s = await socketFor(t.url, '/agent', { token: token ?? (await agentToken(t, tenant, agentId)) });
    return new TestAgent(agentId, s);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `test()` holds, re-checked on every event this agent receives. */
  until<T>(test: () => T | undefined | false, what: string, ms = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.agentId}: no ${what} within ${ms} ms`)), ms);
      const check = () => {
        const v = test();
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /** The `n`-th assignment (1-based) this agent received. */
  nth(n: number, ms?: number): Promise<Assigned> {
    return this.until(() => this.assigned[n - 1], `assignment #${n}`, ms);
  }

  async ack(event: string, payload?: unknown): Promise<any> {
    return emitAck(this.socket, event, payload);
  }

  async ready(): Promise<void> {
    const a = await this.ack('agent.state', { state: 'ready' });
    if (!a.ok) throw new Error(`agent.state: ${JSON.stringify(a)}`);
  }

  close(): void {
    this.socket.close();
  }
}

/** Reads an interaction through the API with the tenant key. */
export async function interaction(t: Gateway, tenant: TestTenant, id: string): Promise<any> {
  const r = await api(t.url, 'GET', `/nexus/v3/interactions/${id}`, {
    headers: { 'x-api-key': tenant.apiKey },
  });
  if (r.status !== 200) throw new Error(`interaction: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data;
}

/**
 * Resolves when the gateway no longer counts the agent as connected (its disconnect handling is
 * asynchronous and sends no event the test could await), polling the agent record, bounded.
 */
export async function untilDisconnected(
  t: Gateway,
  tenant: TestTenant,
  agentId: string,
  ms = 5000,
): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await api(t.url, 'GET', `/nexus/v3/provisioning/agents/${tenant.ccid}/${agentId}`, {
      headers: { 'x-api-key': tenant.apiKey },
    });
    if (r.body?.data?.connected === false) return;
    if (Date.now() > end) throw new Error(`${agentId} still connected after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
