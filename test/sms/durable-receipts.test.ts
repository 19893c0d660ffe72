/**
 * No lost delivery state, on both engines: an SMS's delivery-state change commits together with
 * what hangs on it (its `delivery.receipt` bus event's plugin deliveries, the conversation's
 * `undelivered` mark), whether it comes from a provider's receipt or from the outbox's outcome of the
 * send. Faults are real database errors, raised by a trigger at the statement right after the state
 * change; the gateway then answers the provider an error (the provider retries) or keeps the outbox
 * row pending (the outbox retries), and in the end every consequence happens exactly once and the
 * SMS is sent exactly once. A node stopped between the send and the recording of its outcome leaves
 * the outcome to its successor, which records it without sending again.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { putAgent, putEndpoint, TestAgent } from '../chat/routing-helpers.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';
import type { BusEvent } from '../../src/plugins/types.js';
import { phone, type ReceiptState, type SmsHarness, twilioHarness } from './providers.js';
import { eventually } from './wait.js';

const RECEIPTS_PLUGIN = join(import.meta.dirname, '../plugins/fixtures/receipts-plugin.mjs');

/** What the receipts plugin was delivered, per tenant. */
const delivered: Array<{ ccid: string; event: BusEvent }> = [];

interface Fault {
  /** Whether the trigger raised. */
  fired(): Promise<boolean>;
  disarm(): Promise<void>;
}

const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;

/**
 * A real database error: a trigger that raises on the rows `when` selects, the first time only
 * (`once`, counted by a sequence, which a rollback does not undo) or until disarmed; or (`stall`)
 * holds the first such statement's transaction open for 2 s.
 */
