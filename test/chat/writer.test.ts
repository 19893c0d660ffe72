/**
 * The group-commit write path through the chat service: many appends in one transaction, no ack
 * before the commit, a failed commit fails the whole batch retryably with nothing half-written,
 * and the refusals (other tenant, done conversation, unknown id).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatService } from '../../src/gateway/chat/service.js';
import { AppError } from '../../src/shared/errors.js';
import { engines } from '../helpers/engines.js';
import { startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';

const customer = { participantId: 'p1', type: 'Customer' as const, nickname: 'ada' };
const errName = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e) => (e instanceof AppError ? `${e.errorName}${e.retryable ? ' (retryable)' : ''}` : String(e)),
  );

describe.each(engines())('group-commit writer on %s engines', (engine) => {
  let t: TestNexus;
  let tenant: TestTenant;
  let chat: ChatService;
  beforeAll(async () => {
    // A wide window makes the batching observable.
    t = await startNexus({ engine, nexus: { chat: { commitWindowMs: 30 } } });
    tenant = await createTenant(t);
    chat = t.nexus.chat;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const conversation = () => chat.createConversation({ ccid: tenant.ccid, endpoint: 'w' });
  const rows = async (id: string) =>
    (
      await t.nexus.db.query<{ seq: string; client_message_id: string }>(
        'SELECT seq, client_message_id FROM messages WHERE conversation_id = $1 ORDER BY seq',
        [id],
      )
    ).rows.map((r) => [Number(r.seq), r.client_message_id]);

  it('commits appends from many conversations in one transaction, acking none before the commit', async () => {
    const convs = await Promise.all([conversation(), conversation(), conversation()]);
    const batches: number[] = [];
    const acked = new Set<string>();
    let ackedBeforeCommit = 0;
    const off = chat.addTxHook(async (_q, committed) => {
      batches.push(committed.length);
      for (const c of committed) if (acked.has(c.message.clientMessageId ?? '')) ackedBeforeCommit++;
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          chat
            .append(
              convs[i % 3].id,
              { from: customer, text: `t${i}`, clientMessageId: `k${i}` },
              { ccid: tenant.ccid },
            )
            .then((r) => {
              acked.add(`k${i}`);
              return r;
            }),
        ),
      );
      expect(batches).toEqual([60]);
      expect(ackedBeforeCommit).toBe(0);
      for (const [ci, c] of convs.entries()) {
        const mine = results.filter((_, i) => i % 3 === ci);
        expect(mine.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect((await rows(c.id)).length).toBe(20);
        expect((await chat.get(c.id))?.lastSeq).toBe(20);
      }
    } finally {
      off();
    }
  });

  it('fails every message of a batch whose commit fails, retryably, and stores none of them', async () => {
    const c = await conversation();
    await chat.append(c.id, { from: customer, text: 'before', clientMessageId: 'b0' });
    const off = chat.addTxHook(async () => {
      throw new Error('disk on fire');
    });
    const failed = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        errName(chat.append(c.id, { from: customer, text: `x${i}`, clientMessageId: `x${i}` })),
      ),
    );
    off();
    expect(failed).toEqual(Array(10).fill('UNAVAILABLE (retryable)'));
    expect(await rows(c.id)).toEqual([[1, 'b0']]);
    expect((await chat.get(c.id))?.lastSeq).toBe(1);
    // The client retries with the same ids: stored now, with no seq burnt by the failed attempt.
    const retried = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        chat.append(c.id, { from: customer, text: `x${i}`, clientMessageId: `x${i}` }),
      ),
    );
    expect(retried.map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
  });

  it('fails alone a message the database refuses (bad JSON text), storing the rest of its batch', async () => {
    const [c, d] = await Promise.all([conversation(), conversation()]);
    // Validation at the edge refuses this; the writer must not let one such message sink its batch.
    const outcomes = await Promise.all([
      errName(chat.append(c.id, { from: customer, text: 'one', clientMessageId: 'g1' })),
      errName(
        chat.append(d.id, {
          from: customer,
          type: 'Rich',
          content: { a: 'x\ud800' },
          clientMessageId: 'bad',
        }),
      ),
      errName(chat.append(c.id, { from: customer, text: 'two', clientMessageId: 'g2' })),
      errName(chat.append(d.id, { from: customer, text: 'three', clientMessageId: 'g3' })),
    ]);
    expect(outcomes).toEqual(['accepted', 'VALIDATION_FAILED', 'accepted', 'accepted']);
    expect(await rows(c.id)).toEqual([
      [1, 'g1'],
      [2, 'g2'],
    ]);
    expect(await rows(d.id)).toEqual([[1, 'g3']]);
  });

  it('refuses other tenants, done conversations and unknown ids, message by message within a batch', async () => {
    const c = await conversation();
    const other = await createTenant(t);
    const first = await chat.append(c.id, { from: customer, text: 'kept', clientMessageId: 'keep' });
    const [mismatch, unknown, notUuid, ok] = await Promise.all([
      errName(chat.append(c.id, { from: customer, text: 'x' }, { ccid: other.ccid })),
      errName(chat.append('00000000-0000-4000-8000-000000000000', { from: customer, text: 'x' })),
      errName(chat.append("1' OR '1'='1", { from: customer, text: 'x' })),
      chat.append(c.id, { from: customer, text: 'fine' }, { ccid: tenant.ccid }),
    ]);
    expect([mismatch, unknown, notUuid]).toEqual(Array(3).fill('CONVERSATION_NOT_FOUND'));
    expect(ok.seq).toBe(2);
    await chat.setState(c.id, { state: 'done' });
    expect(await errName(chat.append(c.id, { from: customer, text: 'late' }))).toBe('CONVERSATION_CLOSED');
    // A retry of a message stored before Done still gets its original answer.
    const retry = await chat.append(c.id, { from: customer, text: 'kept', clientMessageId: 'keep' });
    expect(retry).toMatchObject({ id: first.id, seq: 1, duplicate: true });
    expect((await rows(c.id)).length).toBe(2);
  });

  it('emits message.created and state-changed events to subscribers', async () => {
    const events: string[] = [];
    const off = chat.onConversationEvent((e) => {
      events.push(e.type);
      throw new Error('a failing listener does not break the write path');
    });
    const c = await conversation();
    await chat.append(c.id, { from: customer, text: 'hello' });
    await chat.setState(c.id, { state: 'assigned', agentId: 'a1', ifState: ['queued', 'bot'] });
    expect(await chat.setState(c.id, { state: 'queued', ifState: ['done'] })).toBeUndefined();
    off();
    expect(events).toEqual(['conversation.created', 'message.created', 'conversation.state-changed']);
  });
});
