/**
 * athena test helpers: a fake bot that speaks the Rasa REST channel (a real HTTP server on port 0
 * whose answers each test scripts), athena started in process against a test gateway with a
 * cluster key, and waiters on socket events.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'socket.io-client';
import { type Athena, createAthena } from '../../src/bots/athena.js';
import { putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import type { Engine } from '../helpers/engines.js';
import { realEngines } from '../helpers/engines.js';
import { api, type TestNexus } from '../helpers/nexus.js';
import { createApiKey, createTenant, type TestTenant } from '../helpers/tenants.js';

export interface RasaCall {
  sender: string;
  message: string;
  metadata: Record<string, unknown>;
  headers: IncomingMessage['headers'];
}

/** What the fake answers: a status and body, or `hang` (never answers: a bot timeout). */
export type RasaScript = (call: RasaCall) => { status?: number; body: unknown } | 'hang';

export class FakeRasa {
  readonly calls: RasaCall[] = [];
  script: RasaScript = () => ({ body: [] });
  private server!: Server;
  private waiters: Array<() => void> = [];
  private readonly hanging = new Set<() => void>();

  static async start(): Promise<FakeRasa> {
    const f = new FakeRasa();
    f.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => {
        raw += d;
      });
      req.on('end', () => {
        const body = JSON.parse(raw || '{}');
        const call: RasaCall = {
          sender: body.sender,
          message: body.message,
          metadata: body.metadata,
          headers: req.headers,
        };
        f.calls.push(call);
        for (const w of f.waiters.splice(0)) w();
        const answer = f.script(call);
        if (answer === 'hang') {
          const end = () => res.destroy();
          f.hanging.add(end);
          return;
        }
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', r));
    return f;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/rest/webhook`;
  }

  /** Resolves with the call that satisfies `test`, re-checked on every call. */
  until(test: (c: RasaCall) => boolean, what: string, ms = 10_000): Promise<RasaCall> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake bot: no ${what} within ${ms} ms`)), ms);
      const check = () => {
        const c = this.calls.find(test);
        if (c) {
          clearTimeout(timer);
          resolve(c);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  async close(): Promise<void> {
    for (const end of this.hanging) end();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** athena in process against a test gateway, on the same engine (Redis for the real one). */
export async function startAthena(
  t: TestNexus,
  engine: Engine,
  opts: {
    apiKey?: string;
    apiPrefix?: string;
    /** Speech-to-text at a plaintext gRPC fake (`host:port`), and its stream pace (`athena.google.speechStreamPace`). */
    speech?: { apiKey: string; apiEndpoint: string; streamPace?: number };
  } = {},
): Promise<{ athena: Athena; apiKey: string }> {
  const apiKey =
    opts.apiKey ??
    (
      await createApiKey(t, {
        tenant: '*',
        permissions: ['nexus:cluster:*'],
        capacity: 100_000,
        name: 'athena',
      })
    ).apiKey;
  const real = engine === 'real' ? realEngines() : undefined;
  const config = loadConfig({
    env: {},
    overrides: {
      athena: {
        port: 0,
        host: '127.0.0.1',
        server: { apiPrefix: opts.apiPrefix ?? '/athena/v1,/nexus/v3' },
        nexus: { url: t.url, apiKey, timeout: 5000 },
        redis: { nodes: real ? real.redis : '' },
        ...(opts.speech
          ? {
              google: {
                speechApiKey: opts.speech.apiKey,
                ...(opts.speech.streamPace ? { speechStreamPace: opts.speech.streamPace } : {}),
              },
            }
          : {}),
      },
    },
  }).athena;
  const athena = createAthena(config, createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), {
    db: t.nexus.db,
    ...(opts.speech ? { speech: { apiEndpoint: opts.speech.apiEndpoint, plaintext: true } } : {}),
  });
  await athena.start();
  return { athena, apiKey };
}

export async function provision(
  t: TestNexus,
  tenant: TestTenant,
  name: string,
  body: Record<string, unknown>,
): Promise<void> {
  const r = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${tenant.ccid}/${name}`, {
    headers: { authorization: `Bearer ${t.adminToken}` },
    json: body,
  });
  if (r.status !== 200 && r.status !== 201)
    throw new Error(`${name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
}

/**
 * The e2e suites' tenant: athena registered as its AI connector target (a URL only, as the
 * deployment guide registers it; the gateway derives the signing key), its `Bot-<name>` services,
 * its endpoints (each naming a bot, all on queue `support`), and the agent `alice` on `support`,
 * connected and ready.
 */
export async function botTenant(
  t: TestNexus,
  athena: Pick<Athena, 'url'>,
  opts: {
    /** Bot name → the `Bot-<name>` service body. */
    bots: Record<string, Record<string, unknown>>;
    /** Endpoint → the bot it names; default `web` → the first bot. */
    endpoints?: Record<string, string>;
    capacity?: number;
  },
): Promise<{ tenant: TestTenant; alice: TestAgent }> {
  const tenant = await createTenant(t);
  await provision(t, tenant, 'WebhookTransportTarget-ai-connector', {
    url: `${athena.url}/athena/v1/agent-assist-chat/messages`,
  });
  for (const [name, body] of Object.entries(opts.bots)) await provision(t, tenant, `Bot-${name}`, body);
  const endpoints = opts.endpoints ?? { web: Object.keys(opts.bots)[0] };
  for (const [endpoint, bot] of Object.entries(endpoints))
    await putEndpoint(t, tenant, endpoint, { queue: 'support', bot });
  await putAgent(t, tenant, 'alice', { name: 'Alice', queues: ['support'], capacity: opts.capacity ?? 3 });
  const alice = await TestAgent.connect(t, tenant, 'alice');
  await alice.ready();
  return { tenant, alice };
}

/** Resolves with the first event (past or future) that satisfies `test`. */
export function eventWhere<T>(
  s: Socket,
  event: string,
  test: (p: T) => boolean,
  ms = 10_000,
  past: T[] = [],
): Promise<T> {
  const hit = past.find(test);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    const on = (p: T) => {
      if (!test(p)) return;
      clearTimeout(timer);
      s.off(event, on);
      resolve(p);
    };
    const timer = setTimeout(() => {
      s.off(event, on);
      reject(new Error(`no matching ${event} within ${ms} ms`));
    }, ms);
    s.on(event, on);
  });
}

export const cmid = () => randomBytes(8).toString('hex');
