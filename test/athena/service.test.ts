/**
 * athena as a service: the agent-assist webhook's signature check (answered 200 with
 * PAYLOAD_SIGNATURE_CHECK_FAILED, nothing processed) on every prefix, a rotated signing key, the
 * health shape; and athena run as operators run it: alone from its own entry point and port, and
 * inside the all-in-one process, where it is the gateway's default AI connector target.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { emitAck, newSession, seen, socketFor } from '../chat/helpers.js';
import { putEndpoint } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createApiKey, createTenant, keyHeaders, type TestTenant } from '../helpers/tenants.js';
import { cmid, eventWhere, FakeRasa, provision, startAthena } from './helpers.js';

const sign = (body: string, key: string) => `sha1=${createHmac('sha1', key).update(body).digest('hex')}`;

describe.each(engines())('the agent-assist webhook (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let rasa: FakeRasa;
  let tenant: TestTenant;
  let clusterKey: string;
  const key1 = 'first-signing-key';

  beforeAll(async () => {
    t = await startNexus({ engine });
    rasa = await FakeRasa.start();
    ({ athena, apiKey: clusterKey } = await startAthena(t, engine));
    tenant = await createTenant(t);
    await provision(t, tenant, 'WebhookTransportTarget-ai-connector', {
      url: `${athena.url}/nexus/v3/agent-assist-chat/messages`,
      secret: { signingKey: key1 },
    });
    await provision(t, tenant, 'Bot-rasa', { url: rasa.url, data: { provider: 'Webhook' } });
    await putEndpoint(t, tenant, 'web', { queue: 'support', bot: 'rasa' });
  }, 60_000);

  afterAll(async () => {
    await athena?.close();
    await rasa?.close();
    await t?.cleanup();
  });

  /** A well-formed event for a conversation in bot mode, as the gateway would send it. */
  const eventFor = (conversationId: string, text: string) =>
    JSON.stringify({
      id: randomUUID(),
      type: 'message.created',
      ccid: tenant.ccid,
      conversationId,
      timestamp: new Date().toISOString(),
      data: {
        mode: 'bot',
        bot: 'rasa',
        conversation: {
          id: conversationId,
          state: 'bot',
          endpoint: 'web',
          queue: 'support',
          agentId: null,
          channel: 'chat',
        },
        message: {
          id: randomUUID(),
          conversationId,
          seq: 99,
          type: 'Text',
          from: { participantId: 'p', type: 'Customer' },
          text,
          timestamp: new Date().toISOString(),
          visibility: 'all',
        },
      },
    });
  const post = (prefix: string, body: string, headers: Record<string, string>) =>
    api(athena.url, 'POST', `${prefix}/agent-assist-chat/messages`, {
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('answers 200 PAYLOAD_SIGNATURE_CHECK_FAILED on every prefix when the signature does not verify, and processes nothing', async () => {
    const session = await newSession(t, tenant);
    const body = eventFor(session.conversationId, 'forged');
    const before = (
      await t.nexus.db.query('SELECT last_seq FROM conversations WHERE id = $1', [session.conversationId])
    ).rows[0].last_seq;
    const attempts: Array<Record<string, string>> = [
      {},
      { 'x-ccid': tenant.ccid },
      { 'x-ccid': tenant.ccid, 'x-hub-signature': 'sha1=nothex' },
      { 'x-ccid': tenant.ccid, 'x-hub-signature': sign(body, 'another key') },
      { 'x-ccid': tenant.ccid, 'x-hub-signature': sign(`${body} `, key1) },
      { 'x-ccid': 'some-other-tenant', 'x-hub-signature': sign(body, key1) },
    ];
    for (const prefix of ['/athena/v1', '/nexus/v3']) {
      for (const headers of attempts) {
        const r = await post(prefix, body, headers);
        expect(r.status).toBe(200);
        expect(r.body.status.code).toBe('PAYLOAD_SIGNATURE_CHECK_FAILED');
      }
      // Not even the body is read before the signature: a bad body with a bad signature is the same.
      const junk = await post(prefix, '{not json', {
        'x-ccid': tenant.ccid,
        'x-hub-signature': sign('x', 'k'),
      });
      expect(junk.body.status.code).toBe('PAYLOAD_SIGNATURE_CHECK_FAILED');
    }
    expect(rasa.calls).toEqual([]);
    const after = (
      await t.nexus.db.query('SELECT last_seq FROM conversations WHERE id = $1', [session.conversationId])
    ).rows[0].last_seq;
    expect(after).toBe(before);

    // The same body, signed with the tenant's key, is processed.
    rasa.script = () => ({ body: [{ text: 'signed and answered' }] });
    const ok = await post('/nexus/v3', body, { 'x-ccid': tenant.ccid, 'x-hub-signature': sign(body, key1) });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: { code: 0 }, data: { outcome: 'replied' } });
    const msgs = await api(t.url, 'GET', `/nexus/v3/interactions/${session.conversationId}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(msgs.body.data.messages.map((m: ChatMessage) => m.text)).toContain('signed and answered');
  });

  it('a webhook delivered twice (at least once) shows the reply once', async () => {
    const session = await newSession(t, tenant);
    rasa.script = () => ({ body: [{ text: 'only once' }] });
    const body = eventFor(session.conversationId, 'again');
    for (let i = 0; i < 2; i++) {
      const r = await post('/athena/v1', body, {
        'x-ccid': tenant.ccid,
        'x-hub-signature': sign(body, key1),
      });
      expect(r.body.status.code).toBe(0);
    }
    const msgs = await api(t.url, 'GET', `/nexus/v3/interactions/${session.conversationId}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(msgs.body.data.messages.filter((m: ChatMessage) => m.text === 'only once')).toHaveLength(1);
  });

  it("a tenant's signed webhook cannot reach another tenant's conversation", async () => {
    const victim = await newSession(t, tenant);
    const other = await createTenant(t);
    await provision(t, other, 'WebhookTransportTarget-ai-connector', {
      url: `${athena.url}/athena/v1/agent-assist-chat/messages`,
      secret: { signingKey: 'other-key' },
    });
    await provision(t, other, 'Bot-rasa', { url: rasa.url, data: { provider: 'Webhook' } });
    const calls = rasa.calls.length;
    // Signed correctly by the other tenant, naming the victim's conversation.
    const body = eventFor(victim.conversationId, 'let me in').replace(tenant.ccid, other.ccid);
    const r = await post('/athena/v1', body, {
      'x-ccid': other.ccid,
      'x-hub-signature': sign(body, 'other-key'),
    });
    expect(r.status).toBe(422);
    expect(rasa.calls.length).toBe(calls);
    const msgs = await api(t.url, 'GET', `/nexus/v3/interactions/${victim.conversationId}/messages`, {
      headers: keyHeaders(clusterKey, tenant.ccid),
    });
    expect(JSON.stringify(msgs.body.data.messages)).not.toContain('let me in');
  });

  it('a signed body that is not an event is refused without reaching a bot', async () => {
    const calls = rasa.calls.length;
    const body = JSON.stringify({ hello: 'world' });
    const r = await post('/athena/v1', body, { 'x-ccid': tenant.ccid, 'x-hub-signature': sign(body, key1) });
    expect(r.status).toBe(400);
    expect(rasa.calls.length).toBe(calls);
  });

  it('notices a rotated signing key at once', async () => {
    // A tenant of its own: a failed check may ask the gateway again only once per 5 s per tenant.
    const other = await createTenant(t);
    const target = `${athena.url}/nexus/v3/agent-assist-chat/messages`;
    await provision(t, other, 'WebhookTransportTarget-ai-connector', {
      url: target,
      secret: { signingKey: 'k-one' },
    });
    const body = JSON.stringify({ hello: 'world' });
    const first = await post('/athena/v1', body, {
      'x-ccid': other.ccid,
      'x-hub-signature': sign(body, 'k-one'),
    });
    expect(first.status).toBe(400); // verified (then refused as not an event): the key is now cached
    await provision(t, other, 'WebhookTransportTarget-ai-connector', {
      url: target,
      secret: { signingKey: 'k-two' },
    });
    const rotated = await post('/athena/v1', body, {
      'x-ccid': other.ccid,
      'x-hub-signature': sign(body, 'k-two'),
    });
    expect(rotated.status).toBe(400);
    const old = await post('/athena/v1', body, {
      'x-ccid': other.ccid,
      'x-hub-signature': sign(body, 'k-one'),
    });
    expect(old.body.status.code).toBe('PAYLOAD_SIGNATURE_CHECK_FAILED');
  });

  it('serves /health/detail in the guide shape', async () => {
    const r = await api(athena.url, 'GET', '/health/detail');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ isReady: true, redis: { state: 'READY' }, state: 'green' });
    for (const k of ['buildInfo', 'startTime', 'upTime', 'os', 'memoryUsage'])
      expect(r.body).toHaveProperty(k);
    expect(typeof r.body.redis.latency).toBe('number');
    expect(typeof r.body.db.latency).toBe('number');
  });
});

