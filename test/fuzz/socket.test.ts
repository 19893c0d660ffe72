/**
 * Bad input at volume on every socket event of `/consumer` and `/agent`, and on the handshake:
 * random event names, payloads of any shape (and near-valid shapes with wrong values), extra
 * arguments, with and without an ack. Properties: every ack comes, is `{ ok: true, … }` or
 * `{ ok: false, error }` with a catalog code and never INTERNAL; a refused event changes no row;
 * a refused handshake says why; the gateway stays up and the conversation still works after.
 *
 * `session.end` and `conversation.done` end the conversation whatever else they carry (that is their
 * contract), so they are thrown only payloads that cannot name this conversation.
 */
import fc from 'fast-check';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitAck, newSession, socketFor, type TestSession } from '../chat/helpers.js';
import { agentToken, putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import { changed, type Snapshot, snapshot } from './state.js';

const RUNS = 250;
const CONSUMER_EVENTS = ['message.send', 'typing', 'resume'];
const AGENT_EVENTS = [
  'agent.state',
  'message.send',
  'typing',
  'conversation.join',
  'conversation.transfer',
  'conversation.list',
  'suggestion.feedback',
];
const TERMINAL = { consumer: 'session.end', agent: 'conversation.done' } as const;

describe.each(engines())('every socket event under random and malformed payloads on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let other: TestTenant;
  let session: TestSession;
  let otherSession: TestSession;
  let token: string;
  let console_: TestAgent;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startNexus({
      engine,
      // The socket's buckets would refuse most of the run: validation is what is fuzzed here.
      nexus: { chat: { socketMessagesPerSecond: 100_000, socketMessageBurst: 100_000 } },
    });
    tenant = await createTenant(t);
    other = await createTenant(t);
    await putEndpoint(t, tenant, 'web', { queue: 'support' });
    await putAgent(t, tenant, 'agent-1', { name: 'Agent', queues: ['support'], capacity: 2 });
    token = await agentToken(t, tenant, 'agent-1');
    console_ = await TestAgent.connect(t, tenant, 'agent-1', token);
    await console_.ready();
    session = await newSession(t, tenant);
    await console_.nth(1);
    otherSession = await newSession(t, other);
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    console_?.close();
    await t?.cleanup();
  });

  const realIds = () => [
    session.conversationId,
    otherSession.conversationId,
    session.sessionId,
    'agent-1',
    'support',
    tenant.ccid,
  ];
  const value = () =>
    fc.oneof(
      fc.anything({ maxDepth: 2 }),
      fc.constantFrom(...realIds()),
      fc.string({ maxLength: 50 }),
      fc.integer(),
      fc.double(),
      fc.constantFrom(
        null,
        true,
        -1,
        0,
        Number.POSITIVE_INFINITY,
        'Text',
        'Rich',
        'File',
        'agents',
        'ready',
        'used',
        '\u0000',
      ),
      fc.constant('x'.repeat(5000)),
    );
  const shaped = () =>
    fc.record(
      {
        conversationId: value(),
        clientMessageId: fc.oneof(value(), fc.string({ minLength: 1, maxLength: 20 })),
        text: value(),
        type: value(),
        content: value(),
        visibility: value(),
        typing: value(),
        lastSeq: value(),
        state: value(),
        queue: value(),
        agentId: value(),
        states: value(),
        suggestionId: value(),
        action: value(),
      },
      { requiredKeys: [] },
    );
  /** Payloads close to what each event expects, with one value or another off. */
  const nearValid = (ns: 'consumer' | 'agent', event: string) => {
    const cmid = fc.oneof(fc.stringMatching(/^[\x21-\x7e]{1,40}$/), value());
    const txt = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      // Characters PostgreSQL cannot store.
      fc
        .string({ maxLength: 20 })
        .map((x) => `${x}\u0000${x}`),
      value(),
    );
    const conv = fc.oneof(
      fc.constantFrom(session.conversationId, otherSession.conversationId),
      fc.uuid(),
      value(),
    );
    const seq = fc.oneof(fc.nat(100), fc.integer(), value());
    const opt = { requiredKeys: [] as never[] };
    switch (event) {
      case 'message.send':
        return ns === 'consumer'
          ? fc.record(
              {
                clientMessageId: cmid,
                text: txt,
                type: fc.oneof(fc.constantFrom('Text', 'File', 'Rich'), value()),
                content: fc.oneof(fc.object({ maxDepth: 2 }), value()),
              },
              { requiredKeys: ['clientMessageId', 'text'] },
            )
          : fc.record(
              {
                conversationId: conv,
                clientMessageId: cmid,
                text: txt,
                visibility: fc.oneof(fc.constantFrom('all', 'agents'), value()),
                content: fc.oneof(fc.object({ maxDepth: 2 }), value()),
              },
              { requiredKeys: ['conversationId', 'clientMessageId', 'text'] },
            );
      case 'resume':
        return fc.record({ lastSeq: seq });
      case 'agent.state':
        return fc.record({ state: fc.oneof(fc.constantFrom('ready', 'notready'), value()) });
      case 'conversation.join':
        return fc.record({ conversationId: conv, lastSeq: seq }, opt);
      case 'conversation.transfer':
        return fc.record(
          { conversationId: conv, queue: fc.oneof(fc.constant('elsewhere'), value()), agentId: value() },
          opt,
        );
      case 'conversation.list':
        return fc.record(
          { states: fc.oneof(fc.array(fc.constantFrom('bot', 'queued', 'assigned', 'done', 'x')), value()) },
          opt,
        );
      case 'suggestion.feedback':
        return fc.record(
          {
            suggestionId: fc.oneof(fc.uuid(), value()),
            action: fc.oneof(fc.constantFrom('used', 'edited', 'dismissed'), value()),
            text: txt,
          },
          opt,
        );
      default:
        return shaped();
    }
  };
  const payload = () => fc.oneof(fc.anything({ maxDepth: 3 }), shaped(), fc.constant(undefined));

  /**
   * With `withAck`, every event asks for an ack and the tables (rows and content) are compared around each
   * refused one. Without, events are fire-and-forget (nothing to attribute a row to): the checks
   * are that the connection and the process survive them.
   */
  async function fuzz(
    ns: 'consumer' | 'agent',
    connect: () => Promise<Socket>,
    events: string[],
    withAck: boolean,
  ): Promise<{ acks: number; ok: number }> {
    let socket = await connect();
    sockets.push(socket);
    let acks = 0;
    let ok = 0;
    await fc.assert(
      fc.asyncProperty(
        fc
          .oneof(
            { weight: 6, arbitrary: fc.constantFrom(...events) },
            { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
            { weight: 1, arbitrary: fc.constant(TERMINAL[ns]) },
          )
          .chain((event) =>
            fc.tuple(
              fc.constant(event),
              fc.oneof({ weight: 2, arbitrary: nearValid(ns, event) }, { weight: 1, arbitrary: payload() }),
            ),
          ),
        fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 2 }),
        async ([event, chosen], extra) => {
          let p: unknown = chosen;
          if (event === TERMINAL[ns]) {
            // Never this conversation: a random uuid or a malformed body.
            p = ns === 'agent' ? { conversationId: otherSession.conversationId } : undefined;
            if (ns === 'consumer') return; // session.end carries nothing to fuzz; see the last check
          }
          // Reserved names socket.io refuses to emit are the client library's business.
          if (
            [
              'connect',
              'connect_error',
              'disconnect',
              'disconnecting',
              'newListener',
              'removeListener',
            ].includes(event)
          )
            return;
          if (!socket.connected) {
            socket = await connect();
            sockets.push(socket);
          }
          const what = `${ns} ${event} ${JSON.stringify(p)?.slice(0, 300)} +${extra.length} args`;
          // typing is volatile and has no ack by contract (docs/chat.md): always fire-and-forget.
          if (!withAck || event === 'typing') {
            socket.emit(event, ...(p === undefined ? [] : [p]), ...extra);
            return;
          }
          const before: Snapshot = await snapshot(t.nexus.db);
          let ack: any;
          try {
            ack = await socket.timeout(10_000).emitWithAck(event, ...(p === undefined ? [] : [p]), ...extra);
          } catch (err) {
            // No ack only when the connection itself went (an oversized frame closes it).
            expect(socket.connected, `no ack for ${what}: ${err}`).toBe(false);
            return;
          }
          acks++;
          expect(typeof ack === 'object' && ack !== null && typeof ack.ok === 'boolean', what).toBe(true);
          const after = await snapshot(t.nexus.db);
          if (ack.ok) ok++;
          else {
            expect(typeof ack.error?.code, what).toBe('number');
            // Neither INTERNAL nor UNAVAILABLE: the database and the state are healthy throughout.
            expect([9000, 9001], `${what} → ${JSON.stringify(ack)}`).not.toContain(ack.error.code);
            expect(changed(before, after), `${what} → ${JSON.stringify(ack)}`).toEqual([]);
          }
        },
      ),
      { numRuns: withAck ? RUNS : RUNS / 2, endOnFailure: true },
    );
    return { acks, ok };
  }

  it('answers every event with a well-formed ack and changes nothing it refuses', async () => {
    const consumerSocket = () =>
      socketFor(t.url, '/consumer', { clientToken: session.clientToken, lastSeq: session.base });
    const agentSocket = () => socketFor(t.url, '/agent', { token });
    const consumer = await fuzz('consumer', consumerSocket, CONSUMER_EVENTS, true);
    const agent = await fuzz('agent', agentSocket, AGENT_EVENTS, true);
    expect(consumer.acks).toBeGreaterThan(RUNS / 3);
    expect(agent.acks).toBeGreaterThan(RUNS / 3);
    await fuzz('consumer', consumerSocket, CONSUMER_EVENTS, false);
    await fuzz('agent', agentSocket, AGENT_EVENTS, false);

    // The gateway is up and the conversation still works both ways.
    expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
    const c = await socketFor(t.url, '/consumer', { clientToken: session.clientToken, lastSeq: 1_000_000 });
    const a = await socketFor(t.url, '/agent', { token });
    sockets.push(c, a);
    await emitAck(a, 'agent.state', { state: 'ready' });
    expect(
      await emitAck(c, 'message.send', { clientMessageId: 'after-fuzz', text: 'still here' }),
    ).toMatchObject({
      ok: true,
    });
    const joined = await emitAck(a, 'conversation.join', { conversationId: session.conversationId });
    if (joined.ok) {
      expect(
        await emitAck(a, 'message.send', {
          conversationId: session.conversationId,
          clientMessageId: 'agent-after-fuzz',
          text: 'still here too',
        }),
      ).toMatchObject({ ok: true });
    }
    // session.end ignores whatever it is given, is acked, and ends the session.
    const ended = new Promise((resolve) => c.once('session.ended', resolve));
    const gone = new Promise((resolve) => c.once('disconnect', resolve));
    expect(await emitAck(c, 'session.end', { junk: [1, { deep: '\u0000' }] })).toMatchObject({ ok: true });
    expect(await ended).toMatchObject({ conversationId: session.conversationId });
    await gone;
  }, 300_000);

  it('refuses a bad handshake with a reason, whatever the auth holds', async () => {
    // The client library sends an object (anything else is a protocol error the server answers by
    // closing the transport, which is not a handshake refusal to check here).
    const auth = fc.oneof(
      fc.object({ maxDepth: 2 }),
      fc.record(
        {
          clientToken: fc.oneof(
            fc.anything({ maxDepth: 1 }),
            fc.constant(otherSession.clientToken),
            fc.string(),
          ),
          token: fc.oneof(fc.anything({ maxDepth: 1 }), fc.string()),
          lastSeq: fc.oneof(fc.anything({ maxDepth: 1 }), fc.integer()),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/consumer', '/agent'), auth, async (ns, a) => {
        const r = await socketFor(t.url, ns as '/consumer', a as Record<string, unknown>).then(
          (s) => {
            s.close();
            return { connected: true as const };
          },
          (err: { data?: { code?: unknown } }) => ({ connected: false as const, data: err.data }),
        );
        if (r.connected) {
          // Only the other tenant's real client token may connect (to its own conversation).
          expect(ns).toBe('/consumer');
          expect((a as { clientToken?: unknown }).clientToken).toBe(otherSession.clientToken);
        } else {
          expect(typeof r.data?.code, JSON.stringify(a)?.slice(0, 200)).toBe('number');
          expect(r.data?.code).not.toBe(9000);
        }
      }),
      { numRuns: 60 },
    );
    expect((await fetch(`${t.url}/health/live`)).status).toBe(200);
  }, 120_000);
});