async function armFault(
  t: TestNexus,
  table: string,
  op: 'INSERT' | 'UPDATE',
  when: string,
  mode: 'once' | 'always' | 'stall' = 'once',
): Promise<Fault> {
  const db = t.nexus.db;
  const name = `fault_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await db.query(`CREATE OR REPLACE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE n bigint;
    BEGIN
      n := nextval(TG_ARGV[0]);
      IF TG_ARGV[1] = 'stall' THEN
        IF n = 1 THEN PERFORM pg_sleep(2); END IF;
      ELSIF TG_ARGV[1] = 'always' OR n = 1 THEN
        RAISE EXCEPTION 'injected fault %', TG_ARGV[0];
      END IF;
      RETURN NEW;
    END $$`);
  await db.query(`CREATE SEQUENCE ${name}`);
  await db.query(
    `CREATE TRIGGER ${name} BEFORE ${op} ON ${table} FOR EACH ROW WHEN (${when})
     EXECUTE FUNCTION test_fault(${lit(name)}, ${lit(mode)})`,
  );
  let armed = true;
  return {
    async fired() {
      return (await db.query(`SELECT is_called FROM ${name}`)).rows[0].is_called;
    },
    async disarm() {
      if (armed) await db.query(`DROP TRIGGER IF EXISTS ${name} ON ${table}`);
      armed = false;
    },
  };
}

/** The provider's side of a webhook: it sends again until it gets a 200 (as they all do). */
async function untilAccepted(send: () => Promise<{ status: number }>, tries = 5): Promise<number[]> {
  const statuses: number[] = [];
  while (statuses.length < tries) {
    const r = await send();
    statuses.push(r.status);
    if (r.status === 200) break;
  }
  return statuses;
}

describe.each(engines())('SMS delivery states survive faults (%s)', (engine) => {
  let t: TestNexus;
  let h: SmsHarness;
  const agents: TestAgent[] = [];
  const faults: Fault[] = [];

  beforeAll(async () => {
    (globalThis as any).__subscribedCalls = (_name: string, ccid: string, event: BusEvent) =>
      void delivered.push({ ccid, event });
    t = await startNexus({
      engine,
      onDisk: true,
      nexus: { plugins: { modules: RECEIPTS_PLUGIN }, routing: { sweepMs: 300 } },
    });
    h = twilioHarness();
    await h.start();
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) a.close();
    for (const f of faults.splice(0)) await f.disarm();
    h.server.recover();
  });
  afterAll(async () => {
    await t?.cleanup();
    await h?.close();
  });

  /** A fault disarmed after the test. */
  const fault = async (
    table: string,
    op: 'INSERT' | 'UPDATE',
    when: string,
    mode?: 'once' | 'always' | 'stall',
  ) => {
    const f = await armFault(t, table, op, when, mode);
    faults.push(f);
    return f;
  };

  /** The receipt states the plugin was delivered for a tenant's SMS. */
  const receipts = (tenant: TestTenant, messageId: string) =>
    delivered
      .filter((d) => d.ccid === tenant.ccid && d.event.type === 'delivery.receipt')
      .map((d) => d.event.data as { messageId?: string; state: string })
      .filter((d) => d.messageId === messageId)
      .map((d) => d.state);

  const smsRow = async (tenant: TestTenant, messageId: string) =>
    (
      await t.nexus.db.query(
        'SELECT state, provider_message_id FROM sms_outbound WHERE ccid = $1 AND message_id = $2',
        [tenant.ccid, messageId],
      )
    ).rows[0];

  const conversationState = async (id: string) =>
    (await t.nexus.db.query('SELECT state FROM conversations WHERE id = $1', [id])).rows[0].state;

  const outboxRows = async (tenant: TestTenant, kind: string) =>
    (
      await t.nexus.db.query(
        'SELECT state, attempts, delivered_at, last_error FROM outbox WHERE ccid = $1 AND kind = $2 ORDER BY id',
        [tenant.ccid, kind],
      )
    ).rows;

  const nothingPending = (tenant: TestTenant) =>
    eventually(async () => expect(await t.nexus.plugins.outbox.list(tenant.ccid, 'pending')).toEqual([]));

  /** A tenant with the receipts plugin, a Twilio sender id, an agent, and a customer's SMS conversation. */
  async function smsConversation(maxAttempts?: number) {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'sms', { queue: 'sms' });
    const channelId = phone();
    await h.provision(t, tenant, channelId, { maxAttempts });
    const plugin = await api(
      t.url,
      'PUT',
      `/nexus/v3/provisioning/services/${tenant.ccid}/Plugin-receipts-only`,
      {
        headers: { 'x-api-key': tenant.apiKey },
        json: { data: {}, secret: {} },
      },
    );
    expect(plugin.status).toBeLessThan(300);
    await putAgent(t, tenant, 'ann', { name: 'Ann', queues: ['sms'], capacity: 3 });
    const agent = await TestAgent.connect(t, tenant, 'ann');
    agents.push(agent);
    const updates: Array<{ messageId: string; delivery: { state: string } }> = [];
    agent.socket.on('message.updated', (u) => updates.push(u));
    await agent.ready();
    const customer = phone();
    const r = await h.inbound(t, tenant, channelId, { id: `mo-${randomUUID()}`, from: customer, text: 'hi' });
    expect(r.status).toBe(200);
    const assigned = await agent.until(
      () => agent.assigned.find((x) => x.conversation.channel === 'sms'),
      'the SMS conversation',
    );
    return { tenant, channelId, customer, agent, updates, conversationId: assigned.conversation.id };
  }

  type Conv = Awaited<ReturnType<typeof smsConversation>>;

  /** The agent replies; resolves with the message and what the provider accepted. */
  async function reply(c: Conv, text: string) {
    const before = h.accepted().length;
    const ack = await c.agent.ack('message.send', {
      conversationId: c.conversationId,
      clientMessageId: randomUUID(),
      text,
    });
    expect(ack.ok).toBe(true);
    const [rec] = (await h.server.until((r) => h.accepted().includes(r), before + 1)).slice(-1);
    return { messageId: ack.id as string, providerId: h.read(rec).providerId };
  }

  const sendsOf = (text: string) => h.accepted().filter((r) => h.read(r).text === text).length;

  /** A reply the provider took, its `sent` recorded and told: the starting point of the receipt cases. */
  async function sentReply(c: Conv, text: string) {
    const m = await reply(c, text);
    await eventually(async () => expect((await smsRow(c.tenant, m.messageId))?.state).toBe('sent'));
    await eventually(() => expect(receipts(c.tenant, m.messageId)).toEqual(['sent']));
    await nothingPending(c.tenant);
    expect(receipts(c.tenant, m.messageId)).toEqual(['sent']);
    return m;
  }

  async function receipt(c: Conv, providerId: string, state: ReceiptState) {
    return untilAccepted(() => h.receipt(t, c.tenant, c.channelId, providerId, state));
  }

  it('a database error right after a receipt changes the state: the retried receipt is told to plugins once', async () => {
    const c = await smsConversation();
    const m = await sentReply(c, 'Your parcel left today.');
    // The plugin's delivery of the `delivered` receipt cannot be written.
    const f = await fault(
      'outbox',
      'INSERT',
      `NEW.ccid = ${lit(c.tenant.ccid)} AND NEW.target = 'Plugin-receipts-only' AND NEW.payload->'data'->>'state' = 'delivered'`,
    );
    const statuses = await receipt(c, m.providerId, 'delivered');
    expect(await f.fired()).toBe(true);
    await eventually(() => expect(receipts(c.tenant, m.messageId)).toEqual(['sent', 'delivered']), 10_000);
    // The error reached the provider, whose retry was applied afresh.
    expect(statuses).toEqual([500, 200]);
    // A provider that sends the receipt once more changes nothing.
    expect(await receipt(c, m.providerId, 'delivered')).toEqual([200]);
    await nothingPending(c.tenant);
    expect(receipts(c.tenant, m.messageId)).toEqual(['sent', 'delivered']);
    expect(await smsRow(c.tenant, m.messageId)).toEqual({
      state: 'delivered',
      provider_message_id: m.providerId,
    });
    expect(await conversationState(c.conversationId)).toBe('assigned');
    await c.agent.until(
      () => c.updates.find((u) => u.messageId === m.messageId && u.delivery.state === 'delivered'),
      'delivered',
    );
  });

  it('a database error when a final failure marks the conversation: after the retry it is undelivered, told once', async () => {
    const c = await smsConversation();
    const m = await sentReply(c, 'Call us back?');
    const f = await fault(
      'conversations',
      'UPDATE',
      `NEW.id = ${lit(c.conversationId)}::uuid AND NEW.state = 'undelivered'`,
    );
    const statuses = await receipt(c, m.providerId, 'undelivered');
    expect(await f.fired()).toBe(true);
    expect(await conversationState(c.conversationId)).toBe('undelivered');
    expect(statuses).toEqual([500, 200]);
    await c.agent.until(
      () => c.agent.updated.find((x) => x.id === c.conversationId && x.state === 'undelivered'),
      'the conversation undelivered',
    );
    await nothingPending(c.tenant);
    expect(receipts(c.tenant, m.messageId)).toEqual(['sent', 'undelivered']);
    expect((await smsRow(c.tenant, m.messageId)).state).toBe('undelivered');
  });

  it('a database error when a customer text lifts the undelivered mark: the provider retry lifts it', async () => {
    const c = await smsConversation();
    const m = await sentReply(c, 'Shall we call you?');
    expect(await receipt(c, m.providerId, 'undelivered')).toEqual([200]);
    expect(await conversationState(c.conversationId)).toBe('undelivered');
    const f = await fault(
      'conversations',
      'UPDATE',
      `NEW.id = ${lit(c.conversationId)}::uuid AND OLD.state = 'undelivered' AND NEW.state <> 'undelivered'`,
    );
    const from = c.customer;
    const id = `mo-${randomUUID()}`;
    const statuses = await untilAccepted(() =>
      h.inbound(t, c.tenant, c.channelId, { id, from, text: 'Yes please' }),
    );
    expect(await f.fired()).toBe(true);
    expect(await conversationState(c.conversationId)).toBe('assigned');
    expect(statuses).toEqual([500, 200]);
    // The text is in the conversation once.
    const texts = await t.nexus.db.query(
      "SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND text = 'Yes please'",
      [c.conversationId],
    );
    expect(texts.rows[0].n).toBe(1);
  });

  it("a database error when a customer's first text saves its thread: the retry opens one conversation, not two", async () => {
    const tenant = await createTenant(t);
    await putEndpoint(t, tenant, 'sms', { queue: 'sms' });
    const channelId = phone();
    await h.provision(t, tenant, channelId);
    const f = await fault('sms_threads', 'INSERT', `NEW.ccid = ${lit(tenant.ccid)}`);
    const id = `mo-${randomUUID()}`;
    const statuses = await untilAccepted(() =>
      h.inbound(t, tenant, channelId, { id, from: phone(), text: 'Is my order shipped?' }),
    );
    expect(await f.fired()).toBe(true);
    expect(statuses).toEqual([500, 200]);
    // The conversation and its thread commit together: the failed attempt left nothing to route.
    const convs = await t.nexus.db.query(
      `SELECT c.id, (SELECT count(*)::int FROM messages m WHERE m.conversation_id = c.id AND m.from_type = 'Customer') AS texts
         FROM conversations c WHERE c.ccid = $1`,
      [tenant.ccid],
    );
    expect(convs.rows).toHaveLength(1);
    expect(convs.rows[0].texts).toBe(1);
    const threads = await t.nexus.db.query('SELECT conversation_id FROM sms_threads WHERE ccid = $1', [
      tenant.ccid,
    ]);
    expect(threads.rows).toEqual([{ conversation_id: convs.rows[0].id }]);
  });

  it('a receipt that comes while the send is being recorded waits for it and is applied', async () => {
    const c = await smsConversation();
    // The transaction that records the send holds on at its last statement.
    const stall = await fault(
      'outbox',
      'INSERT',
      `NEW.ccid = ${lit(c.tenant.ccid)} AND NEW.target = 'Plugin-receipts-only' AND NEW.payload->'data'->>'state' = 'sent'`,
      'stall',
    );
    const m = await reply(c, 'On our way.');
    if (engine === 'real') {
      // PostgreSQL shows the stalled transaction (the embedded engine has one session: the
      // receipt below waits for that transaction's end anyway).
      await eventually(async () => {
        const r = await t.nexus.db.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()",
        );
        expect(r.rows[0].n).toBe(1);
      });
    }
    expect(await receipt(c, m.providerId, 'delivered')).toEqual([200]);
    expect(await stall.fired()).toBe(true);
    await eventually(async () =>
      expect(await smsRow(c.tenant, m.messageId)).toEqual({
        state: 'delivered',
        provider_message_id: m.providerId,
      }),
    );
    await nothingPending(c.tenant);
    expect(receipts(c.tenant, m.messageId)).toEqual(['sent', 'delivered']);
  });

  it('a node stopped after the send, its outcome not recorded: its successor records it without sending again', async () => {
    const c = await smsConversation();
    // Recording `sent` fails until the node is gone.
    const f = await fault(
      'sms_outbound',
      'UPDATE',
      `NEW.ccid = ${lit(c.tenant.ccid)} AND NEW.state = 'sent'`,
      'always',
    );
    const text = 'We will call at five.';
    const m = await reply(c, text);
    // The provider took it; the outbox keeps the row pending, with the send's result.
    await eventually(async () => {
      const [row] = await outboxRows(c.tenant, 'sms');
      expect(row).toMatchObject({ state: 'pending' });
      expect(row.delivered_at).not.toBeNull();
      expect(row.last_error).toMatch(/^outcome not recorded: injected fault/);
    });
    expect(await f.fired()).toBe(true);
    expect((await smsRow(c.tenant, m.messageId)).state).toBe('queued');
    // The node stops delivering (as if it died), the database recovers, a new node starts.
    await t.nexus.plugins.outbox.close();
    await f.disarm();
    c.agent.close();
    t = await t.restart();
    await eventually(async () =>
      expect(await smsRow(c.tenant, m.messageId)).toEqual({
        state: 'sent',
        provider_message_id: m.providerId,
      }),
    );
    await nothingPending(c.tenant);
    expect((await outboxRows(c.tenant, 'sms')).map((r) => r.state)).toEqual(['done']);
    expect(sendsOf(text)).toBe(1);
    expect(receipts(c.tenant, m.messageId)).toEqual(['sent']);
  });

  it('a database error when a dead letter marks the conversation: the outbox tries again, then it is undelivered', async () => {
    const c = await smsConversation(1);
    const f = await fault(
      'conversations',
      'UPDATE',
      `NEW.id = ${lit(c.conversationId)}::uuid AND NEW.state = 'undelivered'`,
    );
    h.server.goDown(503);
    const ack = await c.agent.ack('message.send', {
      conversationId: c.conversationId,
      clientMessageId: randomUUID(),
      text: 'Are you still there?',
    });
    expect(ack.ok).toBe(true);
    await eventually(async () => expect(await conversationState(c.conversationId)).toBe('undelivered'));
    expect(await f.fired()).toBe(true);
    expect((await outboxRows(c.tenant, 'sms')).map((r) => r.state)).toEqual(['dead']);
    expect(await smsRow(c.tenant, ack.id)).toEqual({ state: 'failed', provider_message_id: null });
    await nothingPending(c.tenant);
    expect(receipts(c.tenant, ack.id)).toEqual(['failed']);
    await c.agent.until(
      () => c.updates.find((u) => u.messageId === ack.id && u.delivery.state === 'failed'),
      'failed',
    );
  });
});
