/**
 * The consumer chat protocol with the real socket.io client and the Chat v3 REST flow: ordered
 * acks, folded retries, resume without gap or duplicate, isolation of sessions, bad input, and
 * internal notes that never reach a customer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { collect, emitAck, newSession, once, seen, socketFor, type TestSession } from './helpers.js';

describe.each(engines())('consumer chat on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  beforeAll(async () => {
    t = await startNexus({ engine });
    tenant = await createTenant(t);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const consumer = (s: TestSession, lastSeq?: number) =>
    socketFor(
      t.url,
      '/consumer',
      lastSeq === undefined ? { clientToken: s.clientToken } : { clientToken: s.clientToken, lastSeq },
    );
  /** Rows after the session's base (routing's notices come before), seq relative to it. */
  const stored = async (s: TestSession) =>
    (
      await t.nexus.db.query<{ seq: string; client_message_id: string }>(
        'SELECT seq, client_message_id FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq',
        [s.conversationId, s.base],
      )
    ).rows.map((r) => ({ seq: Number(r.seq) - s.base, cmid: r.client_message_id }));
  /** Seqs base+from .. base+to. */
  const seqsOf = (s: TestSession, from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => s.base + from + i);

  it('acks 20 rapid sends in order with consecutive seqs (1..20 after any routing notice), after they are stored, and echoes them', async () => {
    const s = await newSession(t, tenant);
    const sock = await consumer(s, s.base);
    const live = seen(sock);
    const acks = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        emitAck(sock, 'message.send', { clientMessageId: `m${i}`, text: `hello ${i}` }),
      ),
    );
    expect(acks.map((a) => a.ok)).toEqual(Array(20).fill(true));
    expect(acks.map((a) => a.seq)).toEqual(seqsOf(s, 1, 20));
    expect(new Set(acks.map((a) => a.id)).size).toBe(20);
    expect(await stored(s)).toEqual(Array.from({ length: 20 }, (_, i) => ({ seq: i + 1, cmid: `m${i}` })));
    const echoed = await live.waitFor(20);
    expect(echoed.map((m) => m.seq)).toEqual(seqsOf(s, 1, 20));
    expect(echoed[0]).toMatchObject({
      conversationId: s.conversationId,
      type: 'Text',
      text: 'hello 0',
      visibility: 'all',
      from: { participantId: s.participantId, type: 'Customer', nickname: 'ada' },
    });
    sock.close();
  });

  it('folds a repeated clientMessageId onto the original (same id and seq, stored once), also within one batch', async () => {
    const s = await newSession(t, tenant);
    const sock = await consumer(s);
    const first = await emitAck(sock, 'message.send', { clientMessageId: 'same', text: 'once' });
    const again = await emitAck(sock, 'message.send', { clientMessageId: 'same', text: 'once (retry)' });
    expect(again).toMatchObject({ ok: true, id: first.id, seq: first.seq, duplicate: true });
    // Concurrent retries land in the same group-commit batch.
    const burst = await Promise.all(
      Array.from({ length: 5 }, () => emitAck(sock, 'message.send', { clientMessageId: 'burst', text: 'x' })),
    );
    expect(new Set(burst.map((a) => `${a.id}/${a.seq}`)).size).toBe(1);
    const next = await emitAck(sock, 'message.send', { clientMessageId: 'after', text: 'y' });
    expect(next.seq).toBe(s.base + 3); // no seq was burnt by the folded retries
    expect(await stored(s)).toEqual([
      { seq: 1, cmid: 'same' },
      { seq: 2, cmid: 'burst' },
      { seq: 3, cmid: 'after' },
    ]);
    // The REST path folds onto the same message too.
    const rest = await api(t.url, 'POST', `${s.selfUri}/messages`, {
      headers: { 'x-nexus-client-key': s.clientToken },
      form: 'data[type]=Text&data[text]=once&data[clientMessageId]=same',
    });
    expect(rest.body.data).toMatchObject({ id: first.id, seq: first.seq, duplicate: true });
    sock.close();
  });

  it('resumes after a drop with lastSeq: every later message once, in order, also those sent meanwhile and during the replay', async () => {
    const s = await newSession(t, tenant);
    const a = await consumer(s);
    for (let i = 1; i <= 5; i++)
      await emitAck(a, 'message.send', { clientMessageId: `a${i}`, text: `a${i}` });
    a.close();
    // Sent while the socket is gone (REST, as the widget falls back to it).
    for (let i = 6; i <= 10; i++) {
      const r = await api(t.url, 'POST', `${s.selfUri}/messages`, {
        headers: { 'x-nexus-client-key': s.clientToken },
        form: `data[type]=Text&data[text]=r${i}&data[clientMessageId]=r${i}`,
      });
      expect(r.status).toBe(200);
    }
    // Live messages race the replay: another tab of the same session keeps sending.
    const other = await consumer(s, 1000);
    const sending = Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        emitAck(other, 'message.send', { clientMessageId: `o${i}`, text: `o${i}` }),
      ),
    );
    const b = await consumer(s, s.base + 3);
    const got = seen(b);
    await sending;
    await got.waitFor(22);
    const seqs = got.messages.map((m) => m.seq);
    expect(seqs).toEqual(seqsOf(s, 4, 25));
    // An explicit resume re-delivers from the given point.
    const again = collect(b);
    const ack = await emitAck(b, 'resume', { lastSeq: s.base + 20 });
    expect(ack).toEqual({ ok: true, replayed: 5 });
    await again.waitFor(5);
    expect(again.messages.map((m) => m.seq)).toEqual(seqsOf(s, 21, 25));
    other.close();
    b.close();
  });

  it("refuses another customer's token on REST and forged tokens on the socket, and keeps sessions apart", async () => {
    const s1 = await newSession(t, tenant);
    const s2 = await newSession(t, tenant);
    const sock1 = await consumer(s1);
    await emitAck(sock1, 'message.send', { clientMessageId: 'secret', text: 'only for s1' });
    for (const [method, path, form] of [
      ['GET', `${s1.selfUri}/messages`, undefined],
      ['GET', s1.selfUri, undefined],
      ['POST', `${s1.selfUri}/messages`, 'data[type]=Text&data[text]=intrude'],
      ['POST', `${s1.selfUri}/end`, undefined],
      ['DELETE', s1.selfUri, undefined],
    ] as const) {
      const r = await api(t.url, method, path, { headers: { 'x-nexus-client-key': s2.clientToken }, form });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.status.name).toBe('SESSION_MISMATCH');
    }
    const none = await api(t.url, 'GET', `${s1.selfUri}/messages`);
    expect(none.status).toBe(401);
    expect(none.body.status.name).toBe('INVALID_CLIENT_TOKEN');
    const own1 = await api(t.url, 'GET', `${s1.selfUri}/messages?from=${s1.base + 1}`, {
      headers: { 'x-nexus-client-key': s1.clientToken },
    });
    expect(own1.body.data.messages.map((m: ChatMessage) => m.text)).toEqual(['only for s1']);
    expect(
      await t.nexus.db.query('SELECT 1 FROM chat_sessions WHERE id = $1 AND ended_at IS NULL', [
        s1.sessionId,
      ]),
    ).toHaveProperty('rowCount', 1);

    const [h, p] = s1.clientToken.split('.');
    for (const clientToken of [`${h}.${p}.AAAA`, 'not-a-token', 42, '']) {
      const err = await socketFor(t.url, '/consumer', { clientToken }).catch((e) => e);
      expect(err.data?.name).toBe('INVALID_CLIENT_TOKEN');
    }
    const agentToken = await t.nexus.chat.tokens.signAgentToken({ ccid: tenant.ccid, agentId: 'a1' });
    const asAgent = await socketFor(t.url, '/consumer', { clientToken: agentToken }).catch((e) => e);
    expect(asAgent.data?.name).toBe('INVALID_CLIENT_TOKEN');

    const sock2 = await consumer(s2, s2.base);
    const seen2 = seen(sock2);
    await emitAck(sock1, 'message.send', { clientMessageId: 'secret2', text: 'still only for s1' });
    const own = await emitAck(sock2, 'message.send', { clientMessageId: 'mine', text: 'mine' });
    expect(own.seq).toBe(s2.base + 1);
    await seen2.waitFor(1);
    expect(seen2.messages.map((m) => m.text)).toEqual(['mine']);
    sock1.close();
    sock2.close();
  });

  it("keeps a clientMessageId to its sender: another participant's key is a new message, never theirs", async () => {
    const s = await newSession(t, tenant);
    const chat = t.nexus.chat;
    await chat.setState(s.conversationId, { state: 'assigned', agentId: 'agent-9' });
    const agent = await socketFor(t.url, '/agent', {
      token: await chat.tokens.signAgentToken({ ccid: tenant.ccid, agentId: 'agent-9' }),
    });
    const note = await emitAck(agent, 'message.send', {
      conversationId: s.conversationId,
      clientMessageId: 'secret-note',
      text: 'card ending 4242 declined twice',
      visibility: 'agents',
    });
    expect(note).toMatchObject({ ok: true });
    // The customer guesses the note's key, on REST and on the socket: each is a message of its own.
    const key = { 'x-nexus-client-key': s.clientToken };
    const rest = await api(t.url, 'POST', `${s.selfUri}/messages`, {
      headers: key,
      form: 'data[type]=Text&data[text]=what%20note%3F&data[clientMessageId]=secret-note',
    });
    expect(rest.status).toBe(200);
    expect(rest.body.data.seq).toBe(note.seq + 1);
    expect(JSON.stringify(rest.body)).not.toContain('4242');
    const cust = await consumer(s, note.seq + 1);
    const viaSocket = await emitAck(cust, 'message.send', { clientMessageId: 'secret-note', text: 'again' });
    // The customer's own retry of its key folds onto its own message, not the note.
    expect(viaSocket).toMatchObject({ ok: true, id: rest.body.data.id, seq: note.seq + 1 });
    expect(JSON.stringify(viaSocket)).not.toContain('4242');
    // The agent's retry still folds onto the note, and the customer's message did not swallow it.
    const retry = await emitAck(agent, 'message.send', {
      conversationId: s.conversationId,
      clientMessageId: 'secret-note',
      text: 'card ending 4242 declined twice',
      visibility: 'agents',
    });
    expect(retry).toMatchObject({ ok: true, id: note.id, seq: note.seq });
    const rows = (
      await t.nexus.db.query<{ from_type: string; visibility: string }>(
        `SELECT from_type, visibility FROM messages WHERE conversation_id = $1 AND client_message_id = 'secret-note'
          ORDER BY seq`,
        [s.conversationId],
      )
    ).rows;
    expect(rows).toEqual([
      { from_type: 'Agent', visibility: 'agents' },
      { from_type: 'Customer', visibility: 'all' },
    ]);
    agent.disconnect();
    cust.disconnect();
  });

  it('answers bad payloads with error acks and stays healthy', async () => {
    const s = await newSession(t, tenant);
    const sock = await consumer(s);
    const bad: Array<[string, unknown, string]> = [
      ['message.send', { text: 'no id' }, 'VALIDATION_FAILED'],
      ['message.send', { clientMessageId: 7, text: 'x' }, 'VALIDATION_FAILED'],
      ['message.send', { clientMessageId: 'x', text: 42 }, 'VALIDATION_FAILED'],
      ['message.send', { clientMessageId: 'x', text: '   ' }, 'VALIDATION_FAILED'],
      ['message.send', { clientMessageId: 'x', text: 'y'.repeat(4097) }, 'VALIDATION_FAILED'],
      [
        'message.send',
        { clientMessageId: 'x', type: 'Rich', content: { blob: 'z'.repeat(17_000) } },
        'VALIDATION_FAILED',
      ],
      ['message.send', { clientMessageId: 'x', text: 'y', visibility: 'agents' }, 'VALIDATION_FAILED'],
      ['message.send', 'a string', 'VALIDATION_FAILED'],
      ['message.send', null, 'VALIDATION_FAILED'],
      ['message.send', [1, 2], 'VALIDATION_FAILED'],
      ['resume', { lastSeq: -1 }, 'VALIDATION_FAILED'],
      ['resume', {}, 'VALIDATION_FAILED'],
      ['no.such.event', { a: 1 }, 'UNKNOWN_EVENT'],
      ['__proto__', {}, 'UNKNOWN_EVENT'],
    ];
    for (const [event, payload, name] of bad) {
      const a = await emitAck(sock, event, payload);
      expect(a.ok, `${event} ${JSON.stringify(payload)?.slice(0, 60)}`).toBe(false);
      expect(a.error.name).toBe(name);
      expect(a.error).toHaveProperty('code');
      expect(a.error).toHaveProperty('retryable');
    }
    const noBody = await emitAck(sock, 'message.send');
    expect(noBody.error.name).toBe('VALIDATION_FAILED');
    // Events without an ack, typing garbage: ignored, never a crash.
    sock.emit('message.send', { clientMessageId: 'no-ack', text: 'fine' });
    sock.emit('typing', { typing: 'yes' });
    sock.emit('typing');
    sock.emit('unknown-without-ack', 1, 2, 3);
    // A flood: beyond the socket's burst the answers are MESSAGE_RATE_LIMITED, nothing is stored.
    const flood = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        emitAck(sock, 'message.send', { clientMessageId: `f${i}`, text: 'f' }),
      ),
    );
    const limited = flood.filter((a) => !a.ok);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.every((a) => a.error.name === 'MESSAGE_RATE_LIMITED' && a.error.retryable)).toBe(true);
    const count = await t.nexus.db.query(
      'SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND seq > $2',
      [s.conversationId, s.base],
    );
    expect(count.rows[0].n).toBe(1 + flood.filter((a) => a.ok).length);
    // An oversized frame closes only that connection.
    const big = await consumer(s);
    const closed = once(big, 'disconnect');
    big.emit('message.send', { clientMessageId: 'big', text: 'b'.repeat(200_000) });
    await closed;
    expect((await api(t.url, 'GET', '/health/detail')).body.state).toBe('green');
    const fresh = await newSession(t, tenant);
    const ok = await consumer(fresh);
    expect(await emitAck(ok, 'message.send', { clientMessageId: 'ok', text: 'still here' })).toMatchObject({
      ok: true,
      seq: fresh.base + 1,
    });
    ok.close();
    sock.close();
  });

  it('never shows internal notes to the customer (socket, replay, REST transcript)', async () => {
    const s = await newSession(t, tenant);
    const chat = t.nexus.chat;
    await chat.setState(s.conversationId, { state: 'assigned', agentId: 'agent-7' });
    const agentToken = await chat.tokens.signAgentToken({
      ccid: tenant.ccid,
      agentId: 'agent-7',
      name: 'Grace',
    });
    const agent = await socketFor(t.url, '/agent', { token: agentToken });
    const join = await emitAck(agent, 'conversation.join', {
      conversationId: s.conversationId,
      lastSeq: s.base,
    });
    expect(join).toMatchObject({
      ok: true,
      replayed: 0,
      conversation: { id: s.conversationId, agentId: 'agent-7' },
    });
    const cust = await consumer(s, s.base);
    const custSeen = seen(cust);
    const agentSeen = seen(agent);
    await emitAck(cust, 'message.send', { clientMessageId: 'c1', text: 'hi' });
    const note = await emitAck(agent, 'message.send', {
      conversationId: s.conversationId,
      clientMessageId: 'n1',
      text: 'VIP, be nice',
      visibility: 'agents',
    });
    expect(note).toMatchObject({ ok: true, seq: s.base + 2 });
    await emitAck(agent, 'message.send', {
      conversationId: s.conversationId,
      clientMessageId: 'r1',
      text: 'hello!',
    });
    await agentSeen.waitFor(3);
    await custSeen.waitFor(2);
    expect(agentSeen.messages.map((m) => [m.seq - s.base, m.visibility])).toEqual([
      [1, 'all'],
      [2, 'agents'],
      [3, 'all'],
    ]);
    expect(custSeen.messages.map((m) => m.seq - s.base)).toEqual([1, 3]);
    expect(custSeen.messages[1].from).toEqual({ participantId: 'agent-7', type: 'Agent', nickname: 'Grace' });
    // A replay from the start skips the note too.
    const replay = await consumer(s, 0);
    const replayed = seen(replay);
    // Everything but the note: the base notices and two messages, then the same again on resume.
    await replayed.waitFor(s.base + 2);
    await emitAck(replay, 'resume', { lastSeq: 0 });
    await replayed.waitFor(2 * (s.base + 2));
    expect(replayed.messages.every((m: ChatMessage) => m.visibility === 'all')).toBe(true);
    expect(replayed.messages.map((m) => m.seq)).not.toContain(s.base + 2);
    const rest = await api(t.url, 'GET', `${s.selfUri}/messages?from=${s.base + 1}`, {
      headers: { 'x-nexus-client-key': s.clientToken },
    });
    expect(rest.body.data.messages.map((m: ChatMessage) => m.seq - s.base)).toEqual([1, 3]);
    expect(rest.body.data.nextPosition).toBe(s.base + 4);
    expect(JSON.stringify(rest.body)).not.toContain('VIP');
    // Another agent (not assigned) can neither join nor write.
    const otherToken = await chat.tokens.signAgentToken({ ccid: tenant.ccid, agentId: 'agent-8' });
    const other = await socketFor(t.url, '/agent', { token: otherToken });
    // (NOT_ASSIGNED_AGENT when routing decides, NOT_CONVERSATION_AGENT without it: both 403.)
    const refused = await emitAck(other, 'conversation.join', { conversationId: s.conversationId });
    expect(['NOT_CONVERSATION_AGENT', 'NOT_ASSIGNED_AGENT']).toContain(refused.error.name);
    expect(
      (
        await emitAck(other, 'message.send', {
          conversationId: s.conversationId,
          clientMessageId: 'x',
          text: 'x',
        })
      ).error.name,
    ).toBe('NOT_CONVERSATION_AGENT');
    // An agent of another tenant with the same agent id learns nothing about the conversation.
    const stranger = await createTenant(t);
    const foreign = await socketFor(t.url, '/agent', {
      token: await chat.tokens.signAgentToken({ ccid: stranger.ccid, agentId: 'agent-7' }),
    });
    const foreignJoin = await emitAck(foreign, 'conversation.join', { conversationId: s.conversationId });
    expect(['CONVERSATION_NOT_FOUND', 'INTERACTION_NOT_FOUND']).toContain(foreignJoin.error.name);
    const foreignSend = await emitAck(foreign, 'message.send', {
      conversationId: s.conversationId,
      clientMessageId: 'f',
      text: 'f',
    });
    expect(foreignSend.error.name).toBe('CONVERSATION_NOT_FOUND');
    foreign.emit('typing', { conversationId: s.conversationId, typing: true });
    foreign.close();
    // Routing's events answer an error until routing registers its actions.
    if (!chat.agentActions) {
      expect((await emitAck(other, 'agent.state', { state: 'ready' })).error.name).toBe(
        'ROUTING_UNAVAILABLE',
      );
    }
    // Typing crosses both ways, volatile: rate-limited per socket and never stored.
    const agentTyping: unknown[] = [];
    agent.on('typing', (p) => agentTyping.push(p));
    const custTyping = once<{ from: { type: string }; typing: boolean }>(cust, 'typing');
    agent.emit('typing', { conversationId: s.conversationId, typing: true });
    expect(await custTyping).toMatchObject({
      from: { type: 'Agent', participantId: 'agent-7' },
      typing: true,
    });
    const before = (await chat.get(s.conversationId))?.lastSeq;
    const firstTyping = once(agent, 'typing');
    for (let i = 0; i < 30; i++) cust.emit('typing', { typing: i % 2 === 0 });
    await firstTyping;
    // The customer's next message is ordered after its typing events on the same connection.
    await emitAck(cust, 'message.send', { clientMessageId: 'after-typing', text: 'done typing' });
    await agentSeen.waitFor(4);
    expect(agentTyping.length).toBeGreaterThan(0);
    expect(agentTyping.length).toBeLessThanOrEqual(10);
    expect(agentTyping[0]).toMatchObject({ conversationId: s.conversationId, from: { type: 'Customer' } });
    expect((await chat.get(s.conversationId))?.lastSeq).toBe((before ?? 0) + 1);
    for (const sock of [agent, cust, replay, other]) sock.close();
  });

  it('runs the Chat v3 REST flow with form-encoded bodies: create, send, typing, read with from, end', async () => {
    const created = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: { 'x-api-key': tenant.apiKey },
      form:
        'data[firstName]=Alan&data[lastName]=Turing&data[email]=alan%40example.com&data[endpoint]=GlobalChatSwitchboard' +
        '&data[stream]=live&data[ChatProfile]=gold&data[userData][orderId]=A-17',
    });
    expect(created.status).toBe(200);
    const s = created.body.data;
    expect(s.selfUri).toBe(`/nexus/v3/chat/sessions/${s.sessionId}`);
    const claims = JSON.parse(Buffer.from(s.clientToken.split('.')[1], 'base64url').toString());
    const header = JSON.parse(Buffer.from(s.clientToken.split('.')[0], 'base64url').toString());
    expect(header.alg).toBe('HS256');
    expect(claims).toMatchObject({
      sessionId: s.sessionId,
      participantId: s.participantId,
      transportId: s.transportId,
    });
    const conv = await t.nexus.chat.get(s.conversationId);
    expect(conv).toMatchObject({
      ccid: tenant.ccid,
      state: 'queued',
      endpoint: 'GlobalChatSwitchboard',
      customer: { firstName: 'Alan', lastName: 'Turing', email: 'alan@example.com', nickname: 'Alan Turing' },
      userData: { ChatProfile: 'gold', orderId: 'A-17', stream: 'live' },
    });
    const key = { 'x-nexus-client-key': s.clientToken };
    const self = await api(t.url, 'GET', s.selfUri, { headers: key });
    expect(self.body.data).toMatchObject({
      id: s.sessionId,
      conversationId: s.conversationId,
      chatEnded: false,
    });
    const base: number = self.body.data.lastSeq;
    const sock = await socketFor(t.url, '/consumer', { clientToken: s.clientToken, lastSeq: base });
    const live = seen(sock);
    for (const text of ['one', 'two', 'three']) {
      const r = await api(t.url, 'POST', `${s.selfUri}/messages`, {
        headers: key,
        form: `data[type]=Text&data[text]=${text}`,
      });
      expect(r.status).toBe(200);
    }
    const typing = await api(t.url, 'POST', `${s.selfUri}/messages`, {
      headers: key,
      form: 'data[type]=TypingStarted',
    });
    expect(typing.body.data.type).toBe('TypingStarted');
    const json = await api(t.url, 'POST', `${s.selfUri}/messages`, {
      headers: key,
      json: { data: { type: 'Text', text: 'four' } },
    });
    expect(json.body.data.seq).toBe(base + 4);
    expect((await live.waitFor(4)).map((m) => m.text)).toEqual(['one', 'two', 'three', 'four']);
    const read = await api(t.url, 'GET', `${s.selfUri}/messages?from=${base + 3}`, { headers: key });
    expect(read.body.data.messages.map((m: ChatMessage) => m.text)).toEqual(['three', 'four']);
    expect(read.body.data).toMatchObject({ nextPosition: base + 5, chatEnded: false });
    for (const [form, field] of [
      ['data[type]=Text', 'data.text'],
      ['data[type]=Bogus&data[text]=x', 'data.type'],
      [`data[type]=Text&data[text]=${'x'.repeat(5000)}`, 'data.text'],
    ]) {
      const r = await api(t.url, 'POST', `${s.selfUri}/messages`, { headers: key, form });
      expect(r.status).toBe(400);
      expect(r.body.status.details.field).toBe(field);
    }
    expect((await api(t.url, 'GET', `${s.selfUri}/messages?from=abc`, { headers: key })).status).toBe(400);
    const badCreate = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
      headers: { 'x-api-key': tenant.apiKey },
      form: 'data[email]=not-an-email',
    });
    expect(badCreate.status).toBe(400);
    expect((await api(t.url, 'POST', '/nexus/v3/chat/sessions', { form: 'data[nickname]=x' })).status).toBe(
      401,
    );

    const ended = once<{ conversationId: string }>(sock, 'session.ended');
    const end = await api(t.url, 'DELETE', s.selfUri, { headers: key });
    expect(end.body.data.chatEnded).toBe(true);
    expect((await ended).conversationId).toBe(s.conversationId);
    const after = await api(t.url, 'POST', `${s.selfUri}/messages`, {
      headers: key,
      form: 'data[type]=Text&data[text]=late',
    });
    expect(after.status).toBe(409);
    expect(after.body.status.name).toBe('SESSION_ENDED');
    const final = await api(t.url, 'GET', `${s.selfUri}/messages`, { headers: key });
    expect(final.body.data.chatEnded).toBe(true);
    expect(final.body.data.messages.at(-1).type).toBe('ParticipantLeft');
    const reconnect = await socketFor(t.url, '/consumer', { clientToken: s.clientToken }).catch((e) => e);
    expect(reconnect.data?.name).toBe('SESSION_ENDED');
    // A path that names no session this token holds is refused before anything is read.
    expect(
      (await api(t.url, 'GET', `/nexus/v3/chat/sessions/${randomUUID()}x/messages`, { headers: key })).status,
    ).toBe(403);
  });

  it('tells its sockets to reconnect elsewhere when the node shuts down', async () => {
    const other = await startNexus({ engine });
    try {
      const s = await newSession(other, await createTenant(other));
      const sock = await socketFor(other.url, '/consumer', { clientToken: s.clientToken });
      const told = once<{ reason: string }>(sock, 'reconnect');
      const gone = once(sock, 'disconnect');
      await other.close();
      expect((await told).reason).toBe('shutting down');
      await gone;
    } finally {
      await other.cleanup();
    }
  });
});
