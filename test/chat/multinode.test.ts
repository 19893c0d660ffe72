/**
 * Two gateway processes sharing one Redis and one PostgreSQL: node A is a child process running the
 * `nexus` entry point (so it can be SIGKILLed), node B runs in this process. The customer talks to A,
 * the agent to B; messages cross both ways in order; then A dies mid-conversation and the customer
 * resumes on B without losing or repeating a message.
 *
 * Several nodes need a shared Redis and PostgreSQL, so this suite runs on the real engines only
 * (CI always has them; see test/helpers/engines.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { engines, freshDatabase, realEngines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { emitAck, newSession, once, seen, socketFor } from './helpers.js';

const root = join(import.meta.dirname, '..', '..');

function startChild(env: Record<string, string>): {
  child: ChildProcess;
  url: Promise<string>;
  exited: Promise<unknown>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/bin/nexus.ts')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) resolve(m[1]);
    });
    exited.then((code) => reject(new Error(`node A exited (${code}) before it started:\n${out}\n${err}`)));
  });
  return { child, url, exited };
}

const seqs = (ms: ChatMessage[]) => ms.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(engines().filter((e) => e === 'real'))('two gateway nodes on %s engines', (engine) => {
  let b: TestNexus;
  let a: ReturnType<typeof startChild>;
  let aUrl: string;
  let tenant: TestTenant;
  let dropDb: () => Promise<void>;
  const dataDir = mkdtempSync(join(tmpdir(), 'nexus-node-a-'));
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const real = realEngines();
    if (!real) throw new Error('real engines are required');
    const { database, drop } = await freshDatabase();
    dropDb = drop;
    const keyPrefix = `mn${randomBytes(4).toString('hex')}:`;
    const tokenKey = randomBytes(32).toString('base64url');
    const db = {
      host: real.pg.host,
      port: real.pg.port,
      user: real.pg.user,
      password: real.pg.password,
      database,
    };
    b = await startNexus({
      engine,
      nexus: { db, redis: { nodes: real.redis, keyPrefix }, chat: { tokenKey } },
    });
    a = startChild({
      NEXUS_PORT: '0',
      NEXUS_METRICS_PORT: '0',
      NEXUS_HOST: '127.0.0.1',
      NEXUS_DATA_DIR: dataDir,
      NEXUS_ADMIN_TOKEN: b.adminToken,
      NEXUS_LOG_LEVEL: 'info',
      NEXUS_DB_HOST: db.host,
      NEXUS_DB_PORT: String(db.port),
      NEXUS_DB_USER: db.user,
      NEXUS_DB_PASSWORD: db.password,
      NEXUS_DB_DATABASE: database,
      NEXUS_REDIS_NODES: real.redis,
      NEXUS_REDIS_KEY_PREFIX: keyPrefix,
      NEXUS_CHAT_TOKEN_KEY: tokenKey,
    });
    aUrl = await a.url;
    tenant = await createTenant(b);
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    a?.child.kill('SIGKILL');
    await b?.cleanup();
    await dropDb?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('carries messages between a customer on one node and an agent on the other, and survives the loss of the customer node', async () => {
    // The customer opens the chat through node A.
    const s = await newSession({ url: aUrl }, tenant);
    // Seqs are counted from the session's base (routing may have posted a queue notice first).
    const o = s.base;
    const customer = await socketFor(aUrl, '/consumer', { clientToken: s.clientToken, lastSeq: o });
    sockets.push(customer);

    // The agent is on node B; the conversation is placed with it through the service API.
    const chat = b.nexus.chat;
    const conv = await chat.setState(s.conversationId, { state: 'assigned', agentId: 'agent-1' });
    expect(conv?.agentId).toBe('agent-1');
    const agent = await socketFor(b.url, '/agent', {
      token: await chat.tokens.signAgentToken({ ccid: tenant.ccid, agentId: 'agent-1', name: 'Grace' }),
    });
    sockets.push(agent);
    expect(
      await emitAck(agent, 'conversation.join', { conversationId: s.conversationId, lastSeq: o }),
    ).toMatchObject({
      ok: true,
    });

    // Both write at once: every seq is committed once and each side sees them all in order.
    const sends = await Promise.all([
      ...range(1, 20).map((i) =>
        emitAck(customer, 'message.send', { clientMessageId: `c${i}`, text: `c${i}` }),
      ),
      ...range(1, 20).map((i) =>
        emitAck(agent, 'message.send', {
          conversationId: s.conversationId,
          clientMessageId: `a${i}`,
          text: `a${i}`,
        }),
      ),
    ]);
    expect(sends.every((x) => x.ok)).toBe(true);
    expect(new Set(sends.map((x) => x.seq))).toEqual(new Set(range(o + 1, o + 40)));
    expect(seqs(await seen(agent).waitFor(40))).toEqual(range(o + 1, o + 40));
    expect(seqs(await seen(customer).waitFor(40))).toEqual(range(o + 1, o + 40));

    // conversation.assigned from node B reaches an agent socket on node A, and live messages follow it.
    const agent2OnA = await socketFor(aUrl, '/agent', {
      token: await chat.tokens.signAgentToken({ ccid: tenant.ccid, agentId: 'agent-2' }),
    });
    sockets.push(agent2OnA);
    const assigned = once<{ transcript: ChatMessage[] }>(agent2OnA, 'conversation.assigned');
    await chat.setState(s.conversationId, { agentId: 'agent-2' });
    await chat.notifier.notifyAgent(tenant.ccid, 'agent-2', 'conversation.assigned', {
      conversation: (await chat.get(s.conversationId)) as NonNullable<Awaited<ReturnType<typeof chat.get>>>,
      transcript: await chat.transcript(s.conversationId, { audience: 'agent' }),
    });
    expect(seqs((await assigned).transcript)).toEqual(range(1, o + 40));
    await emitAck(customer, 'message.send', { clientMessageId: 'c21', text: 'c21' });
    expect(seqs(await seen(agent2OnA).waitFor(1))).toEqual([o + 41]);
    await chat.setState(s.conversationId, { agentId: 'agent-1' });

    // Node A dies without a word. Meanwhile the agent keeps writing.
    const gone = once(customer, 'disconnect');
    a.child.kill('SIGKILL');
    await a.exited;
    await gone;
    const held = seqs(seen(customer).messages);
    const lastSeq = held[held.length - 1];
    expect(lastSeq).toBe(o + 41);
    for (let i = 21; i <= 25; i++) {
      const r = await emitAck(agent, 'message.send', {
        conversationId: s.conversationId,
        clientMessageId: `a${i}`,
        text: `a${i}`,
      });
      expect(r.ok).toBe(true);
    }

    // The customer comes back through node B with the last seq it holds: nothing lost, nothing twice.
    const back = await socketFor(b.url, '/consumer', { clientToken: s.clientToken, lastSeq });
    sockets.push(back);
    expect(seqs(await seen(back).waitFor(5))).toEqual(range(o + 42, o + 46));
    const again = await emitAck(back, 'message.send', { clientMessageId: 'c22', text: 'back again' });
    expect(again).toMatchObject({ ok: true, seq: o + 47 });
    // A retry of a message acked by the dead node folds onto what that node committed.
    const retry = await emitAck(back, 'message.send', { clientMessageId: 'c20', text: 'c20' });
    expect(retry).toMatchObject({ ok: true, duplicate: true });
    expect(retry.seq).toBe(sends[19].seq);
    // agent-1's socket stayed subscribed throughout (nobody removed it): it has everything once.
    expect(seqs(await seen(agent).waitFor(47))).toEqual(range(o + 1, o + 47));
    const stored = await b.nexus.db.query<{ n: number; max: number }>(
      'SELECT count(*)::int AS n, max(seq)::int AS max FROM messages WHERE conversation_id = $1',
      [s.conversationId],
    );
    expect(stored.rows[0]).toEqual({ n: o + 47, max: o + 47 });
  }, 60_000);
});