// ---- the entry points, as operators run them ------------------------------------------------

const root = join(import.meta.dirname, '..', '..');
const running: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function start(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/bin', entry)], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (re: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = out.match(re);
        if (m) resolve(m);
      };
      child.stdout!.on('data', check);
      check();
      exited.then((code) => reject(new Error(`exited ${code} before ${re}: ${out}\n${err}`)));
    });
  return { child, waitFor, exited };
}

/** A customer says something in a new session; resolves with the bot's reply. */
async function botAnswers(url: string, tenant: TestTenant, text: string): Promise<ChatMessage> {
  const session = await newSession({ url }, tenant);
  const s = await socketFor(url, '/consumer', { clientToken: session.clientToken });
  try {
    const a = await emitAck(s, 'message.send', { clientMessageId: cmid(), text });
    expect(a.ok, JSON.stringify(a)).toBe(true);
    return await eventWhere<ChatMessage>(
      s,
      'message',
      (m) => m.from.type === 'Bot',
      20_000,
      seen(s).messages,
    );
  } finally {
    s.close();
  }
}

describe('athena from its entry points', () => {
  it('runs alone on its own port, reads settings from the gateway and answers through it', async () => {
    const t = await startNexus();
    const rasa = await FakeRasa.start();
    try {
      const tenant = await createTenant(t);
      const { apiKey } = await createApiKey(t, {
        tenant: '*',
        permissions: ['nexus:cluster:*'],
        capacity: 10_000,
      });
      const p = start('athena.ts', {
        NEXUS_LOG_LEVEL: 'info',
        ATHENA_PORT: '0',
        ATHENA_HOST: '127.0.0.1',
        ATHENA_NEXUS_URL: t.url,
        ATHENA_NEXUS_API_KEY: apiKey,
      });
      const [, port] = await p.waitFor(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/);
      const athenaUrl = `http://127.0.0.1:${port}`;
      const health = await api(athenaUrl, 'GET', '/health/detail');
      expect(health.body.isReady).toBe(true);
      const probe = await api(athenaUrl, 'POST', '/athena/v1/agent-assist-chat/messages', { json: {} });
      expect(probe.body.status.code).toBe('PAYLOAD_SIGNATURE_CHECK_FAILED');

      await provision(t, tenant, 'WebhookTransportTarget-ai-connector', {
        url: `${athenaUrl}/athena/v1/agent-assist-chat/messages`,
      });
      await provision(t, tenant, 'Bot-helper', { url: rasa.url, data: { provider: 'Webhook' } });
      await putEndpoint(t, tenant, 'web', { queue: 'support', bot: 'helper' });
      rasa.script = (c) => ({ body: [{ text: `alone: ${c.message}` }] });
      const reply = await botAnswers(t.url, tenant, 'ping');
      expect(reply.text).toBe('alone: ping');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await rasa.close();
      await t.cleanup();
    }
  }, 60_000);

  it('runs inside the all-in-one process as the default AI connector target', async () => {
    const rasa = await FakeRasa.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'athena-aio-'));
    dirs.push(dataDir);
    try {
      const p = start('all-in-one.ts', {
        NEXUS_LOG_LEVEL: 'warn',
        NEXUS_PORT: '0',
        NEXUS_METRICS_PORT: '0',
        ATHENA_PORT: '0',
        NEXUS_DATA_DIR: dataDir,
        NEXUS_ADMIN_TOKEN: 'aio-admin',
        // The demo tenant is not needed here.
        NEXUS_UX_DEMO: 'off',
      });
      const [, nexusPort] = await p.waitFor(/nexus +http:\/\/[\d.]+:(\d+)/);
      const url = `http://127.0.0.1:${nexusPort}`;
      const gw = { url, adminToken: 'aio-admin' };
      const tenant = await createTenant(gw);
      // No WebhookTransportTarget-ai-connector: the in-process athena is the default target.
      const bot = await api(url, 'PUT', `/nexus/v3/provisioning/services/${tenant.ccid}/Bot-helper`, {
        headers: { authorization: 'Bearer aio-admin' },
        json: { url: rasa.url, data: { provider: 'Webhook' } },
      });
      expect(bot.status).toBe(201);
      await putEndpoint(gw, tenant, 'web', { queue: 'support', bot: 'helper' });
      rasa.script = (c) => ({ body: [{ text: `in-process: ${c.message}` }] });
      const reply = await botAnswers(url, tenant, 'ping');
      expect(reply.text).toBe('in-process: ping');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await rasa.close();
    }
  }, 60_000);
});
