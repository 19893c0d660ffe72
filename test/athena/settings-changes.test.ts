/**
 * An edited or removed `Bot-<name>` is used on the bot's next turn, not when athena's cached copy
 * expires (60 s, far beyond these tests): athena hears the gateway's `services:changed` notice and
 * drops what it cached.
 *
 * - real engines: athena on its own, built as `src/bin/athena.ts` builds it, with its own Redis
 *   connections to the gateway's Redis (its keys under `athena:`, the gateway's notices under the
 *   gateway's `nexus.redis.keyPrefix`);
 * - embedded: athena in the gateway's process (all-in-one) on the in-process state.
 *
 * Each step waits for athena's own "cache dropped" log line (the notice arrived and was acted on)
 * before the customer's next message, so the turn that follows cannot race the notice.
 */
import { Writable } from 'node:stream';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import { startAthenaWithNexus } from '../../src/bots/in-process.js';
import { createStandaloneAthena } from '../../src/bots/standalone.js';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { emitAck, newSession, seen, socketFor } from '../chat/helpers.js';
import type { TestAgent } from '../chat/routing-helpers.js';
import { engines, realEngines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createApiKey, type TestTenant } from '../helpers/tenants.js';
import { botTenant, cmid, eventWhere, FakeRasa, provision } from './helpers.js';

type LogLine = Record<string, unknown> & { msg?: string };

/** athena's JSON log lines, and waiters on them. */
function watchLogs() {
  const lines: LogLine[] = [];
  let waiters: Array<() => void> = [];
  let rest = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as LogLine);
      const w = waiters;
      waiters = [];
      for (const f of w) f();
      done();
    },
  });
  return {
    stream,
    /** Resolves with the first line (past or future) after `from` that satisfies `test`. */
    until(test: (l: LogLine) => boolean, what: string, from = 0, ms = 10_000): Promise<LogLine> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`athena logged no ${what} within ${ms} ms`)), ms);
        const check = () => {
          const l = lines.slice(from).find(test);
          if (l) {
            clearTimeout(timer);
            resolve(l);
          } else waiters.push(check);
        };
        check();
      });
    },
    get count() {
      return lines.length;
    },
  };
}

describe.each(engines())('athena notices changed bot settings at once (%s)', (engine) => {
  const standalone = engine === 'real';
  let t: TestNexus;
  let athena: Athena;
  let first: FakeRasa;
  let second: FakeRasa;
  let tenant: TestTenant;
  let alice: TestAgent;
  const logs = watchLogs();
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startNexus({ engine });
    first = await FakeRasa.start();
    second = await FakeRasa.start();
    first.script = (c) => ({ body: [{ text: `first: ${c.message}` }] });
    second.script = (c) => ({ body: [{ text: `second: ${c.message}` }] });
    const log = createLogger({ level: 'debug', destination: logs.stream });
    if (standalone) {
      const { apiKey } = await createApiKey(t, {
        tenant: '*',
        permissions: ['nexus:cluster:*'],
        capacity: 100_000,
        name: 'athena',
      });
      // The deployment's one configuration: the gateway's Redis prefix, athena's own section.
      const config = loadConfig({
        env: {},
        overrides: {
          nexus: { redis: { keyPrefix: t.config.redis.keyPrefix } },
          athena: {
            port: 0,
            host: '127.0.0.1',
            nexus: { url: t.url, apiKey, timeout: 5000 },
            redis: { nodes: realEngines()!.redis },
          },
        },
      });
      expect(config.athena.redis.nodes).toBe(t.config.redis.nodes);
      athena = createStandaloneAthena(config, log);
      await athena.start();
    } else {
      const config = loadConfig({
        env: {},
        overrides: { athena: { port: 0, host: '127.0.0.1', nexus: { url: t.url, timeout: 5000 } } },
      }).athena;
      athena = await startAthenaWithNexus(t.nexus, config, log);
    }
    ({ tenant, alice } = await botTenant(t, athena, {
      bots: { rasa: { url: first.url, data: { provider: 'Webhook', timeoutMs: 5000, nickname: 'First' } } },
    }));
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    alice?.close();
    await athena?.close();
    await first?.close();
    await second?.close();
    await t?.cleanup();
  });

  const say = async (s: Socket, text: string) => {
    const a = await emitAck(s, 'message.send', { clientMessageId: cmid(), text });
    expect(a.ok, JSON.stringify(a)).toBe(true);
  };
  const botMessage = (s: Socket, text: string) =>
    eventWhere<ChatMessage>(
      s,
      'message',
      (m) => m.from.type === 'Bot' && m.text === text,
      10_000,
      seen(s).messages,
    );
  /** Changes the bot, and resolves once athena has dropped its cached copy. */
  const change = async (op: () => Promise<void>) => {
    const from = logs.count;
    await op();
    await logs.until(
      (l) => l.msg === 'service changed: cache dropped' && l.ccid === tenant.ccid && l.service === 'Bot-rasa',
      'dropped cache for Bot-rasa',
      from,
    );
  };

  it('the next turn after an edit uses the new settings, and after a removal finds no bot', async () => {
    const session = await newSession(t, tenant);
    const s = await socketFor(t.url, '/consumer', { clientToken: session.clientToken });
    sockets.push(s);

    await say(s, 'one');
    expect((await botMessage(s, 'first: one')).from).toMatchObject({ type: 'Bot', nickname: 'First' });
    // A second turn on the same settings: athena answers from its cache.
    await say(s, 'two');
    await botMessage(s, 'first: two');

    // Another bot URL and nickname: the very next turn goes to the new bot under the new name.
    await change(() =>
      provision(t, tenant, 'Bot-rasa', {
        url: second.url,
        data: { provider: 'Webhook', timeoutMs: 5000, nickname: 'Second' },
      }),
    );
    await say(s, 'three');
    expect((await botMessage(s, 'second: three')).from).toMatchObject({ type: 'Bot', nickname: 'Second' });
    expect(first.calls.map((c) => c.message)).toEqual(['one', 'two']);
    expect(second.calls.map((c) => c.message)).toEqual(['three']);

    // The bot removed: the next turn hands off, as for a bot that was never provisioned.
    await change(async () => {
      const r = await api(t.url, 'DELETE', `/nexus/v3/provisioning/services/${tenant.ccid}/Bot-rasa`, {
        headers: { authorization: `Bearer ${t.adminToken}` },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    });
    await say(s, 'four');
    const assigned = await alice.until(
      () => alice.assigned.find((x) => x.conversation.id === session.conversationId),
      'the handed-off conversation',
    );
    const notice = assigned.transcript.find((m) => m.type === 'Notice' && m.text?.startsWith('handoff:'));
    expect(notice?.text).toBe('handoff: the bot rasa is not provisioned');
    expect(second.calls.map((c) => c.message)).toEqual(['three']);
  });

  if (standalone)
    it("listens on the gateway's Redis under the gateway's key prefix", async () => {
      const line = await logs.until(
        (l) => l.msg === "listening to the gateway's service changes",
        'subscription line',
      );
      expect(line.channel).toBe(`${t.config.redis.keyPrefix}services:changed`);
    });
});
